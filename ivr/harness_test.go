package ivr_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var montreal = mustLocation("America/Toronto")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("EST", -5*3600)
	}
	return loc
}

var (
	// Tuesday 23 June 2026, in and out of office hours.
	tuesdayNoon  = time.Date(2026, 6, 23, 12, 0, 0, 0, montreal)
	tuesdayNight = time.Date(2026, 6, 23, 20, 0, 0, 0, montreal)

	weekdays = []routing.DaySpan{{First: time.Monday, Last: time.Friday,
		Ranges: []routing.Range{{Start: 8*60 + 30, End: 16*60 + 30}}}}

	openStatus = routing.Status{Open: true, Reason: routing.ReasonWeekly,
		Name: "mon-fri 08:30-16:30", Hours: weekdays}
	nightStatus = routing.Status{Reason: routing.ReasonWeekly, Name: "mon-fri 08:30-16:30",
		NextOpen: time.Date(2026, 6, 24, 8, 30, 0, 0, montreal), Hours: weekdays}
)

// endOfMenu is the last clip of the French menu.
const endOfMenu = "fr/digit_0"

type harness struct {
	t       *testing.T
	opts    ivr.Options
	status  routing.Status
	now     time.Time
	prompts *fakePrompts
	store   *fakeStore
	m       *metrics.Metrics
	reg     *prometheus.Registry // m's
	ctx     context.Context

	// Putting callers through: the fake phones, the fake bridge, and the
	// queue state (nil: each script its own).
	dialer *fakeDialer
	bridge *fakeBridge
	acd    *routing.ACD
	// realtime makes the script's clock run from now as the wall clock
	// does (plus skew), so that waits are measured; by default it stands
	// still at now.
	realtime bool
	skew     atomic.Int64 // nanoseconds added to the running clock
	// create, when set, makes the message files (ivr.WithRecorder).
	create func(path string) (ivr.Recorder, error)
	// callbacks, when set, runs queued callbacks (ivr.WithCallbacks).
	callbacks *ivr.Callbacks
	// recordings, when set, keeps prompts recorded by phone
	// (ivr.WithRecordings).
	recordings ivr.PromptRecordings
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		t: t, reg: reg,
		opts: ivr.Options{
			Languages:   []string{"fr", "en"},
			LanguageKey: "8",
			Menu: ivr.Menu{
				Options: []ivr.MenuOption{
					{Key: "1", Category: "registrations", Route: "office"},
					{Key: "2", Category: "programs", Route: "office"},
					{Key: "9", Category: "urgent", Route: clubline.RouteUrgency},
					{Key: "0", Category: "message", Route: clubline.RouteVoicemail},
				},
				Timeout: 50 * time.Millisecond,
				Retries: 2,
				Default: clubline.RouteVoicemail,
			},
			Groups: []ivr.Group{{ID: "office"}},
			Voicemail: ivr.VoicemailOptions{
				Dir:                  filepath.Join(t.TempDir(), "voicemail"),
				MaxLength:            20 * time.Second,
				SilenceTimeout:       time.Second,
				MinLength:            time.Second,
				FollowUpWithin:       48 * time.Hour,
				UrgentFollowUpWithin: 2 * time.Hour,
			},
		},
		status:  openStatus,
		now:     tuesdayNoon,
		prompts: newFakePrompts(),
		store:   &fakeStore{},
		m:       m,
		ctx:     context.Background(),
		dialer:  newFakeDialer(),
		bridge:  &fakeBridge{},
	}
}

func (h *harness) script() *ivr.Script {
	ids := 0
	clock := func() time.Time { return h.now }
	if h.realtime {
		base := time.Now()
		clock = func() time.Time { return h.now.Add(time.Since(base) + time.Duration(h.skew.Load())) }
	}
	h.dialer.mu.Lock()
	h.dialer.prompts = h.prompts // the staff hear the same clips
	h.dialer.mu.Unlock()
	opts := []ivr.Option{
		ivr.WithClock(clock),
		ivr.WithIDs(func() string { ids++; return "vm" + string(rune('0'+ids)) }),
		ivr.WithDialer(h.dialer),
		ivr.WithPhones(h.store),
		ivr.WithBridge(h.bridge.bridge),
	}
	if h.acd != nil {
		opts = append(opts, ivr.WithACD(h.acd))
	}
	if h.create != nil {
		opts = append(opts, ivr.WithRecorder(h.create))
	}
	if h.callbacks != nil {
		opts = append(opts, ivr.WithCallbacks(h.callbacks))
	}
	if h.recordings != nil {
		opts = append(opts, ivr.WithRecordings(h.recordings))
	}
	return ivr.New(h.opts, fixedSchedule{h.status}, h.prompts, h.store, h.m,
		slog.New(slog.DiscardHandler), opts...)
}

// advance moves the running clock (realtime) forward by d.
func (h *harness) advance(d time.Duration) { h.skew.Add(int64(d)) }

// run plays one call through the script and returns its final record.
func (h *harness) run(rec recording, events ...*event) (clubline.Call, *fakeLeg) {
	h.t.Helper()
	c := h.start(rec, events...)
	return c.wait(), c.leg
}

// running is a call started by start, which the test drives while it runs.
type running struct {
	h      *harness
	leg    *fakeLeg
	done   chan struct{}
	before goleak.Option
}

// start runs one call through the script in the background.
func (h *harness) start(rec recording, events ...*event) *running {
	h.t.Helper()
	leg := newFakeLeg(h.prompts, rec, events...)
	c := &running{h: h, leg: leg, done: make(chan struct{}), before: goleak.IgnoreCurrent()}
	s := h.script()
	go func() {
		defer close(c.done)
		s.Run(h.ctx, ivr.Inbound{ID: "call-1", From: "+15145550123", To: "100", Leg: leg})
	}()
	return c
}

// wait waits for the call to end, checks what every call must leave
// behind, and returns its final record.
func (c *running) wait() clubline.Call {
	h := c.h
	h.t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		h.t.Fatalf("Run did not return; heard %v", c.leg.Heard())
	}
	select {
	case <-c.leg.Done():
	default:
		h.t.Errorf("the call was not hung up at the end")
	}
	goleak.VerifyNone(h.t, c.before)
	saves := h.store.Saves()
	if len(saves) < 2 {
		h.t.Fatalf("store got %d call records, want the first and the last", len(saves))
	}
	started := saves[0].StartedAt
	if saves[0].Stage != clubline.StageGreeting || saves[0].ID != "call-1" ||
		started.Before(h.now) || (!h.realtime && !started.Equal(h.now)) {
		h.t.Errorf("first record = %+v, want stage greeting, id and start", saves[0])
	}
	if g := testutil.ToFloat64(h.m.ActiveCalls); g != 0 {
		h.t.Errorf("active calls = %v after the call, want 0", g)
	}
	return saves[len(saves)-1]
}

func (h *harness) callsCounted(hours clubline.Hours, outcome clubline.Outcome) float64 {
	return testutil.ToFloat64(h.m.Calls.WithLabelValues(string(hours), string(outcome)))
}

// wavFiles lists the files in the voicemail directory.
func (h *harness) wavFiles() []string {
	h.t.Helper()
	entries, err := os.ReadDir(h.opts.Voicemail.Dir)
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func readWAV(t *testing.T, path string) []media.Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// inOrder reports whether want appears in heard in that order (not
// necessarily next to each other).
func inOrder(heard, want []string) bool {
	i := 0
	for _, h := range heard {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func count(heard []string, clip string) int {
	n := 0
	for _, h := range heard {
		if h == clip {
			n++
		}
	}
	return n
}

func hasTrace(c clubline.Call, step string) bool { return slices.Contains(c.Trace, step) }

func traceWith(c clubline.Call, prefix string) bool {
	return slices.ContainsFunc(c.Trace, func(s string) bool { return strings.HasPrefix(s, prefix) })
}
