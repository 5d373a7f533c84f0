package ivr_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
)

// clubNumber is the number the callers of the callback tests dialled.
const clubNumber = "+14505550100"

// cbHarness is a queue harness whose callers may ask to be called back.
type cbHarness struct {
	*harness
	reg *prometheus.Registry

	mu    sync.Mutex
	asked []string // the numbers Allows was asked about
}

// newCallbackHarness: North American numbers may be called back, but not
// 1-900 ones; two attempts, 200 ms apart. Alice alone is registered for
// the office, and on another call until the test frees her (free), so
// that callers wait and only a callback takes her. The callbacks are shut
// down at the end of the test, and no goroutine may be left.
func newCallbackHarness(t *testing.T) *cbHarness {
	t.Helper()
	h := newQueueHarness(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.acd = routing.NewACD()
	h.callbacks = ivr.NewCallbacks()
	h.opts.Groups[0].MaxWait = 10 * time.Second
	ch := &cbHarness{harness: h, reg: reg}
	h.opts.Callback = ivr.CallbackOptions{
		Enabled: true, Attempts: 2, RetryAfter: 200 * time.Millisecond,
		Allows: func(n string) bool {
			ch.mu.Lock()
			ch.asked = append(ch.asked, n)
			ch.mu.Unlock()
			return strings.HasPrefix(n, "+1") && !strings.HasPrefix(n, "+1900")
		},
	}
	h.store.register("alice", aliceURI)
	h.dialer.set(aliceURI, phone{answerAfter: 20 * time.Millisecond})
	h.acd.Answered(nil, "alice")
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.callbacks.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		goleak.VerifyNone(t, before)
	})
	return ch
}

// free ends Alice's other call: she can be rung.
func (h *cbHarness) free() { h.acd.Hungup("alice", h.now) }

func (h *cbHarness) allowsAsked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.asked)
}

// call starts a call from a number to clubNumber; actions are what the
// caller does, given their leg (to type a number).
func (h *cbHarness) call(id, from string, actions func(leg *fakeLeg) []*event) *running {
	h.t.Helper()
	leg := newFakeLeg(h.prompts, recording{})
	if actions != nil {
		leg.events = actions(leg)
	}
	c := &running{h: h.harness, leg: leg, done: make(chan struct{})}
	s := h.script()
	go func() {
		defer close(c.done)
		s.Run(h.ctx, ivr.Inbound{ID: id, From: from, To: clubNumber, Leg: leg})
	}()
	return c
}

// ended waits for the caller's call to end (its callback may go on).
func (h *cbHarness) ended(c *running) {
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
}

// settled waits until no callback is pending.
func (h *cbHarness) settled() {
	h.t.Helper()
	waitFor(h.t, "the callbacks to end", func() bool { return h.callbacks.Pending() == 0 })
}

// record is the last record of a call the store got.
func (h *cbHarness) record(id string) clubline.Call {
	h.t.Helper()
	saves := h.store.Saves()
	for i := len(saves) - 1; i >= 0; i-- {
		if saves[i].ID == id {
			return saves[i]
		}
	}
	h.t.Fatalf("no record of %s", id)
	return clubline.Call{}
}

// counter reads a counter from the registry: labels are "name=value".
func (h *cbHarness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				found := false
				for _, p := range m.GetLabel() {
					found = found || (p.GetName() == k && p.GetValue() == v)
				}
				if !found {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (h *cbHarness) callbacksCounted(result string) float64 {
	return h.counter("clubline_callbacks_total", "group=office", "result="+result)
}

// typing types keys once clip has been heard (the nth time).
func typing(leg *fakeLeg, clip string, nth int, keys string) *event {
	return &event{clip: clip, nth: nth, after: true, do: func() {
		for _, k := range keys {
			leg.digits <- k
		}
	}}
}

// asksCallback: to the office, 2 on the hold music, 1 to confirm.
func asksCallback(*fakeLeg) []*event {
	return []*event{toOffice(), during("fr/hold_music", '2'), after("fr/callback_confirm", '1')}
}

// digitsOf are the clips that say a North American number.
func digitsOf(e164 string) []string {
	var out []string
	for _, d := range strings.TrimPrefix(e164, "+1") {
		out = append(out, "fr/digit_"+string(d))
	}
	return out
}

// The offer is said after how to leave the queue, to callers whose
// number can be called back and is allowed; to the others the key does
// nothing.
func TestCallbackOfferedOnlyToDialableAllowedNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, from string
		disabled   bool
		asked      []string // what Allows is asked
		offered    bool
	}{
		{"E.164", "+15145550199", false, []string{"+15145550199"}, true},
		{"ten digits", "5145550199", false, []string{"+15145550199"}, true},
		{"eleven digits", "15145550199", false, []string{"+15145550199"}, true},
		{"withheld", "anonymous", false, nil, false},
		{"SIP user", "201", false, nil, false},
		{"SIP name", "sipp", false, nil, false},
		{"abroad, refused by the config", "+33612345678", false, []string{"+33612345678"}, false},
		{"disabled", "+15145550199", true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCallbackHarness(t)
			h.opts.Callback.Enabled = !tc.disabled
			c := h.call("call-1", tc.from, func(*fakeLeg) []*event {
				hangup := hangupDuring("fr/hold_music")
				hangup.nth = 3
				return []*event{toOffice(), during("fr/hold_music", '2'), hangup}
			})
			h.ended(c)
			rec := h.record("call-1")

			heard := c.leg.Heard()
			offer := []string{"fr/connecting", "fr/queue_exit", "fr/digit_0", "fr/callback_offer", "fr/digit_2", "fr/hold_music"}
			if tc.offered {
				if !inOrder(heard, offer) {
					t.Errorf("heard %v, want the offer after how to leave", heard)
				}
			} else if slices.Contains(heard, "fr/callback_offer") || slices.Contains(heard, "fr/callback_number") {
				t.Errorf("heard %v: offered a callback", heard)
			}
			if !tc.offered && (count(heard, "fr/hold_music") < 3 || traceWith(rec, "office: callback")) {
				t.Errorf("2 did something: heard %v, trace %q", heard, rec.Trace)
			}
			if got := h.allowsAsked(); !slices.Equal(got, tc.asked) {
				t.Errorf("Allows asked about %q, want %q", got, tc.asked)
			}
			if rec.Outcome != clubline.OutcomeAbandoned || h.queueCalls("office", metrics.QueueAbandoned) != 1 {
				t.Errorf("outcome %s, queue abandoned %v", rec.Outcome, h.queueCalls("office", metrics.QueueAbandoned))
			}
			if h.callbacks.Pending() != 0 || h.acd.Waiting("office") != 0 {
				t.Errorf("%d callbacks pending, %d in line", h.callbacks.Pending(), h.acd.Waiting("office"))
			}
		})
	}
}

// 2, then 1: the caller hears the number read back and the confirmation,
// and is hung up. Once Alice is free she is rung first, told whom she
// calls back, then the caller's number is dialled with the club's number
// as caller id; the caller is greeted and put through to her.
func TestCallbackPutThrough(t *testing.T) {
	h := newCallbackHarness(t)
	c := h.call("call-1", callerID, asksCallback)
	h.ended(c)

	heard := c.leg.Heard()
	want := append([]string{"fr/connecting", "fr/queue_exit", "fr/digit_0", "fr/callback_offer", "fr/digit_2",
		"fr/hold_music", "fr/callback_number"}, digitsOf(callerID)...)
	want = append(want, "fr/callback_confirm", "fr/callback_noted")
	if !inOrder(heard, want) || heard[len(heard)-1] != "fr/callback_noted" {
		t.Errorf("heard %v\nwant %v", heard, want)
	}
	if c.leg.HungUpBy() != "clubline" {
		t.Errorf("hung up by %q, want clubline after the goodbye", c.leg.HungUpBy())
	}
	first := h.record("call-1")
	if first.Outcome != clubline.OutcomeAbandoned || first.Stage != clubline.StageQueue ||
		!hasTrace(first, "office: callback asked at +1514***0123") || first.AnsweredBy != "" || first.Wait <= 0 {
		t.Errorf("record when the caller's leg ended: outcome %s stage %s wait %v trace %q",
			first.Outcome, first.Stage, first.Wait, first.Trace)
	}
	for _, line := range first.Trace {
		if strings.Contains(line, "5550123") {
			t.Errorf("a trace line has the whole number: %q", line)
		}
	}
	if n := h.queueCalls("office", metrics.QueueCallback); n != 1 {
		t.Errorf("queue calls{office,callback} = %v", n)
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAbandoned); n != 0 {
		t.Errorf("calls{open,abandoned} = %v: a call whose callback runs is not over", n)
	}
	if n := testutil.ToFloat64(h.m.QueueWaiting.WithLabelValues("office")); n != 0 {
		t.Errorf("clubline_queue_waiting = %v once the caller hung up", n)
	}
	if h.acd.Waiting("office") != 1 || h.callbacks.Pending() != 1 || len(h.dialer.Rung()) != 0 {
		t.Fatalf("%d in line, %d callbacks, rung %v: want the callback's place kept, nobody rung yet",
			h.acd.Waiting("office"), h.callbacks.Pending(), h.dialer.Rung())
	}

	h.dialer.set(callerID, phone{answerAfter: 20 * time.Millisecond})
	h.free()
	alice := h.bridge.waitBridge(t, 1)
	if alice.key != aliceURI {
		t.Fatalf("bridged to %s, want Alice", alice.key)
	}
	reqs := h.dialer.Requests()
	if len(reqs) != 2 {
		t.Fatalf("rang %v, want Alice, then the caller", h.dialer.Rung())
	}
	if r := reqs[0]; r.Target.URI != aliceURI || r.Display != "RAPPEL registrations" || r.CallerID != callerID ||
		r.Headers["X-Clubline-Callback"] != "1" || r.Headers["X-Clubline-Call-Id"] != "call-1" {
		t.Errorf("Alice's ring %+v", r)
	}
	if r := reqs[1]; r.Target != (ivr.Target{Number: callerID}) || r.CallerID != clubNumber ||
		r.Headers["X-Clubline-Callback"] != "1" || r.RingTimeout != time.Second {
		t.Errorf("the caller's ring %+v, want their number, unconfirmed, from the club's number", r)
	}
	if !inOrder(alice.Heard(), []string{"fr/callback_staff", "fr/category_registrations", "fr/callback_staff_dialing"}) {
		t.Errorf("Alice heard %v", alice.Heard())
	}
	callerLegs := h.dialer.Legs(callerID)
	if len(callerLegs) != 1 || !slices.Equal(callerLegs[0].Heard(), []string{"fr/callback_hello"}) {
		t.Fatalf("caller legs %v: want one, greeted", callerLegs)
	}
	if n := testutil.ToFloat64(h.m.ActiveCalls); n != 1 {
		t.Errorf("clubline_active_calls = %v while they talk, want 1", n)
	}
	callerLegs[0].end("caller")
	h.settled()

	rec := h.record("call-1")
	if rec.Outcome != clubline.OutcomeAnswered || rec.Stage != clubline.StageBridged || rec.AnsweredBy != "alice" ||
		rec.AnsweredAt.IsZero() || rec.Wait != rec.AnsweredAt.Sub(rec.QueuedAt) || rec.EndedAt.Before(rec.AnsweredAt) {
		t.Errorf("final record: outcome %s stage %s answered by %q at %v wait %v", rec.Outcome, rec.Stage,
			rec.AnsweredBy, rec.AnsweredAt, rec.Wait)
	}
	if !inOrder(rec.Trace, []string{"office: callback asked at +1514***0123", "callback 1: bridged", "caller hung up in bridged"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if alice.HungUpBy() != "clubline" {
		t.Errorf("Alice hung up by %q, want clubline after the caller", alice.HungUpBy())
	}
	if n := h.callbacksCounted(metrics.CallbackAnswered); n != 1 {
		t.Errorf("callbacks{answered} = %v", n)
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAnswered); n != 1 {
		t.Errorf("calls{open,answered} = %v", n)
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAbandoned); n != 0 {
		t.Errorf("calls{open,abandoned} = %v, want the call counted once, answered", n)
	}
	if h.acd.Waiting("office") != 0 || h.acd.Busy() != 0 || testutil.ToFloat64(h.m.ActiveCalls) != 0 {
		t.Errorf("after the callback: %d in line, %d busy", h.acd.Waiting("office"), h.acd.Busy())
	}
	h.checkQueuesIdle("office")
}

// A caller who joined after the callback's caller waits behind them: Alice,
// once free, is rung for the callback, not for the caller on the line.
func TestCallbackKeepsThePlace(t *testing.T) {
	h := newCallbackHarness(t)
	a := h.call("call-1", callerID, asksCallback)
	h.ended(a)
	h.dialer.set(callerID, phone{answerAfter: 20 * time.Millisecond})

	b := h.call("call-2", "+15145550177", func(*fakeLeg) []*event { return []*event{toOffice()} })
	waitFor(t, "the second caller's hold music", func() bool { return slices.Contains(b.leg.Heard(), "fr/hold_music") })
	if heard := b.leg.Heard(); !inOrder(heard, []string{"fr/queue_position", "fr/ord_2", "fr/queue_position_suffix",
		"fr/queue_exit", "fr/digit_0", "fr/callback_offer", "fr/digit_2"}) {
		t.Errorf("the second caller heard %v, want second in line, and the offer", heard)
	}

	h.free()
	h.bridge.waitBridge(t, 1)
	for i, r := range h.dialer.Requests() {
		if r.Headers["X-Clubline-Call-Id"] == "call-2" {
			t.Errorf("ring %d is for the second caller: %+v", i, r)
		}
	}
	if r := h.dialer.Requests()[0]; r.Headers["X-Clubline-Callback"] != "1" {
		t.Errorf("the first ring %+v is not the callback's", r)
	}
	select {
	case <-b.done:
		t.Fatalf("the second caller's call ended: trace %q", h.record("call-2").Trace)
	default:
	}
	b.leg.end("caller")
	h.ended(b)
	h.dialer.Legs(callerID)[0].end("caller")
	h.settled()

	if rec := h.record("call-1"); rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" {
		t.Errorf("callback: outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
	}
	if rec := h.record("call-2"); rec.Outcome != clubline.OutcomeAbandoned || rec.AnsweredBy != "" {
		t.Errorf("second caller: outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
	}
	if h.queueCalls("office", metrics.QueueCallback) != 1 || h.queueCalls("office", metrics.QueueAbandoned) != 1 {
		t.Errorf("queue calls: callback %v abandoned %v", h.queueCalls("office", metrics.QueueCallback),
			h.queueCalls("office", metrics.QueueAbandoned))
	}
	h.checkQueuesIdle("office")
}

// Instead of 1 the caller may type another number and #: an allowed one
// is read back and confirmed; after two refused ones the caller is back
// in the queue with the music.
func TestCallbackTypedNumber(t *testing.T) {
	t.Run("allowed", func(t *testing.T) {
		h := newCallbackHarness(t)
		const other = "+15145550188"
		c := h.call("call-1", callerID, func(leg *fakeLeg) []*event {
			confirm := after("fr/callback_confirm", '1')
			confirm.nth = 2
			return []*event{toOffice(), during("fr/hold_music", '2'), typing(leg, "fr/callback_confirm", 1, "15145550188#"), confirm}
		})
		h.ended(c)
		want := append(append([]string{"fr/callback_number"}, digitsOf(callerID)...), "fr/callback_confirm", "fr/callback_number")
		want = append(append(want, digitsOf(other)...), "fr/callback_confirm", "fr/callback_noted")
		if heard := c.leg.Heard(); !inOrder(heard, want) || slices.Contains(heard, "fr/callback_refused") {
			t.Errorf("heard %v\nwant %v", heard, want)
		}
		if rec := h.record("call-1"); !hasTrace(rec, "office: callback asked at +1514***0188") {
			t.Errorf("trace = %q", rec.Trace)
		}
		if got := h.allowsAsked(); !slices.Equal(got, []string{callerID, other}) {
			t.Errorf("Allows asked about %q", got)
		}

		h.dialer.set(other, phone{answerAfter: 20 * time.Millisecond})
		h.free()
		h.bridge.waitBridge(t, 1)
		legs := h.dialer.Legs(other)
		if reqs := h.dialer.Requests(); len(reqs) != 2 || reqs[1].Target.Number != other || len(legs) != 1 {
			t.Fatalf("rang %v, want Alice, then the number typed", h.dialer.Rung())
		}
		legs[0].end("caller")
		h.settled()
		if n := h.callbacksCounted(metrics.CallbackRefusedNumber); n != 0 {
			t.Errorf("callbacks{refused_number} = %v", n)
		}
	})

	t.Run("refused twice", func(t *testing.T) {
		h := newCallbackHarness(t)
		c := h.call("call-1", callerID, func(leg *fakeLeg) []*event {
			hangup := hangupDuring("fr/hold_music")
			hangup.nth = 2
			return []*event{toOffice(), during("fr/hold_music", '2'),
				typing(leg, "fr/callback_confirm", 1, "19005550100#"), // premium, 1 first
				typing(leg, "fr/callback_confirm", 2, "123#"),         // not a number
				hangup}
		})
		h.ended(c)
		rec := h.record("call-1")

		heard := c.leg.Heard()
		if !inOrder(heard, []string{"fr/callback_confirm", "fr/callback_refused", "fr/callback_number",
			"fr/callback_confirm", "fr/callback_refused", "fr/hold_music"}) ||
			count(heard, "fr/callback_number") != 2 || slices.Contains(heard, "fr/callback_noted") {
			t.Errorf("heard %v, want two refusals, then the hold music", heard)
		}
		if !inOrder(rec.Trace, []string{"office: callback number refused (+1900***0100)",
			"office: callback number refused (not a number)", "office: no callback confirmed, back in the queue",
			"caller hung up in queue"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		if rec.Outcome != clubline.OutcomeAbandoned || h.queueCalls("office", metrics.QueueAbandoned) != 1 ||
			h.queueCalls("office", metrics.QueueCallback) != 0 {
			t.Errorf("outcome %s, queue abandoned %v callback %v", rec.Outcome,
				h.queueCalls("office", metrics.QueueAbandoned), h.queueCalls("office", metrics.QueueCallback))
		}
		if n := h.callbacksCounted(metrics.CallbackRefusedNumber); n != 2 {
			t.Errorf("callbacks{refused_number} = %v, want 2", n)
		}
		if h.callbacks.Pending() != 0 || h.acd.Waiting("office") != 0 {
			t.Errorf("%d callbacks pending, %d in line", h.callbacks.Pending(), h.acd.Waiting("office"))
		}
	})
}

// A caller who does not answer is called again RetryAfter later, Alice
// waiting each time; after Attempts the callback is given up and the
// group gets a follow-up with the number to call.
func TestCallbackNotAnsweredGivesUp(t *testing.T) {
	h := newCallbackHarness(t)
	h.opts.Groups[0].RingTimeout = 150 * time.Millisecond
	var mu sync.Mutex
	var dialled []time.Time
	h.dialer.set(callerID, phone{never: true, before: func() {
		mu.Lock()
		dialled = append(dialled, time.Now())
		mu.Unlock()
	}})
	c := h.call("call-1", callerID, asksCallback)
	h.ended(c)
	h.free()
	h.settled()

	mu.Lock()
	if len(dialled) != 2 || dialled[1].Sub(dialled[0]) < 150*time.Millisecond+h.opts.Callback.RetryAfter {
		t.Errorf("caller dialled at %v, want twice, a ring timeout and RetryAfter apart", dialled)
	}
	mu.Unlock()
	legs := h.dialer.Legs(aliceURI)
	if len(legs) != 2 {
		t.Fatalf("Alice answered %d times, want 2", len(legs))
	}
	if heard := legs[0].Heard(); !inOrder(heard, []string{"fr/callback_staff", "fr/callback_staff_dialing",
		"fr/hold_music", "fr/callback_no_answer", "fr/callback_retry"}) {
		t.Errorf("Alice heard %v the first time", heard)
	}
	if heard := legs[1].Heard(); !slices.Contains(heard, "fr/callback_no_answer") || slices.Contains(heard, "fr/callback_retry") {
		t.Errorf("Alice heard %v the last time: want no answer, and no promise to retry", heard)
	}
	for _, l := range legs {
		if l.HungUpBy() != "clubline" {
			t.Errorf("Alice's leg hung up by %q", l.HungUpBy())
		}
	}

	vms := h.store.SavedVoicemails()
	if len(vms) != 1 {
		t.Fatalf("voicemails %+v, want one follow-up", vms)
	}
	vm := vms[0]
	if vm.CallID != "call-1" || vm.From != callerID || vm.Category != "registrations" || vm.Path != "" ||
		vm.Duration != 0 || vm.Status != clubline.VoicemailNew || vm.FollowUpDue.Sub(vm.RecordedAt) != 48*time.Hour {
		t.Errorf("follow-up %+v", vm)
	}
	rec := h.record("call-1")
	if rec.Outcome != clubline.OutcomeVoicemail || rec.VoicemailID != vm.ID || rec.AnsweredBy != "" {
		t.Errorf("outcome %s voicemail %q answered by %q", rec.Outcome, rec.VoicemailID, rec.AnsweredBy)
	}
	if !inOrder(rec.Trace, []string{"office: callback asked at +1514***0123",
		"callback 1: alice answered, caller did not answer", "callback 2: alice answered, caller did not answer",
		"callback: gave up after 2 attempts → follow-up"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if h.callbacksCounted(metrics.CallbackNoAnswer) != 2 || h.callbacksCounted(metrics.CallbackGaveUp) != 1 ||
		h.callbacksCounted(metrics.CallbackAnswered) != 0 {
		t.Errorf("callbacks: no_answer %v gave_up %v answered %v", h.callbacksCounted(metrics.CallbackNoAnswer),
			h.callbacksCounted(metrics.CallbackGaveUp), h.callbacksCounted(metrics.CallbackAnswered))
	}
	if h.callsCounted(clubline.HoursOpen, clubline.OutcomeVoicemail) != 1 || testutil.ToFloat64(h.m.FollowUpsOpen) != 1 {
		t.Errorf("calls{open,voicemail} %v, follow-ups open %v", h.callsCounted(clubline.HoursOpen, clubline.OutcomeVoicemail),
			testutil.ToFloat64(h.m.FollowUpsOpen))
	}
	if h.acd.Waiting("office") != 0 || h.acd.Busy() != 0 {
		t.Errorf("%d in line, %d busy after giving up", h.acd.Waiting("office"), h.acd.Busy())
	}
}

// A caller busy is not reached either; the trace says why.
func TestCallbackCallerBusy(t *testing.T) {
	h := newCallbackHarness(t)
	h.opts.Callback.Attempts = 1
	h.dialer.set(callerID, phone{refuse: 486})
	c := h.call("call-1", callerID, asksCallback)
	h.ended(c)
	h.free()
	h.settled()
	rec := h.record("call-1")
	if !inOrder(rec.Trace, []string{"callback 1: alice answered, caller not reached: refused (486)",
		"callback: gave up after 1 attempt → follow-up"}) || rec.Outcome != clubline.OutcomeVoicemail {
		t.Errorf("outcome %s trace %q", rec.Outcome, rec.Trace)
	}
}

// Shutdown gives up the callbacks still waiting, each for a follow-up, and
// offers no more; it cuts a callback put through once its context ends.
// No goroutine is left (the harness checks at the end).
func TestCallbackShutdown(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		h := newCallbackHarness(t)
		c := h.call("call-1", callerID, asksCallback)
		h.ended(c)
		if h.callbacks.Pending() != 1 {
			t.Fatalf("%d callbacks pending, want 1", h.callbacks.Pending())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.callbacks.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if h.callbacks.Pending() != 0 || h.acd.Waiting("office") != 0 {
			t.Errorf("after Shutdown: %d pending, %d in line", h.callbacks.Pending(), h.acd.Waiting("office"))
		}
		rec := h.record("call-1")
		if vms := h.store.SavedVoicemails(); len(vms) != 1 || rec.VoicemailID != vms[0].ID || vms[0].From != callerID ||
			rec.Outcome != clubline.OutcomeVoicemail || !hasTrace(rec, "callback: clubline is stopping → follow-up") {
			t.Errorf("follow-ups %+v, record %s %q", vms, rec.Outcome, rec.Trace)
		}
		if n := h.callbacksCounted(metrics.CallbackGaveUp); n != 1 {
			t.Errorf("callbacks{gave_up} = %v", n)
		}
		if rung := h.dialer.Rung(); len(rung) != 0 {
			t.Errorf("rang %v", rung)
		}

		next := h.call("call-2", callerID, func(*fakeLeg) []*event {
			hangup := hangupDuring("fr/hold_music")
			hangup.nth = 2
			return []*event{toOffice(), hangup}
		})
		h.ended(next)
		if slices.Contains(next.leg.Heard(), "fr/callback_offer") {
			t.Errorf("offered a callback after Shutdown: %v", next.leg.Heard())
		}
	})

	t.Run("put through", func(t *testing.T) {
		h := newCallbackHarness(t)
		h.dialer.set(callerID, phone{answerAfter: 20 * time.Millisecond})
		c := h.call("call-1", callerID, asksCallback)
		h.ended(c)
		h.free()
		alice := h.bridge.waitBridge(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := h.callbacks.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want the deadline (the callback was cut)", err)
		}
		rec := h.record("call-1")
		if rec.Outcome != clubline.OutcomeAnswered || !traceWith(rec, "call cut in bridged") {
			t.Errorf("outcome %s trace %q", rec.Outcome, rec.Trace)
		}
		if alice.HungUpBy() != "clubline" || h.dialer.Legs(callerID)[0].HungUpBy() != "clubline" {
			t.Errorf("legs hung up by %q and %q, want clubline", alice.HungUpBy(), h.dialer.Legs(callerID)[0].HungUpBy())
		}
		if vms := h.store.SavedVoicemails(); len(vms) != 0 {
			t.Errorf("follow-ups %+v after a callback put through", vms)
		}
	})
}

// The built-in prompts say the whole offer and choice, in both languages.
func TestBuiltinPromptsCoverTheCallback(t *testing.T) {
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"fr", "en"} {
		t.Run(lang, func(t *testing.T) {
			h := newCallbackHarness(t)
			h.prompts.real = set
			c := h.call("call-1", callerID, func(*fakeLeg) []*event {
				if lang == "en" {
					return []*event{after("en/digit_8", '8'), after("en/digit_0", '1'),
						during("en/hold_music", '2'), after("en/callback_confirm", '1')}
				}
				return asksCallback(nil)
			})
			h.ended(c)
			heard := c.leg.Heard()
			if !slices.Contains(heard, lang+"/callback_noted") || slices.Contains(heard, lang+"/technical_difficulty") {
				t.Errorf("heard %v", heard)
			}
			for _, name := range []string{"callback_staff", "callback_staff_dialing", "callback_hello",
				"callback_no_answer", "callback_retry"} {
				if !set.Has(lang, name) {
					t.Errorf("the built-in set has no %s/%s", lang, name)
				}
			}
		})
	}
}
