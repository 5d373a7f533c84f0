package spool_test

import (
	"errors"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/spool"
)

// TestRetentionDropsPending: records past retention that wait in the spool
// (the backend is down) are dropped from memory and from the journal, and
// never reach the backend.
func TestRetentionDropsPending(t *testing.T) {
	b := newFlaky(t)
	dir := t.TempDir()
	var g gauge
	s := newSpool(t, b, dir, spool.Options{Spooled: g.set})
	defer s.Close()

	at := func(d time.Duration) *clubline.Call { return &clubline.Call{StartedAt: t0.Add(d)} }
	stored := at(-2 * time.Hour)
	stored.ID = "c-stored"
	mustSaveCall(t, s, stored)
	waitFor(t, "c-stored in the backend", func() bool { return s.Pending() == 0 })

	b.setFail(true)
	stored.Outcome = clubline.OutcomeAbandoned // a later version, waiting in the spool
	mustSaveCall(t, s, stored)
	old, recent := at(-time.Hour), at(time.Hour)
	old.ID, recent.ID = "c-old", "c-new"
	mustSaveCall(t, s, old)
	mustSaveCall(t, s, recent)
	vOld := &clubline.Voicemail{ID: "v-old", RecordedAt: t0.Add(-time.Hour), Path: "/data/voicemail/v-old.wav", Status: clubline.VoicemailNew}
	vNew := &clubline.Voicemail{ID: "v-new", RecordedAt: t0, Status: clubline.VoicemailNew}
	for _, v := range []*clubline.Voicemail{vOld, vNew} {
		if err := s.SaveVoicemail(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := journalLines(t, dir); n != 5 {
		t.Fatalf("journal holds %d records, want 5", n)
	}

	// The backend is down: the spool's own copies go all the same, and the
	// error says the backend's did not.
	n, err := s.DeleteCallsBefore(t.Context(), t0)
	if err == nil || n != 2 {
		t.Errorf("DeleteCallsBefore with the backend down = %d, %v; want 2 dropped and an error", n, err)
	}
	vs, err := s.DeleteVoicemailsBefore(t.Context(), t0)
	if err == nil || len(vs) != 1 || vs[0].ID != "v-old" || vs[0].Path != vOld.Path {
		t.Errorf("DeleteVoicemailsBefore with the backend down = %v, %v; want v-old and an error", vs, err)
	}
	if got := journalLines(t, dir); got != 2 {
		t.Errorf("journal holds %d records after the purge, want 2 (c-new, v-new)", got)
	}
	if got := s.Pending(); got != 2 {
		t.Errorf("Pending after the purge = %d, want 2", got)
	}
	if last, _ := g.get(); last != 2 {
		t.Errorf("Spooled gauge after the purge = %d, want 2", last)
	}
	for _, id := range []string{"c-stored", "c-old"} {
		if _, err := s.Call(t.Context(), id); err == nil {
			t.Errorf("Call(%q) after the purge found the spool's copy", id)
		}
	}

	b.setFail(false)
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 })
	if _, err := b.Store.Call(t.Context(), "c-new"); err != nil {
		t.Errorf("c-new: %v", err)
	}
	if _, err := b.Store.Voicemail(t.Context(), "v-new"); err != nil {
		t.Errorf("v-new: %v", err)
	}
	if _, err := b.Store.Call(t.Context(), "c-old"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-old reached the backend after it was purged: %v", err)
	}
	if _, err := b.Store.Voicemail(t.Context(), "v-old"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("v-old reached the backend after it was purged: %v", err)
	}
	// The backend's own copy of c-stored goes at the next purge, counted once.
	if n, err := s.DeleteCallsBefore(t.Context(), t0); err != nil || n != 1 {
		t.Errorf("DeleteCallsBefore with the backend up = %d, %v; want 1 (c-stored)", n, err)
	}
}

// TestRetentionWaitsForTheWriter: a purge waits for the write under way,
// so that nothing the writer stores slips past it, and a call both waiting
// in the spool and in the backend is one record deleted.
func TestRetentionWaitsForTheWriter(t *testing.T) {
	b := newFlaky(t)
	s := newSpool(t, b, t.TempDir(), spool.Options{})
	defer s.Close()
	c := &clubline.Call{ID: "c", StartedAt: t0}
	mustSaveCall(t, s, c)
	waitFor(t, "c in the backend", func() bool { return s.Pending() == 0 })
	release := b.startHang()
	defer release()
	c.Outcome = clubline.OutcomeAnswered
	mustSaveCall(t, s, c) // in the writer's hands: the backend hangs
	mustSaveCall(t, s, &clubline.Call{ID: "d", StartedAt: t0})
	waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.DeleteCallsBefore(t.Context(), t0.Add(time.Second))
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("DeleteCallsBefore returned (%d, %v) while a write was under way", r.n, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if r := <-done; r.err != nil || r.n != 2 {
		t.Errorf("DeleteCallsBefore = %d, %v; want 2 (c once, d)", r.n, r.err)
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cs, err := b.Store.Calls(t.Context(), time.Time{}, t0.Add(time.Hour), 0); err != nil || len(cs) != 0 {
		t.Errorf("backend after the purge holds %d calls (%v), want none", len(cs), err)
	}
	// Saves go on during a purge, and after it.
	mustSaveCall(t, s, &clubline.Call{ID: "e", StartedAt: t0.Add(time.Hour)})
	waitFor(t, "e in the backend", func() bool { return s.Pending() == 0 })
}
