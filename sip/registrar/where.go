package registrar

import (
	"context"
	"slices"

	"github.com/clubline/clubline/ivr"
)

// Where says where the staff members named can be rung now: each live
// contact, rung at its Contact URI and sent to where its REGISTER came
// from (ivr.Phones).
func (r *Registrar) Where(ctx context.Context, staff []string) (map[string][]ivr.Target, error) {
	regs, err := r.o.Store.Registrations(ctx, "", r.o.Now())
	if err != nil {
		return nil, err
	}
	out := make(map[string][]ivr.Target)
	for _, reg := range regs {
		if slices.Contains(staff, reg.StaffID) {
			out[reg.StaffID] = append(out[reg.StaffID], ivr.Target{Staff: reg.StaffID, URI: reg.Contact, Destination: reg.Received})
		}
	}
	return out, nil
}

// Registered counts the staff members with at least one live contact
// (clubline_staff_registered).
func (r *Registrar) Registered(ctx context.Context) (int, error) {
	regs, err := r.o.Store.Registrations(ctx, "", r.o.Now())
	if err != nil {
		return 0, err
	}
	staff := make(map[string]bool)
	for _, reg := range regs {
		staff[reg.StaffID] = true
	}
	return len(staff), nil
}
