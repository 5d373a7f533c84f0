package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline/config"
)

// replace writes a file the way editors do: a new file renamed over the
// old one.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type watchResult struct {
	applied chan *config.Config
	failed  chan error
}

func startWatcher(t *testing.T, path string) (*config.Watcher, watchResult, context.CancelFunc, chan error) {
	t.Helper()
	r := watchResult{applied: make(chan *config.Config, 10), failed: make(chan error, 10)}
	w := config.NewWatcher(path, nil, func(c *config.Config) { r.applied <- c }, func(err error) { r.failed <- err })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Give the watch time to be in place before the test edits the file.
	time.Sleep(100 * time.Millisecond)
	return w, r, cancel, done
}

func waitApplied(t *testing.T, r watchResult) *config.Config {
	t.Helper()
	select {
	case c := <-r.applied:
		return c
	case err := <-r.failed:
		t.Fatalf("want a config applied, got failure:\n%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no config applied within 5s")
	}
	return nil
}

func waitFailed(t *testing.T, r watchResult) error {
	t.Helper()
	select {
	case c := <-r.applied:
		t.Fatalf("broken file applied: %+v", c.Club)
	case err := <-r.failed:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no failure reported within 5s")
	}
	return nil
}

func TestWatcher(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "clubline.yaml")
	replace(t, path, "club:\n  name: First\n")
	w, r, cancel, done := startWatcher(t, path)

	// A valid edit, by rename, is applied.
	replace(t, path, "club:\n  name: Second\n")
	if c := waitApplied(t, r); c.Club.Name != "Second" {
		t.Errorf("applied %q, want Second", c.Club.Name)
	}

	// A valid edit in place is applied too.
	if err := os.WriteFile(path, []byte("club:\n  name: Third\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := waitApplied(t, r); c.Club.Name != "Third" {
		t.Errorf("applied %q, want Third", c.Club.Name)
	}

	// A broken edit is reported, with its line, and not applied.
	replace(t, path, "club:\n  name: Fourth\n  max_calls: 3\n")
	err := waitFailed(t, r)
	var errs config.Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "clubline.yaml:3: club.max_calls: unknown key") {
		t.Errorf("failure: %v", err)
	}

	// Reload reads the file even unchanged: still broken.
	w.Reload()
	waitFailed(t, r)

	// Fixed again.
	replace(t, path, "club:\n  name: Fifth\n")
	if c := waitApplied(t, r); c.Club.Name != "Fifth" {
		t.Errorf("applied %q, want Fifth", c.Club.Name)
	}

	// Reload of a valid file applies it again.
	w.Reload()
	if c := waitApplied(t, r); c.Club.Name != "Fifth" {
		t.Errorf("applied %q, want Fifth", c.Club.Name)
	}

	// Other files in the folder are not the config.
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-r.applied:
		t.Errorf("applied on another file's change: %+v", c.Club)
	case err := <-r.failed:
		t.Errorf("failed on another file's change: %v", err)
	case <-time.After(config.Debounce + 300*time.Millisecond):
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWatcherDebounces(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "clubline.yaml")
	replace(t, path, "club:\n  name: A\n")
	_, r, cancel, done := startWatcher(t, path)
	defer func() { cancel(); <-done }()

	// A burst of writes makes one reload, of the last content.
	for _, name := range []string{"B", "C", "D", "E"} {
		if err := os.WriteFile(path, []byte("club:\n  name: "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if c := waitApplied(t, r); c.Club.Name != "E" {
		t.Errorf("applied %q, want E", c.Club.Name)
	}
	select {
	case c := <-r.applied:
		t.Errorf("second apply for one burst: %q", c.Club.Name)
	case <-time.After(config.Debounce + 300*time.Millisecond):
	}
}

func TestWatchMissingFolder(t *testing.T) {
	defer goleak.VerifyNone(t)
	var got error
	config.Watch(context.Background(), filepath.Join(t.TempDir(), "nope", "clubline.yaml"), nil,
		func(*config.Config) { t.Error("applied") }, func(err error) { got = err })
	if got == nil || !strings.Contains(got.Error(), "watching folder") {
		t.Errorf("got %v", got)
	}
}
