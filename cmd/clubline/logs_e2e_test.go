package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/softphone"
)

// Each thing that happens is one line of the log, with everything known
// of it: the end of a call (the script's outcome and sip's reason) and a
// reload (the config package and Main each logged one).
func TestOneLogLinePerCallEndAndReload(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	l := startLineIn(t, dir, path, openTuesday, func(m *Main) {
		m.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 8*time.Second)
	_ = c.Hangup(context.Background())

	writeConfig(t, dir, lineOpts{override: "closed"})
	l.awaitMetric(`clubline_config_reloads_total{result="success"}`, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.shutdown(ctx); err != nil { // waits for the call's last line
		t.Fatal(err)
	}

	ended := linesWith(logs.String(), `msg="call ended"`)
	if len(ended) != 1 {
		t.Fatalf("%d lines say the call ended, want 1:\n%s", len(ended), strings.Join(ended, "\n"))
	}
	for _, want := range []string{"outcome=", "stage=", `reason="remote BYE"`, "duration="} {
		if !strings.Contains(ended[0], want) {
			t.Errorf("the call's end line has no %s: %s", want, ended[0])
		}
	}
	if reloaded := linesWith(logs.String(), `msg="config reloaded`); len(reloaded) != 1 {
		t.Errorf("%d lines say the config was reloaded, want 1:\n%s", len(reloaded), strings.Join(reloaded, "\n"))
	}
}

// linesWith returns the lines of log that contain s.
func linesWith(log, s string) []string {
	var out []string
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
