package spool

import "context"

// The line's state bypasses the spool, as registrations do. It is what an
// admin switched on the web page (the hours override), for every instance
// to read: an admin must see at once whether the switch held, and a stale
// value replayed from the journal after an outage would undo a later one.

// SetState writes to the backend and returns its error.
func (s *Spool) SetState(ctx context.Context, key, value string) error {
	return s.backend.SetState(ctx, key, value)
}

// State reads the backend.
func (s *Spool) State(ctx context.Context, key string) (string, error) {
	return s.backend.State(ctx, key)
}
