package spool_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/spool"
)

// TestEraseDropsPending: a record erased while it waits in the journal for
// a backend that is down is gone from memory and from the file, and never
// reaches the backend when it comes back; the erasure says the backend's
// part failed.
func TestEraseDropsPending(t *testing.T) {
	b := newFlaky(t)
	dir := t.TempDir()
	var g gauge
	s := newSpool(t, b, dir, spool.Options{Spooled: g.set})
	defer s.Close()

	// c-stored reached the backend before the outage; a later version waits.
	stored := call("c-stored", 0)
	mustSaveCall(t, s, stored)
	waitFor(t, "c-stored in the backend", func() bool { return s.Pending() == 0 })
	b.setFail(true)
	mustSaveCall(t, s, call("c-stored", 1))
	mustSaveCall(t, s, call("c-erased", 2))
	mustSaveCall(t, s, call("c-erased", 3)) // two versions, both in the journal
	mustSaveCall(t, s, call("c-kept", 4))
	for _, v := range []*clubline.Voicemail{voicemail("v-erased", 1, clubline.VoicemailNew), voicemail("v-kept", 2, clubline.VoicemailNew)} {
		if err := s.SaveVoicemail(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := journalLines(t, dir); n != 6 {
		t.Fatalf("journal holds %d records, want 6", n)
	}

	for _, tc := range []struct {
		what  string
		erase func() error
	}{
		{"DeleteCall(c-erased)", func() error { return s.DeleteCall(t.Context(), "c-erased") }},
		{"DeleteCall(c-stored)", func() error { return s.DeleteCall(t.Context(), "c-stored") }},
		{"DeleteVoicemail(v-erased)", func() error { return s.DeleteVoicemail(t.Context(), "v-erased") }},
	} {
		// Not silent: the backend did not take its part.
		if err := tc.erase(); !errors.Is(err, errDown) {
			t.Errorf("%s with the backend down: err = %v, want one that wraps %v", tc.what, err, errDown)
		}
	}
	if n := journalLines(t, dir); n != 2 {
		t.Errorf("journal holds %d records after the erasures, want 2 (c-kept, v-kept)", n)
	}
	if n := s.Pending(); n != 2 {
		t.Errorf("Pending after the erasures = %d, want 2", n)
	}
	if last, _ := g.get(); last != 2 {
		t.Errorf("Spooled gauge after the erasures = %d, want 2", last)
	}
	if _, err := s.Call(t.Context(), "c-erased"); err == nil {
		t.Error("Call(c-erased) after its erasure found the spool's copy")
	}

	b.setFail(false)
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 && journalSize(t, dir) == 0 })
	if _, err := b.Store.Call(t.Context(), "c-erased"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-erased reached the backend after its erasure: %v", err)
	}
	if _, err := b.Store.Voicemail(t.Context(), "v-erased"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("v-erased reached the backend after its erasure: %v", err)
	}
	if _, err := b.Store.Call(t.Context(), "c-kept"); err != nil {
		t.Errorf("c-kept: %v", err)
	}
	if fs, err := b.Store.FollowUps(t.Context(), time.Time{}); err != nil || len(fs) != 1 || fs[0].VoicemailID != "v-kept" {
		t.Errorf("backend FollowUps = %v, %v; want v-kept only", fs, err)
	}
	// The backend still holds the version of c-stored it had: the retry
	// deletes it. Then nothing is left.
	if c, err := b.Store.Call(t.Context(), "c-stored"); err != nil || c.Route != "0" {
		t.Errorf("backend c-stored = %+v, %v; want the version from before the outage", c, err)
	}
	if err := s.DeleteCall(t.Context(), "c-stored"); err != nil {
		t.Errorf("DeleteCall(c-stored) again, the backend up: %v", err)
	}
	if _, err := b.Store.Call(t.Context(), "c-stored"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-stored after the retry: %v", err)
	}
	for _, id := range []string{"c-stored", "c-erased"} {
		if err := s.DeleteCall(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("DeleteCall(%s) once all is gone = %v, want ErrNotFound", id, err)
		}
	}
}

// TestEraseNotReplayedAfterRestart: a record erased while the backend is
// down is not in the journal the next start replays.
func TestEraseNotReplayedAfterRestart(t *testing.T) {
	b := newFlaky(t)
	b.setFail(true)
	dir := t.TempDir()
	s1 := newSpool(t, b, dir, spool.Options{})
	mustSaveCall(t, s1, call("c-erased", 0))
	mustSaveCall(t, s1, call("c-kept", 1))
	if err := s1.SaveVoicemail(t.Context(), voicemail("v-erased", 0, clubline.VoicemailNew)); err != nil {
		t.Fatal(err)
	}
	if err := s1.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s1.DeleteCall(t.Context(), "c-erased"); !errors.Is(err, errDown) {
		t.Errorf("DeleteCall with the backend down: err = %v, want one that wraps %v", err, errDown)
	}
	if err := s1.DeleteVoicemail(t.Context(), "v-erased"); !errors.Is(err, errDown) {
		t.Errorf("DeleteVoicemail with the backend down: err = %v, want one that wraps %v", err, errDown)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := journalLines(t, dir); n != 1 {
		t.Fatalf("journal left for the next start holds %d records, want 1 (c-kept)", n)
	}
	// After Close the journal is final: an erasure would not reach it.
	if err := s1.DeleteCall(t.Context(), "c-kept"); !errors.Is(err, spool.ErrClosed) {
		t.Errorf("DeleteCall after Close = %v, want ErrClosed", err)
	}

	b.setFail(false)
	s2 := newSpool(t, b, dir, spool.Options{})
	defer s2.Close()
	waitFor(t, "the journal to be replayed", func() bool { return s2.Pending() == 0 && journalSize(t, dir) == 0 })
	if _, err := b.Store.Call(t.Context(), "c-kept"); err != nil {
		t.Errorf("c-kept: %v", err)
	}
	if _, err := b.Store.Call(t.Context(), "c-erased"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-erased replayed after its erasure: %v", err)
	}
	if _, err := b.Store.Voicemail(t.Context(), "v-erased"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("v-erased replayed after its erasure: %v", err)
	}
}

// TestEraseWaitsForTheWriter: an erasure waits for the write under way, so
// that the version the writer holds does not land after it, and drops the
// versions still queued.
func TestEraseWaitsForTheWriter(t *testing.T) {
	b := newFlaky(t)
	s := newSpool(t, b, t.TempDir(), spool.Options{})
	defer s.Close()
	mustSaveCall(t, s, call("c", 0))
	waitFor(t, "c in the backend", func() bool { return s.Pending() == 0 })
	release := b.startHang()
	defer release()
	mustSaveCall(t, s, call("c", 1)) // in the writer's hands: the backend hangs
	mustSaveCall(t, s, call("c", 2)) // queued behind it
	mustSaveCall(t, s, call("d", 3))
	waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })

	done := make(chan error, 1)
	go func() { done <- s.DeleteCall(t.Context(), "c") }()
	select {
	case err := <-done:
		t.Fatalf("DeleteCall returned (%v) while a write was under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("DeleteCall: %v", err)
	}
	waitFor(t, "d in the backend", func() bool { return s.Pending() == 0 })
	if _, err := b.Store.Call(t.Context(), "c"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c after its erasure: %v, want ErrNotFound", err)
	}
	if _, err := b.Store.Call(t.Context(), "d"); err != nil {
		t.Errorf("d: %v", err)
	}
}

// TestEraseOnlyInTheSpool: a record the backend never held is erased from
// the spool, and that is a success.
func TestEraseOnlyInTheSpool(t *testing.T) {
	b := newFlaky(t)
	dir := t.TempDir()
	s := newSpool(t, b, dir, spool.Options{})
	defer s.Close()
	release := b.startHang()
	defer release()
	mustSaveCall(t, s, call("first", 0)) // the writer hangs on it
	waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })
	if err := s.SaveVoicemail(t.Context(), voicemail("v", 0, clubline.VoicemailNew)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.DeleteVoicemail(t.Context(), "v") }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Errorf("DeleteVoicemail of a message only the spool held: %v", err)
	}
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 })
	if _, err := b.Store.Voicemail(t.Context(), "v"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("v after its erasure: %v, want ErrNotFound", err)
	}
	if err := s.DeleteVoicemail(t.Context(), "v"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("DeleteVoicemail(v) again = %v, want ErrNotFound", err)
	}
}

// TestStateIsNotSpooled: like a registration, the line's state the
// backend did not take is an error for whoever set it, never a line in the
// journal.
func TestStateIsNotSpooled(t *testing.T) {
	f := newFlaky(t)
	dir := t.TempDir()
	s := newSpool(t, f, dir, spool.Options{})
	defer s.Close()

	f.setFail(true)
	if err := s.SetState(t.Context(), "override", "closed"); !errors.Is(err, errDown) {
		t.Errorf("SetState with the backend down: err = %v, want %v", err, errDown)
	}
	if _, err := s.State(t.Context(), "override"); !errors.Is(err, errDown) {
		t.Errorf("State with the backend down: err = %v, want %v", err, errDown)
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Errorf("Pending = %d, want 0", n)
	}
	if n := journalLines(t, dir); n != 0 {
		t.Errorf("journal holds %d lines, want none", n)
	}

	f.setFail(false)
	if err := s.SetState(t.Context(), "override", "closed"); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	// In the backend when SetState returns: no Flush needed.
	if v, err := f.Store.State(t.Context(), "override"); err != nil || v != "closed" {
		t.Errorf("backend State = %q, %v; want closed", v, err)
	}
}

// TestVoicemailsMergesPending: the list of messages holds those still
// waiting in the spool, as they were last saved, in order, and fails with
// the backend.
func TestVoicemailsMergesPending(t *testing.T) {
	b := newFlaky(t)
	s := newSpool(t, b, t.TempDir(), spool.Options{})
	defer s.Close()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	recorded := func(id string, m int, status clubline.VoicemailStatus) *clubline.Voicemail {
		v := voicemail(id, m, status)
		v.RecordedAt = at(m)
		return v
	}
	save := func(v *clubline.Voicemail) {
		t.Helper()
		if err := s.SaveVoicemail(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	save(recorded("v1", 0, clubline.VoicemailNew))
	save(recorded("v2", 1, clubline.VoicemailNew))
	waitFor(t, "v1 and v2 in the backend", func() bool { return s.Pending() == 0 })

	release := b.startHang()
	defer release()
	save(recorded("v0", 5, clubline.VoicemailDone)) // the writer hangs on it
	waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })
	moved := recorded("v2", 10, clubline.VoicemailDone) // recorded later than the backend says
	moved.Notes = []clubline.Note{{By: "marie", At: at(20), Text: "rappelé"}}
	save(moved)
	save(recorded("v3", 2, clubline.VoicemailNew))
	save(recorded("v4", 3, clubline.VoicemailNew))

	ids := func(from, to time.Time, limit int) []string {
		t.Helper()
		vs, err := s.Voicemails(t.Context(), from, to, limit)
		if err != nil {
			t.Fatalf("Voicemails: %v", err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		limit    int
		want     []string
	}{
		{"before v2 moved", at(0), at(5), 0, []string{"v1", "v3", "v4"}},
		{"all", at(0), at(60), 0, []string{"v1", "v3", "v4", "v0", "v2"}},
		{"limit 2", at(0), at(60), 2, []string{"v1", "v3"}},
		{"limit 4 from v3", at(2), at(60), 4, []string{"v3", "v4", "v0", "v2"}},
	} {
		if got := ids(tc.from, tc.to, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("Voicemails %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	vs, err := s.Voicemails(t.Context(), at(10), at(11), 0)
	if err != nil || len(vs) != 1 || len(vs[0].Notes) != 1 || vs[0].Status != clubline.VoicemailDone {
		t.Fatalf("Voicemails over v2 = %+v, %v; want its pending version", vs, err)
	}
	vs[0].Notes[0].Text = "changed by a reader"
	if v, _ := s.Voicemail(t.Context(), "v2"); v == nil || v.Notes[0].Text != "rappelé" {
		t.Errorf("a reader changed the spool's copy of v2: %+v", v)
	}

	release()
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 })
	if got := ids(at(0), at(60), 0); !slices.Equal(got, []string{"v1", "v3", "v4", "v0", "v2"}) {
		t.Errorf("Voicemails once written = %q", got)
	}
	b.setFail(true)
	if _, err := s.Voicemails(t.Context(), at(0), at(60), 0); !errors.Is(err, errDown) {
		t.Errorf("Voicemails with the backend down: err = %v, want %v", err, errDown)
	}
	b.setFail(false)
}
