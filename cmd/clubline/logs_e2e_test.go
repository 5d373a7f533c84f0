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
// reload (the config package and Main each logged one). The number called
// is the club's, not a person's: it is not masked (to=c*** read as a
// caller's).
func TestOneLogLinePerCallEndAndReload(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	l := startLineIn(t, dir, path, openTuesday, func(m *Main) {
		m.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	l.sipURI = "sip:club@" + l.m.sipAddr("udp") // the club's own SIP user, in sip.numbers
	c := l.dial(softphone.Options{From: "+15145550101"})
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
	// The club's own number shows in full; the caller's is masked.
	if in := linesWith(logs.String(), `msg="incoming call"`); len(in) != 1 || !strings.Contains(in[0], " to=club ") || !strings.Contains(in[0], " from=+1514***0101 ") {
		t.Errorf("want one incoming call with to=club and from=+1514***0101, got:\n%s", strings.Join(in, "\n"))
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
