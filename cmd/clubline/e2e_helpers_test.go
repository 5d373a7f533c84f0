package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/softphone"
)

// Moments in the club's time zone the tests put the line at.
var (
	toronto, _  = time.LoadLocation("America/Toronto")
	openTuesday = time.Date(2026, 11, 24, 10, 0, 0, 0, toronto) // Tuesday, office open
	tuesdayEve  = time.Date(2026, 11, 24, 20, 0, 0, 0, toronto) // Tuesday evening, closed
	fete        = time.Date(2027, 6, 24, 10, 0, 0, 0, toronto)  // Thursday, Fête nationale
)

// testConfig is a complete config for a line on loopback ports; extra is
// YAML appended (or replacing sections named in it).
const testConfig = `club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr, en]
  language_key: "8"
sip:
  listen: [udp://127.0.0.1:0, tcp://127.0.0.1:0]
  rtp_ports: 40000-49999
  rtp_timeout: 10s
  numbers: ["+14505550100", club]
  max_calls: %d
  drain_timeout: 5s
hours:
  weekly:
    mon-fri: 08:30-16:30
  holidays: quebec
  override: %s
menu:
  timeout: 3s
  retries: 1
  default: voicemail
  options:
    - { key: "1", category: registrations, route: office }
    - { key: "2", category: programs, route: office }
    - { key: "9", category: urgent, route: urgency }
    - { key: "0", category: message, route: voicemail }
voicemail:
  dir: %s
  max_length: 30s
  silence_timeout: 4s
  follow_up_within: 48h
  urgent_follow_up_within: 2h
store:
  redis_url: "%s"
  key_prefix: "%s"
  data_dir: %s
http:
  listen: 127.0.0.1:0
groups:
  - { id: office }
`

// line is a running clubline for one test.
type line struct {
	t      *testing.T
	m      *Main
	dir    string
	config string
	sipURI string // sip:+14505550100@127.0.0.1:port
	set    *prompts.Set
	down   sync.Once
}

// shutdown drains the line as SIGTERM does; ctx bounds the drain.
func (l *line) shutdown(ctx context.Context) (err error) {
	l.down.Do(func() { err = l.m.Shutdown(ctx) })
	return err
}

type lineOpts struct {
	at       time.Time // what the line's clock reads when the test starts
	maxCalls int
	override string
	redisURL string
	prefix   string
}

// writeConfig writes the test config for o into dir.
func writeConfig(t *testing.T, dir string, o lineOpts) string {
	t.Helper()
	if o.maxCalls == 0 {
		o.maxCalls = 10
	}
	if o.override == "" {
		o.override = "auto"
	}
	if o.prefix == "" {
		o.prefix = "clubline:"
	}
	path := filepath.Join(dir, "clubline.yaml")
	body := fmt.Sprintf(testConfig, o.maxCalls, o.override, filepath.Join(dir, "voicemail"),
		o.redisURL, o.prefix, filepath.Join(dir, "data"))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startLine starts clubline's Main with the test config, its clock running
// from o.at, and stops it (draining) when the test ends.
func startLine(t *testing.T, o lineOpts) *line {
	t.Helper()
	dir := t.TempDir()
	return startLineIn(t, dir, writeConfig(t, dir, o), o.at)
}

// startLineIn starts clubline on the config file at path, in dir; tune,
// if given, sets more of Main first.
func startLineIn(t *testing.T, dir, path string, at time.Time, tune ...func(*Main)) *line {
	t.Helper()
	o := lineOpts{at: at}
	started := time.Now()
	m := &Main{
		ConfigPath: path,
		Logger:     testLogger(t),
		Now:        func() time.Time { return o.at.Add(time.Since(started)) },
	}
	for _, f := range tune {
		f(m)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("clubline did not start: %v", err)
	}
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	l := &line{t: t, m: m, dir: dir, config: path, sipURI: "sip:+14505550100@" + m.sipAddr("udp"), set: set}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return l
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// dial places a call to the line as a caller would.
func (l *line) dial(opts softphone.Options) *softphone.Call {
	l.t.Helper()
	if opts.From == "" {
		opts.From = "+15145550101"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, l.sipURI, opts)
	if err != nil {
		l.t.Fatalf("dialling the club: %v", err)
	}
	l.t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Hangup(context.Background())
		}
	})
	return c
}

// clip returns the samples of a built-in prompt.
func (l *line) clip(lang, name string) []int16 {
	l.t.Helper()
	fr := l.set.Frames(lang, name)
	if len(fr) == 0 {
		l.t.Fatalf("no built-in prompt %s/%s", lang, name)
	}
	return media.Flatten(fr)
}

// awaitHeard waits until the caller has heard the prompt (its first
// second, or all of it if shorter) and returns where it started.
func (l *line) awaitHeard(c *softphone.Call, lang, name string, within time.Duration) time.Duration {
	l.t.Helper()
	clip := l.clip(lang, name)
	if len(clip) > media.SampleRate {
		clip = clip[:media.SampleRate]
	}
	deadline := time.Now().Add(within)
	for {
		at, score := hearing.FindClip(c.Heard(), clip)
		if score >= 0.9 {
			return at
		}
		if time.Now().After(deadline) {
			h := c.Heard()
			segs := hearing.Segments(h)
			l.t.Fatalf("the caller did not hear %s/%s within %s (best match %.2f; heard %s: %v)", lang, name, within, score,
				time.Duration(len(h))*time.Second/media.SampleRate, segs)
		}
		select {
		case <-c.Done():
			l.t.Fatalf("the call ended (%s) before the caller heard %s/%s", c.EndedBy(), lang, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// heard reports whether the caller heard the whole prompt.
func (l *line) heard(c *softphone.Call, lang, name string) bool {
	_, score := hearing.FindClip(c.Heard(), l.clip(lang, name))
	return score >= 0.9
}

// awaitEnd waits for the call to end and returns how.
func awaitEnd(t *testing.T, c *softphone.Call, within time.Duration) string {
	t.Helper()
	select {
	case <-c.Done():
		return c.EndedBy()
	case <-time.After(within):
		t.Fatalf("the call did not end within %s", within)
		return ""
	}
}

// lastCall waits until the store holds the final record of the latest call
// (one with an end time) and returns it.
func (l *line) lastCall() *clubline.Call {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		calls, err := l.m.Store.Calls(ctx, time.Time{}, time.Now().Add(time.Hour*24*365*3), 0)
		cancel()
		if err == nil && len(calls) > 0 && !calls[len(calls)-1].EndedAt.IsZero() {
			return calls[len(calls)-1]
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("no final call record in the store (err %v, %d records)", err, len(calls))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns the body of an admin HTTP endpoint.
func (l *line) get(path string) string {
	l.t.Helper()
	body, _ := l.getStatus(path)
	return body
}

// getStatus returns the body and status of an admin HTTP endpoint.
func (l *line) getStatus(path string) (string, int) {
	l.t.Helper()
	resp, err := http.Get("http://" + l.m.Admin.Addr() + path)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.StatusCode
}

// metric returns the value of one sample of /metrics, e.g.
// `clubline_calls_total{hours="open",outcome="voicemail"}`, or 0 if absent.
func (l *line) metric(sample string) float64 {
	l.t.Helper()
	for _, ln := range strings.Split(l.get("/metrics"), "\n") {
		if v, ok := strings.CutPrefix(ln, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// awaitMetric waits until a sample reaches want (metrics are counted when
// the call script finishes, just after the caller hears the BYE).
func (l *line) awaitMetric(sample string, want float64) {
	l.t.Helper()
	l.awaitMetricWithin(sample, want, 5*time.Second)
}

// awaitMetricWithin waits up to within for the sample to read want.
func (l *line) awaitMetricWithin(sample string, want float64, within time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := l.metric(sample)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s = %v, want %v", sample, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
