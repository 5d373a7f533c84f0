package spool_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/store/spool"
)

var errDown = errors.New("fake backend: down")

// flaky is a backend (an embedded store underneath) that fails or hangs on
// demand.
type flaky struct {
	clubline.Store // the real data

	mu    sync.Mutex
	fail  bool
	hang  chan struct{} // non-nil: saves wait until it is closed (or their context ends)
	saves atomic.Int64  // saves that reached the real store
	hung  atomic.Int32  // saves waiting on hang now
}

func newFlaky(t *testing.T) *flaky {
	t.Helper()
	inner, err := embedded.Open(filepath.Join(t.TempDir(), "backend.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Store: inner}
	t.Cleanup(func() { inner.Close() })
	return f
}

func (f *flaky) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// startHang makes saves block; the returned function releases them.
func (f *flaky) startHang() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hang = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.hang = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

func (f *flaky) gate(ctx context.Context) error {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		f.hung.Add(1)
		defer f.hung.Add(-1)
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	return nil
}

func (f *flaky) SaveCall(ctx context.Context, c *clubline.Call) error {
	if err := f.gate(ctx); err != nil {
		return err
	}
	f.saves.Add(1)
	return f.Store.SaveCall(ctx, c)
}

func (f *flaky) SaveVoicemail(ctx context.Context, v *clubline.Voicemail) error {
	if err := f.gate(ctx); err != nil {
		return err
	}
	f.saves.Add(1)
	return f.Store.SaveVoicemail(ctx, v)
}

func (f *flaky) readGate() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	return nil
}

func (f *flaky) Call(ctx context.Context, id string) (*clubline.Call, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.Call(ctx, id)
}

func (f *flaky) Calls(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Call, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.Calls(ctx, from, to, limit)
}

func (f *flaky) FollowUps(ctx context.Context, before time.Time) ([]clubline.FollowUp, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.FollowUps(ctx, before)
}

func (f *flaky) Voicemails(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Voicemail, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.Voicemails(ctx, from, to, limit)
}

func (f *flaky) DeleteCall(ctx context.Context, id string) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.DeleteCall(ctx, id)
}

func (f *flaky) DeleteVoicemail(ctx context.Context, id string) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.DeleteVoicemail(ctx, id)
}

func (f *flaky) SetState(ctx context.Context, key, value string) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.SetState(ctx, key, value)
}

func (f *flaky) State(ctx context.Context, key string) (string, error) {
	if err := f.readGate(); err != nil {
		return "", err
	}
	return f.Store.State(ctx, key)
}

func (f *flaky) DeleteCallsBefore(ctx context.Context, t time.Time) (int, error) {
	if err := f.readGate(); err != nil {
		return 0, err
	}
	return f.Store.DeleteCallsBefore(ctx, t)
}

func (f *flaky) DeleteVoicemailsBefore(ctx context.Context, t time.Time) ([]*clubline.Voicemail, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.DeleteVoicemailsBefore(ctx, t)
}

func (f *flaky) SaveRegistration(ctx context.Context, r *clubline.Registration) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.SaveRegistration(ctx, r)
}

func (f *flaky) DeleteRegistration(ctx context.Context, staffID, contact string) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.DeleteRegistration(ctx, staffID, contact)
}

func (f *flaky) Registrations(ctx context.Context, staffID string, now time.Time) ([]*clubline.Registration, error) {
	if err := f.readGate(); err != nil {
		return nil, err
	}
	return f.Store.Registrations(ctx, staffID, now)
}

func (f *flaky) Ping(ctx context.Context) error {
	if err := f.readGate(); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

// Close leaves the real store open: the test reads it after the spool is gone.
func (f *flaky) Close() error { return nil }

// gauge records what the spool reports through Options.Spooled.
type gauge struct {
	mu   sync.Mutex
	last int
	max  int
}

func (g *gauge) set(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = n
	g.max = max(g.max, n)
}

func (g *gauge) get() (last, maxSeen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last, g.max
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// journalLines counts the records in the journal file.
func journalLines(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, spool.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func journalSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, spool.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
