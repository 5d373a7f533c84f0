package spool

import (
	"context"
	"time"

	"github.com/clubline/clubline"
)

// Registrations bypass the spool. The registrar keeps its own copy in
// memory, writes the latest state of each contact behind it and retries
// while the backend fails (sip/registrar); a registration is short-lived
// and refreshed by the phone, so replaying a stale one from the journal
// after an outage would be wrong. A save or a delete goes straight to the
// backend and its error goes back to the registrar.

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
