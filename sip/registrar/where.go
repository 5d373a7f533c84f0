package registrar

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
)

// Where says where the staff members named can be rung now: each live
// contact, rung at its Contact URI and sent to where its REGISTER came
// from, or through the proxies of its Path (ivr.Phones).
func (r *Registrar) Where(_ context.Context, staff []string) (map[string][]ivr.Target, error) {
	regs := r.live("", true)
	out := make(map[string][]ivr.Target)
	for _, reg := range regs {
		if slices.Contains(staff, reg.StaffID) {
			out[reg.StaffID] = append(out[reg.StaffID], ivr.Target{Staff: reg.StaffID, URI: reg.Contact,
				Destination: NextHop(reg), Route: strings.Join(reg.Path, ", ")})
		}
	}
	return out, nil
}

// Registered counts the staff members with at least one live contact
// (clubline_staff_registered). It never waits on the Store (shared.go).
func (r *Registrar) Registered() int {
	regs := r.live("", false)
	staff := make(map[string]bool)
	for _, reg := range regs {
		staff[reg.StaffID] = true
	}
	return len(staff)
}

// Bindings returns copies of the live registrations of a staff member (all
// staff when staff is ""), ordered by staff and contact: what the
// registrar rings (the book's, or with Options.Shared every instance's).
func (r *Registrar) Bindings(staff string) []*clubline.Registration {
	return r.live(staff, true)
}

// IsPhoneAddress reports whether a live registration came from the IP
// address ip: a staff phone is there (per-source limits spare it).
func (r *Registrar) IsPhoneAddress(ip netip.Addr) bool {
	return r.book.fromIP(ip, r.o.Now())
}
