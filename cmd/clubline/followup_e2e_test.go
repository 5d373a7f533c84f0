package main

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/smtpsink"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
	"github.com/clubline/clubline/web"
)

// marieRegisters registers marie's phone (extension 201), which answers
// every call.
func marieRegisters(t *testing.T, l *line) *softphone.Answerer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The phone answers until the test ends (Close), not until the
	// registration's deadline: a Listen context that ends makes it answer
	// 480 as often as not (softphone.Listen).
	a, err := softphone.Listen(context.Background(), softphone.AnswerOptions{User: "201", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if _, err := a.Register(ctx, "sip:"+l.m.sipAddr("udp"), softphone.RegisterOptions{User: "201", Password: "marie-sip", Expires: time.Hour}); err != nil {
		t.Fatalf("marie's phone registers: %v", err)
	}
	return a
}

// A caller who left a message calls again: marie's phone shows it before
// she says hello, and once she has answered the message is closed as
// followed up.
func TestOfficeCallerCallsAgain(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	_ = c.Hangup(context.Background())
	l.awaitMetric("clubline_followups_open", 1)

	phone := marieRegisters(t, l)
	c = l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	if err := c.SendDigit(context.Background(), '1'); err != nil { // registrations → the office
		t.Fatal(err)
	}
	staff := answered(t, phone, 20*time.Second)
	inv := staff.Invite()
	display := inv.From().DisplayName
	if !strings.Contains(display, "rappel — message du 24 nov. non traité") {
		t.Errorf("marie's phone shows %q, want the caller's unanswered message of Nov 24", display)
	}
	if h := inv.GetHeader("X-Clubline-History"); h == nil || !strings.Contains(h.Value(), "non traité") {
		t.Errorf("X-Clubline-History: %v", h)
	}
	l.awaitMetric(`clubline_followups_closed_total{how="called_back"}`, 1)
	l.awaitMetric("clubline_followups_open", 0)
	vms, _ := l.m.Store.Voicemails(context.Background(), time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if len(vms) != 1 || vms[0].DoneHow != clubline.FollowUpClosedCallback || vms[0].DoneBy != "marie" {
		t.Errorf("the message after marie answered: %+v", vms)
	}
	_ = c.Hangup(context.Background())
}

// A message nobody calls back: its owners are reminded before it is due,
// then the escalation contacts are told once it is overdue.
func TestOfficeReminderThenEscalation(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	var mu sync.Mutex
	skip := time.Duration(0) // how far the line's clock is moved ahead
	started := time.Now()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	data, _ := os.ReadFile(path)
	text := strings.Replace(string(data), "groups:\n  - { id: office }\n", strings.Replace(officeStaff(t),
		"notify: [marie, luc] }", "notify: [luc], escalation: [marie] }", 1), 1)
	text = strings.Replace(text, "  default: voicemail\n", "  default: office\n", 1)
	text += "notify:\n  smtp: { host: 127.0.0.1, port: " + sink.Port() + `, from: "Ligne <ligne@club.example>", tls: none }` + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, dir, path, openTuesday, func(m *Main) {
		m.FollowUpEvery = 100 * time.Millisecond
		m.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return openTuesday.Add(time.Since(started) + skip)
		}
	})
	// A message for the office: the caller waits in its queue (nobody
	// registered) and chooses a message.
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	_ = c.SendDigit(context.Background(), '1')
	l.awaitHeard(c, "fr", "voicemail", 30*time.Second)
	_ = c.SendDigit(context.Background(), '#')
	l.awaitHeard(c, "fr", "beep", 5*time.Second)
	_ = c.Play(context.Background(), media.Tone(440, 2*time.Second, 8000))
	_ = c.Hangup(context.Background())
	l.awaitMetric("clubline_followups_open", 1)
	sink.Await(t, 20*time.Second, func(m smtpsink.Mail) bool { return strings.Contains(strings.Join(m.To, ","), "luc@") })

	mu.Lock()
	skip = 45 * time.Hour // 3 h before the 48 h are up
	mu.Unlock()
	reminder := sink.Await(t, 20*time.Second, func(m smtpsink.Mail) bool {
		return strings.Contains(strings.Join(m.To, ","), "luc@") && len(sink.Mails()) >= 2 && m.Header.Get("Message-Id") != sink.Mails()[0].Header.Get("Message-Id")
	})
	if strings.Contains(strings.Join(reminder.To, ","), "marie@") {
		t.Errorf("marie (escalation only) got the reminder")
	}
	if l.metric("clubline_followups_overdue") != 0 {
		t.Errorf("overdue before the due time")
	}
	mu.Lock()
	skip = 49 * time.Hour
	mu.Unlock()
	esc := sink.Await(t, 20*time.Second, func(m smtpsink.Mail) bool { return strings.Contains(strings.Join(m.To, ","), "marie@") })
	t.Logf("reminder %q; escalation %q", reminder.Subject, esc.Subject)
	l.awaitMetric("clubline_followups_overdue", 1)
	time.Sleep(500 * time.Millisecond) // more rounds: nothing is sent twice
	if n := len(sink.Mails()); n != 3 {
		t.Errorf("%d e-mails, want 3 (new, reminder, escalation)", n)
	}
	vms, _ := l.m.Store.Voicemails(context.Background(), time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if len(vms) != 1 || vms[0].RemindedAt.IsZero() || vms[0].EscalatedAt.IsZero() || vms[0].Group != "office" {
		t.Errorf("the message's marks: %+v", vms)
	}
}

// Recording by phone: marie (admin) dials *77 from her phone, records a
// tone as the French greeting and keeps it; the next caller hears it.
func TestRecordGreetingByPhone(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	marieRegisters(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	studio, err := softphone.Dial(ctx, "sip:*77@"+l.m.sipAddr("udp"), softphone.Options{From: "201", AuthUser: "201", AuthPassword: "marie-sip"})
	if err != nil {
		t.Fatalf("marie dials *77: %v", err)
	}
	l.awaitHeard(studio, "fr", "studio_choose", 15*time.Second)
	_ = studio.SendDigit(ctx, '1')
	l.awaitHeard(studio, "fr", "beep", 10*time.Second)
	_ = studio.Play(ctx, media.Tone(1000, 2*time.Second, 8000))
	_ = studio.SendDigit(ctx, '#')
	l.awaitHeard(studio, "fr", "studio_playback", 10*time.Second)
	l.awaitHeard(studio, "fr", "studio_review", 20*time.Second) // after the recording played back
	_ = studio.SendDigit(ctx, '1')                              // keep it
	l.awaitHeard(studio, "fr", "studio_saved", 15*time.Second)
	_ = studio.Hangup(ctx)

	// A stranger dialling the code gets nothing of it.
	if _, err := softphone.Dial(ctx, "sip:*77@"+l.m.sipAddr("udp"), softphone.Options{From: "+15145550101"}); err == nil {
		t.Error("a caller without credentials reached the recording code")
	}

	c := l.dial(softphone.Options{})
	deadline := time.Now().Add(10 * time.Second)
	for !media.DetectTone(lastSecond(c.Heard()), 1000) {
		if time.Now().After(deadline) {
			t.Fatal("the next caller did not hear the greeting marie recorded (a 1000 Hz tone)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = c.Hangup(ctx)
}

// lastSecond is the last second of what a phone heard (less if shorter).
func lastSecond(s []int16) []int16 {
	if len(s) > media.SampleRate {
		return s[len(s)-media.SampleRate:]
	}
	return s
}

// An admin uploads a greeting on the Recordings page (a 44.1 kHz stereo
// WAV, as a computer records it): the next caller hears it; luc may not.
func TestUploadGreeting(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	wav := stereoTone(t, 44100, 1400, 2*time.Second)
	luc := l.api("luc", "luc-pw-123")
	if code := luc.raw("POST", "/api/recordings/fr/greeting", wav); code != 403 {
		t.Errorf("luc uploads: %d, want 403", code)
	}
	marie := l.api("marie", "marie-pw-1")
	if code := marie.raw("POST", "/api/recordings/fr/greeting", []byte("not audio at all")); code != 400 {
		t.Errorf("garbage upload: %d, want 400", code)
	}
	if code := marie.raw("POST", "/api/recordings/fr/greeting", wav); code != 200 {
		t.Fatalf("marie uploads: %d", code)
	}
	var list struct{ Prompts []web.Prompt }
	marie.call("GET", "/api/recordings", nil, &list)
	found := false
	for _, p := range list.Prompts {
		if p.Lang == "fr" && p.Name == "greeting" {
			found = len(p.Versions) == 1 && p.Versions[0].By == "marie" && strings.Contains(p.Origin, "record")
		}
	}
	if !found {
		t.Errorf("the Recordings list does not show marie's version: %+v", list.Prompts)
	}
	c := l.dial(softphone.Options{})
	deadline := time.Now().Add(10 * time.Second)
	for !media.DetectTone(lastSecond(c.Heard()), 1400) {
		if time.Now().After(deadline) {
			t.Fatal("the next caller did not hear the uploaded greeting (a 1400 Hz tone)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = c.Hangup(context.Background())
	entries, _ := l.m.Audit.Entries(nil)
	var got []string
	for _, e := range entries {
		if e.Action == "recording" {
			got = append(got, e.User+" "+e.Target)
		}
	}
	if strings.Join(got, ",") != "marie fr/greeting" {
		t.Errorf("audit of recordings: %v", got)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "data", "recordings", "fr", "greeting")); err != nil {
		t.Errorf("the recording is not kept with the data: %v", err)
	}
}

// `clubline privacy` from the terminal, once the line is stopped (the
// embedded store is then free): the export holds the caller's message,
// the erasure removes it and the WAV, and a second erasure finds nothing.
func TestPrivacyCommand(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	_ = c.Hangup(context.Background())
	l.awaitMetric("clubline_followups_open", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var rep strings.Builder
	if code := runReport([]string{"--config", l.config, "--from", "2026-11-24", "--to", "2026-11-24", "--csv"}, &rep, io.Discard); code != 0 ||
		!strings.Contains(rep.String(), "messages_open,,1\n") || !strings.Contains(rep.String(), "calls,,1\n") {
		t.Errorf("clubline report: %d\n%s", code, rep.String())
	}
	zipPath := filepath.Join(t.TempDir(), "export.zip")
	var out, errOut strings.Builder
	if code := runPrivacy([]string{"export", "--config", l.config, "--number", "(514) 555-0101", "--out", zipPath}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("export: %d %s", code, errOut.String())
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if strings.HasPrefix(f.Name, "audio/") && f.UncompressedSize64 < 16000 {
			t.Errorf("%s is %d bytes: not the 2 s message", f.Name, f.UncompressedSize64)
		}
	}
	zr.Close()
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "audio/") }) {
		t.Errorf("the export holds no recording: %v", names)
	}
	out.Reset()
	if code := runPrivacy([]string{"erase", "--config", l.config, "--number", "+15145550101"}, strings.NewReader("yes\n"), &out, &errOut); code != 0 {
		t.Fatalf("erase: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "erased 1 call records, 1 messages, 1 files") {
		t.Errorf("erase said %q", out.String())
	}
	wavs, _ := filepath.Glob(filepath.Join(l.dir, "voicemail", "*.wav"))
	if len(wavs) != 0 {
		t.Errorf("recordings left: %v", wavs)
	}
	out.Reset()
	runPrivacy([]string{"erase", "--config", l.config, "--number", "+15145550101", "--yes"}, strings.NewReader(""), &out, &errOut)
	if !strings.Contains(out.String(), "erased 0 call records, 0 messages") {
		t.Errorf("a second erasure: %q", out.String())
	}
}
