package ivr_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
)

// aliceAnswers is the office queue with Alice alone in it, answering at
// once; start returns her leg, bridged to the caller.
func aliceAnswers(t *testing.T, h *harness) (*running, *fakeStaffLeg) {
	t.Helper()
	h.opts.Groups[0].Members = []string{"alice"}
	h.store.register("alice", aliceURI)
	h.dialer.set(aliceURI, phone{answerAfter: 20 * time.Millisecond})
	c := h.start(recording{}, toOffice())
	return c, h.bridge.waitBridge(t, 1)
}

func TestStaffHoldAndResume(t *testing.T) {
	h := newQueueHarness(t)
	c, alice := aliceAnswers(t, h)
	music := func() int { return count(c.leg.Heard(), "fr/hold_music") }

	before := music()
	alice.send(ivr.StaffEvent{Kind: ivr.StaffHold})
	waitFor(t, "hold music while Alice holds", func() bool { return music() > before+1 })
	if n := h.bridge.Running(); n != 0 {
		t.Errorf("%d bridges running while on hold", n)
	}
	alice.send(ivr.StaffEvent{Kind: ivr.StaffResume})
	if again := h.bridge.waitBridge(t, 2); again != alice {
		t.Errorf("bridged again to %s, want Alice", again.key)
	}
	after := music()
	alice.end("staff")
	rec := c.wait()

	if n := music(); n != after {
		t.Errorf("hold music went on after the resume (%d, then %d)", after, n)
	}
	if rec.Outcome != clubline.OutcomeAnswered || rec.Stage != clubline.StageBridged || rec.AnsweredBy != "alice" {
		t.Errorf("outcome/stage = %s/%s answered by %q", rec.Outcome, rec.Stage, rec.AnsweredBy)
	}
	if !inOrder(rec.Trace, []string{"alice answered", "alice: hold", "alice: resume", "staff hung up"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if c.leg.HungUpBy() != "clubline" || alice.HungUpBy() != "staff" {
		t.Errorf("caller hung up by %q, Alice by %q: want clubline after Alice", c.leg.HungUpBy(), alice.HungUpBy())
	}
	h.checkQueuesIdle("office")
}

func TestStaffHangsUpDuringHold(t *testing.T) {
	h := newQueueHarness(t)
	c, alice := aliceAnswers(t, h)
	before := count(c.leg.Heard(), "fr/hold_music")
	alice.send(ivr.StaffEvent{Kind: ivr.StaffHold})
	waitFor(t, "hold music", func() bool { return count(c.leg.Heard(), "fr/hold_music") > before })
	alice.end("staff")
	rec := c.wait()
	if rec.Outcome != clubline.OutcomeAnswered || !hasTrace(rec, "staff hung up while holding") ||
		c.leg.HungUpBy() != "clubline" {
		t.Errorf("outcome %s trace %q caller hung up by %q", rec.Outcome, rec.Trace, c.leg.HungUpBy())
	}
	h.checkQueuesIdle("office")
}

// A bridge that ends because the staff leg's RTP stopped ends the call as
// a hang-up of the staff member would.
func TestBridgeStaffMediaTimeout(t *testing.T) {
	h := newQueueHarness(t)
	c, alice := aliceAnswers(t, h)
	h.bridge.fail(&media.LegEndedError{Leg: "b", Err: media.ErrTimeout})
	rec := c.wait()
	if rec.Outcome != clubline.OutcomeAnswered || !hasTrace(rec, "staff leg ended: "+media.ErrTimeout.Error()) {
		t.Errorf("outcome %s trace %q", rec.Outcome, rec.Trace)
	}
	if alice.HungUpBy() != "clubline" || c.leg.HungUpBy() != "clubline" {
		t.Errorf("Alice hung up by %q, caller by %q: want both by clubline", alice.HungUpBy(), c.leg.HungUpBy())
	}
	h.checkQueuesIdle("office")
}

// progress notes the codes a transfer reports to the phone that asked.
type progress struct {
	mu    sync.Mutex
	codes []int
}

func (p *progress) report(code int, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes = append(p.codes, code)
}

func (p *progress) Codes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.codes...)
}

func TestTransfer(t *testing.T) {
	transfer := func(alice *fakeStaffLeg, to string) *progress {
		p := &progress{}
		alice.send(ivr.StaffEvent{Kind: ivr.StaffTransfer, To: to, Progress: p.report})
		return p
	}

	t.Run("to a person by extension", func(t *testing.T) {
		h := newQueueHarness(t)
		h.store.register("bob", bobURI)
		h.dialer.set(bobURI, phone{answerAfter: 30 * time.Millisecond})
		c, alice := aliceAnswers(t, h)
		p := transfer(alice, "202")
		bob := h.bridge.waitBridge(t, 2)
		if bob.key != bobURI {
			t.Fatalf("bridged to %s, want Bob", bob.key)
		}
		if got := p.Codes(); !slices.Equal(got, []int{180, 200}) {
			t.Errorf("progress %v, want 180 then 200", got)
		}
		if alice.HungUpBy() != "clubline" {
			t.Errorf("Alice hung up by %q, want clubline once Bob answered", alice.HungUpBy())
		}
		if n := testutil.ToFloat64(h.m.StaffBusy); n != 1 {
			t.Errorf("clubline_staff_busy = %v while Bob talks, want 1", n)
		}
		bob.end("staff")
		rec := c.wait()

		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" || rec.TransferredTo != "bob" ||
			rec.Group != "office" {
			t.Errorf("outcome %s answered by %q transferred to %q group %q",
				rec.Outcome, rec.AnsweredBy, rec.TransferredTo, rec.Group)
		}
		if !inOrder(rec.Trace, []string{"alice answered", "transfer: alice → bob", "bob " + bobURI + " answered", "staff hung up"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		if !inOrder(c.leg.Heard(), []string{"fr/connecting", "fr/transfer"}) {
			t.Errorf("heard %v", c.leg.Heard())
		}
		if reqs := h.dialer.Requests(); len(reqs) != 2 || reqs[1].Target.Staff != "bob" || reqs[1].RingTimeout != time.Second {
			t.Errorf("rings %+v, want Alice then Bob for the office's ring timeout", reqs)
		} else {
			checkRequest(t, reqs[1], "registrations", "registrations", "0")
		}
		if c.leg.HungUpBy() != "clubline" {
			t.Errorf("caller hung up by %q", c.leg.HungUpBy())
		}
		h.checkQueuesIdle("office")
	})

	t.Run("to a group", func(t *testing.T) {
		h := newQueueHarness(t)
		h.store.register("carol", carolURI)
		h.dialer.set(carolURI, phone{answerAfter: 30 * time.Millisecond})
		c, alice := aliceAnswers(t, h)
		p := transfer(alice, "coaches")
		carol := h.bridge.waitBridge(t, 2)
		if carol.key != carolURI {
			t.Fatalf("bridged to %s, want Carol", carol.key)
		}
		carol.end("staff")
		rec := c.wait()

		if got := p.Codes(); !slices.Equal(got, []int{200}) {
			t.Errorf("progress %v, want 200", got)
		}
		if alice.HungUpBy() != "clubline" {
			t.Errorf("Alice hung up by %q", alice.HungUpBy())
		}
		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" || rec.TransferredTo != "coaches" ||
			rec.Group != "office" {
			t.Errorf("outcome %s answered by %q transferred to %q group %q",
				rec.Outcome, rec.AnsweredBy, rec.TransferredTo, rec.Group)
		}
		// The record keeps the first wait: the office's, up to Alice.
		checkWait(t, rec, 20*time.Millisecond)
		if !inOrder(rec.Trace, []string{"transfer: alice → group coaches", "coaches: queued (position 1)", "carol answered"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		if !inOrder(c.leg.Heard(), []string{"fr/connecting", "fr/transfer", "fr/connecting"}) {
			t.Errorf("heard %v", c.leg.Heard())
		}
		for _, g := range []string{"office", "coaches"} {
			if n := h.queueCalls(g, metrics.QueueAnswered); n != 1 {
				t.Errorf("queue calls{%s,answered} = %v", g, n)
			}
		}
		h.checkQueuesIdle("office", "coaches")
	})

	t.Run("to an unknown name", func(t *testing.T) {
		h := newQueueHarness(t)
		c, alice := aliceAnswers(t, h)
		p := transfer(alice, "nobody")
		if again := h.bridge.waitBridge(t, 2); again != alice {
			t.Errorf("bridged to %s, want Alice still", again.key)
		}
		if got := p.Codes(); !slices.Equal(got, []int{404}) {
			t.Errorf("progress %v, want 404", got)
		}
		if alice.HungUpBy() != "" {
			t.Errorf("Alice hung up by %q", alice.HungUpBy())
		}
		alice.end("staff")
		rec := c.wait()
		if rec.Outcome != clubline.OutcomeAnswered || rec.TransferredTo != "" ||
			!hasTrace(rec, `transfer to "nobody": no such person or group`) {
			t.Errorf("outcome %s transferred to %q trace %q", rec.Outcome, rec.TransferredTo, rec.Trace)
		}
		h.checkQueuesIdle("office")
	})

	// Many phones hold the call before they send the REFER: when the
	// transfer fails the caller hears the hold music until the resume,
	// not the silence of a held phone.
	t.Run("held first, to an unknown name", func(t *testing.T) {
		h := newQueueHarness(t)
		c, alice := aliceAnswers(t, h)
		music := func() int { return count(c.leg.Heard(), "fr/hold_music") }
		alice.send(ivr.StaffEvent{Kind: ivr.StaffHold})
		waitFor(t, "hold music while Alice holds", func() bool { return music() > 0 })
		p := transfer(alice, "nobody")
		waitFor(t, "the refusal", func() bool { return slices.Equal(p.Codes(), []int{404}) })
		after := music()
		waitFor(t, "hold music after the failed transfer", func() bool { return music() > after+1 })
		if n := h.bridge.Running(); n != 0 {
			t.Errorf("%d bridges running while Alice still holds", n)
		}
		alice.send(ivr.StaffEvent{Kind: ivr.StaffResume})
		if again := h.bridge.waitBridge(t, 2); again != alice {
			t.Errorf("bridged to %s after the resume, want Alice", again.key)
		}
		alice.end("staff")
		rec := c.wait()
		if !inOrder(rec.Trace, []string{"alice: hold", `transfer to "nobody": no such person or group`, "alice: resume", "staff hung up"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		h.checkQueuesIdle("office")
	})

	t.Run("to a person who does not answer", func(t *testing.T) {
		h := newQueueHarness(t)
		h.opts.Groups[0].RingTimeout = 100 * time.Millisecond
		h.store.register("bob", bobURI)
		h.dialer.set(bobURI, phone{never: true})
		c, alice := aliceAnswers(t, h)
		p := transfer(alice, "bob")
		if again := h.bridge.waitBridge(t, 2); again != alice {
			t.Errorf("bridged to %s, want Alice again", again.key)
		}
		if got := p.Codes(); !slices.Equal(got, []int{180, 480}) {
			t.Errorf("progress %v, want 180 then 480", got)
		}
		alice.end("staff")
		rec := c.wait()
		if rec.Outcome != clubline.OutcomeAnswered || rec.TransferredTo != "" ||
			!inOrder(rec.Trace, []string{"transfer: alice → bob", "transfer failed → back to alice"}) {
			t.Errorf("outcome %s transferred to %q trace %q", rec.Outcome, rec.TransferredTo, rec.Trace)
		}
		h.checkQueuesIdle("office")
	})
}

// urgencyHarness is the office closed, on a Tuesday night, with Alice on
// call (a daily rotation of Bob and Alice) and a fallback phone.
func urgencyHarness(t *testing.T) *harness {
	t.Helper()
	h := newQueueHarness(t)
	h.status = nightStatus
	h.now = tuesdayNight
	h.opts.Urgency = ivr.UrgencyOptions{
		Roster: &routing.Roster{Location: montreal, Rotation: routing.Rotation{Every: routing.EveryDay,
			Starts: time.Date(2026, 6, 22, 16, 30, 0, 0, montreal), Members: []string{"bob", "alice"}}},
		Fallback:    "sip:astreinte@192.0.2.50",
		RingTimeout: 100 * time.Millisecond,
	}
	h.store.register("alice", aliceURI)
	h.store.register("bob", bobURI)
	return h
}

func TestUrgencyOutOfHours(t *testing.T) {
	const fallback = "sip:astreinte@192.0.2.50"
	urgentKey := func() *event { return during("fr/closed", '9') }

	t.Run("the person on call answers", func(t *testing.T) {
		h := urgencyHarness(t)
		h.dialer.set(aliceURI, phone{answerAfter: 30 * time.Millisecond})
		c := h.start(recording{}, urgentKey())
		alice := h.bridge.waitBridge(t, 1)
		alice.end("staff")
		rec := c.wait()

		if alice.key != aliceURI {
			t.Errorf("bridged to %s, want Alice, on call", alice.key)
		}
		if rung := h.dialer.Rung(); !slices.Equal(rung, []string{aliceURI}) {
			t.Errorf("rung %v, want Alice only", rung)
		} else {
			r := h.dialer.Requests()[0]
			checkRequest(t, r, "URGENT", "urgent", "0")
			if r.RingTimeout != 100*time.Millisecond {
				t.Errorf("ring timeout %v", r.RingTimeout)
			}
		}
		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "alice" || rec.Route != "urgency" ||
			rec.Category != "urgent" || rec.Group != "" || !rec.QueuedAt.IsZero() || rec.AnsweredAt.IsZero() {
			t.Errorf("record = %+v", rec)
		}
		if !inOrder(rec.Trace, []string{"urgent key → urgency", "urgency: alice on call (rotation day of 2026-06-23)",
			"alice " + aliceURI + " answered", "staff hung up"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		if n := h.callsCounted(clubline.HoursClosed, clubline.OutcomeAnswered); n != 1 {
			t.Errorf("calls{closed,answered} = %v", n)
		}
		h.checkQueuesIdle("office")
	})

	t.Run("the fallback answers", func(t *testing.T) {
		h := urgencyHarness(t)
		h.dialer.set(aliceURI, phone{never: true})
		h.dialer.set(fallback, phone{answerAfter: 30 * time.Millisecond})
		c := h.start(recording{}, urgentKey())
		leg := h.bridge.waitBridge(t, 1)
		leg.end("staff")
		rec := c.wait()

		if leg.key != fallback {
			t.Errorf("bridged to %s, want the fallback", leg.key)
		}
		if rung := h.dialer.Rung(); !slices.Equal(rung, []string{aliceURI, fallback}) {
			t.Errorf("rung %v, want Alice, then the fallback", rung)
		}
		if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "" {
			t.Errorf("outcome %s answered by %q", rec.Outcome, rec.AnsweredBy)
		}
		if !inOrder(rec.Trace, []string{"urgency: alice on call (rotation day of 2026-06-23)", "urgency: fallback",
			"fallback " + fallback + " answered"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		h.checkQueuesIdle("office")
	})

	t.Run("nobody answers: urgent message", func(t *testing.T) {
		h := urgencyHarness(t)
		h.dialer.set(aliceURI, phone{refuse: 486})
		h.dialer.set(fallback, phone{never: true})
		rec, leg := h.run(recording{frames: tone(100), then: "#"}, urgentKey())

		if rung := h.dialer.Rung(); !slices.Equal(rung, []string{aliceURI, fallback}) {
			t.Errorf("rung %v, want Alice, then the fallback", rung)
		}
		if !inOrder(rec.Trace, []string{"alice " + aliceURI + ": refused (486)", "urgency: fallback",
			"urgency: nobody answered → voicemail (urgent)", "voicemail: 2.0s saved (#)"}) {
			t.Errorf("trace = %q", rec.Trace)
		}
		// One wait from Alice to the fallback: "connecting" is said whole,
		// however fast Alice refuses.
		if !inOrder(leg.Heard(), []string{"fr/closed", "fr/connecting", "fr/hold_music", "fr/voicemail", "fr/beep"}) {
			t.Errorf("heard %v", leg.Heard())
		}
		vms := h.store.SavedVoicemails()
		if len(vms) != 1 || !vms[0].Urgent || vms[0].Category != "urgent" ||
			vms[0].FollowUpDue.Sub(vms[0].RecordedAt) != 2*time.Hour {
			t.Fatalf("voicemails = %+v, want one urgent, due in 2 h", vms)
		}
		if rec.Outcome != clubline.OutcomeVoicemail || len(h.bridge.Bridged()) != 0 {
			t.Errorf("outcome %s, bridged %v", rec.Outcome, h.bridge.Bridged())
		}
	})
}

// In office hours the urgent option joins the default group's queue ahead
// of the callers already waiting, and rings at once.
func TestUrgentKeyInOfficeHoursJumpsTheQueue(t *testing.T) {
	h := newQueueHarness(t)
	h.acd = routing.NewACD()
	first := h.acd.Join("office", "earlier-1", false, h.now)
	second := h.acd.Join("office", "earlier-2", false, h.now)
	h.store.register("alice", aliceURI)
	answer := make(chan struct{})
	h.dialer.set(aliceURI, phone{answerOn: answer})
	h.dialer.set(bobURI, phone{never: true})

	c := h.start(recording{}, during("fr/greeting", '9'))
	waitFor(t, "Alice's phone to ring", func() bool { return len(h.dialer.Rung()) == 1 })
	if p1, p2 := h.acd.Position(first), h.acd.Position(second); p1 != 2 || p2 != 3 {
		t.Errorf("the callers waiting before are %d and %d in line, want 2 and 3", p1, p2)
	}
	close(answer)
	alice := h.bridge.waitBridge(t, 1)
	alice.end("staff")
	rec := c.wait()

	if !inOrder(rec.Trace, []string{"menu: 9 urgent → urgency", "urgency: office open → office queue, ahead of the others",
		"office: queued ahead, urgent (position 1)", "alice answered"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	checkRequest(t, h.dialer.Requests()[0], "URGENT", "urgent", "0")
	if rec.Outcome != clubline.OutcomeAnswered || rec.Group != "office" || rec.AnsweredBy != "alice" {
		t.Errorf("outcome %s group %q answered by %q", rec.Outcome, rec.Group, rec.AnsweredBy)
	}
	if p := h.acd.Position(first); p != 1 {
		t.Errorf("the first caller waiting is %d in line after the urgent call, want 1", p)
	}
	if n := h.queueCalls("office", metrics.QueueAnswered); n != 1 {
		t.Errorf("queue calls{office,answered} = %v", n)
	}
	h.checkQueuesIdle("office")
}

// The post-call survey: Alice hangs up, the caller hears the question and
// presses 4; the score is in the record and the metric, by group, and
// Alice is free again before the caller answers.
func TestSurveyAfterStaffHangsUp(t *testing.T) {
	h := newQueueHarness(t)
	h.opts.Survey.Enabled = true
	h.opts.Groups[0].Members = []string{"alice"}
	h.store.register("alice", aliceURI)
	h.dialer.set(aliceURI, phone{answerAfter: 20 * time.Millisecond})
	c := h.start(recording{}, toOffice(), after("fr/survey_question", '4'))
	alice := h.bridge.waitBridge(t, 1)
	alice.end("staff")
	rec := c.wait()
	if rec.Survey != 4 || !hasTrace(rec, "survey: 4") {
		t.Errorf("survey %d, trace %q", rec.Survey, rec.Trace)
	}
	if count(c.leg.Heard(), "fr/survey_thanks") != 1 {
		t.Error("the caller was not thanked")
	}
	if n, err := testutil.GatherAndCount(h.reg, "clubline_survey_score"); err != nil || n != 1 {
		t.Errorf("clubline_survey_score series: %d %v, want the office's", n, err)
	}
}

// Off by default: the caller is hung up as before.
func TestNoSurveyByDefault(t *testing.T) {
	h := newQueueHarness(t)
	c, alice := aliceAnswers(t, h)
	alice.end("staff")
	rec := c.wait()
	if rec.Survey != 0 || count(c.leg.Heard(), "fr/survey_question") != 0 {
		t.Errorf("a survey without survey.enabled: %d", rec.Survey)
	}
}
