package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// A caller in office hours hears the greeting, picks registrations by an
// RFC 4733 key during the menu, and (no staff reachable yet) leaves a
// message that holds their audio.
func TestOpenOfficeMenuToVoicemail(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: openTuesday})
	c := l.dial(softphone.Options{})
	if c.SetupTime() > time.Second {
		t.Errorf("the call was answered after %s, want within a second", c.SetupTime())
	}

	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	l.awaitHeard(c, "fr", "menu_intro", 15*time.Second)
	if err := c.SendDigit(context.Background(), '1'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail", 10*time.Second)
	if l.heard(c, "fr", "category_programs") {
		t.Error("the menu went on after the caller pressed 1 (no barge-in)")
	}
	if err := c.SendDigit(context.Background(), '#'); err != nil { // skip the instructions
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "beep", 5*time.Second)
	if err := c.Play(context.Background(), media.Tone(440, 2*time.Second, 8000)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDigit(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail_saved", 10*time.Second)
	if by := awaitEnd(t, c, 10*time.Second); by != softphone.EndedRemoteBye {
		t.Errorf("the call ended by %q, want clubline's BYE after the thank-you", by)
	}

	rec := l.lastCall()
	want := clubline.Call{Hours: clubline.HoursOpen, Language: "fr", Choice: "1", Category: "registrations",
		Route: "office", Outcome: clubline.OutcomeVoicemail, Stage: clubline.StageVoicemail}
	if rec.Hours != want.Hours || rec.Language != want.Language || rec.Choice != want.Choice ||
		rec.Category != want.Category || rec.Route != want.Route || rec.Outcome != want.Outcome || rec.Stage != want.Stage {
		t.Errorf("record = %+v\nwant hours/language/choice/category/route/outcome/stage of %+v", rec, want)
	}
	if rec.From != "+15145550101" || rec.To != "+14505550100" {
		t.Errorf("record from/to = %q/%q", rec.From, rec.To)
	}
	trace := strings.Join(rec.Trace, " → ")
	for _, step := range []string{"open: weekly mon-fri 08:30-16:30", "1 registrations → office"} {
		if !strings.Contains(trace, step) {
			t.Errorf("trace %q lacks %q", trace, step)
		}
	}
	vm := l.voicemail(rec.VoicemailID)
	if vm.Urgent || vm.Category != "registrations" || vm.Status != clubline.VoicemailNew {
		t.Errorf("voicemail = %+v", vm)
	}
	if due := vm.FollowUpDue.Sub(vm.RecordedAt); due != 48*time.Hour {
		t.Errorf("follow-up due %s after the recording, want 48h", due)
	}
	samples := l.voicemailAudio(vm)
	if !media.DetectTone(samples, 440) {
		t.Error("the voicemail file does not hold the 440 Hz tone the caller sent")
	}
	if got := time.Duration(len(samples)) * time.Second / media.SampleRate; got < 1500*time.Millisecond || got > 3*time.Second {
		t.Errorf("voicemail holds %s of audio, want about the 2 s the caller sent", got)
	}

	l.awaitMetric(`clubline_calls_total{hours="open",outcome="voicemail"}`, 1)
	l.awaitMetric(`clubline_voicemails_total{urgent="false"}`, 1)
	l.awaitMetric(`clubline_followups_open`, 1)
	l.awaitMetric(`clubline_active_calls`, 0)
}

// Out of hours the caller hears that the office is closed, when it
// reopens, the urgent key and how to leave a message, and no hours before
// the beep; the urgency key, sent as SIP INFO, leads to a message flagged
// urgent, kept although the caller hangs up while recording.
func TestClosedUrgentByInfo(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: tuesdayEve})
	c := l.dial(softphone.Options{})

	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	l.awaitHeard(c, "fr", "closed", 12*time.Second)
	l.awaitHeard(c, "fr", "urgent_offer", 15*time.Second)    // "En cas d'urgence, faites le 9"
	for _, name := range []string{"reopening", "tomorrow"} { // "Nous rouvrons demain à 8 h 30"
		if !l.heard(c, "fr", name) {
			t.Errorf("the closed message lacks %q", name)
		}
	}
	if l.heard(c, "fr", "hours_intro") {
		t.Error("the hours were said before the beep")
	}
	if err := c.SendDigitInfo(context.Background(), '9'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail", 10*time.Second)
	if err := c.SendDigitInfo(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "beep", 5*time.Second)
	if err := c.Play(context.Background(), media.Tone(880, 1500*time.Millisecond, 8000)); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}

	rec := l.lastCall()
	if rec.Hours != clubline.HoursClosed || rec.Outcome != clubline.OutcomeVoicemail || rec.Route != "urgency" {
		t.Errorf("record = %+v, want closed, urgency, voicemail", rec)
	}
	vm := l.voicemail(rec.VoicemailID)
	if !vm.Urgent {
		t.Error("the message is not flagged urgent")
	}
	if due := vm.FollowUpDue.Sub(vm.RecordedAt); due != 2*time.Hour {
		t.Errorf("urgent follow-up due %s after the recording, want 2h", due)
	}
	if !media.DetectTone(l.voicemailAudio(vm), 880) {
		t.Error("the voicemail file does not hold the 880 Hz tone the caller sent")
	}
	l.awaitMetric(`clubline_voicemails_total{urgent="true"}`, 1)
	l.awaitMetric(`clubline_calls_total{hours="closed",outcome="voicemail"}`, 1)
}

// On a statutory holiday the caller hears why the office is closed. This
// call goes over TCP and the caller hangs up without a message.
func TestHolidayClosedOverTCP(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: fete})
	l.sipURI = "sip:club@" + l.m.sipAddr("tcp") + ";transport=tcp"
	c := l.dial(softphone.Options{Transport: "tcp"})

	l.awaitHeard(c, "fr", "closed_today_for", 12*time.Second)
	l.awaitHeard(c, "fr", "holiday_fete_nationale", 5*time.Second)
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := l.lastCall()
	if rec.Hours != clubline.HoursClosed || rec.Outcome != clubline.OutcomeAbandoned || rec.VoicemailID != "" {
		t.Errorf("record = %+v, want closed, abandoned, no voicemail", rec)
	}
	if !strings.Contains(rec.HoursReason, "Fête nationale") {
		t.Errorf("hours_reason = %q, want the holiday named", rec.HoursReason)
	}
	l.awaitMetric(`clubline_calls_total{hours="closed",outcome="abandoned"}`, 1)
}

// Calls clubline cannot take are refused with the right status, and
// counted; they keep no call record (docs/data.md).
func TestRejections(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: openTuesday, maxCalls: 1})
	addr := l.m.sipAddr("udp")
	ctx := context.Background()

	_, err := softphone.Dial(ctx, "sip:5550000@"+addr, softphone.Options{From: "+15145550101"})
	wantStatus(t, err, 404)
	_, err = softphone.Dial(ctx, l.sipURI, softphone.Options{From: "+15145550101", Codecs: []media.Codec{{Name: "G729", PayloadType: 18}}})
	wantStatus(t, err, 488)

	first := l.dial(softphone.Options{})
	_, err = softphone.Dial(ctx, l.sipURI, softphone.Options{From: "+15145550102"})
	if se := wantStatus(t, err, 503); se != nil && se.Header("Retry-After") == "" {
		t.Error("503 over max_calls has no Retry-After")
	}
	_ = first.Hangup(ctx)

	l.awaitMetric(`clubline_calls_total{hours="open",outcome="rejected"}`, 3)
	for _, code := range []string{"404", "488", "503"} {
		l.awaitMetric(`clubline_sip_rejected_total{code="`+code+`"}`, 1)
	}
	l.lastCall() // the one call taken, once its record is final
	calls, err := l.m.Store.Calls(ctx, time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	for _, c := range calls {
		if c.Outcome == clubline.OutcomeRejected {
			rejected = append(rejected, strings.Join(c.Trace, " "))
		}
	}
	if len(calls) != 1 || len(rejected) != 0 {
		t.Fatalf("%d records, %d of them refusals (%q), want only the call taken", len(calls), len(rejected), rejected)
	}
}

func wantStatus(t *testing.T, err error, code int) *softphone.StatusError {
	t.Helper()
	var se *softphone.StatusError
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("got %v, want a %d", err, code)
		return nil
	}
	return se
}

// A valid edit of the file applies to the next call; a broken one is
// counted, and the running config stays.
func TestConfigReload(t *testing.T) {
	t.Parallel()
	l := startLine(t, lineOpts{at: openTuesday})
	writeConfig(t, l.dir, lineOpts{override: "closed"})
	l.awaitMetric(`clubline_config_reloads_total{result="success"}`, 1)

	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 12*time.Second)
	_ = c.Hangup(context.Background())
	if rec := l.lastCall(); rec.Hours != clubline.HoursClosed || !strings.Contains(rec.HoursReason, "override") {
		t.Errorf("after the edit: hours %q (%q), want closed by override", rec.Hours, rec.HoursReason)
	}

	if err := os.WriteFile(l.config, []byte("club:\n  name: [broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.awaitMetric(`clubline_config_reloads_total{result="failure"}`, 1)
	c = l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 12*time.Second)
	_ = c.Hangup(context.Background())
}

func (l *line) voicemail(id string) *clubline.Voicemail {
	l.t.Helper()
	if id == "" {
		l.t.Fatal("the call record names no voicemail")
	}
	vm, err := l.m.Store.Voicemail(context.Background(), id)
	if err != nil {
		l.t.Fatalf("voicemail %s: %v", id, err)
	}
	return vm
}

func (l *line) voicemailAudio(vm *clubline.Voicemail) []int16 {
	l.t.Helper()
	f, err := os.Open(vm.Path)
	if err != nil {
		l.t.Fatalf("the voicemail file: %v", err)
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err != nil {
		l.t.Fatalf("the voicemail file is not a valid 8 kHz WAV: %v", err)
	}
	return media.Flatten(frames)
}
