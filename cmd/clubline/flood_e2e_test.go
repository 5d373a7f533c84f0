package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/rawsip"
)

// logCount counts what clubline logs at Info and above.
type logCount struct {
	mu sync.Mutex
	n  int
}

func (l *logCount) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *logCount) WithGroup(string) slog.Handler                 { return l }
func (l *logCount) Handle(context.Context, slog.Record) error {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return nil
}

func (l *logCount) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// records returns the call records in the store.
func (l *line) records() []*clubline.Call {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	calls, err := l.m.Store.Calls(ctx, time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if err != nil {
		l.t.Fatal(err)
	}
	return calls
}

// A flood of INVITEs to numbers that are not the club's is counted, by
// status, and leaves neither call records nor a log line each.
func TestRefusalFloodCountedNotStored(t *testing.T) {
	t.Parallel()
	logs := &logCount{}
	dir := t.TempDir()
	l := startLineIn(t, dir, writeConfig(t, dir, lineOpts{at: openTuesday}), openTuesday,
		func(m *Main) { m.Logger = slog.New(logs) })
	flood := rawsip.NewSender(t, "127.0.0.1", l.m.sipAddr("udp"))
	sink := rawsip.NewSink(t)

	before := logs.count()
	var ids []string
	for i := range 200 {
		ids = append(ids, flood.Invite(fmt.Sprintf("555%04d", i), sink.Addr(), sink.Addr()).CallID)
	}
	got := flood.Finals(ids, 10*time.Second)
	for _, code := range got {
		if code != 404 {
			t.Fatalf("a refusal answered %d, want 404", code)
		}
	}
	if len(got) != 200 {
		t.Fatalf("%d of 200 INVITEs answered", len(got))
	}
	l.awaitMetric(`clubline_sip_rejected_total{code="404"}`, 200)
	l.awaitMetric(`clubline_calls_total{hours="open",outcome="rejected"}`, 200)
	if n := logs.count() - before; n > 3 {
		t.Errorf("200 refusals logged %d lines, want a few", n)
	}
	if recs := l.records(); len(recs) != 0 {
		t.Errorf("200 refusals left %d call records, want none", len(recs))
	}
}

// Callers who hang up as they ACK (ACK and BYE in one burst) are on
// record, as calls that gave up, each one.
func TestHangupBesideAckIsRecorded(t *testing.T) {
	t.Parallel()
	// Room for the ten calls at once: each is torn down while the next
	// comes, and on a loaded machine its ACK may not be read yet.
	l := startLine(t, lineOpts{at: openTuesday, maxCalls: 40})
	caller := rawsip.NewSender(t, "127.0.0.1", l.m.sipAddr("udp"))
	sink := rawsip.NewSink(t)
	const calls = 10
	for range calls {
		inv := caller.Invite("+14505550100", sink.Addr(), sink.Addr())
		ok := caller.Final(inv.CallID, 3*time.Second)
		if ok == nil || ok.StatusCode != 200 {
			t.Fatalf("answer: %v, want 200 OK", ok)
		}
		caller.ACK(inv, ok)
		caller.BYE(inv, ok)
	}
	l.awaitMetric(`clubline_calls_total{hours="open",outcome="abandoned"}`, calls)
	var final []*clubline.Call
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		final = final[:0]
		for _, c := range l.records() {
			if !c.EndedAt.IsZero() {
				final = append(final, c)
			}
		}
		if len(final) == calls || time.Now().After(deadline) {
			break
		}
	}
	if len(final) != calls {
		t.Fatalf("%d of %d callers who hung up at once are on record", len(final), calls)
	}
	for _, c := range final {
		if c.Outcome != clubline.OutcomeAbandoned || c.From != "+15145550199" {
			t.Errorf("record = %+v, want the caller's, abandoned", c)
		}
	}
}

// A call answered and not ACKed shows in clubline_calls_awaiting_ack (and
// not in clubline_active_calls) until it ends.
func TestAwaitingAckGauge(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: openTuesday})
	caller := rawsip.NewSender(t, "127.0.0.1", l.m.sipAddr("udp"))
	sink := rawsip.NewSink(t)
	inv := caller.Invite("+14505550100", sink.Addr(), sink.Addr())
	ok := caller.Final(inv.CallID, 3*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("answer: %v, want 200 OK", ok)
	}
	l.awaitMetric("clubline_calls_awaiting_ack", 1)
	if n := l.metric("clubline_active_calls"); n != 0 {
		t.Errorf("clubline_active_calls = %v, want 0: no script runs before the ACK", n)
	}
	caller.BYE(inv, ok) // the caller gives up before its ACK
	l.awaitMetric("clubline_calls_awaiting_ack", 0)
}
