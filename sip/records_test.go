package sip_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/rawsip"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// unstarted collects the records Options.OnUnstarted receives.
func unstarted(ch chan clubline.Call) func(*sip.Options) {
	return func(o *sip.Options) { o.OnUnstarted = func(c clubline.Call) { ch <- c } }
}

// A caller answered but never heard from again (no ACK) is on record as a
// call that gave up at the answer, once the ACK timeout has passed.
func TestUnackedCallIsRecorded(t *testing.T) {
	records := make(chan clubline.Call, 4)
	s := newScript(nil)
	h := newHarness(t, s.handle, unstarted(records), func(o *sip.Options) { o.AckTimeout = time.Second })
	victim := rawsip.NewSink(t)
	caller := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())

	inv := caller.Invite(clubNumber, victim.Addr(), victim.Addr())
	if ok := caller.Final(inv.CallID, 2*time.Second); ok == nil || ok.StatusCode != 200 {
		t.Fatalf("answer: %v, want 200 OK", ok)
	}
	select {
	case c := <-records:
		if c.Outcome != clubline.OutcomeAbandoned || c.Stage != clubline.StageAnswer || c.ID == "" ||
			c.From != "+15145550199" || c.To != clubNumber || c.EndedAt.Before(c.StartedAt.Add(time.Second)) {
			t.Errorf("record = %+v, want abandoned at the answer, from +15145550199 to %s, ended after the 1s ACK timeout",
				c, clubNumber)
		}
		if len(c.Trace) != 1 || !strings.Contains(c.Trace[0], "no ACK") {
			t.Errorf("trace = %q, want one line saying no ACK came", c.Trace)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("no record of the call answered and never ACKed")
	}
	select {
	case in := <-s.calls:
		t.Errorf("the script ran for %s, want no script without an ACK", in.ID)
	default:
	}
	h.waitIdle()
}

// A caller who hangs up as soon as it ACKs (ACK and BYE in one burst) is
// on record whichever of the two the server handles first: by the script
// if it started, else by OnUnstarted.
func TestByeBesideAckIsRecorded(t *testing.T) {
	const calls = 20
	records := make(chan clubline.Call, calls)
	var scripts atomic.Int32
	h := newHarness(t, func(ctx context.Context, in ivr.Inbound) {
		scripts.Add(1)
		<-ctx.Done()
	}, unstarted(records))
	sink := rawsip.NewSink(t)
	caller := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())
	for range calls {
		inv := caller.Invite(clubNumber, sink.Addr(), sink.Addr())
		ok := caller.Final(inv.CallID, 2*time.Second)
		if ok == nil || ok.StatusCode != 200 {
			t.Fatalf("answer: %v, want 200 OK", ok)
		}
		caller.ACK(inv, ok)
		caller.BYE(inv, ok)
	}
	h.waitIdle()
	if got := int(scripts.Load()) + len(records); got != calls {
		t.Errorf("%d of %d calls hung up beside their ACK are on record (%d by their script, %d at the answer)",
			got, calls, scripts.Load(), len(records))
	}
	for len(records) > 0 {
		c := <-records
		if c.Outcome != clubline.OutcomeAbandoned || c.Stage != clubline.StageAnswer ||
			len(c.Trace) != 1 || !strings.Contains(c.Trace[0], "hung up before the greeting") {
			t.Errorf("record = %+v, want abandoned at the answer: the caller hung up before the greeting", c)
		}
	}
}

// logLines keeps what a server logs at Info and above, one line each.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *logLines) WithGroup(string) slog.Handler                 { return l }

func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

// since returns the lines logged after the first n.
func (l *logLines) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[n:]...)
}

func (l *logLines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// 200 INVITEs refused (100 to a number that is not the club's, 100 over
// capacity) are all counted, and the log says so in a few lines, not 200.
func TestRefusalFloodLogsLittle(t *testing.T) {
	logs := &logLines{}
	var mu sync.Mutex
	refused := map[int]int{} // status → count
	h := newHarness(t, newScript(nil).handle, func(o *sip.Options) {
		o.Logger = slog.New(logs)
		o.MaxCalls = 1
		o.OnRejected = func(_ clubline.Call, status int) {
			mu.Lock()
			refused[status]++
			mu.Unlock()
		}
	})
	sink := rawsip.NewSink(t)
	flood := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())
	// floodOf sends 100 INVITEs, to the club's number or each to an
	// unknown one, then waits for their refusals; it returns what was
	// logged meanwhile.
	floodOf := func(unknown bool) []string {
		t.Helper()
		before := logs.count()
		var ids []string
		for i := range 100 {
			user := clubNumber
			if unknown {
				user = fmt.Sprintf("+1514555%04d", i)
			}
			ids = append(ids, flood.Invite(user, sink.Addr(), sink.Addr()).CallID)
		}
		if got := flood.Finals(ids, 10*time.Second); len(got) != len(ids) {
			t.Fatalf("%d of 100 INVITEs got a final answer", len(got))
		}
		return logs.since(before)
	}
	start := logs.count()
	lines := floodOf(true)
	h.dial(softphone.Options{}) // the one call the line takes
	lines = append(lines, floodOf(false)...)

	mu.Lock()
	if refused[404] != 100 || refused[503] != 100 {
		t.Errorf("refusals counted %v, want 100 × 404 and 100 × 503", refused)
	}
	mu.Unlock()
	if len(lines) > 3 {
		t.Errorf("200 refusals logged %d lines, want a few:\n%s", len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
	}

	// The count of what was not logged comes at the latest with Close.
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	var summary string
	for _, l := range logs.since(start) {
		if strings.Contains(l, "not_logged=") {
			summary = l
		}
	}
	if !strings.Contains(summary, "not_logged=199") {
		t.Errorf("no line counts the 199 refusals not logged; logged since the flood began:\n%s",
			strings.Join(logs.since(start), "\n"))
	}
}
