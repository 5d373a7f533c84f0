package ivr_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
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
	vms := h.store.Voicemails()
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
	vms := h.store.Voicemails()
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
	if len(h.store.Voicemails()) != 0 || rec.VoicemailID != "" {
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
	vms := h.store.Voicemails()
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
	vms := h.store.Voicemails()
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
	if len(h.store.Voicemails()) != 1 {
		t.Errorf("voicemails = %d", len(h.store.Voicemails()))
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
	if len(h.wavFiles()) != 1 {
		t.Errorf("voicemail dir = %v", h.wavFiles())
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
	if rec.Outcome != clubline.OutcomeVoicemail || len(h.store.Voicemails()) != 1 {
		t.Errorf("outcome = %s, trace %q", rec.Outcome, rec.Trace)
	}
}
