package ivr_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
)

func TestOpenMenuChoiceLeavesVoicemail(t *testing.T) {
	h := newHarness(t)
	msg := tone(150) // 3 s
	rec, leg := h.run(recording{frames: msg, then: "#"}, after(endOfMenu, '1'))

	heard := leg.Heard()
	wantHeard := []string{
		"fr/greeting", "en/language_offer", "en/digit_8",
		"fr/menu_intro",
		"fr/for", "fr/category_registrations", "fr/press", "fr/digit_1",
		"fr/for", "fr/category_programs", "fr/press", "fr/digit_2",
		"fr/urgent_option", "fr/digit_9",
		"fr/message_option", "fr/digit_0",
		"fr/queue_nobody", // nobody is registered in the office
		"fr/voicemail", "fr/voicemail_callback", "fr/num_48", "fr/hours", "fr/voicemail_end",
		"fr/beep", "fr/voicemail_saved",
	}
	if !slices.Equal(heard, wantHeard) {
		t.Errorf("heard\n%v\nwant\n%v", heard, wantHeard)
	}
	if rec.Choice != "1" || rec.Category != "registrations" || rec.Route != "office" {
		t.Errorf("choice/category/route = %q/%q/%q", rec.Choice, rec.Category, rec.Route)
	}
	if rec.Outcome != clubline.OutcomeVoicemail || rec.Stage != clubline.StageVoicemail {
		t.Errorf("outcome/stage = %s/%s, want voicemail/voicemail", rec.Outcome, rec.Stage)
	}
	if rec.Hours != clubline.HoursOpen || rec.HoursReason != "weekly mon-fri 08:30-16:30" || rec.Language != "fr" {
		t.Errorf("hours %q reason %q language %q", rec.Hours, rec.HoursReason, rec.Language)
	}
	wantTrace := []string{
		"open: weekly mon-fri 08:30-16:30",
		"menu: 1 registrations → office",
		"office: nobody registered → voicemail",
		"voicemail: 3.0s saved (#)",
	}
	if !slices.Equal(rec.Trace, wantTrace) {
		t.Errorf("trace = %q, want %q", rec.Trace, wantTrace)
	}
	if rec.EndedAt != h.now || rec.From != "+15145550123" || rec.To != "100" {
		t.Errorf("record = %+v", rec)
	}
	if leg.HungUpBy() != "clubline" {
		t.Errorf("hung up by %q, want clubline", leg.HungUpBy())
	}

	vms := h.store.SavedVoicemails()
	if len(vms) != 1 {
		t.Fatalf("voicemails = %d, want 1", len(vms))
	}
	vm := vms[0]
	if rec.VoicemailID != vm.ID || vm.CallID != "call-1" || vm.From != "+15145550123" ||
		vm.Category != "registrations" || vm.Urgent || vm.Status != clubline.VoicemailNew {
		t.Errorf("voicemail = %+v (call's voicemail id %q)", vm, rec.VoicemailID)
	}
	if vm.RecordedAt != h.now || vm.FollowUpDue != h.now.Add(48*time.Hour) || vm.Duration != 3*time.Second {
		t.Errorf("recorded %v due %v duration %v", vm.RecordedAt, vm.FollowUpDue, vm.Duration)
	}
	if filepath.Dir(vm.Path) != h.opts.Voicemail.Dir || filepath.Ext(vm.Path) != ".wav" {
		t.Errorf("path = %q", vm.Path)
	}
	got := readWAV(t, vm.Path)
	if !slices.Equal(got, msg) {
		t.Errorf("WAV holds %d frames, not the %d the caller sent", len(got), len(msg))
	}
	if files := h.wavFiles(); len(files) != 1 {
		t.Errorf("voicemail dir = %v, want the one message", files)
	}

	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeVoicemail); n != 1 {
		t.Errorf("calls{open,voicemail} = %v", n)
	}
	if n := testutil.ToFloat64(h.m.Voicemails.WithLabelValues("false")); n != 1 {
		t.Errorf("voicemails{urgent=false} = %v", n)
	}
	if n := testutil.ToFloat64(h.m.FollowUpsOpen); n != 1 {
		t.Errorf("follow-ups open = %v", n)
	}
}

func TestBargeInDuringGreetingGoesToMenuChoice(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/greeting", '2'))
	heard := leg.Heard()
	if slices.Contains(heard, "fr/menu_intro") || slices.Contains(heard, "en/language_offer") {
		t.Errorf("heard %v: the greeting was not cut by the key", heard)
	}
	if rec.Choice != "2" || rec.Category != "programs" || rec.Route != "office" {
		t.Errorf("choice/category/route = %q/%q/%q", rec.Choice, rec.Category, rec.Route)
	}
	if rec.Outcome != clubline.OutcomeVoicemail {
		t.Errorf("outcome = %s", rec.Outcome)
	}
}

func TestBargeInDuringMenu(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/category_registrations", '1'))
	if slices.Contains(leg.Heard(), "fr/category_programs") {
		t.Errorf("heard %v: the menu went on after the key", leg.Heard())
	}
	if rec.Choice != "1" {
		t.Errorf("choice = %q", rec.Choice)
	}
}

func TestNoInputRepeatsMenuThenDefaultRoute(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{then: "hangup"})
	heard := leg.Heard()
	if n := count(heard, "fr/menu_intro"); n != 3 {
		t.Errorf("menu said %d times, want 1 + 2 retries: %v", n, heard)
	}
	if n := count(heard, "fr/no_input"); n != 3 {
		t.Errorf("no_input said %d times, want 3", n)
	}
	if !inOrder(heard, []string{"fr/menu_intro", "fr/no_input", "fr/menu_intro", "fr/no_input",
		"fr/menu_intro", "fr/no_input", "fr/voicemail", "fr/beep"}) {
		t.Errorf("heard %v", heard)
	}
	if rec.Choice != "" || rec.Route != "voicemail" || rec.Category != "message" {
		t.Errorf("choice/category/route = %q/%q/%q", rec.Choice, rec.Category, rec.Route)
	}
	if !hasTrace(rec, "menu: no choice → voicemail (default)") {
		t.Errorf("trace = %q", rec.Trace)
	}
	// The caller hung up at the beep without a word.
	if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageVoicemail {
		t.Errorf("outcome/stage = %s/%s", rec.Outcome, rec.Stage)
	}
	if !hasTrace(rec, "voicemail: under 1s, no message") {
		t.Errorf("trace = %q", rec.Trace)
	}
}

func TestInvalidKeyRepeatsMenu(t *testing.T) {
	h := newHarness(t)
	second := after(endOfMenu, '1')
	second.nth = 2
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, after(endOfMenu, '5'), second)
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/menu_intro", "fr/invalid", "fr/menu_intro", "fr/voicemail"}) {
		t.Errorf("heard %v", heard)
	}
	if rec.Choice != "1" || rec.Route != "office" {
		t.Errorf("choice/route = %q/%q", rec.Choice, rec.Route)
	}
	if !inOrder(rec.Trace, []string{"menu: invalid key", "menu: 1 registrations → office"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
}

func TestInvalidKeysExhaustRetries(t *testing.T) {
	h := newHarness(t)
	h.opts.Menu.Retries = 1
	second := after(endOfMenu, '7')
	second.nth = 2
	rec, leg := h.run(recording{then: "hangup"}, after(endOfMenu, '5'), second)
	if n := count(leg.Heard(), "fr/invalid"); n != 2 {
		t.Errorf("invalid said %d times: %v", n, leg.Heard())
	}
	if rec.Route != "voicemail" || rec.Choice != "" {
		t.Errorf("choice/route = %q/%q", rec.Choice, rec.Route)
	}
}

func TestLanguageKeySwitchesToEnglish(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{frames: tone(100), then: "#"},
		after("en/digit_8", '8'), after("en/digit_0", '1'))
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/greeting", "en/language_offer", "en/menu_intro",
		"en/for", "en/category_registrations", "en/press", "en/digit_1", "en/voicemail", "en/beep", "en/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if slices.Contains(heard, "fr/menu_intro") {
		t.Errorf("the French menu was said: %v", heard)
	}
	if rec.Language != "en" || rec.Choice != "1" {
		t.Errorf("language %q choice %q", rec.Language, rec.Choice)
	}
	if !hasTrace(rec, "language: en") {
		t.Errorf("trace = %q", rec.Trace)
	}
}

func TestCallerHangsUpInMenu(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{}, hangupDuring("fr/category_programs"))
	if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageMenu {
		t.Errorf("outcome/stage = %s/%s, want abandoned/menu", rec.Outcome, rec.Stage)
	}
	if leg.HungUpBy() != "caller" {
		t.Errorf("hung up by %q", leg.HungUpBy())
	}
	if slices.Contains(leg.Heard(), "fr/urgent_option") {
		t.Errorf("the menu went on after the hang-up: %v", leg.Heard())
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeAbandoned); n != 1 {
		t.Errorf("calls{open,abandoned} = %v", n)
	}
	if len(h.store.SavedVoicemails()) != 0 || len(h.wavFiles()) != 0 {
		t.Errorf("a voicemail was left")
	}
}

func TestContextCancelledEndsCall(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.ctx = ctx
	stop := &event{clip: "fr/menu_intro", do: cancel}
	rec, leg := h.run(recording{}, stop)
	if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageMenu {
		t.Errorf("outcome/stage = %s/%s", rec.Outcome, rec.Stage)
	}
	if leg.HungUpBy() != "clubline" {
		t.Errorf("hung up by %q, want clubline", leg.HungUpBy())
	}
}

func TestUrgentOptionWhileOpen(t *testing.T) {
	h := newHarness(t)
	rec, _ := h.run(recording{frames: tone(100), then: "#"}, after(endOfMenu, '9'))
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || !vms[0].Urgent || vms[0].FollowUpDue != h.now.Add(2*time.Hour) {
		t.Fatalf("voicemails = %+v", vms)
	}
	if rec.Route != "urgency" || rec.Category != "urgent" ||
		!hasTrace(rec, "urgency: office open → office queue, ahead of the others") ||
		!hasTrace(rec, "office: nobody registered → voicemail") || rec.Group != "office" {
		t.Errorf("record = %+v", rec)
	}
	if n := testutil.ToFloat64(h.m.Voicemails.WithLabelValues("true")); n != 1 {
		t.Errorf("voicemails{urgent=true} = %v", n)
	}
}

func TestMissingPromptPlaysTechnicalDifficulty(t *testing.T) {
	h := newHarness(t)
	h.prompts = newFakePrompts("fr/menu_intro")
	rec, leg := h.run(recording{then: "hangup"})
	if !inOrder(leg.Heard(), []string{"fr/greeting", "fr/technical_difficulty", "fr/voicemail", "fr/beep"}) {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeFailed {
		t.Errorf("outcome = %s, want failed", rec.Outcome)
	}
	if !hasTrace(rec, "technical difficulty: prompt menu_intro missing in fr") {
		t.Errorf("trace = %q", rec.Trace)
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeFailed); n != 1 {
		t.Errorf("calls{open,failed} = %v", n)
	}
}

func TestFailedCallStillTakesMessage(t *testing.T) {
	h := newHarness(t)
	h.prompts = newFakePrompts("fr/menu_intro", "fr/voicemail")
	rec, leg := h.run(recording{frames: tone(100), then: "#"})
	if !inOrder(leg.Heard(), []string{"fr/technical_difficulty", "fr/beep", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeVoicemail || rec.Route != "voicemail" {
		t.Errorf("outcome/route = %s/%s", rec.Outcome, rec.Route)
	}
}

// A refusal is counted, not stored; a caller who cancelled, or who was
// answered and gone before the greeting, is stored too.
func TestRejected(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	h.script().Rejected(clubline.Call{ID: "call-9", From: "+15145550123", StartedAt: time.Unix(0, 0),
		Duration: 3 * time.Millisecond, Trace: []string{"rejected: 404 unknown number '5550000'"}})
	if saves := h.store.Saves(); len(saves) != 0 {
		t.Errorf("a 404 wrote %d records, want none", len(saves))
	}
	if n := h.callsCounted(clubline.HoursClosed, clubline.OutcomeRejected); n != 1 {
		t.Errorf("calls{closed,rejected} = %v", n)
	}

	h.script().Rejected(clubline.Call{ID: "call-10", From: "+15145550123", Outcome: clubline.OutcomeAbandoned,
		Duration: 3 * time.Millisecond, Trace: []string{"abandoned: 487 caller cancelled before answer"}})
	h.script().Unstarted(clubline.Call{ID: "call-11", From: "+15145550123", Outcome: clubline.OutcomeAbandoned,
		Stage: clubline.StageAnswer, Duration: 32 * time.Second, Trace: []string{"answer: no ACK for the 200 OK within 32s"}})
	saves := h.store.Saves()
	if len(saves) != 2 {
		t.Fatalf("saves = %d, want the cancelled call and the one never ACKed", len(saves))
	}
	c := saves[1]
	if c.ID != "call-11" || c.Outcome != clubline.OutcomeAbandoned || c.Stage != clubline.StageAnswer ||
		c.Hours != clubline.HoursClosed || !c.EndedAt.Equal(h.now) || !c.StartedAt.Equal(h.now.Add(-32*time.Second)) {
		t.Errorf("record = %+v, want closed, abandoned at the answer, started 32s before it ended at %s by the script's clock", c, h.now)
	}
	if len(c.Trace) != 2 || !strings.HasPrefix(c.Trace[0], "closed:") || !strings.HasPrefix(c.Trace[1], "answer: no ACK") {
		t.Errorf("trace = %q, want the hours first, then why", c.Trace)
	}
	if n := h.callsCounted(clubline.HoursClosed, clubline.OutcomeAbandoned); n != 2 {
		t.Errorf("calls{closed,abandoned} = %v", n)
	}
}
