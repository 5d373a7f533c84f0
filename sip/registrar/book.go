package registrar

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
)

// The registrar keeps the bindings in memory (book) and writes them
// through to the Store in the background (writer).
//
// Decisions:
//
//   - The book is the truth for this process: REGISTER, the keep-alive
//     and Where read and change it, never the Store. A slow, frozen or
//     absent Redis therefore changes nothing for staff or callers: a
//     REGISTER is answered at once, and a caller is put through to a
//     phone that registered while Redis was away (issue 7, finding 12).
//   - The Store is written behind, latest state per contact, retried with
//     a backoff until it takes it, and read once at start-up (Restore) so
//     that a restart does not forget who was registered.
//   - Two instances sharing one Redis read each other's bindings with
//     Options.Shared (shared.go): then the Store, not the book, says whom
//     Where rings, and the book answers only when the Store cannot.

// book is the live bindings: staff id → contact URI → registration.
type book struct {
	mu      sync.Mutex
	byStaff map[string]map[string]*clubline.Registration
}

func newBook() *book { return &book{byStaff: make(map[string]map[string]*clubline.Registration)} }

// live returns copies of the staff member's live registrations (all
// staff when staff is ""), ordered by staff and contact.
func (b *book) live(staff string, now time.Time) []*clubline.Registration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*clubline.Registration
	for id, contacts := range b.byStaff {
		if staff != "" && id != staff {
			continue
		}
		for _, reg := range contacts {
			if reg.Live(now) {
				cp := *reg
				cp.Path = slices.Clone(reg.Path)
				out = append(out, &cp)
			}
		}
	}
	slices.SortFunc(out, func(a, b *clubline.Registration) int {
		if c := strings.Compare(a.StaffID, b.StaffID); c != 0 {
			return c
		}
		return strings.Compare(a.Contact, b.Contact)
	})
	return out
}

// fromIP reports whether a live binding was registered from ip. A binding
// registered through a proxy (a Path) does not count: ip would be the
// proxy's, which carries everyone's requests (path.go).
func (b *book) fromIP(ip netip.Addr, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, contacts := range b.byStaff {
		for _, reg := range contacts {
			if len(reg.Path) > 0 {
				continue
			}
			_, addr, _ := strings.Cut(reg.Received, ":")
			if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Unmap() == ip && reg.Live(now) {
				return true
			}
		}
	}
	return false
}

// put adds or replaces a binding.
func (b *book) put(reg *clubline.Registration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	contacts := b.byStaff[reg.StaffID]
	if contacts == nil {
		contacts = make(map[string]*clubline.Registration)
		b.byStaff[reg.StaffID] = contacts
	}
	cp := *reg
	cp.Path = slices.Clone(reg.Path)
	contacts[reg.Contact] = &cp
}

// remove deletes a binding and reports whether it was live.
func (b *book) remove(staff, contact string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	reg, ok := b.byStaff[staff][contact]
	if !ok {
		return false
	}
	delete(b.byStaff[staff], contact)
	if len(b.byStaff[staff]) == 0 {
		delete(b.byStaff, staff)
	}
	return reg.Live(now)
}

// expire forgets the bindings that ended before now.
func (b *book) expire(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, contacts := range b.byStaff {
		for c, reg := range contacts {
			if !reg.Live(now) {
				delete(contacts, c)
			}
		}
		if len(contacts) == 0 {
			delete(b.byStaff, id)
		}
	}
}

// Restore reads the live registrations from the Store into the registrar,
// so that a restart remembers the phones registered before it. Call it
// once, before the SIP server starts; on an error the registrar starts
// empty and phones are found again as they refresh.
func (r *Registrar) Restore(ctx context.Context) error {
	regs, err := r.o.Store.Registrations(ctx, "", r.o.Now())
	if err != nil {
		return err
	}
	for _, reg := range regs {
		if _, known := r.staffByID[reg.StaffID]; known {
			r.book.put(reg)
		}
	}
	if len(regs) > 0 {
		r.o.OnChange()
	}
	return nil
}
