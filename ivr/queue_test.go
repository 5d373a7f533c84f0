package ivr_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
)

// The staff phones of the queue tests: where each one is registered, and
// Alice's mobile, rung through the trunk.
const (
	aliceURI   = "sip:201@192.0.2.11:5062"
	bobURI     = "sip:202@192.0.2.12:5062"
	carolURI   = "sip:203@192.0.2.13:5062"
	alicePhone = "+15145550102"
	callerID   = "+15145550123" // the harness's caller
)

// newQueueHarness is a harness whose menu's 1 and 2 lead to the office
// queue (Alice and Bob, ring-all); Carol is the coaches group; Bob is 202.
// Its clock runs, so that waits are measured.
func newQueueHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.realtime = true
	h.opts.Staff = []ivr.Staff{
		{ID: "alice", Name: "Alice", Extension: "201"},
		{ID: "bob", Name: "Bob", Extension: "202"},
		{ID: "carol", Name: "Carol", Extension: "203"},
	}
	h.opts.Groups = []ivr.Group{
		{ID: "office", Members: []string{"alice", "bob"}, RingTimeout: time.Second, MaxWait: 5 * time.Second,
			ServiceLevel: 20 * time.Second, ShortAbandon: 5 * time.Second},
		{ID: "coaches", Members: []string{"carol"}, RingTimeout: time.Second, MaxWait: 5 * time.Second},
	}
	return h
}

// toOffice is the quickest way to the office queue: 1 during the greeting.
func toOffice() *event { return during("fr/greeting", '1') }

func (h *harness) queueCalls(group, result string) float64 {
	return testutil.ToFloat64(h.m.QueueCalls.WithLabelValues(group, result))
}

// checkQueuesIdle checks that nobody is left waiting in the groups' queues
// nor counted on a call.
func (h *harness) checkQueuesIdle(groups ...string) {
	h.t.Helper()
	for _, g := range groups {
		if n := testutil.ToFloat64(h.m.QueueWaiting.WithLabelValues(g)); n != 0 {
			h.t.Errorf("clubline_queue_waiting{group=%q} = %v after the call, want 0", g, n)
		}
	}
	if n := testutil.ToFloat64(h.m.StaffBusy); n != 0 {
		h.t.Errorf("clubline_staff_busy = %v after the call, want 0", n)
	}
}

// checkWait checks the queue fields of an answered call: queued after it
// started, answered at least min later, Wait from one to the other.
func checkWait(t *testing.T, rec clubline.Call, min time.Duration) {
	t.Helper()
	if rec.QueuedAt.Before(rec.StartedAt) || rec.AnsweredAt.Sub(rec.QueuedAt) < min {
		t.Errorf("started %v queued %v answered %v: want queued, then answered at least %v later",
			rec.StartedAt, rec.QueuedAt, rec.AnsweredAt, min)
	}
	if rec.Wait != rec.AnsweredAt.Sub(rec.QueuedAt) {
		t.Errorf("wait = %v, want from queued to answered (%v)", rec.Wait, rec.AnsweredAt.Sub(rec.QueuedAt))
	}
}

// checkRequest checks what a ring tells the staff phone about the call.
func checkRequest(t *testing.T, r ivr.DialRequest, display, category, waited string) {
	t.Helper()
	if r.CallerID != callerID || r.Display != display {
		t.Errorf("ring of %s: caller id %q display %q, want %q %q", r.Target, r.CallerID, r.Display, callerID, display)
	}
	want := map[string]string{"X-Clubline-Category": category, "X-Clubline-Call-Id": "call-1", "X-Clubline-Waited": waited}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("ring of %s: %s = %q, want %q (headers %v)", r.Target, k, r.Headers[k], v, r.Headers)
		}
	}
}

// ordinals are the positions said to the caller, in order.
func ordinals(heard []string) []int {
	var out []int
	for _, c := range heard {
		if n, ok := strings.CutPrefix(c, "fr/ord_"); ok {
			i, _ := strconv.Atoi(n)
			out = append(out, i)
		}
	}
	return out
}

func TestQueueRingAllFirstToAnswer(t *testing.T) {
	h := newQueueHarness(t)
	h.store.register("alice", aliceURI)
	h.store.register("bob", bobURI)
	h.dialer.set(aliceURI, phone{answerAfter: 80 * time.Millisecond})
	h.dialer.set(bobURI, phone{never: true})

	c := h.start(recording{}, toOffice())
	alice := h.bridge.waitBridge(t, 1)
	if alice.key != aliceURI {
		t.Fatalf("bridged to %s, want Alice's phone", alice.key)
	}
	if n := testutil.ToFloat64(h.m.StaffBusy); n != 1 {
		t.Errorf("clubline_staff_busy = %v while Alice talks, want 1", n)
	}
	if n := testutil.ToFloat64(h.m.QueueWaiting.WithLabelValues("office")); n != 0 {
		t.Errorf("clubline_queue_waiting = %v once answered, want 0", n)
	}
	c.leg.end("caller")
	rec := c.wait()

	if rec.Outcome != clubline.OutcomeAnswered || rec.Stage != clubline.StageBridged {
		t.Errorf("outcome/stage = %s/%s, want answered/bridged", rec.Outcome, rec.Stage)
	}
	if rec.Group != "office" || rec.Route != "office" || rec.Category != "registrations" ||
		rec.AnsweredBy != "alice" || rec.TransferredTo != "" {
		t.Errorf("group %q route %q category %q answered by %q transferred to %q",
			rec.Group, rec.Route, rec.Category, rec.AnsweredBy, rec.TransferredTo)
	}
	checkWait(t, rec, 80*time.Millisecond)
	if !inOrder(rec.Trace, []string{"menu: 1 registrations → office", "office: queued (position 1)",
		"alice answered", "caller hung up in bridged"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	heard := c.leg.Heard()
	if !inOrder(heard, []string{"fr/connecting", "fr/queue_exit", "fr/digit_0", "fr/hold_music"}) ||
		slices.Contains(heard, "fr/queue_position") {
		t.Errorf("heard %v, want connecting, how to leave, hold music (first in line: no position)", heard)
	}

	reqs := h.dialer.Requests()
	if rung := h.dialer.Rung(); len(rung) != 2 || !slices.Contains(rung, aliceURI) || !slices.Contains(rung, bobURI) {
		t.Fatalf("rung %v, want Alice and Bob at once", rung)
	}
	for _, r := range reqs {
		checkRequest(t, r, "registrations", "registrations", "0")
		if r.RingTimeout != time.Second || r.Target.Confirm || !strings.HasPrefix(r.Target.Destination, "udp:192.0.2.1") {
			t.Errorf("ring %+v", r)
		}
	}
	if got := h.dialer.Cancelled(); !slices.Equal(got, []string{bobURI}) {
		t.Errorf("cancelled %v, want Bob's ring", got)
	}
	if alice.HungUpBy() != "clubline" || c.leg.HungUpBy() != "caller" {
		t.Errorf("Alice hung up by %q, caller by %q: want clubline (after the caller)", alice.HungUpBy(), c.leg.HungUpBy())
	}

	if n := h.queueCalls("office", metrics.QueueAnswered); n != 1 {
		t.Errorf("queue calls{office,answered} = %v", n)
	}
	if n := testutil.ToFloat64(h.m.QueueInSL.WithLabelValues("office")); n != 1 {
		t.Errorf("answered within service level = %v, want 1", n)
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAnswered); n != 1 {
		t.Errorf("calls{open,answered} = %v", n)
	}
	h.checkQueuesIdle("office")
}

func TestQueueInOrderSkipsARefusal(t *testing.T) {
	h := newQueueHarness(t)
	h.opts.Groups[0].Strategy = routing.InOrder
	h.store.register("alice", aliceURI)
	h.store.register("bob", bobURI)
	// Alice is busy; by the time Bob rings the caller has waited 42 s.
	h.dialer.set(aliceURI, phone{refuse: 486, before: func() { h.advance(42 * time.Second) }})
	h.dialer.set(bobURI, phone{answerAfter: 30 * time.Millisecond})

	c := h.start(recording{}, toOffice())
	bob := h.bridge.waitBridge(t, 1)
	bob.end("staff")
	rec := c.wait()

	if rung := h.dialer.Rung(); !slices.Equal(rung, []string{aliceURI, bobURI}) {
		t.Errorf("rung %v, want Alice, then Bob", rung)
	}
	if reqs := h.dialer.Requests(); len(reqs) == 2 {
		checkRequest(t, reqs[0], "registrations", "registrations", "0")
		checkRequest(t, reqs[1], "registrations", "registrations", "42")
	}
	if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "bob" {
		t.Errorf("outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
	}
	checkWait(t, rec, 42*time.Second)
	if !inOrder(rec.Trace, []string{"alice: refused (486)", "bob answered", "staff hung up"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if c.leg.HungUpBy() != "clubline" {
		t.Errorf("caller hung up by %q, want clubline after Bob", c.leg.HungUpBy())
	}
	if n := h.queueCalls("office", metrics.QueueAnswered); n != 1 {
		t.Errorf("queue calls{office,answered} = %v", n)
	}
	if n := testutil.ToFloat64(h.m.QueueInSL.WithLabelValues("office")); n != 0 {
		t.Errorf("answered within service level = %v after 42 s (level 20 s), want 0", n)
	}
	h.checkQueuesIdle("office")
}

// A member who missed a ring is rung again after the group's Retry, even
// while the other member is on a call: she is the only one who can answer.
func TestQueueRingsAgainAfterAMissWhileAnotherIsOnACall(t *testing.T) {
	h := newQueueHarness(t)
	h.opts.Groups[0].MaxWait = 10 * time.Second
	h.opts.Groups[0].Retry = 500 * time.Millisecond
	h.store.register("alice", aliceURI)
	h.store.register("bob", bobURI)
	h.acd = routing.NewACD()
	h.acd.Answered(nil, "bob") // on another call all along
	// Alice misses the first ring (1 s), and answers the next one.
	h.dialer.set(aliceURI, phone{never: true, before: func() {
		h.dialer.set(aliceURI, phone{answerAfter: 30 * time.Millisecond})
	}})

	c := h.start(recording{}, toOffice())
	alice := h.bridge.waitBridge(t, 1)
	alice.end("staff")
	rec := c.wait()

	if rung := h.dialer.Rung(); !slices.Equal(rung, []string{aliceURI, aliceURI}) {
		t.Errorf("rung %v, want Alice twice (Bob is on a call)", rung)
	}
	if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" {
		t.Errorf("outcome %s answered by %q, want Alice's answer", rec.Outcome, rec.AnsweredBy)
	}
	checkWait(t, rec, 1500*time.Millisecond) // a ring timeout, then the retry
	if !inOrder(rec.Trace, []string{"alice: no answer", "alice answered"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if h.acd.OnCall("alice") || h.acd.Busy() != 1 {
		t.Errorf("after Alice's call: %d on a call, want only Bob", h.acd.Busy())
	}
	if n := testutil.ToFloat64(h.m.QueueWaiting.WithLabelValues("office")); n != 0 {
		t.Errorf("clubline_queue_waiting{office} = %v after the call, want 0", n)
	}
}

func TestQueueLongestIdle(t *testing.T) {
	h := newQueueHarness(t)
	h.opts.Groups[0].Strategy = routing.LongestIdle
	h.opts.Groups[0].Members = []string{"alice", "bob", "carol"}
	h.acd = routing.NewACD()
	// Carol's last call ended first, then Alice's, then Bob's.
	for id, ended := range map[string]time.Duration{"alice": 20 * time.Minute, "bob": 30 * time.Minute, "carol": 10 * time.Minute} {
		h.acd.Answered(nil, id)
		h.acd.Hungup(id, h.now.Add(-time.Hour+ended))
	}
	for id, uri := range map[string]string{"alice": aliceURI, "bob": bobURI, "carol": carolURI} {
		h.store.register(id, uri)
		h.dialer.set(uri, phone{answerAfter: 30 * time.Millisecond})
	}

	c := h.start(recording{}, toOffice())
	carol := h.bridge.waitBridge(t, 1)
	carol.end("staff")
	rec := c.wait()

	if rung := h.dialer.Rung(); !slices.Equal(rung, []string{carolURI}) {
		t.Errorf("rung %v, want only Carol, idle the longest", rung)
	}
	if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "carol" {
		t.Errorf("outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
	}
	if h.acd.OnCall("carol") || h.acd.Busy() != 0 {
		t.Errorf("Carol still on a call after hanging up")
	}
	h.checkQueuesIdle("office")
}

func TestQueueZeroLeavesForVoicemail(t *testing.T) {
	h := newQueueHarness(t)
	h.store.register("alice", aliceURI)
	h.dialer.set(aliceURI, phone{never: true})
	zero := during("fr/hold_music", '0')
	zero.do = func() { h.dialer.waitRung(1) } // once Alice's phone rings
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, toOffice(), zero)

	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/queue_exit", "fr/digit_0", "fr/hold_music", "fr/beep", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if slices.Contains(heard, "fr/voicemail") {
		t.Errorf("heard the voicemail instruction after 0: %v", heard)
	}
	if rec.Outcome != clubline.OutcomeVoicemail || rec.Category != "registrations" || rec.Group != "office" ||
		!rec.AnsweredAt.IsZero() || rec.Wait <= 0 {
		t.Errorf("outcome %s category %q group %q answered %v wait %v",
			rec.Outcome, rec.Category, rec.Group, rec.AnsweredAt, rec.Wait)
	}
	if !inOrder(rec.Trace, []string{"office: queued (position 1)", "office: left the queue for a message (0)", "voicemail: 2.0s saved (#)"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if vms := h.store.SavedVoicemails(); len(vms) != 1 || vms[0].Category != "registrations" || vms[0].Urgent {
		t.Errorf("voicemails = %+v", vms)
	}
	if got := h.dialer.Cancelled(); !slices.Equal(got, []string{aliceURI}) {
		t.Errorf("cancelled %v, want Alice's ring", got)
	}
	if n := h.queueCalls("office", metrics.QueueVoicemail); n != 1 {
		t.Errorf("queue calls{office,voicemail} = %v", n)
	}
	h.checkQueuesIdle("office")
}

// The position said to a caller never goes up, even when an urgent caller
// joins ahead of them; the caller waits MaxWait, then leaves a message.
func TestQueueMaxWaitAndPositionNeverGoesUp(t *testing.T) {
	h := newQueueHarness(t)
	h.opts.Groups[0].MaxWait = 500 * time.Millisecond
	h.opts.Groups[0].AnnounceEvery = 60 * time.Millisecond
	h.acd = routing.NewACD()
	first := h.acd.Join("office", "earlier-1", false, h.now)
	second := h.acd.Join("office", "earlier-2", false, h.now)
	h.store.register("alice", aliceURI)
	h.dialer.set(aliceURI, phone{never: true})

	urgentJoins := &event{clip: "fr/ord_3", do: func() { h.acd.Join("office", "urgent", true, h.now) }}
	twoLeave := &event{clip: "fr/ord_3", nth: 2, do: func() { h.acd.Leave(first); h.acd.Leave(second) }}
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, toOffice(), urgentJoins, twoLeave)

	heard := leg.Heard()
	said := ordinals(heard)
	if len(said) < 3 || said[0] != 3 || !slices.Contains(said, 2) || slices.Contains(said, 4) {
		t.Errorf("positions said %v, want 3 (never 4 once the urgent caller is ahead), then 2", said)
	}
	for i := 1; i < len(said); i++ {
		if said[i] > said[i-1] {
			t.Errorf("positions said %v: went up", said)
			break
		}
	}
	if n := count(heard, "fr/ord_3"); n < 2 {
		t.Errorf("position 3 said %d times, want again while 4th: %v", n, said)
	}
	if !inOrder(heard, []string{"fr/connecting", "fr/queue_position", "fr/ord_3", "fr/queue_position_suffix",
		"fr/queue_exit", "fr/digit_0", "fr/hold_music", "fr/queue_position", "fr/voicemail", "fr/beep"}) {
		t.Errorf("heard %v", heard)
	}
	if !inOrder(rec.Trace, []string{"office: queued (position 3)", "office: waited 500ms, the maximum → voicemail"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if rec.Outcome != clubline.OutcomeVoicemail || rec.Wait < 500*time.Millisecond || !rec.AnsweredAt.IsZero() {
		t.Errorf("outcome %s wait %v answered %v", rec.Outcome, rec.Wait, rec.AnsweredAt)
	}
	// Callers ahead never rang anyone: the caller never rang either.
	if rung := h.dialer.Rung(); len(rung) != 0 {
		t.Errorf("rung %v while callers ahead waited", rung)
	}
	if n := h.acd.Waiting("office"); n != 1 {
		t.Errorf("%d callers in the office line after the call, want the urgent one", n)
	}
	if n := h.queueCalls("office", metrics.QueueTimeout); n != 1 {
		t.Errorf("queue calls{office,timeout} = %v", n)
	}
	h.checkQueuesIdle("office")
}

func TestQueueCallerHangsUp(t *testing.T) {
	for _, tc := range []struct {
		name         string
		shortAbandon time.Duration
		short        float64
	}{
		{"short", 5 * time.Second, 1},
		{"after the short abandon time", time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newQueueHarness(t)
			h.opts.Groups[0].ShortAbandon = tc.shortAbandon
			h.store.register("alice", aliceURI)
			h.dialer.set(aliceURI, phone{never: true})
			hangup := hangupDuring("fr/hold_music")
			hangup.nth = 3
			hangup.do = func() { h.dialer.waitRung(1) }
			rec, leg := h.run(recording{}, toOffice(), hangup)

			if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageQueue || rec.Group != "office" {
				t.Errorf("outcome/stage/group = %s/%s/%s, want abandoned/queue/office", rec.Outcome, rec.Stage, rec.Group)
			}
			if rec.Wait < 2*holdMusicPace || !rec.AnsweredAt.IsZero() {
				t.Errorf("wait %v answered %v", rec.Wait, rec.AnsweredAt)
			}
			if !hasTrace(rec, "caller hung up in queue") || leg.HungUpBy() != "caller" {
				t.Errorf("trace = %q, hung up by %q", rec.Trace, leg.HungUpBy())
			}
			if got := h.dialer.Cancelled(); !slices.Equal(got, []string{aliceURI}) {
				t.Errorf("cancelled %v, want Alice's ring", got)
			}
			if n := h.queueCalls("office", metrics.QueueAbandoned); n != 1 {
				t.Errorf("queue calls{office,abandoned} = %v", n)
			}
			if n := testutil.ToFloat64(h.m.QueueShort.WithLabelValues("office")); n != tc.short {
				t.Errorf("short abandons = %v after %v (short under %v), want %v", n, rec.Wait, tc.shortAbandon, tc.short)
			}
			if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAbandoned); n != 1 {
				t.Errorf("calls{open,abandoned} = %v", n)
			}
			h.checkQueuesIdle("office")
		})
	}
}

func TestQueueNobodyToRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		regErr error
		trace  string
	}{
		{"nobody registered", nil, "office: nobody registered → voicemail"},
		{"registrations unreadable", errors.New("store down"), "office: registrations unreadable → voicemail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newQueueHarness(t)
			h.store.regErr = tc.regErr
			rec, leg := h.run(recording{frames: tone(100), then: "#"}, toOffice())
			if !hasTrace(rec, tc.trace) {
				t.Errorf("trace = %q", rec.Trace)
			}
			if rec.Outcome != clubline.OutcomeVoicemail || rec.Group != "office" || rec.QueuedAt.IsZero() {
				t.Errorf("outcome %s group %q queued %v", rec.Outcome, rec.Group, rec.QueuedAt)
			}
			heard := leg.Heard()
			if slices.Contains(heard, "fr/hold_music") || slices.Contains(heard, "fr/connecting") ||
				!inOrder(heard, []string{"fr/voicemail", "fr/beep"}) {
				t.Errorf("heard %v, want the voicemail at once", heard)
			}
			if rung := h.dialer.Rung(); len(rung) != 0 {
				t.Errorf("rung %v", rung)
			}
			if n := h.queueCalls("office", metrics.QueueTimeout); n != 1 {
				t.Errorf("queue calls{office,timeout} = %v", n)
			}
			h.checkQueuesIdle("office")
		})
	}
}

func TestCallConfirm(t *testing.T) {
	mobile := func(t *testing.T) *harness {
		h := newQueueHarness(t)
		h.opts.Trunk = true
		h.opts.Staff[0].Phone = alicePhone
		h.opts.Groups[0].Members = []string{"alice"}
		return h
	}

	t.Run("1 puts the caller through", func(t *testing.T) {
		h := mobile(t)
		h.dialer.set(alicePhone, phone{answerAfter: 30 * time.Millisecond, confirm: true})
		c := h.start(recording{}, toOffice())
		alice := h.bridge.waitBridge(t, 1)
		alice.end("staff")
		rec := c.wait()

		if alice.key != alicePhone {
			t.Errorf("bridged to %s, want Alice's mobile", alice.key)
		}
		if !inOrder(alice.Heard(), []string{"fr/call_confirm", "fr/category_registrations", "fr/call_confirm_answer"}) {
			t.Errorf("Alice heard %v, want the call confirmation", alice.Heard())
		}
		reqs := h.dialer.Requests()
		want := ivr.Target{Staff: "alice", Number: alicePhone, Confirm: true}
		if len(reqs) != 1 || reqs[0].Target != want {
			t.Fatalf("rings %+v, want one of %+v", reqs, want)
		}
		checkRequest(t, reqs[0], "registrations", "registrations", "0")
		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" {
			t.Errorf("outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
		}
		h.checkQueuesIdle("office")
	})

	t.Run("no 1: hung up, not bridged", func(t *testing.T) {
		h := mobile(t)
		h.opts.Groups[0].MaxWait = 300 * time.Millisecond
		h.dialer.set(alicePhone, phone{answerAfter: 20 * time.Millisecond}) // her voicemail
		rec, _ := h.run(recording{frames: tone(100), then: "#"}, toOffice())

		legs := h.dialer.Legs(alicePhone)
		if len(legs) != 1 || !slices.Contains(legs[0].Heard(), "fr/call_confirm") || legs[0].HungUpBy() != "clubline" {
			t.Fatalf("mobile legs %v: want one, asked to confirm, hung up by clubline", legs)
		}
		if b := h.bridge.Bridged(); len(b) != 0 {
			t.Errorf("bridged to %v", b)
		}
		if rec.Outcome != clubline.OutcomeVoicemail || rec.AnsweredBy != "" ||
			!hasTrace(rec, "office: waited 300ms, the maximum → voicemail") {
			t.Errorf("outcome %s answered by %q trace %q", rec.Outcome, rec.AnsweredBy, rec.Trace)
		}
		if n := h.queueCalls("office", metrics.QueueTimeout); n != 1 {
			t.Errorf("queue calls{office,timeout} = %v", n)
		}
		h.checkQueuesIdle("office")
	})

	t.Run("the softphone wins over an unconfirmed mobile", func(t *testing.T) {
		h := mobile(t)
		h.store.register("alice", aliceURI)
		h.dialer.set(alicePhone, phone{answerAfter: 20 * time.Millisecond})
		h.dialer.set(aliceURI, phone{answerAfter: 100 * time.Millisecond})
		c := h.start(recording{}, toOffice())
		alice := h.bridge.waitBridge(t, 1)
		alice.end("staff")
		rec := c.wait()

		if alice.key != aliceURI {
			t.Errorf("bridged to %s, want Alice's softphone", alice.key)
		}
		if legs := h.dialer.Legs(alicePhone); len(legs) != 1 || legs[0].HungUpBy() != "clubline" {
			t.Errorf("mobile legs %v: want one, hung up by clubline", legs)
		}
		if b := h.bridge.Bridged(); len(b) != 1 {
			t.Errorf("bridged %v, want the softphone only", b)
		}
		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" {
			t.Errorf("outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
		}
		h.checkQueuesIdle("office")
	})
}
