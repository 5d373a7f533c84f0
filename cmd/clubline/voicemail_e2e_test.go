package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// startLineWith starts a line on the test config with its text changed by
// the replacements (old, new, old, new…).
func startLineWith(t *testing.T, at time.Time, replace ...string) *line {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("the test config has no %q", replace[i])
		}
		text = strings.Replace(text, replace[i], replace[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return startLineIn(t, dir, path, at)
}

// leaveMessage takes the caller from the greeting to the beep (0 during
// the greeting, # during the instruction) and plays a 440 Hz tone of d
// into the message. It returns when the tone has been sent.
func (l *line) leaveMessage(c *softphone.Call, d time.Duration) {
	l.t.Helper()
	ctx := context.Background()
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	if err := c.SendDigit(ctx, '0'); err != nil {
		l.t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail", 10*time.Second)
	if err := c.SendDigit(ctx, '#'); err != nil {
		l.t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "beep", 5*time.Second)
	if err := c.Play(ctx, media.Tone(440, d, 8000)); err != nil {
		l.t.Fatal(err)
	}
}

// A caller whose phone stops sending RTP while they are silent (voice
// activity detection), or sends only comfort noise, hears that their
// message was saved silence_timeout (4 s) after their last word, and the
// message is kept with its length. Comfort noise keeps the call up past
// an RTP timeout shorter than the silence.
func TestVoicemailQuietPhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		quiet      media.SilenceMode
		rtpTimeout string
	}{
		{"sends nothing", media.SendNothing, "rtp_timeout: 10s"},
		{"comfort noise", media.SendComfortNoise, "rtp_timeout: 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := startLineWith(t, openTuesday, "rtp_timeout: 10s", tt.rtpTimeout)
			c := l.dial(softphone.Options{WhenQuiet: tt.quiet})
			if tt.quiet == media.SendComfortNoise && !strings.Contains(string(c.Response().Body()), "a=rtpmap:13 CN/8000") {
				t.Errorf("clubline did not answer the comfort noise offered:\n%s", c.Response().Body())
			}
			l.leaveMessage(c, 2*time.Second)
			spoke := time.Now()
			l.awaitHeard(c, "fr", "voicemail_saved", 10*time.Second)
			// The first second of the prompt is heard after the 4 s of
			// silence: about 5 s, well before the RTP timeout (10 s) that
			// cut such a caller before.
			if took := time.Since(spoke); took > 8*time.Second {
				t.Errorf("the caller heard the message was saved %s after their last word, want about 5 s", took.Round(100*time.Millisecond))
			}
			if by := awaitEnd(t, c, 10*time.Second); by != softphone.EndedRemoteBye {
				t.Errorf("the call ended by %q, want clubline's BYE after the thank-you", by)
			}
			rec := l.lastCall()
			if rec.Outcome != clubline.OutcomeVoicemail || !strings.Contains(strings.Join(rec.Trace, "\n"), "saved (silence)") {
				t.Errorf("record outcome %s, trace %q; want voicemail, ended by silence", rec.Outcome, rec.Trace)
			}
			vm := l.voicemail(rec.VoicemailID)
			if vm.Duration < 1700*time.Millisecond || vm.Duration > 2300*time.Millisecond {
				t.Errorf("voicemail duration %s, want the 2 s the caller spoke", vm.Duration)
			}
			samples := l.voicemailAudio(vm)
			if got := time.Duration(len(samples)) * time.Second / media.SampleRate; got != vm.Duration {
				t.Errorf("the file holds %s, the record says %s", got, vm.Duration)
			}
			if !media.DetectTone(samples, 440) {
				t.Error("the voicemail file does not hold the caller's 440 Hz tone")
			}
		})
	}
}

// A real full disk: voicemail.dir on a 64 KiB tmpfs. The first message
// fills it a few seconds in: the caller hears that only its beginning was
// recorded, and the record says what the file holds. The next caller is
// told at once that their message could not be recorded, and no empty
// file is left. Mounting needs root (or CAP_SYS_ADMIN); elsewhere the
// injected full disk of the ivr tests stands in.
func TestVoicemailOnFullDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vmDir := filepath.Join(dir, "voicemail")
	if err := os.Mkdir(vmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", vmDir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): needs root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(vmDir, 0); err != nil {
			t.Errorf("unmounting the test's tmpfs %s: %v", vmDir, err)
		}
	})
	l := startLineIn(t, dir, writeConfig(t, dir, lineOpts{}), openTuesday)

	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 6*time.Second)
	if err := c.SendDigit(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail_partial", 10*time.Second)
	l.awaitHeard(c, "fr", "technical_difficulty", 10*time.Second)
	awaitEnd(t, c, 15*time.Second)
	if l.heard(c, "fr", "voicemail_saved") {
		t.Error("the caller was told the message was saved")
	}
	rec := l.lastCall()
	vm := l.voicemail(rec.VoicemailID)
	held := time.Duration(len(l.voicemailAudio(vm))) * time.Second / media.SampleRate
	if vm.Duration != held || held < 2*time.Second || held >= 6*time.Second {
		t.Errorf("the record says %s, the file holds %s; want the same, a few seconds", vm.Duration, held)
	}
	l.awaitMetric(`clubline_voicemail_write_errors_total`, 1)

	c = l.dial(softphone.Options{})
	l.leaveMessage(c, time.Second)
	l.awaitHeard(c, "fr", "voicemail_failed", 10*time.Second)
	awaitEnd(t, c, 15*time.Second)
	if rec := l.lastCall(); rec.Outcome != clubline.OutcomeFailed || rec.VoicemailID != "" {
		t.Errorf("second call: outcome %s, voicemail %q; want failed, none", rec.Outcome, rec.VoicemailID)
	}
	l.awaitMetric(`clubline_voicemail_write_errors_total`, 2)
	entries, err := os.ReadDir(vmDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != filepath.Base(vm.Path) {
		t.Errorf("voicemail dir holds %v, want only %s", names, filepath.Base(vm.Path))
	}
}
