package spool_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/store/spool"
	"github.com/clubline/clubline/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 6, 24, 13, 0, 0, 0, time.UTC)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newSpool(t *testing.T, backend clubline.Store, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.RetryEvery == 0 {
		opts.RetryEvery = 10 * time.Millisecond
	}
	s, err := spool.New(backend, opts)
	if err != nil {
		t.Fatalf("spool.New: %v", err)
	}
	return s
}

func call(id string, i int) *clubline.Call {
	return &clubline.Call{
		ID: id, From: "+15145550123", StartedAt: t0.Add(time.Duration(i) * time.Second),
		Route: fmt.Sprint(i), Trace: []string{"version " + fmt.Sprint(i)},
	}
}

func voicemail(id string, i int, status clubline.VoicemailStatus) *clubline.Voicemail {
	return &clubline.Voicemail{ID: id, CallID: "c-" + id, FollowUpDue: t0.Add(time.Duration(i) * time.Minute), Status: status}
}

func mustSaveCall(t *testing.T, s clubline.Store, c *clubline.Call) {
	t.Helper()
	if err := s.SaveCall(t.Context(), c); err != nil {
		t.Fatalf("SaveCall(%s): %v", c.ID, err)
	}
}

// TestContract runs the store contract through a spool over an embedded
// store: read-your-writes makes the spool look like its backend.
func TestContract(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T) (clubline.Store, func() clubline.Store) {
		dir := t.TempDir()
		open := func() clubline.Store {
			b, err := embedded.Open(filepath.Join(dir, "clubline.db"))
			if err != nil {
				t.Fatal(err)
			}
			return newSpool(t, b, filepath.Join(dir, "spool"), spool.Options{QueueSize: 16})
		}
		return open(), open
	})
}

func TestOutage(t *testing.T) {
	b := newFlaky(t)
	dir := t.TempDir()
	var g gauge
	s := newSpool(t, b, dir, spool.Options{Spooled: g.set})
	defer s.Close()

	b.setFail(true)
	const n = 100
	for i := range n {
		mustSaveCall(t, s, call(fmt.Sprintf("c%03d", i), i))
	}
	for i := range 20 {
		status := clubline.VoicemailNew
		if i%2 == 1 {
			status = clubline.VoicemailDone
		}
		if err := s.SaveVoicemail(t.Context(), voicemail(fmt.Sprintf("v%02d", i), i, status)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatalf("Flush during the outage: %v", err)
	}
	if got := s.Pending(); got != n+20 {
		t.Errorf("Pending during the outage = %d, want %d", got, n+20)
	}
	if got := journalLines(t, dir); got != n+20 {
		t.Errorf("journal holds %d records after Flush, want %d", got, n+20)
	}
	if last, _ := g.get(); last != n+20 {
		t.Errorf("Spooled gauge = %d during the outage, want %d", last, n+20)
	}
	// Read-your-writes while the backend is down.
	c, err := s.Call(t.Context(), "c042")
	if err != nil || c.Route != "42" {
		t.Errorf("Call(c042) during the outage = %+v, %v", c, err)
	}
	if _, err := s.Calls(t.Context(), t0, t0.Add(time.Hour), 0); err == nil {
		t.Errorf("Calls with the backend down succeeded; want the backend's error")
	}

	b.setFail(false)
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 })
	for i := range n {
		c, err := b.Store.Call(t.Context(), fmt.Sprintf("c%03d", i))
		if err != nil || c.Route != fmt.Sprint(i) {
			t.Fatalf("backend Call(c%03d) after recovery = %+v, %v", i, c, err)
		}
	}
	fs, err := b.Store.FollowUps(t.Context(), time.Time{})
	if err != nil || len(fs) != 10 {
		t.Errorf("backend FollowUps after recovery = %v, %v; want the 10 new messages", fs, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, spool.JournalFile)); err != nil || fi.Size() != 0 {
		t.Errorf("journal after recovery: %v, %v; want an empty file", fi, err)
	}
	if last, maxSeen := g.get(); last != 0 || maxSeen != n+20 {
		t.Errorf("Spooled gauge after recovery = %d (max %d), want 0 (max %d)", last, maxSeen, n+20)
	}
}

func TestReplaysJournalOfCrashedRun(t *testing.T) {
	b := newFlaky(t)
	b.setFail(true)
	dir := t.TempDir()
	s1 := newSpool(t, b, dir, spool.Options{})
	for i := range 30 {
		mustSaveCall(t, s1, call(fmt.Sprintf("c%02d", i), i))
	}
	mustSaveCall(t, s1, call("c00", 99)) // a later version of c00
	if err := s1.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The process dies here: what it left is the journal as it is now, with
	// a line it was writing when it died.
	crashed := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, spool.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, `{"seq":1000,"kind":"call","call":{"id":"torn"`...)
	if err := os.WriteFile(filepath.Join(crashed, spool.JournalFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	b.setFail(false)
	s2 := newSpool(t, b, crashed, spool.Options{})
	defer s2.Close()
	waitFor(t, "the journal to be replayed", func() bool { return s2.Pending() == 0 })
	for i := range 30 {
		want := fmt.Sprint(i)
		if i == 0 {
			want = "99"
		}
		c, err := b.Store.Call(t.Context(), fmt.Sprintf("c%02d", i))
		if err != nil || c.Route != want {
			t.Fatalf("backend Call(c%02d) after replay = %+v, %v; want route %s", i, c, err, want)
		}
	}
	if _, err := b.Store.Call(t.Context(), "torn"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("the torn last line was replayed: %v", err)
	}
	// New records after the replay go through, and a later save is not
	// overwritten by an old journal record.
	mustSaveCall(t, s2, call("c01", 100))
	if err := s2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new record", func() bool { return s2.Pending() == 0 })
	if c, _ := b.Store.Call(t.Context(), "c01"); c == nil || c.Route != "100" {
		t.Errorf("c01 after a new save = %+v, want route 100", c)
	}
}

// TestJournalFormat replays a journal written by hand as docs/data.md
// describes it, with a line that is not a record.
func TestJournalFormat(t *testing.T) {
	dir := t.TempDir()
	journal := strings.Join([]string{
		`{"seq":1,"kind":"call","spooled_at":"2025-06-24T13:05:01.000Z","call":{"id":"c1","from":"+15145550123","started_at":"2025-06-24T13:05:00.123Z","stage":"greeting","duration_ms":0,"trace":["open: weekly"]}}`,
		`not json at all`,
		`{"seq":2,"kind":"voicemail","spooled_at":"2025-06-24T13:07:00.000Z","voicemail":{"id":"v1","call_id":"c1","urgent":true,"duration_ms":42512,"follow_up_due":"2025-06-25T13:00:00.000Z","status":"new"}}`,
		`{"seq":3,"kind":"call","spooled_at":"2025-06-24T13:07:00.000Z","call":{"id":"c1","started_at":"2025-06-24T13:05:00.123Z","outcome":"voicemail","stage":"voicemail","voicemail_id":"v1","ended_at":"2025-06-24T13:06:35.580Z","duration_ms":95457}}`,
		`{"seq":4,"kind":"call","spooled_at":"2025-06-24T13:08:01.000Z","call":{"id":"c2","started_at":"2025-06-24T13:05:00.123Z","route":"office","group":"office","queued_at":"2025-06-24T13:05:12.468Z","answered_at":"2025-06-24T13:05:32.579Z","answered_by":"marie","wait_ms":20111,"transferred_to":"coaches","outcome":"answered","stage":"bridged","ended_at":"2025-06-24T13:08:00.130Z","duration_ms":180007}}`,
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, spool.JournalFile), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newFlaky(t)
	s := newSpool(t, b, dir, spool.Options{})
	defer s.Close()
	waitFor(t, "the journal to be replayed", func() bool { return s.Pending() == 0 })

	c, err := b.Store.Call(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Outcome != clubline.OutcomeVoicemail || c.Duration != 95457*time.Millisecond || !c.EndedAt.Equal(time.Date(2025, 6, 24, 13, 6, 35, 580e6, time.UTC)) {
		t.Errorf("c1 after replay = %+v, want the seq 3 version", c)
	}
	if c.Group != "" || !c.QueuedAt.IsZero() || c.Wait != 0 {
		t.Errorf("c1 after replay = %+v, want no queue fields", c)
	}
	v, err := b.Store.Voicemail(t.Context(), "v1")
	if err != nil || !v.Urgent || v.Status != clubline.VoicemailNew {
		t.Errorf("v1 after replay = %+v, %v", v, err)
	}
	c2, err := b.Store.Call(t.Context(), "c2")
	if err != nil {
		t.Fatal(err)
	}
	if c2.Group != "office" || !c2.QueuedAt.Equal(time.Date(2025, 6, 24, 13, 5, 12, 468e6, time.UTC)) ||
		!c2.AnsweredAt.Equal(time.Date(2025, 6, 24, 13, 5, 32, 579e6, time.UTC)) || c2.AnsweredBy != "marie" ||
		c2.Wait != 20111*time.Millisecond || c2.TransferredTo != "coaches" {
		t.Errorf("c2 after replay = %+v, want its queue fields", c2)
	}
}

// TestJournalKeepsQueueFields: a call answered from a queue goes through
// the journal, across a restart, with every field.
func TestJournalKeepsQueueFields(t *testing.T) {
	queued := t0.Add(12345 * time.Millisecond)
	want := &clubline.Call{
		ID: "c1", From: "+15145550123", StartedAt: t0, Route: "office",
		Group: "office", QueuedAt: queued, AnsweredAt: queued.Add(20111 * time.Millisecond),
		AnsweredBy: "marie", Wait: 20111 * time.Millisecond, TransferredTo: "coaches",
		Outcome: clubline.OutcomeAnswered, Stage: clubline.StageBridged,
		EndedAt: t0.Add(180007 * time.Millisecond), Duration: 180007 * time.Millisecond,
		Trace: []string{"queue: office, answered by marie"},
	}
	b := newFlaky(t)
	b.setFail(true)
	dir := t.TempDir()
	s1 := newSpool(t, b, dir, spool.Options{})
	mustSaveCall(t, s1, want)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := journalLines(t, dir); got != 1 {
		t.Fatalf("journal holds %d records after Close, want 1", got)
	}

	b.setFail(false)
	s2 := newSpool(t, b, dir, spool.Options{})
	defer s2.Close()
	waitFor(t, "the journal to be replayed", func() bool { return s2.Pending() == 0 })
	got, err := b.Store.Call(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backend Call(c1) after replay =\n\t%+v\nwant\n\t%+v", got, want)
	}
}

func TestSaveNeverBlocksOnHungBackend(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := newFlaky(t)
	release := b.startHang()
	defer release()
	dir := t.TempDir()
	s := newSpool(t, b, dir, spool.Options{QueueSize: 8})

	const n = 100
	var slowest time.Duration
	start := time.Now()
	for i := range n {
		t1 := time.Now()
		mustSaveCall(t, s, call(fmt.Sprintf("c%03d", i), i))
		slowest = max(slowest, time.Since(t1))
		if i == 0 {
			waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })
			start = start.Add(time.Since(t1)) // the wait is the test's, not the save's
		}
	}
	if total := time.Since(start); total > 5*time.Second || slowest > time.Second {
		t.Errorf("%d saves against a hung backend took %s (slowest %s); want them not to wait", n, total, slowest)
	}
	// Reads see every record, merged with what the backend (readable, but
	// hung for writes) lists.
	cs, err := s.Calls(t.Context(), t0, t0.Add(time.Hour), 0)
	if err != nil || len(cs) != n {
		t.Fatalf("Calls while the backend hangs = %d records, %v; want %d", len(cs), err, n)
	}
	cs, err = s.Calls(t.Context(), t0.Add(10*time.Second), t0.Add(time.Hour), 5)
	if err != nil || len(cs) != 5 || cs[0].ID != "c010" || cs[4].ID != "c014" {
		t.Errorf("Calls with a limit while the backend hangs = %v, %v", cs, err)
	}

	// Shutdown with the backend still hung: Flush gives up waiting and puts
	// everything, the record being written included, on disk.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := journalLines(t, dir); got != n {
		t.Errorf("journal holds %d records after a Flush with the backend hung, want %d", got, n)
	}

	release()
	waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 })
	for i := range n {
		if _, err := b.Store.Call(t.Context(), fmt.Sprintf("c%03d", i)); err != nil {
			t.Fatalf("backend Call(c%03d): %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLastWriteWins saves many versions of one call across a hang, an
// overflow, a forced flush and a failure, and checks that the backend ends
// with the last one.
func TestLastWriteWins(t *testing.T) {
	for _, mode := range []string{"hang then succeed", "hang then fail"} {
		t.Run(mode, func(t *testing.T) {
			b := newFlaky(t)
			dir := t.TempDir()
			s := newSpool(t, b, dir, spool.Options{QueueSize: 4})
			defer s.Close()
			release := b.startHang()
			defer release()
			forceFlush := func() {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				defer cancel()
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 50 {
				mustSaveCall(t, s, call("c", i))
				if i == 0 {
					// The writer has taken the first version and hangs on it.
					waitFor(t, "the writer to hang", func() bool { return b.hung.Load() == 1 })
				}
				if i == 20 {
					forceFlush()
				}
			}
			forceFlush() // everything, the first version being written included, is on disk
			if mode == "hang then fail" {
				b.setFail(true)
			}
			release()
			if mode == "hang then fail" {
				time.Sleep(30 * time.Millisecond) // a retry or two fail
				b.setFail(false)
			}
			waitFor(t, "the spool to drain", func() bool { return s.Pending() == 0 && journalSize(t, dir) == 0 })
			c, err := b.Store.Call(t.Context(), "c")
			if err != nil || c.Route != "49" {
				t.Errorf("backend has %+v, %v; want the last version (route 49)", c, err)
			}
		})
	}
}

func TestCloseWithBackendDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := newFlaky(t)
	b.setFail(true)
	dir := t.TempDir()
	s := newSpool(t, b, dir, spool.Options{CloseTimeout: 2 * time.Second})
	for i := range 10 {
		mustSaveCall(t, s, call(fmt.Sprintf("c%d", i), i))
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close with the backend down took %s; the journal is enough", d)
	}
	if got := journalLines(t, dir); got != 10 {
		t.Errorf("journal holds %d records after Close, want 10", got)
	}
	if err := s.SaveCall(t.Context(), call("late", 0)); !errors.Is(err, spool.ErrClosed) {
		t.Errorf("SaveCall after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseWithBackendHung(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := newFlaky(t)
	release := b.startHang()
	defer release()
	dir := t.TempDir()
	s := newSpool(t, b, dir, spool.Options{CloseTimeout: 100 * time.Millisecond})
	for i := range 5 {
		mustSaveCall(t, s, call(fmt.Sprintf("c%d", i), i))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := journalLines(t, dir); got != 5 {
		t.Errorf("journal holds %d records after Close, want 5", got)
	}
}

func TestNewErrors(t *testing.T) {
	b := newFlaky(t)
	if _, err := spool.New(b, spool.Options{}); err == nil {
		t.Error("New without a directory succeeded")
	}
	if _, err := spool.New(nil, spool.Options{Dir: t.TempDir()}); err == nil {
		t.Error("New without a backend succeeded")
	}
}

// TestRegistrationsAreNotSpooled: a registration the backend did not take
// is an error for the REGISTER handler, never a line in the journal.
func TestRegistrationsAreNotSpooled(t *testing.T) {
	f := newFlaky(t)
	dir := t.TempDir()
	s := newSpool(t, f, dir, spool.Options{})
	defer s.Close()
	r := &clubline.Registration{StaffID: "marie", Contact: "sip:marie@10.0.0.7", Expires: t0.Add(time.Hour), RegisteredAt: t0}

	f.setFail(true)
	if err := s.SaveRegistration(t.Context(), r); !errors.Is(err, errDown) {
		t.Errorf("SaveRegistration with the backend down: err = %v, want %v", err, errDown)
	}
	if err := s.DeleteRegistration(t.Context(), "marie", r.Contact); !errors.Is(err, errDown) {
		t.Errorf("DeleteRegistration with the backend down: err = %v, want %v", err, errDown)
	}
	if _, err := s.Registrations(t.Context(), "", t0); !errors.Is(err, errDown) {
		t.Errorf("Registrations with the backend down: err = %v, want %v", err, errDown)
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
	if err := s.SaveRegistration(t.Context(), r); err != nil {
		t.Fatalf("SaveRegistration: %v", err)
	}
	// In the backend when SaveRegistration returns: no Flush needed.
	rs, err := f.Store.Registrations(t.Context(), "marie", t0)
	if err != nil || len(rs) != 1 {
		t.Fatalf("backend Registrations = %d, %v; want 1", len(rs), err)
	}
}
