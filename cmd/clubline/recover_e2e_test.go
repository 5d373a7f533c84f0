package main

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// killedRecording is a message file as a recording killed mid-way leaves
// it: the header brought up to date at headerAt, audio of length d (440 Hz)
// written after it, and half a frame.
func killedRecording(t *testing.T, path string, headerAt, d time.Duration) {
	t.Helper()
	tone := media.Flatten(framesOf(t, media.Tone(440, d, 8000)))
	le := binary.LittleEndian
	covered := uint32(headerAt / time.Second * 16000)
	b := append([]byte("RIFF"), le.AppendUint32(nil, 36+covered)...)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, 16000)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, covered)
	for _, s := range tone {
		b = le.AppendUint16(b, uint16(s))
	}
	b = append(b, make([]byte, 160)...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func framesOf(t *testing.T, src media.Source) []media.Frame {
	t.Helper()
	var out []media.Frame
	for {
		var f media.Frame
		if err := src.ReadFrame(&f); err != nil {
			return out
		}
		out = append(out, f)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clubline was killed (kill -9) while two callers were leaving messages:
// one had spoken 3 s, the other nothing yet; a third recording, of 0.4 s,
// had no note. At the next start the 3 s message is a message like any
// other (its record, its follow-up, its file under its final name, none
// of its audio lost) and its call ends with outcome voicemail; the empty
// and the too short recordings are deleted, and the silent caller's call
// ends failed. Then the line takes a message as usual, leaving no note.
func TestRecoverMessagesAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	vmDir := filepath.Join(dir, "voicemail")
	if err := os.MkdirAll(vmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	started := openTuesday.Add(-10 * time.Minute)
	st := openEmbedded(t, filepath.Join(dir, "data", "clubline.db"))
	mustSave(t, st,
		&clubline.Call{ID: "c-crash", From: "+15145550199", To: "+14505550100", StartedAt: started,
			Hours: clubline.HoursOpen, Language: "fr", Choice: "9", Category: "urgent", Route: "urgency",
			Stage: clubline.StageGreeting, Trace: []string{"open: weekly mon-fri 08:30-16:30"}},
		&clubline.Call{ID: "c-silent", From: "+15145550198", StartedAt: started, Stage: clubline.StageGreeting},
	)
	st.Close()

	// What the recordings left, named and written as clubline does.
	const crash, silent, short = "20261124-095030-a1b2c3d4", "20261124-095040-e5f6a7b8", "20261124-094000-c9d0e1f2"
	killedRecording(t, filepath.Join(vmDir, crash+".wav.part"), 2*time.Second, 3*time.Second)
	writeFile(t, filepath.Join(vmDir, crash+".json.part"), `{"voicemail_id":"a1b2c3d4","call_id":"c-crash",`+
		`"from":"+15145550199","to":"+14505550100","call_started_at":"2026-11-24T14:50:00.000Z","hours":"open",`+
		`"language":"fr","choice":"9","category":"urgent","route":"urgency","urgent":true,`+
		`"recorded_at":"2026-11-24T14:50:30.000Z","follow_up_due":"2026-11-24T16:50:30.000Z"}`+"\n")
	writeFile(t, filepath.Join(vmDir, silent+".wav.part"), "")
	writeFile(t, filepath.Join(vmDir, silent+".json.part"), `{"voicemail_id":"e5f6a7b8","call_id":"c-silent",`+
		`"from":"+15145550198","call_started_at":"2026-11-24T14:50:00.000Z","urgent":false,`+
		`"recorded_at":"2026-11-24T14:50:40.000Z","follow_up_due":"2026-11-26T14:50:40.000Z"}`+"\n")
	killedRecording(t, filepath.Join(vmDir, short+".wav.part"), 0, 400*time.Millisecond)

	l := startLineIn(t, dir, path, openTuesday)
	ctx := context.Background()

	vm, err := l.m.Store.Voicemail(ctx, "a1b2c3d4")
	if err != nil {
		t.Fatalf("the message cut by the crash: %v", err)
	}
	recorded := time.Date(2026, 11, 24, 14, 50, 30, 0, time.UTC)
	if vm.CallID != "c-crash" || vm.From != "+15145550199" || vm.Category != "urgent" || !vm.Urgent ||
		!vm.RecordedAt.Equal(recorded) || !vm.FollowUpDue.Equal(recorded.Add(2*time.Hour)) ||
		vm.Status != clubline.VoicemailNew || vm.Path != filepath.Join(vmDir, crash+".wav") {
		t.Errorf("recovered message = %+v", vm)
	}
	if vm.Duration != 3*time.Second {
		t.Errorf("recovered message lasts %s, want the 3 s on disk (2 s under the header, 1 s after)", vm.Duration)
	}
	samples := l.voicemailAudio(vm)
	if got := time.Duration(len(samples)) * time.Second / media.SampleRate; got != 3*time.Second || !media.DetectTone(samples, 440) {
		t.Errorf("the file holds %s (440 Hz: %t), want the caller's 3 s", got, media.DetectTone(samples, 440))
	}
	fus, err := l.m.Store.FollowUps(ctx, time.Time{})
	if err != nil || !slices.ContainsFunc(fus, func(f clubline.FollowUp) bool {
		return f.VoicemailID == "a1b2c3d4" && f.Due.Equal(recorded.Add(2*time.Hour))
	}) {
		t.Errorf("follow-ups = %+v, %v; want the recovered message, due 2 h after it", fus, err)
	}
	if got := testutil.ToFloat64(l.m.Metrics.FollowUpsOpen); got != 1 {
		t.Errorf("clubline_followups_open = %v, want 1", got)
	}

	c, err := l.m.Store.Call(ctx, "c-crash")
	if err != nil || c.Outcome != clubline.OutcomeVoicemail || c.VoicemailID != "a1b2c3d4" ||
		c.Stage != clubline.StageVoicemail || c.EndedAt.IsZero() || !strings.Contains(strings.Join(c.Trace, "\n"), "recovered") {
		t.Errorf("the crashed call's record = %+v, %v; want ended with the voicemail", c, err)
	}
	if c, err := l.m.Store.Call(ctx, "c-silent"); err != nil || c.Outcome != clubline.OutcomeFailed || c.VoicemailID != "" {
		t.Errorf("the silent caller's record = %+v, %v; want failed, no voicemail", c, err)
	}
	if _, err := l.m.Store.Voicemail(ctx, "e5f6a7b8"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("a message for the empty recording: %v", err)
	}
	if got := dirNames(t, vmDir); !slices.Equal(got, []string{crash + ".wav"}) {
		t.Errorf("voicemail dir = %v, want only %s.wav", got, crash)
	}

	// The line goes on as usual, and a message leaves no note behind.
	call := l.dial(softphone.Options{})
	l.leaveMessage(call, 2*time.Second)
	if err := call.SendDigit(ctx, '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(call, "fr", "voicemail_saved", 10*time.Second)
	awaitEnd(t, call, 10*time.Second)
	rec := l.lastCall()
	next := l.voicemail(rec.VoicemailID)
	waitUntil(t, "the new message's note to go", func() bool {
		names := dirNames(t, vmDir)
		return len(names) == 2 && slices.Contains(names, filepath.Base(next.Path))
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
