package ivr_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/vmdir"
)

// toMessage is the quickest way to the beep: 0 in the menu.
func toMessage() *event { return after(endOfMenu, '0') }

func TestSilenceTimeoutEndsRecording(t *testing.T) {
	h := newHarness(t)
	msg := tone(100)
	rec, leg := h.run(recording{frames: msg, then: "silence"}, toMessage())
	if !slices.Contains(leg.Heard(), "fr/voicemail_saved") {
		t.Errorf("heard %v", leg.Heard())
	}
	if !hasTrace(rec, "voicemail: 2.0s saved (silence)") {
		t.Errorf("trace = %q", rec.Trace)
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 {
		t.Fatalf("voicemails = %d", len(vms))
	}
	// The trailing silence is not part of the message.
	if got := readWAV(t, vms[0].Path); !slices.Equal(got, msg) {
		t.Errorf("WAV holds %d frames, want the %d of speech", len(got), len(msg))
	}
	if rec.Category != "message" || vms[0].Category != "message" {
		t.Errorf("category = %q / %q", rec.Category, vms[0].Category)
	}
}

func TestSilenceAfterBeepIsNoMessage(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{then: "silence"}, toMessage())
	if !slices.Contains(leg.Heard(), "fr/no_message") {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeAbandoned || rec.VoicemailID != "" {
		t.Errorf("outcome %s voicemail %q", rec.Outcome, rec.VoicemailID)
	}
	if files := h.wavFiles(); len(files) != 0 {
		t.Errorf("voicemail dir = %v, want empty", files)
	}
}

func TestPauseInMessageIsKept(t *testing.T) {
	h := newHarness(t)
	msg := concatFrames(tone(60), silence(25), tone(40)) // a half-second pause
	_, _ = h.run(recording{frames: msg, then: "#"}, toMessage())
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 {
		t.Fatalf("voicemails = %d", len(vms))
	}
	if got := readWAV(t, vms[0].Path); !slices.Equal(got, msg) {
		t.Errorf("WAV holds %d frames, want %d", len(got), len(msg))
	}
}

func TestShortMessageIsDeleted(t *testing.T) {
	h := newHarness(t)
	rec, leg := h.run(recording{frames: tone(30), then: "#"}, toMessage())
	if len(h.store.SavedVoicemails()) != 0 || rec.VoicemailID != "" {
		t.Errorf("a voicemail was saved")
	}
	if files := h.wavFiles(); len(files) != 0 {
		t.Errorf("voicemail dir = %v, want empty", files)
	}
	if !hasTrace(rec, "voicemail: under 1s, no message") {
		t.Errorf("trace = %q", rec.Trace)
	}
	if !slices.Contains(leg.Heard(), "fr/no_message") || slices.Contains(leg.Heard(), "fr/voicemail_saved") {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeAbandoned || rec.Stage != clubline.StageVoicemail {
		t.Errorf("outcome/stage = %s/%s", rec.Outcome, rec.Stage)
	}
	if n := testutil.ToFloat64(h.m.FollowUpsOpen); n != 0 {
		t.Errorf("follow-ups = %v", n)
	}
}

func TestHangupWhileRecordingKeepsMessage(t *testing.T) {
	h := newHarness(t)
	msg := tone(150)
	rec, leg := h.run(recording{frames: msg, then: "hangup"}, toMessage())
	if rec.Outcome != clubline.OutcomeVoicemail || rec.VoicemailID == "" {
		t.Errorf("outcome %s voicemail %q", rec.Outcome, rec.VoicemailID)
	}
	if slices.Contains(leg.Heard(), "fr/voicemail_saved") {
		t.Errorf("played to a caller who hung up: %v", leg.Heard())
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || vms[0].Duration != 3*time.Second {
		t.Fatalf("voicemails = %+v", vms)
	}
	if got := readWAV(t, vms[0].Path); !slices.Equal(got, msg) {
		t.Errorf("WAV holds %d frames, want %d", len(got), len(msg))
	}
	if leg.HungUpBy() != "caller" {
		t.Errorf("hung up by %q", leg.HungUpBy())
	}
}

func TestMaxLengthEndsRecording(t *testing.T) {
	h := newHarness(t)
	h.opts.Voicemail.MaxLength = 2 * time.Second
	rec, _ := h.run(recording{then: "tone"}, toMessage())
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || vms[0].Duration != 2*time.Second {
		t.Fatalf("voicemails = %+v", vms)
	}
	if !hasTrace(rec, "voicemail: 2.0s saved (max length)") {
		t.Errorf("trace = %q", rec.Trace)
	}
}

func TestPoundDuringInstructionSkipsToBeep(t *testing.T) {
	h := newHarness(t)
	_, leg := h.run(recording{frames: tone(60), then: "#"}, toMessage(), during("fr/voicemail", '#'))
	if !inOrder(leg.Heard(), []string{"fr/voicemail", "fr/beep", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", leg.Heard())
	}
	if slices.Contains(leg.Heard(), "fr/voicemail_callback") || slices.Contains(leg.Heard(), "fr/voicemail_end") {
		t.Errorf("the instruction went on after #: %v", leg.Heard())
	}
	if len(h.store.SavedVoicemails()) != 1 {
		t.Errorf("voicemails = %d", len(h.store.SavedVoicemails()))
	}
}

func TestStoreErrorsDoNotStopTheCall(t *testing.T) {
	h := newHarness(t)
	h.store.err = errors.New("redis down")
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, toMessage())
	if rec.Outcome != clubline.OutcomeVoicemail {
		t.Errorf("outcome = %s", rec.Outcome)
	}
	if !slices.Contains(leg.Heard(), "fr/voicemail_saved") {
		t.Errorf("heard %v", leg.Heard())
	}
	if n := h.callsCounted(clubline.HoursOpen, clubline.OutcomeVoicemail); n != 1 {
		t.Errorf("calls{open,voicemail} = %v", n)
	}
	// The recording, and its note: the store never took the message, so
	// the next start saves it from the note (vmdir.Recover).
	if files := h.wavFiles(); len(files) != 2 || !strings.HasSuffix(files[0], ".json.part") || !strings.HasSuffix(files[1], ".wav") {
		t.Errorf("voicemail dir = %v, want the message and its note", files)
	}
}

// While a message is recorded, a note beside it holds what the next start
// needs to make it a message if clubline dies meanwhile; once the store
// has the message, the note is gone.
func TestRecordingLeavesANote(t *testing.T) {
	h := newHarness(t)
	// The urgent key in office hours: the office's queue, nobody there,
	// then an urgent message; then silence without frames.
	c := h.start(recording{frames: tone(100)}, after(endOfMenu, '9'))
	var notes []string
	deadline := time.Now().Add(5 * time.Second)
	for len(notes) == 0 && time.Now().Before(deadline) {
		notes, _ = filepath.Glob(filepath.Join(h.opts.Voicemail.Dir, "*.json.part"))
		time.Sleep(5 * time.Millisecond)
	}
	if len(notes) != 1 {
		t.Fatalf("notes while recording: %v", notes)
	}
	m, err := vmdir.ReadMeta(notes[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := c.wait()
	want := vmdir.Meta{VoicemailID: "vm1", CallID: "call-1", From: "+15145550123", To: "100",
		CallStartedAt: tuesdayNoon, Hours: "open", HoursReason: "weekly mon-fri 08:30-16:30", Language: "fr",
		Choice: "9", Category: "urgent", Route: clubline.RouteUrgency, Group: "office", Urgent: true,
		RecordedAt: tuesdayNoon, FollowUpDue: tuesdayNoon.Add(2 * time.Hour)}
	if m.CallStartedAt.Equal(want.CallStartedAt) && m.RecordedAt.Equal(want.RecordedAt) && m.FollowUpDue.Equal(want.FollowUpDue) {
		m.CallStartedAt, m.RecordedAt, m.FollowUpDue = want.CallStartedAt, want.RecordedAt, want.FollowUpDue
	}
	if m != want {
		t.Errorf("note\n got %+v\nwant %+v", m, want)
	}
	if info, err := os.Stat(notes[0]); err == nil || rec.VoicemailID != "vm1" {
		t.Errorf("after the call: note still there (%v), voicemail %q", info != nil, rec.VoicemailID)
	}
}

func TestUnwritableVoicemailDir(t *testing.T) {
	h := newHarness(t)
	h.opts.Voicemail.Dir = "/dev/null/voicemail"
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, toMessage())
	if !inOrder(leg.Heard(), []string{"fr/beep", "fr/technical_difficulty", "fr/goodbye"}) {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeFailed || leg.HungUpBy() != "clubline" {
		t.Errorf("outcome %s hung up by %q", rec.Outcome, leg.HungUpBy())
	}
}

func TestMissingBeepStillRecords(t *testing.T) {
	h := newHarness(t)
	h.prompts = newFakePrompts("fr/beep")
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, toMessage())
	if !inOrder(leg.Heard(), []string{"fr/voicemail", "fr/technical_difficulty", "fr/voicemail", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", leg.Heard())
	}
	if rec.Outcome != clubline.OutcomeVoicemail || len(h.store.SavedVoicemails()) != 1 {
		t.Errorf("outcome = %s, trace %q", rec.Outcome, rec.Trace)
	}
}

// instructionHeard returns the clips heard between the last start of the
// voicemail instruction (lang/voicemail or lang/voicemail_full) and the
// beep, both included.
func instructionHeard(heard []string) []string {
	beep := slices.IndexFunc(heard, func(c string) bool { return strings.HasSuffix(c, "/beep") })
	if beep < 0 {
		return nil
	}
	for i := beep - 1; i >= 0; i-- {
		if strings.HasSuffix(heard[i], "/voicemail") || strings.HasSuffix(heard[i], "/voicemail_full") {
			return heard[i : beep+1]
		}
	}
	return nil
}

func prefixed(lang string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = lang + "/" + n
	}
	return out
}

// The instruction promises the callback delay of the configuration, the
// urgent one for an urgent message, spoken from numbers.
func TestVoicemailPromisesConfiguredDelay(t *testing.T) {
	english := []*event{after("en/digit_8", '8'), after("en/digit_0", '0')}
	tests := []struct {
		name           string
		within, urgent time.Duration
		night          bool
		events         []*event
		want           string // the clips between voicemail and voicemail_end
	}{
		{"72h", 72 * time.Hour, 2 * time.Hour, false, []*event{toMessage()},
			"fr/voicemail_callback fr/num_60 fr/num_12 fr/hours"},
		{"72h in English", 72 * time.Hour, 2 * time.Hour, false, english,
			"en/voicemail_callback en/num_70 en/num_2 en/hours"},
		{"default 48h", 0, 0, false, []*event{toMessage()},
			"fr/voicemail_callback fr/num_48 fr/hours"},
		{"whole days past 72h", 96 * time.Hour, 2 * time.Hour, false, []*event{toMessage()},
			"fr/voicemail_callback fr/num_4 fr/days"},
		{"urgent option", 72 * time.Hour, 2 * time.Hour, false, []*event{after(endOfMenu, '9')},
			"fr/voicemail_callback fr/num_2 fr/hours"},
		{"urgent key out of hours", 72 * time.Hour, 2 * time.Hour, true, []*event{during("fr/closed", '9')},
			"fr/voicemail_callback fr/num_2 fr/hours"},
		{"urgent in minutes", 72 * time.Hour, 30 * time.Minute, false, []*event{after(endOfMenu, '9')},
			"fr/voicemail_callback fr/num_30 fr/minutes"},
		// Out of hours the closed message's last sentence is the
		// instruction; the urgent key during it leads to the urgent one.
		{"urgent key during closed_skip", 72 * time.Hour, 2 * time.Hour, true, []*event{during("fr/closed_skip", '9')},
			"fr/voicemail_callback fr/num_2 fr/hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.opts.Voicemail.FollowUpWithin, h.opts.Voicemail.UrgentFollowUpWithin = tt.within, tt.urgent
			if tt.night {
				h.status, h.now = nightStatus, tuesdayNight
			}
			_, leg := h.run(recording{frames: tone(100), then: "#"}, tt.events...)
			lang := "fr"
			if strings.HasPrefix(tt.want, "en/") {
				lang = "en"
			}
			want := append([]string{lang + "/voicemail"}, strings.Fields(tt.want)...)
			want = append(want, lang+"/voicemail_end", lang+"/beep")
			if got := instructionHeard(leg.Heard()); !slices.Equal(got, want) {
				t.Errorf("instruction\n%v\nwant\n%v\n(heard %v)", got, want, leg.Heard())
			}
			if vms := h.store.SavedVoicemails(); len(vms) != 1 {
				t.Errorf("voicemails = %+v", vms)
			}
		})
	}
}

// A # stops the instruction wherever it is, the delay included; out of
// hours the urgent key during the closed message's last sentence leads to
// the urgent instruction, said once.
func TestKeysDuringTheCallbackDelay(t *testing.T) {
	h := newHarness(t)
	_, leg := h.run(recording{frames: tone(60), then: "#"}, toMessage(), during("fr/num_48", '#'))
	if got, want := instructionHeard(leg.Heard()), prefixed("fr", "voicemail", "voicemail_callback", "num_48", "beep"); !slices.Equal(got, want) {
		t.Errorf("instruction %v, want %v", got, want)
	}

	h = newHarness(t)
	h.status, h.now = nightStatus, tuesdayNight
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/closed_skip", '9'))
	if count(leg.Heard(), "fr/voicemail_end") != 1 || rec.Route != "urgency" {
		t.Errorf("route %q, heard %v", rec.Route, leg.Heard())
	}
	if vms := h.store.SavedVoicemails(); len(vms) != 1 || !vms[0].Urgent {
		t.Errorf("voicemails = %+v", vms)
	}
}

// An admin's own whole instruction (voicemail_full) is played alone, with
// the same keys; a language without one keeps the composed instruction.
func TestVoicemailFullOverride(t *testing.T) {
	h := newHarness(t)
	h.opts.Voicemail.FollowUpWithin = 72 * time.Hour
	h.prompts.add("fr/voicemail_full")
	_, leg := h.run(recording{frames: tone(100), then: "#"}, toMessage())
	if got, want := instructionHeard(leg.Heard()), prefixed("fr", "voicemail_full", "beep"); !slices.Equal(got, want) {
		t.Errorf("instruction %v, want %v (heard %v)", got, want, leg.Heard())
	}
	for _, c := range prefixed("fr", "voicemail", "voicemail_callback", "hours", "voicemail_end") {
		if slices.Contains(leg.Heard(), c) {
			t.Errorf("heard %s with voicemail_full: %v", c, leg.Heard())
		}
	}

	// Urgent: still the admin's clip, which says their own delays.
	h = newHarness(t)
	h.prompts.add("fr/voicemail_full")
	h.status, h.now = nightStatus, tuesdayNight
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/closed", '9'))
	if got, want := instructionHeard(leg.Heard()), prefixed("fr", "voicemail_full", "beep"); !slices.Equal(got, want) || rec.Route != "urgency" {
		t.Errorf("route %q, instruction %v, want %v", rec.Route, got, want)
	}

	// # during it skips to the beep.
	h = newHarness(t)
	h.prompts.add("fr/voicemail_full")
	_, leg = h.run(recording{frames: tone(60), then: "#"}, toMessage(), during("fr/voicemail_full", '#'))
	if !inOrder(leg.Heard(), prefixed("fr", "voicemail_full", "beep", "voicemail_saved")) || count(leg.Heard(), "fr/voicemail_full") != 1 {
		t.Errorf("heard %v", leg.Heard())
	}

	// Only French has one: the English caller hears the built-in one.
	h = newHarness(t)
	h.prompts.add("fr/voicemail_full")
	_, leg = h.run(recording{frames: tone(100), then: "#"}, after("en/digit_8", '8'), after("en/digit_0", '0'))
	want := prefixed("en", "voicemail", "voicemail_callback", "num_48", "hours", "voicemail_end", "beep")
	if got := instructionHeard(leg.Heard()); !slices.Equal(got, want) {
		t.Errorf("instruction %v, want %v", got, want)
	}
}

// A phone with voice activity detection stops sending while the caller is
// silent, so no frame comes at all: the silence is measured on the clock,
// and the caller hears that the message was saved SilenceTimeout after
// their last word, not when the call's RTP timeout would cut it.
func TestSilenceWithoutFramesEndsRecording(t *testing.T) {
	h := newHarness(t)
	h.opts.Voicemail.MaxLength = 5 * time.Second
	msg := tone(100)
	start := time.Now()
	rec, leg := h.run(recording{frames: msg}, toMessage()) // then nothing, the call still up
	elapsed := time.Since(start)
	if !slices.Contains(leg.Heard(), "fr/voicemail_saved") || leg.HungUpBy() != "clubline" {
		t.Errorf("heard %v, hung up by %q", leg.Heard(), leg.HungUpBy())
	}
	if !hasTrace(rec, "voicemail: 2.0s saved (silence)") {
		t.Errorf("trace = %q", rec.Trace)
	}
	if limit := h.opts.Voicemail.SilenceTimeout + 2*time.Second; elapsed > limit {
		t.Errorf("the call took %s, want the silence timeout (%s) and little more", elapsed, h.opts.Voicemail.SilenceTimeout)
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || vms[0].Duration != 2*time.Second || rec.Outcome != clubline.OutcomeVoicemail {
		t.Fatalf("outcome %s, voicemails %+v", rec.Outcome, vms)
	}
	if got := readWAV(t, vms[0].Path); !slices.Equal(got, msg) {
		t.Errorf("WAV holds %d frames, want the %d of speech", len(got), len(msg))
	}
}
