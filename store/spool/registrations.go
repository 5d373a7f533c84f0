package spool

import (
	"context"
	"time"

	"github.com/clubline/clubline"
)

// Registrations bypass the spool. A REGISTER answered 200 OK tells the
// phone that clubline can now ring it; if the registration only sat in the
// journal, a caller (or another clubline instance reading Redis) would not
// find the phone, and the phone would not know to try again. So a save or
// a delete goes straight to the backend and its error goes back to the
// REGISTER handler, which answers 500 (with Retry-After) and the phone
// retries. A registration is also short-lived and refreshed by the phone:
// replaying a stale one from the journal after an outage would be wrong.

// SaveRegistration writes to the backend and returns its error.
func (s *Spool) SaveRegistration(ctx context.Context, r *clubline.Registration) error {
	return s.backend.SaveRegistration(ctx, r)
}

// DeleteRegistration deletes from the backend and returns its error.
func (s *Spool) DeleteRegistration(ctx context.Context, staffID, contact string) error {
	return s.backend.DeleteRegistration(ctx, staffID, contact)
}

// Registrations reads the backend.
func (s *Spool) Registrations(ctx context.Context, staffID string, now time.Time) ([]*clubline.Registration, error) {
	return s.backend.Registrations(ctx, staffID, now)
}
