package registrar

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline"
)

// Shared registrations: two instances behind one proxy (deploy/kamailio)
// share a Redis store, and a phone registers with whichever instance the
// proxy picked. With Options.Shared, what the registrar says about the
// bindings (Where, Registered, Bindings) is the Store's: every instance
// rings every phone, through the proxy of its Path.
//
// Decisions:
//
//   - The Store's live registrations are read at most once per SharedFor
//     (1 s) and kept: a busy queue asks Where for every ring, and Redis is
//     asked once a second, not once a ring. A failed read is kept as long,
//     so a Redis that is down costs one timeout per second, not one per
//     caller.
//   - Registered (the gauge, counted from OnChange, inside a REGISTER's
//     handling) never waits on the Store: it counts from the last read,
//     however old, and starts a new one in the background when it is
//     due, so a REGISTER is still answered at once with Redis frozen.
//   - On that view lie the changes this instance has not written yet (the
//     writer's backlog and the batch in flight): a phone that just
//     registered here is rung at once, Redis or not.
//   - When the Store cannot be read (within sharedReadTimeout), the book
//     answers, as without Shared: this instance still rings the phones
//     that registered with it.
//   - REGISTER (the CSeq order check and the 200's Contact list) and the
//     keep-alive stay on the book: each instance pings the phones that
//     registered with it. A phone whose keep-alive fails is removed from
//     the Store only if the Store still holds the binding this instance
//     pinged: a refresh through the other instance wins.

// DefaultSharedFor is how long a read of the Store's registrations is kept.
const DefaultSharedFor = time.Second

// sharedReadTimeout bounds a read of the Store's registrations: a caller
// waits on it.
const sharedReadTimeout = 500 * time.Millisecond

// sharedView is the last read of the Store's live registrations.
type sharedView struct {
	store clubline.Store
	every time.Duration

	mu    sync.Mutex // held during a read: one read at a time
	at    time.Time  // when read, on the monotonic clock; zero: never
	stale bool       // read again at the next look, however recent
	regs  []*clubline.Registration
	err   error

	refreshing atomic.Bool // a background read (last) is under way
}

// errNotRead is last's answer while no read has been made, or one is
// under way.
var errNotRead = errors.New("registrar: shared registrations not read yet")

// invalidate makes the next look read the Store again.
func (v *sharedView) invalidate() {
	v.mu.Lock()
	v.stale = true
	v.mu.Unlock()
}

// due reports whether the view must be read again; v.mu is held.
func (v *sharedView) due() bool {
	return v.at.IsZero() || v.stale || time.Since(v.at) >= v.every
}

// read returns the Store's registrations live at now, read at most once
// per every.
func (v *sharedView) read(now time.Time) ([]*clubline.Registration, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.due() {
		return v.regs, v.err
	}
	v.stale = false
	ctx, cancel := context.WithTimeout(context.Background(), sharedReadTimeout)
	v.regs, v.err = v.store.Registrations(ctx, "", now)
	cancel()
	v.at = time.Now()
	return v.regs, v.err
}

// last returns the last read, however old, without waiting, and starts a
// new read in the background when one is due.
func (v *sharedView) last(now time.Time) ([]*clubline.Registration, error) {
	if !v.mu.TryLock() {
		return nil, errNotRead // a read is under way
	}
	regs, err, at, due := v.regs, v.err, v.at, v.due()
	v.mu.Unlock()
	if due && v.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer v.refreshing.Store(false)
			_, _ = v.read(now)
		}()
	}
	if at.IsZero() {
		return nil, errNotRead
	}
	return regs, err
}

// live returns copies of the live registrations of a staff member (all
// staff when staff is ""), ordered by staff and contact: the book's, or
// with Shared the Store's with this instance's unwritten changes on top.
// Without wait it takes the last read of the Store (sharedView.last).
func (r *Registrar) live(staff string, wait bool) []*clubline.Registration {
	now := r.o.Now()
	if r.shared == nil {
		return r.book.live(staff, now)
	}
	read := r.shared.read
	if !wait {
		read = r.shared.last
	}
	stored, err := read(now)
	if errors.Is(err, errNotRead) {
		return r.book.live(staff, now)
	}
	if err != nil {
		r.sharedFailed(err)
		return r.book.live(staff, now)
	}
	r.sharedOK()
	byKey := make(map[bindingKey]*clubline.Registration, len(stored))
	for _, reg := range stored {
		byKey[bindingKey{reg.StaffID, reg.Contact}] = reg
	}
	for k, reg := range r.writer.unwritten() {
		if reg == nil {
			delete(byKey, k)
		} else {
			byKey[k] = reg
		}
	}
	var out []*clubline.Registration
	for k, reg := range byKey {
		if (staff != "" && k.staff != staff) || !reg.Live(now) {
			continue
		}
		if _, known := r.staffByID[k.staff]; !known {
			continue // in the Store, but no longer in this config
		}
		cp := *reg
		cp.Path = slices.Clone(reg.Path)
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *clubline.Registration) int {
		if c := strings.Compare(a.StaffID, b.StaffID); c != 0 {
			return c
		}
		return strings.Compare(a.Contact, b.Contact)
	})
	return out
}

// sharedFailed logs the first failed read of an outage.
func (r *Registrar) sharedFailed(err error) {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	if !r.sharedDown {
		r.sharedDown = true
		r.log.Warn("shared registrations unreadable: ringing the phones registered with this instance only", "error", err)
	}
}

func (r *Registrar) sharedOK() {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	if r.sharedDown {
		r.sharedDown = false
		r.log.Info("shared registrations readable again")
	}
}

// storeStill reports whether the Store still holds the binding as reg
// has it (same Received and RegisteredAt), or cannot say; without Shared
// it is always true.
func (r *Registrar) storeStill(reg *clubline.Registration) bool {
	if r.shared == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedReadTimeout)
	defer cancel()
	regs, err := r.o.Store.Registrations(ctx, reg.StaffID, r.o.Now())
	if err != nil {
		return true
	}
	for _, s := range regs {
		if s.Contact == reg.Contact {
			return s.Received == reg.Received && s.RegisteredAt.Equal(reg.RegisteredAt)
		}
	}
	return true // gone already: deleting again costs nothing
}
