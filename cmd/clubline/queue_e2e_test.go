package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/registrar"
	"github.com/clubline/clubline/softphone"
)

// The staff of the queue tests: marie (201) and luc (202) in office,
// sophie (203) alone in supervisor.
const queueStaff = `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_TEST_PW_QUEUE }
  - { id: luc, name: Luc Gagnon, extension: "202", password_env: CLUBLINE_TEST_PW_QUEUE }
  - { id: sophie, name: Sophie Roy, extension: "203", password_env: CLUBLINE_TEST_PW_QUEUE }
groups:
  - id: office
    members: [marie, luc]
    strategy: %s
    ring_timeout: 4s
    max_wait: %s
    announce_every: 45s
  - { id: supervisor, members: [sophie], ring_timeout: 4s }
on_call:
  rotation: { every: week, starts: 2026-11-16T16:30, members: [marie, luc] }
  overrides:
    - { from: 2026-11-24T16:30, to: 2026-11-25T08:30, staff: luc }
`

const staffPassword = "s3cret-staff"

// The staff password is in the environment for the whole run: the queue
// tests run in parallel, which t.Setenv forbids.
func init() { os.Setenv("CLUBLINE_TEST_PW_QUEUE", staffPassword) }

// startQueueLine starts a line whose office group uses strategy and
// max_wait; tune, if given, sets more of Main first.
func startQueueLine(t *testing.T, at time.Time, strategy, maxWait string, tune ...func(*Main)) *line {
	t.Helper()
	return startQueueLineWith(t, lineOpts{at: at}, strategy, maxWait, tune...)
}

// startQueueLineWith is startQueueLine with more of the line's options
// (a Redis store).
func startQueueLineWith(t *testing.T, o lineOpts, strategy, maxWait string, tune ...func(*Main)) *line {
	t.Helper()
	at := o.at
	dir := t.TempDir()
	path := writeConfig(t, dir, o)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	people := strings.Replace(queueStaff, "%s", strategy, 1)
	people = strings.Replace(people, "%s", maxWait, 1)
	body = []byte(strings.Replace(string(body), "groups:\n  - { id: office }\n", people, 1))
	if err := os.WriteFile(filepath.Join(dir, "clubline.yaml"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	return startLineIn(t, dir, path, at, tune...)
}

// staffPhone starts a test staff phone that registers to the line as ext
// from its own socket, and answers as o says.
func (l *line) staffPhone(ext string, o softphone.AnswerOptions) *softphone.Answerer {
	l.t.Helper()
	o.User = ext
	a, err := softphone.Listen(context.Background(), o)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { _ = a.Close() })
	l.register(a, ext, time.Hour)
	return a
}

// register registers the staff phone a as ext for expires, and returns
// the expiry clubline granted.
func (l *line) register(a *softphone.Answerer, ext string, expires time.Duration) time.Duration {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reg, err := a.Register(ctx, "sip:"+l.m.sipAddr("udp"), softphone.RegisterOptions{
		User: ext, Password: staffPassword, Expires: expires})
	if err != nil {
		l.t.Fatalf("staff phone %s: %v", ext, err)
	}
	if len(reg.Bindings) == 0 {
		l.t.Fatalf("staff phone %s: registered, but the 200 lists no binding", ext)
	}
	return reg.Bindings[0].Expires
}

// answered waits for the staff phone's next answered call.
func answered(t *testing.T, a *softphone.Answerer, within time.Duration) *softphone.Call {
	t.Helper()
	select {
	case c := <-a.Calls():
		return c
	case <-time.After(within):
		t.Fatalf("the staff phone answered no call within %s (rang %d times)", within, a.Rang())
		return nil
	}
}

// chooseOffice takes the caller through the greeting to key 1
// (registrations → office).
func (l *line) chooseOffice(c *softphone.Call) {
	l.t.Helper()
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	if err := c.SendDigit(context.Background(), '1'); err != nil {
		l.t.Fatal(err)
	}
}

// awaitTone waits until the samples heard hold freq.
func awaitTone(t *testing.T, what string, heard func() []int16, freq float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := heard()
		if n := len(h); n > media.SampleRate {
			h = h[n-media.SampleRate:] // the last second
		}
		if media.DetectTone(h, freq) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not hear the %.0f Hz tone within %s", what, freq, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A caller who picks registrations waits with hold music, marie's phone
// rings with the call's context, she answers, and they hear each other;
// when she hangs up the caller is hung up too. The record and the metrics
// show the wait.
func TestQueueAnsweredTwoWayAudio(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 1500 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 1)

	c := l.dial(softphone.Options{From: "+15145550101"})
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "connecting", 10*time.Second)
	staff := answered(t, marie, 15*time.Second)

	inv := staff.Invite()
	for h, want := range map[string]string{"X-Clubline-Category": "registrations"} {
		if got := inv.GetHeader(h); got == nil || got.Value() != want {
			t.Errorf("INVITE %s = %v, want %q", h, got, want)
		}
	}
	if h := inv.GetHeader("X-Clubline-Call-Id"); h == nil || h.Value() == "" {
		t.Error("INVITE lacks X-Clubline-Call-Id")
	}
	if h := inv.GetHeader("X-Clubline-Waited"); h == nil {
		t.Error("INVITE lacks X-Clubline-Waited")
	}
	if u := inv.From().Address.User; u != "+15145550101" {
		t.Errorf("the staff phone shows %q, want the caller's number", u)
	}
	if d := inv.From().DisplayName; d != "registrations" {
		t.Errorf("the staff phone shows the name %q, want the category", d)
	}

	go func() { _ = staff.Play(context.Background(), media.Tone(1000, 3*time.Second, 8000)) }()
	go func() { _ = c.Play(context.Background(), media.Tone(440, 3*time.Second, 8000)) }()
	awaitTone(t, "the caller", c.Heard, 1000, 5*time.Second)
	awaitTone(t, "marie", staff.Heard, 440, 5*time.Second)

	// Keys go through too (a staff member's voicemail PIN, a caller's
	// extension), both ways, as RFC 4733 events.
	if err := c.SendDigit(context.Background(), '5'); err != nil {
		t.Fatal(err)
	}
	awaitDigit(t, "marie", staff.Digits(), '5')
	if err := staff.SendDigit(context.Background(), '7'); err != nil {
		t.Fatal(err)
	}
	awaitDigit(t, "the caller", c.Digits(), '7')

	if err := staff.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if by := awaitEnd(t, c, 5*time.Second); by != softphone.EndedRemoteBye {
		t.Errorf("the caller's call ended by %q, want clubline's BYE", by)
	}

	rec := l.lastCall()
	if rec.Outcome != clubline.OutcomeAnswered || rec.Group != "office" || rec.AnsweredBy != "marie" ||
		rec.Stage != clubline.StageBridged || rec.Category != "registrations" {
		t.Errorf("record = %+v", rec)
	}
	if rec.Wait < time.Second || rec.Wait > 10*time.Second {
		t.Errorf("wait = %s, want about the 1.5 s marie took to answer", rec.Wait)
	}
	if d := rec.AnsweredAt.Sub(rec.QueuedAt) - rec.Wait; rec.QueuedAt.IsZero() || d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("queued %s, answered %s, wait %s", rec.QueuedAt, rec.AnsweredAt, rec.Wait)
	}
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="answered"}`, 1)
	l.awaitMetric(`clubline_queue_wait_seconds_count{group="office",result="answered"}`, 1)
	l.awaitMetric(`clubline_queue_answered_within_service_level_total{group="office"}`, 1)
	l.awaitMetric(`clubline_calls_total{hours="open",outcome="answered"}`, 1)
	l.awaitMetric(`clubline_queue_waiting{group="office"}`, 0)
	l.awaitMetric(`clubline_staff_busy`, 0)
}

// Ring-all rings marie and luc at once; luc answers and marie's phone
// stops ringing (CANCEL).
func TestQueueRingAllCancelsTheOthers(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	luc := l.staffPhone("202", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: time.Second})
	l.awaitMetric("clubline_staff_registered", 2)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	staff := answered(t, luc, 15*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for marie.Cancelled() != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if marie.Rang() != 1 || marie.Cancelled() != 1 {
		t.Errorf("marie's phone rang %d times, cancelled %d, want 1 and 1", marie.Rang(), marie.Cancelled())
	}
	l.awaitMetric(`clubline_staff_busy`, 1)
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if by := awaitEnd(t, staff, 5*time.Second); by != softphone.EndedRemoteBye {
		t.Errorf("luc's call ended by %q, want clubline's BYE when the caller hung up", by)
	}
	rec := l.lastCall()
	if rec.Outcome != clubline.OutcomeAnswered || rec.AnsweredBy != "luc" {
		t.Errorf("record = %+v", rec)
	}
	l.awaitMetric(`clubline_staff_busy`, 0)
}

// In order, marie is rung first; she is busy (486), so luc is rung and
// answers. The trace says why marie did not take the call.
func TestQueueInOrderSkipsBusy(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "in-order", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.RejectBusy})
	luc := l.staffPhone("202", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 500 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 2)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	staff := answered(t, luc, 15*time.Second)
	if marie.Rang() != 1 {
		t.Errorf("marie's phone rang %d times, want once, first", marie.Rang())
	}
	_ = staff.Hangup(context.Background())
	awaitEnd(t, c, 5*time.Second)
	rec := l.lastCall()
	if rec.AnsweredBy != "luc" || !strings.Contains(strings.Join(rec.Trace, "|"), "marie: refused (486)") {
		t.Errorf("record answered by %q, trace %q", rec.AnsweredBy, rec.Trace)
	}
}

// Nobody answers within max_wait: the caller, who heard hold music, goes
// to the voicemail with the category kept (result timeout).
func TestQueueMaxWaitToVoicemail(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "9s")
	l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	l.awaitMetric("clubline_staff_registered", 1)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "queue_exit", 10*time.Second)
	l.awaitHeard(c, "fr", "voicemail", 20*time.Second)
	if !l.heardSome(c, "fr", "hold_music") {
		t.Error("the caller heard no hold music while waiting")
	}
	_ = c.Hangup(context.Background())
	rec := l.lastCall()
	if rec.Group != "office" || rec.Category != "registrations" || rec.Wait < 8*time.Second || rec.AnsweredBy != "" {
		t.Errorf("record = %+v", rec)
	}
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="timeout"}`, 1)
}

// 0 in the queue leaves for the voicemail at once (result voicemail); a
// caller who hangs up in the queue is an abandon.
func TestQueueExitKeyAndAbandon(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	l.awaitMetric("clubline_staff_registered", 1)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "queue_exit", 10*time.Second)
	if err := c.SendDigit(context.Background(), '0'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "beep", 10*time.Second) // 0 goes straight to the beep
	_ = c.Hangup(context.Background())
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="voicemail"}`, 1)

	c2 := l.dial(softphone.Options{})
	l.chooseOffice(c2)
	l.awaitHeard(c2, "fr", "queue_exit", 10*time.Second)
	_ = c2.Hangup(context.Background())
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="abandoned"}`, 1)
	rec := l.lastCall()
	if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageQueue {
		t.Errorf("record = %+v", rec)
	}
}

// With nobody registered the caller is told so, and goes to the
// voicemail at once.
func TestQueueNobodyRegistered(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "queue_nobody", 10*time.Second)
	l.awaitHeard(c, "fr", "voicemail", 10*time.Second)
	_ = c.Hangup(context.Background())
	rec := l.lastCall()
	if !strings.Contains(strings.Join(rec.Trace, "|"), "office: nobody registered → voicemail") {
		t.Errorf("trace %q", rec.Trace)
	}
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="timeout"}`, 1)
}

// A phone that stops re-registering is forgotten when its registration
// expires: it is not rung, the caller goes to a message, and the gauge of
// registered staff goes back to 0. (clubline's 60 s minimum is shortened
// here to keep the test short.)
func TestQueueRegistrationExpires(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m", func(m *Main) {
		m.TuneRegistrar = func(o *registrar.Options) {
			o.MinExpires = time.Second
			o.PingEvery = 300 * time.Millisecond
		}
	})
	a, err := softphone.Listen(context.Background(), softphone.AnswerOptions{User: "201", Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if got := l.register(a, "201", 2*time.Second); got != 2*time.Second {
		t.Fatalf("registered for %s, want the 2s asked", got)
	}
	l.awaitMetric("clubline_staff_registered", 1)

	// marie's phone never registers again.
	l.awaitMetricWithin("clubline_staff_registered", 0, 6*time.Second)
	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "voicemail", 10*time.Second)
	_ = c.Hangup(context.Background())
	if n := a.Rang(); n != 0 {
		t.Errorf("marie's phone rang %d times after her registration expired", n)
	}
	rec := l.lastCall()
	if !strings.Contains(strings.Join(rec.Trace, "|"), "office: nobody registered → voicemail") {
		t.Errorf("trace %q", rec.Trace)
	}
	if regs, err := l.m.Store.Registrations(context.Background(), "marie", time.Now()); err != nil || len(regs) != 0 {
		t.Errorf("the store still gives marie %d contacts (%v), want none", len(regs), err)
	}
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="timeout"}`, 1)
}

// marie answers, then transfers the caller to the supervisor group by
// REFER: she gets NOTIFYs up to 200, sophie's phone rings and the caller
// talks to sophie. The record keeps who answered and where it went.
func TestTransferToGroupByRefer(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	sophie := l.staffPhone("203", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 500 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 2)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	first := answered(t, marie, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := first.Refer(ctx, "sip:supervisor@"+l.m.sipAddr("udp"))
	if err != nil || code != 202 {
		t.Fatalf("REFER: %d %v, want 202", code, err)
	}
	second := answered(t, sophie, 15*time.Second)
	if h := second.Invite().GetHeader("X-Clubline-Category"); h == nil || h.Value() != "registrations" {
		t.Errorf("sophie's INVITE category = %v", h)
	}
	if by := awaitEnd(t, first, 5*time.Second); by != softphone.EndedRemoteBye {
		t.Errorf("marie's call ended by %q, want clubline's BYE after the transfer", by)
	}
	if n := first.Notifies(); len(n) == 0 || !strings.HasPrefix(n[len(n)-1], "SIP/2.0 200") {
		t.Errorf("marie's NOTIFYs = %q, want the last to say 200", n)
	}
	go func() { _ = second.Play(context.Background(), media.Tone(1000, 3*time.Second, 8000)) }()
	awaitTone(t, "the caller", c.Heard, 1000, 5*time.Second)
	_ = c.Hangup(context.Background())
	awaitEnd(t, second, 5*time.Second)

	rec := l.lastCall()
	if rec.AnsweredBy != "marie" || rec.TransferredTo != "supervisor" || rec.Outcome != clubline.OutcomeAnswered {
		t.Errorf("record = %+v", rec)
	}
	t.Logf("trace: %s", strings.Join(rec.Trace, " → "))
	l.awaitMetric(`clubline_queue_calls_total{group="supervisor",result="answered"}`, 1)
	l.awaitMetric(`clubline_staff_busy`, 0)
}

// Out of hours the urgency key rings whoever is on call: tonight an
// override puts luc on call instead of the rotation's marie.
func TestUrgencyRingsOnCall(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, tuesdayEve, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	luc := l.staffPhone("202", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 500 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 2)

	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 12*time.Second)
	if err := c.SendDigit(context.Background(), '9'); err != nil {
		t.Fatal(err)
	}
	staff := answered(t, luc, 15*time.Second)
	if marie.Rang() != 0 {
		t.Errorf("marie's phone rang %d times; she is not on call tonight", marie.Rang())
	}
	if d := staff.Invite().From().DisplayName; !strings.HasPrefix(d, "URGENT") {
		t.Errorf("luc's phone shows %q, want it marked urgent", d)
	}
	_ = staff.Hangup(context.Background())
	awaitEnd(t, c, 5*time.Second)
	rec := l.lastCall()
	if rec.Route != "urgency" || rec.AnsweredBy != "luc" || rec.Outcome != clubline.OutcomeAnswered {
		t.Errorf("record = %+v", rec)
	}
	if !strings.Contains(strings.Join(rec.Trace, "|"), "urgency: luc on call (override") {
		t.Errorf("trace %q", rec.Trace)
	}
}

// awaitDigit waits for one key on a phone.
func awaitDigit(t *testing.T, who string, digits <-chan rune, want rune) {
	t.Helper()
	select {
	case d := <-digits:
		if d != want {
			t.Errorf("%s got the key %q, want %q", who, d, want)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("%s got no key within 5 s, want %q", who, want)
	}
}

// heardSome reports whether the caller heard at least the first second of
// a prompt.
func (l *line) heardSome(c *softphone.Call, lang, name string) bool {
	clip := l.clip(lang, name)
	if len(clip) > media.SampleRate {
		clip = clip[:media.SampleRate]
	}
	_, score := hearing.FindClip(c.Heard(), clip)
	return score >= 0.9
}

// marie puts the caller on hold from her phone (re-INVITE sendonly): the
// caller hears hold music instead of silence, then marie again when she
// resumes.
func TestStaffHoldPlaysHoldMusic(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 1)

	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	staff := answered(t, marie, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := len(c.Heard())
	if _, err := staff.Hold(ctx); err != nil {
		t.Fatalf("hold: %v", err)
	}
	music := l.clip("fr", "hold_music")[:media.SampleRate]
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, score := hearing.FindClip(c.Heard()[before:], music); score >= 0.9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the caller did not hear hold music while marie held the call")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := staff.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	go func() { _ = staff.Play(context.Background(), media.Tone(1000, 3*time.Second, 8000)) }()
	awaitTone(t, "the caller", c.Heard, 1000, 5*time.Second)
	_ = c.Hangup(context.Background())
	awaitEnd(t, staff, 5*time.Second)
	rec := l.lastCall()
	trace := strings.Join(rec.Trace, "|")
	if !strings.Contains(trace, "marie: hold") || !strings.Contains(trace, "marie: resume") {
		t.Errorf("trace %q lacks the hold and the resume", rec.Trace)
	}
}

// Longest-idle: marie takes the first call (neither had one; she is first
// in the group); the second call goes to luc, idle longer than marie, who
// just hung up.
func TestQueueLongestIdle(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "longest-idle", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	luc := l.staffPhone("202", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 2)

	for i, want := range []struct {
		phone *softphone.Answerer
		id    string
	}{{marie, "marie"}, {luc, "luc"}} {
		c := l.dial(softphone.Options{})
		l.chooseOffice(c)
		staff := answered(t, want.phone, 15*time.Second)
		_ = staff.Hangup(context.Background())
		awaitEnd(t, c, 5*time.Second)
		if rec := l.lastCall(); rec.AnsweredBy != want.id {
			t.Errorf("call %d answered by %q, want %s", i+1, rec.AnsweredBy, want.id)
		}
		l.awaitMetric(`clubline_staff_busy`, 0)
	}
	if marie.Rang() != 1 || luc.Rang() != 1 {
		t.Errorf("marie rang %d times, luc %d: want once each", marie.Rang(), luc.Rang())
	}
}
