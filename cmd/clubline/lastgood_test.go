package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline/softphone"
)

// A volunteer saves a broken file and the machine restarts before anyone
// notices: clubline still answers, with the last good config, says what
// is wrong, and applies the file once it is fixed.
func TestRestartWithBrokenConfigKeepsAnswering(t *testing.T) {
	t.Parallel()
	first := startLine(t, lineOpts{at: openTuesday})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.config, []byte("club:\n  name: Club\nhours:\n  weekly:\n    mon-fri: 08:30-25:00\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	l := startLineIn(t, first.dir, first.config, openTuesday)
	if got := l.metric(`clubline_config_reloads_total{result="failure"}`); got != 1 {
		t.Errorf("starting on the last good copy counted %v failed reloads, want 1", got)
	}
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "menu_intro", 15*time.Second) // open: the last good config
	_ = c.Hangup(context.Background())

	writeConfig(t, first.dir, lineOpts{override: "closed"})
	l.awaitMetric(`clubline_config_reloads_total{result="success"}`, 1)
	c = l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 12*time.Second)
	_ = c.Hangup(context.Background())
}

// Running the example (go run ./cmd/clubline) keeps its last good copy
// beside it, in the repository: git must ignore it, and the copy being
// written too (a clubline killed between the write and the rename
// leaves it).
func TestLastGoodCopyOfTheExampleIsIgnoredByGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git work tree")
	}
	good := lastGoodPath(filepath.Join("config", "example.yaml"))
	for _, path := range []string{good, good + ".tmp"} {
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", path)
		cmd.Dir = string(root[:len(root)-1])
		if err := cmd.Run(); err != nil {
			t.Errorf("git does not ignore %s (%v): add it to .gitignore", path, err)
		}
	}
}

// In a container the config's folder is read-only: with
// CLUBLINE_STATE_DIR (the image sets it) the last good copy is kept there
// instead, and a restart with a broken file starts from it.
func TestLastGoodInTheStateDir(t *testing.T) {
	state := t.TempDir()
	t.Setenv("CLUBLINE_STATE_DIR", state)
	first := startLine(t, lineOpts{at: openTuesday})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(state, "."+filepath.Base(first.config)+".last-good")
	if _, err := os.Stat(copyPath); err != nil {
		t.Fatalf("no last good copy in CLUBLINE_STATE_DIR: %v", err)
	}
	if _, err := os.Stat(filepath.Join(first.dir, "."+filepath.Base(first.config)+".last-good")); err == nil {
		t.Error("a last good copy beside the config as well")
	}
	if err := os.WriteFile(first.config, []byte("club:\n  name: Club\nhours:\n  weekly:\n    mon-fri: 08:30-25:00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, first.dir, first.config, openTuesday)
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "menu_intro", 15*time.Second) // the last good config
	_ = c.Hangup(context.Background())
}
