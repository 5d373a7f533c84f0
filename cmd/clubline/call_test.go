package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

func TestParseKeysAndTones(t *testing.T) {
	keys, err := parseKeys("0@9s, 1@4s,#@1.5s")
	if err != nil {
		t.Fatal(err)
	}
	want := []keyPress{{'#', 1500 * time.Millisecond}, {'1', 4 * time.Second}, {'0', 9 * time.Second}}
	if len(keys) != len(want) {
		t.Fatalf("keys = %v", keys)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("key %d = %v, want %v", i, keys[i], want[i])
		}
	}
	tones, err := parseTones("440@12s:2s,1000@0s:500ms")
	if err != nil || len(tones) != 2 || tones[0] != (tonePlay{440, 12 * time.Second, 2 * time.Second}) {
		t.Errorf("tones = %v, %v", tones, err)
	}
	for _, bad := range []string{"1", "x@1s", "12@1s", "1@soon", "1@-1s"} {
		if _, err := parseKeys(bad); err == nil {
			t.Errorf("parseKeys(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"440@1s", "440:1s", "0@1s:1s", "5000@1s:1s", "440@1s:0s", "abc@1s:1s"} {
		if _, err := parseTones(bad); err == nil {
			t.Errorf("parseTones(%q) accepted", bad)
		}
	}
}

func TestCallUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--dtmf", "1@1s"},
		{"sip:1@127.0.0.1", "--dtmf", "Q@1s"},
		{"sip:1@127.0.0.1", "extra"},
		{"sip:1@127.0.0.1", "--transport", "sctp"},
	} {
		var out, errOut bytes.Buffer
		if code := runCall(args, &out, &errOut); code != 2 {
			t.Errorf("runCall(%q) = %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := runCall([]string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--dtmf") {
		t.Errorf("--help: %d %q", code, errOut.String())
	}
}

// callTestServer answers +15145550100 with two built-in prompts, French
// message_option and digit_0 ("Pour laisser un message, faites le zéro"),
// and on the key 9 hangs up once they are played.
func callTestServer(t *testing.T) (uri string, digits chan rune) {
	t.Helper()
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	digits = make(chan rune, 8)
	srv, err := sip.NewServer(sip.Options{
		Listen:     []string{"udp://127.0.0.1:0"},
		RTPPortMin: 40000, RTPPortMax: 40999,
		Numbers:    []string{"+15145550100"},
		Logger:     testLogger(t),
		OnRejected: func(clubline.Call, int) {},
		Handle: func(ctx context.Context, in ivr.Inbound) {
			played := make(chan struct{})
			go func() {
				defer close(played)
				_ = in.Leg.Play(ctx, set.Source(prompts.French, "message_option", "digit_0"))
			}()
			defer func() { <-played }()
			for {
				select {
				case d := <-in.Leg.Digits():
					digits <- d
					if d == '9' {
						<-played
						_ = in.Leg.Hangup(ctx)
						return
					}
				case <-ctx.Done():
					return
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	addr := strings.TrimPrefix(srv.Addrs()[0], "udp://")
	return "sip:+15145550100@" + addr, digits
}

// nextDigit is the next key the test server got, or 0 after a while.
func nextDigit(t *testing.T, digits <-chan rune) rune {
	t.Helper()
	select {
	case d := <-digits:
		return d
	case <-time.After(5 * time.Second):
		t.Error("the server got no key")
		return 0
	}
}

func TestCallCommand(t *testing.T) {
	uri, digits := callTestServer(t)
	wav := filepath.Join(t.TempDir(), "heard.wav")
	var out, errOut bytes.Buffer
	code := runCall([]string{uri, "--dtmf", "4@700ms,9@1s", "--record", wav, "--tone", "440@100ms:300ms",
		"--hangup-after", "10s"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"answered in ", " ms (PCMU, telephone-event 101)", "pressed 4 (RFC 4733)",
		"pressed 9", "playing 440 Hz", "\nheard:\n", "\nkeys sent: 4 at 0.", ", 9 at 1.",
		"\nended: remote BYE at ", "s (the other side hung up)\n", "recorded to " + wav} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Both prompts, in order, as one sentence, and nothing else.
	if !regexp.MustCompile(`(?m)^ +0\.\d\ds  fr/message_option fr/digit_0$`).MatchString(text) {
		t.Errorf("output does not name the two prompts:\n%s", text)
	}
	if strings.Contains(text, "not matching") || strings.Contains(text, "sounds:") {
		t.Errorf("unexpected lines (unmatched audio, --verbose sounds):\n%s", text)
	}
	t.Logf("output:\n%s", text)
	if got := string([]rune{nextDigit(t, digits), nextDigit(t, digits)}); got != "49" {
		t.Errorf("server got %q, want 49", got)
	}
	if st, err := os.Stat(wav); err != nil || st.Size() < 44+8000 {
		t.Errorf("recording: %v, %v", st, err)
	}
}

func TestCallCommandInfoAndHangupAfter(t *testing.T) {
	uri, digits := callTestServer(t)
	var out, errOut bytes.Buffer
	code := runCall([]string{"--info", "--dtmf", "2@200ms", "--hangup-after", "600ms", uri}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "pressed 2 (SIP INFO)") || !regexp.MustCompile(`ended: local BYE at 0\.\ds \(we hung up\)`).MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}
	if d := nextDigit(t, digits); d != '2' {
		t.Errorf("server got %q", d)
	}
}

// The usage's example calls a number the example config answers (it
// named one the example refused with a bare 404).
func TestCallUsageDialsTheExample(t *testing.T) {
	c, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`clubline call sip:([^@]+)@127\.0\.0\.1:5060 `).FindStringSubmatch(callUsage)
	if m == nil || !slices.Contains(c.SIP.Numbers, m[1]) {
		t.Errorf("the usage's example calls %q; the example answers %v", m, c.SIP.Numbers)
	}
}

func TestCallCommandRefused(t *testing.T) {
	uri, _ := callTestServer(t)
	var out, errOut bytes.Buffer
	code := runCall([]string{strings.Replace(uri, "+15145550100", "123", 1)}, &out, &errOut)
	// A caller on this machine is told which numbers the line answers.
	if code != 1 || !strings.Contains(errOut.String(), "refused: 404 Not Found: this line answers +15145550100") {
		t.Errorf("exit %d, stderr %q; want 1 and the 404 with the numbers the line answers", code, errOut.String())
	}
}

func TestCallCommandBadPromptsFolder(t *testing.T) {
	var out, errOut bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing")
	code := runCall([]string{"sip:+15145550100@127.0.0.1:9", "--prompts", missing}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "override folder") || strings.Contains(out.String(), "calling") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the folder, before calling", code, out.String(), errOut.String())
	}
}

// When a staff member answers, `clubline call` says it was connected to a
// person: their voice is no prompt, and read as a custom recording.
func TestCallCommandConnectedToAPerson(t *testing.T) {
	t.Parallel()
	l := startQueueLine(t, openTuesday, "ring-all", "3m")
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 1500 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 1)

	done := make(chan string, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := runCall([]string{l.sipURI, "--dtmf", "1@2s", "--timeout", "5s"}, &out, &errOut)
		done <- fmt.Sprintf("exit %d\n%s%s", code, out.String(), errOut.String())
	}()
	staff := answered(t, marie, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	_ = staff.Play(context.Background(), media.Tone(440, 3*time.Second, 8000)) // marie speaks
	time.Sleep(500 * time.Millisecond)
	if err := staff.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	var text string
	select {
	case text = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("clubline call did not end after the staff member hung up")
	}
	if !regexp.MustCompile(`(?m)^ +\d+\.\d\ds  connected to a person \([34]\.\ds of audio that is no prompt\)$`).MatchString(text) ||
		strings.Contains(text, "custom recording") || !strings.HasPrefix(text, "exit 0\n") {
		t.Errorf("want exit 0 and the person, without a custom recording:\n%s", text)
	}
	t.Logf("%s", text)
}

// A staff phone that answers at once: "connecting" is cut before it can be
// named, and the person is what follows the key that chose the group, when
// no prompt answered that key.
func TestPersonAfterAKey(t *testing.T) {
	tone, err := media.ReadAll(media.Tone(440, 3*time.Second, 8000), 0)
	if err != nil {
		t.Fatal(err)
	}
	heard := make([]int16, 8*media.SampleRate) // 8 s of silence, then the person
	for _, f := range tone {
		heard = append(heard, f[:]...)
	}
	menu := hearing.Heard{At: 5 * time.Second, Duration: 3 * time.Second, Lang: "fr", Name: "menu_intro", Cut: true}
	sent := []keyPress{{'1', 8 * time.Second}}

	p := person([]hearing.Heard{menu}, heard, sent, false)
	if p == nil || p.at < 7900*time.Millisecond || p.at > 8100*time.Millisecond || p.length < 2900*time.Millisecond || p.length > 3100*time.Millisecond {
		t.Fatalf("person = %+v, want 3 s from 8 s", p)
	}
	if got, want := p.String(), "connected to a person, it seems (3.0s of audio after key 1 that is no built-in prompt)"; got != want {
		t.Errorf("without --prompts: %q, want %q", got, want)
	}
	if p := person([]hearing.Heard{menu}, heard, sent, true); p == nil || p.String() != "connected to a person (3.0s of audio after key 1 that is no prompt)" {
		t.Errorf("with --prompts: %v", p)
	}
	answer := hearing.Heard{At: 8 * time.Second, Duration: 3 * time.Second, Lang: "fr", Name: "voicemail"}
	if p := person([]hearing.Heard{menu, answer}, heard, sent, false); p != nil {
		t.Errorf("a prompt answered the key, yet %v", p)
	}
	if p := person([]hearing.Heard{menu}, heard, nil, false); p != nil {
		t.Errorf("no key, no prompt that puts through, yet %v", p)
	}
}
