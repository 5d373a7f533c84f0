package storetest

import (
	"errors"
	"testing"

	"github.com/clubline/clubline"
)

// The line's own state: a few values under keys ("override").

func setState(t *testing.T, s clubline.Store, key, value string) {
	t.Helper()
	if err := s.SetState(t.Context(), key, value); err != nil {
		t.Fatalf("SetState(%q, %q): %v", key, value, err)
	}
}

func wantState(t *testing.T, s clubline.Store, key, want string) {
	t.Helper()
	got, err := s.State(t.Context(), key)
	if err != nil {
		t.Errorf("State(%q): %v; want %q", key, err, want)
		return
	}
	if got != want {
		t.Errorf("State(%q) = %q, want %q", key, got, want)
	}
}

func wantNoState(t *testing.T, s clubline.Store, key string) {
	t.Helper()
	if got, err := s.State(t.Context(), key); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("State(%q) = %q, %v; want an error that is ErrNotFound", key, got, err)
	}
}

func testState(t *testing.T, s clubline.Store) {
	wantNoState(t, s, "override")

	setState(t, s, "override", "closed")
	wantState(t, s, "override", "closed")
	setState(t, s, "override", "open") // replaces
	wantState(t, s, "override", "open")

	// Keys are apart, exact, and may hold any text.
	text := "Fermé: tempête\nde neige {\"until\": \"2025-01-10T17:00:00.000Z\"}"
	setState(t, s, "notice", text)
	wantState(t, s, "notice", text)
	wantState(t, s, "override", "open")
	wantNoState(t, s, "Override")
	wantNoState(t, s, "override ")
	setState(t, s, "call:c1", "not a call") // a key that looks like a record's
	if _, err := s.Call(t.Context(), "c1"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("Call(c1) after SetState(call:c1) = %v, want ErrNotFound", err)
	}

	// An empty value deletes the key, and only that key; deleting one that
	// is not there is no error.
	setState(t, s, "override", "")
	wantNoState(t, s, "override")
	wantState(t, s, "notice", text)
	setState(t, s, "override", "")
	setState(t, s, "never-set", "")
	wantNoState(t, s, "never-set")

	// Set again after a delete.
	setState(t, s, "override", "auto")
	wantState(t, s, "override", "auto")
}

func testStateRejectsInvalid(t *testing.T, s clubline.Store) {
	if err := s.SetState(t.Context(), "", "closed"); err == nil {
		t.Errorf("SetState with an empty key = nil, want an error")
	}
	wantNoState(t, s, "")
}

func testStateReopen(t *testing.T, open DurableOpener) {
	s, reopen := open(t)
	setState(t, s, "override", "closed")
	setState(t, s, "notice", "tempête")
	setState(t, s, "gone", "soon")
	setState(t, s, "gone", "")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen()
	t.Cleanup(func() { closeStore(t, s) })
	wantState(t, s, "override", "closed")
	wantState(t, s, "notice", "tempête")
	wantNoState(t, s, "gone")
	setState(t, s, "override", "")
	wantNoState(t, s, "override")
}
