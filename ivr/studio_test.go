package ivr_test

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// studioHarness is a line where marie (admin) and paul may dial *77.
func studioHarness(t *testing.T) (*harness, *prompts.Recordings) {
	t.Helper()
	h := newHarness(t)
	h.opts.Studio.Code = "*77"
	h.opts.Staff = []ivr.Staff{{ID: "marie", Extension: "201", Admin: true}, {ID: "paul", Extension: "202"}}
	rec, err := prompts.OpenRecordings(prompts.RecordingsOptions{Dir: t.TempDir(), Converter: &prompts.Converter{}})
	if err != nil {
		t.Fatal(err)
	}
	h.recordings = rec
	return h, rec
}

// dial runs one call from a staff member's authenticated phone (staff
// "" for a stranger) to the number to, and returns the leg once Run has.
func (h *harness) dial(staff, to string, rec recording, events ...*event) *fakeLeg {
	h.t.Helper()
	leg := newFakeLeg(h.prompts, rec, events...)
	before := goleak.IgnoreCurrent()
	done := make(chan struct{})
	s := h.script()
	go func() {
		defer close(done)
		s.Run(h.ctx, ivr.Inbound{ID: "call-1", From: "201", To: to, Staff: staff, Leg: leg})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		h.t.Fatalf("Run did not return; heard %v", leg.Heard())
	}
	select {
	case <-leg.Done():
	default:
		h.t.Errorf("the call was not hung up at the end")
	}
	goleak.VerifyNone(h.t, before)
	return leg
}

func nth(clip string, n int, key rune) *event {
	return &event{clip: clip, nth: n, key: key, after: true}
}

func hangupAt(clip string, n int) *event { return &event{clip: clip, nth: n, hangup: true} }

// An admin records the greeting by phone and keeps it: new prompt sets
// play it, and no caller's record is written.
func TestStudioRecordsTheGreeting(t *testing.T) {
	h, rec := studioHarness(t)
	leg := h.dial("marie", "*77", recording{frames: concatFrames(silence(10), tone(100)), then: "#"},
		after("fr/studio_choose", '1'), after("fr/studio_review", '1'), hangupAt("fr/studio_choose", 2))
	want := []string{"fr/studio_welcome",
		"fr/studio_item", "fr/studio_name_greeting", "fr/studio_lang_fr", "fr/studio_choose",
		"fr/studio_record", "fr/beep", "fr/studio_playback", "fr/studio_review", "fr/studio_saved",
		"fr/studio_item", "fr/studio_name_greeting", "fr/studio_lang_en", "fr/studio_choose"}
	if heard := leg.Heard(); !slices.Equal(heard, want) {
		t.Errorf("heard %v\nwant  %v", heard, want)
	}
	v, ok := rec.Current("fr", "greeting")
	if !ok || v.N != 1 || v.By != "marie" || v.Via != prompts.ViaPhone || v.Duration < 2*time.Second {
		t.Fatalf("current version %+v, %v", v, ok)
	}
	select {
	case <-rec.Changed():
	default:
		t.Error("the recordings did not announce the change")
	}
	base, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	set := rec.Overlay(base)
	heard := media.Flatten(set.Frames("fr", "greeting"))
	segs := hearing.Segments(heard)
	if len(segs) != 1 || !hearing.DetectTone(segs[0].Samples(heard), 440) {
		t.Errorf("the French greeting is not the tone recorded: %v", segs)
	}
	if o, _ := set.Origin("en", "greeting"); o.Kind != prompts.FromBuiltin {
		t.Errorf("en/greeting is %v, want the built-in", o)
	}
	if saves := h.store.Saves(); len(saves) != 0 {
		t.Errorf("a recording session wrote call records: %+v", saves)
	}
}

// 2 records again; only the take kept is saved.
func TestStudioRecordAgain(t *testing.T) {
	h, rec := studioHarness(t)
	leg := h.dial("marie", "*77", recording{frames: tone(60), then: "#"},
		after("fr/studio_choose", '1'), nth("fr/studio_review", 1, '2'), nth("fr/studio_review", 2, '1'),
		hangupAt("fr/studio_choose", 2))
	if n := count(leg.Heard(), "fr/studio_record"); n != 2 {
		t.Errorf("recorded %d times, want 2; heard %v", n, leg.Heard())
	}
	if vs, _ := rec.Versions("fr", "greeting"); len(vs) != 1 {
		t.Errorf("versions %+v, want one", vs)
	}
}

// 2 plays what callers hear now, 3 goes on without recording.
func TestStudioListenAndSkip(t *testing.T) {
	h, rec := studioHarness(t)
	leg := h.dial("marie", "*77", recording{},
		nth("fr/studio_choose", 1, '2'), nth("fr/studio_choose", 2, '3'), hangupAt("fr/studio_choose", 3))
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/studio_lang_fr", "fr/studio_choose", "fr/greeting", "fr/studio_lang_fr", "fr/studio_choose",
		"fr/studio_lang_en", "fr/studio_choose"}) || slices.Contains(heard, "fr/studio_record") {
		t.Errorf("heard %v", heard)
	}
	if _, ok := rec.Current("fr", "greeting"); ok {
		t.Error("a version was saved")
	}
}

// A recording with nothing in it is not offered to keep; after the
// menu's retries the next prompt comes.
func TestStudioNothingHeard(t *testing.T) {
	h, rec := studioHarness(t)
	h.opts.Voicemail.SilenceTimeout = 200 * time.Millisecond
	leg := h.dial("marie", "*77", recording{then: "silence"},
		after("fr/studio_choose", '1'), hangupAt("fr/studio_choose", 2))
	heard := leg.Heard()
	if n := count(heard, "fr/studio_not_heard"); n != 3 || slices.Contains(heard, "fr/studio_review") {
		t.Errorf("heard %v", heard)
	}
	if !inOrder(heard, []string{"fr/studio_not_heard", "fr/studio_lang_en"}) {
		t.Errorf("the next prompt did not come: %v", heard)
	}
	if _, ok := rec.Current("fr", "greeting"); ok {
		t.Error("silence was saved")
	}
}

// Walking through every prompt ends with studio_done; every prompt
// offered has its name in the built-in set.
func TestStudioWalksEveryPrompt(t *testing.T) {
	h, _ := studioHarness(t)
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	h.prompts.real = set
	var events []*event
	for i := 1; i <= 12; i++ {
		events = append(events, nth("fr/studio_choose", i, '3'))
	}
	leg := h.dial("marie", "*77", recording{}, events...)
	heard := leg.Heard()
	if n := count(heard, "fr/studio_choose"); n != 12 || heard[len(heard)-1] != "fr/studio_done" {
		t.Errorf("heard %v", heard)
	}
	for _, r := range prompts.Recordables() {
		if r.Phone && !slices.Contains(heard, "fr/studio_name_"+r.Name) {
			t.Errorf("%s was not offered", r.Name)
		}
	}
}

// Only an admin records, and only from an authenticated staff phone.
func TestStudioRefused(t *testing.T) {
	h, rec := studioHarness(t)
	leg := h.dial("paul", "*77", recording{frames: tone(60), then: "#"}, after("fr/studio_choose", '1'))
	if heard := leg.Heard(); !slices.Equal(heard, []string{"fr/studio_denied"}) || leg.HungUpBy() != "clubline" {
		t.Errorf("paul heard %v", heard)
	}
	// A caller whose phone is not a staff member's is a caller like any
	// other, whatever they dialled.
	leg = h.dial("", "*77", recording{}, hangupDuring("fr/greeting"))
	if heard := leg.Heard(); len(heard) == 0 || heard[0] != "fr/greeting" {
		t.Errorf("a stranger heard %v", heard)
	}
	if _, ok := rec.Current("fr", "greeting"); ok {
		t.Error("a version was saved")
	}
}

// A key pressed while the current version plays is the choice.
func TestStudioKeyWhileListening(t *testing.T) {
	h, _ := studioHarness(t)
	leg := h.dial("marie", "*77", recording{},
		nth("fr/studio_choose", 1, '2'), during("fr/greeting", '3'), hangupAt("fr/studio_choose", 2))
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/greeting", "fr/studio_lang_en", "fr/studio_choose"}) || count(heard, "fr/studio_lang_fr") != 1 {
		t.Errorf("heard %v", heard)
	}
}
