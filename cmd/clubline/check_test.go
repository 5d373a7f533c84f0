package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/prompts"
)

const exampleConfig = "../../config/example.yaml"

// upcoming is a line of the "in the next 60 days" list.
func upcoming(when, what string) string { return fmt.Sprintf("  %-32s  %s\n", when, what) }

func check(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runCheck(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckAtHoliday(t *testing.T) {
	code, out, errOut := check(t, "--config", exampleConfig, "--at", "2027-06-24 10:00")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		exampleConfig + ": valid — Club de Soccer Roussillon, America/Toronto, languages fr, en\n",
		"answers calls to +14505550100, club\n",
		"2027-06-24 10:00 (Thursday): closed — holiday Fête nationale; reopens Friday 2027-06-25 08:30\n",
		"Week from Thursday 2027-06-24:\n" +
			"  Thu 2027-06-24  closed — Fête nationale (holiday)\n" +
			"  Fri 2027-06-25  08:30-16:30\n" +
			"  Sat 2027-06-26  closed\n" +
			"  Sun 2027-06-27  closed\n" +
			"  Mon 2027-06-28  08:30-16:30\n",
		"Holidays, closures and seasons in the next 60 days:\n" +
			upcoming("Thu 2027-06-24", "Fête nationale (holiday)") +
			upcoming("Thu 2027-07-01", "Fête du Canada (holiday)"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\ngot:\n%s", want, out)
		}
	}
}

func TestCheckAtOpen(t *testing.T) {
	code, out, _ := check(t, "--config", exampleConfig, "--at", "2026-06-16 10:00")
	if code != 0 || !strings.Contains(out, "2026-06-16 10:00 (Tuesday): open — weekly mon-fri 08:30-16:30\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestCheckSeasonAndClosures(t *testing.T) {
	code, out, _ := check(t, "--config", exampleConfig, "--at", "2026-12-20 12:00")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"2026-12-20 12:00 (Sunday): closed — no weekly hours on Sunday; reopens Monday 2026-12-21 08:30\n",
		"  Thu 2026-12-24  closed — Vacances des fêtes (closure)\n",
		"  Fri 2026-12-25  closed — Noël (closure)\n",
		upcoming("Thu 2026-12-24 to Mon 2027-01-04", "Vacances des fêtes (closure)"),
		upcoming("Mon 2027-01-11 to Fri 2027-02-12", "Inscriptions hiver (season)"),
		upcoming("Fri 2027-01-01", "Jour de l'An (holiday)"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\ngot:\n%s", want, out)
		}
	}
	_, out, _ = check(t, "--config", exampleConfig, "--at", "2027-01-15 17:00")
	for _, want := range []string{
		"2027-01-15 17:00 (Friday): closed — season Inscriptions hiver; reopens Saturday 2027-01-16 09:00\n",
		"  Sat 2027-01-16  09:00-12:00 (season Inscriptions hiver)\n",
		"  Mon 2027-01-18  08:30-20:00 (season Inscriptions hiver)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\ngot:\n%s", want, out)
		}
	}
}

func TestCheckNow(t *testing.T) {
	defer func(f func() time.Time) { checkNow = f }(checkNow)
	checkNow = func() time.Time { return time.Date(2029, 6, 25, 14, 0, 0, 0, time.UTC) }
	code, out, _ := check(t, "--config", exampleConfig)
	if code != 0 || !strings.Contains(out, "2029-06-25 10:00 (Monday): closed — holiday Fête nationale; reopens Tuesday 2029-06-26 08:30") ||
		!strings.Contains(out, "Fête nationale (holiday, in place of Sun 2029-06-24)") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestCheckInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "club:\n  name: Test\n  timezone: Mars/Olympus\nhours:\n  weekly:\n    mon-fri: 25:00-16:30\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := check(t, "--config", path)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		path + `:3: club.timezone: unknown time zone "Mars/Olympus"`,
		path + `:6: hours.weekly.mon-fri: "25:00": hours run from 00 to 23`,
		"not valid (2 problems)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCheckMissingPrompt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	cfg := "club:\n  name: Test\nhours:\n  closures:\n    - { date: 2026-12-25, name: Noël, prompt: closure_noel }\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := check(t, "--config", path)
	if code != 1 || !strings.Contains(errOut, path+`:5: hours.closures[1].prompt: no recording "closure_noel" in fr`) ||
		!strings.Contains(errOut, `no recording "closure_noel" in en`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

func TestCheckUsage(t *testing.T) {
	if code, _, errOut := check(t, "--config", exampleConfig, "--at", "June 24"); code != 2 || !strings.Contains(errOut, "YYYY-MM-DD HH:MM") {
		t.Errorf("bad --at: exit %d\n%s", code, errOut)
	}
	if code, _, _ := check(t, "--nope"); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
	if code, _, errOut := check(t, "--config", "does/not/exist.yaml"); code != 1 || !strings.Contains(errOut, "does/not/exist.yaml: cannot read the file") {
		t.Errorf("missing file: exit %d\n%s", code, errOut)
	}
}

func TestCheckPeople(t *testing.T) {
	t.Setenv("CLUBLINE_PW_MARIE", "secret")
	code, out, errOut := check(t, "--config", exampleConfig, "--at", "2026-12-20 12:00")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"Groups:\n  office (ring-all): Marie Tremblay (201), Luc Gagnon (202)\n",
		"On call for urgent calls, Sun 2026-12-20 12:00 to Sun 2027-01-17 12:00:\n" +
			"  Sun 2026-12-20 12:00 → Mon 2026-12-21 16:30  Marie Tremblay (rotation)\n" +
			"  Mon 2026-12-21 16:30 → Thu 2026-12-24 16:30  Luc Gagnon (rotation)\n" +
			"  Thu 2026-12-24 16:30 → Sun 2026-12-27 08:30  Marie Tremblay (override)\n" +
			"  Sun 2026-12-27 08:30 → Mon 2026-12-28 16:30  Luc Gagnon (rotation)\n" +
			"  Mon 2026-12-28 16:30 → Mon 2027-01-04 16:30  Marie Tremblay (rotation)\n" +
			"  Mon 2027-01-04 16:30 → Mon 2027-01-11 16:30  Luc Gagnon (rotation)\n" +
			"  Mon 2027-01-11 16:30 → Sun 2027-01-17 12:00  Marie Tremblay (rotation)\n" +
			"  then voicemail flagged urgent\n",
		"Warnings (1): the file is valid, but check these:\n" +
			"  " + exampleConfig + ":" + strconv.Itoa(lineOf(t, exampleConfig, "CLUBLINE_PW_LUC")) +
			": staff[2].password_env: CLUBLINE_PW_LUC is not set here",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\ngot:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CLUBLINE_PW_MARIE") {
		t.Errorf("warns about a variable that is set:\n%s", out)
	}
}

func TestCheckWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yaml")
	cfg := `club:
  name: Test
staff:
  - { id: anne, name: Anne Roy, extension: "301", ha1: 0123456789abcdef0123456789abcdef }
groups:
  - { id: office }
  - { id: coaches, members: [anne], strategy: in-order }
menu:
  default: coaches
on_call:
  rotation: { every: day, starts: 2026-11-25T08:00, members: [anne] }
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := check(t, "--config", path, "--at", "2026-11-24 08:00")
	if code != 0 {
		t.Fatalf("warnings must not fail the check: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"  office (ring-all): no members — calls go to voicemail\n  coaches (in-order): Anne Roy (301)\n",
		"  Tue 2026-11-24 08:00 → Wed 2026-11-25 08:00  nobody\n  Wed 2026-11-25 08:00 → Tue 2026-12-22 08:00  Anne Roy (rotation)\n  then",
		"  then voicemail flagged urgent\n",
		"Warnings (2): the file is valid, but check these:\n" +
			"  " + path + ":6: groups[1].members: group office has no members: calls routed to it go to voicemail (add members: [<staff id>, …])\n" +
			"  " + path + ":10: on_call: nobody is on call from Tue 2026-11-24 08:00 to Wed 2026-11-25 08:00: urgent calls then go to voicemail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks:\n%s\ngot:\n%s", want, out)
		}
	}
}

// lineOf is the number of the first line of the file that holds text.
func lineOf(t *testing.T, path, text string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s holds no %q", path, text)
	return 0
}

// club.article takes the articles the prompts know how to say.
func TestArticlesAgree(t *testing.T) {
	if !slices.Equal(config.Articles, prompts.Articles) {
		t.Errorf("config.Articles %v, prompts.Articles %v", config.Articles, prompts.Articles)
	}
}

// The greeting must say the club's name: another club's line warns when
// the greeting in use is the built-in one (no espeak-ng to say the name,
// no recording), and says where each club-naming prompt comes from.
func TestCheckGreetingNamesTheClub(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "brossard.yaml")
	text := strings.Replace(string(data), "name: Club de Soccer Roussillon", "name: Club de Soccer Brossard", 1)
	if !strings.Contains(text, "data_dir: ../data") {
		t.Fatal("the example's data_dir moved: this test must keep check away from the repository's data")
	}
	text = strings.Replace(text, "data_dir: ../data", "data_dir: "+filepath.Join(dir, "data"), 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no espeak-ng
	code, out, errOut := check(t, "--config", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"  fr/greeting: built-in: says Club de Soccer Roussillon\n",
		"en/greeting say 'Club de Soccer Roussillon' but club.name is 'Club de Soccer Brossard': record your greeting by phone (*77) or on the Recordings page",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("check wrote into the data folder")
	}
}

// The reception standard: check names the weeks of the year ahead with
// fewer than 5 days of 7 hours, holidays and closures counted.
func TestCheckReceptionStandard(t *testing.T) {
	code, out, errOut := check(t, "--config", exampleConfig, "--at", "2026-12-05 10:00")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"warning: 10 of the next 52 weeks offer fewer than 5 days of 7h of office hours",
		"  week of 2026-12-28: 0 days (Vacances des fêtes)\n",
		"  week of 2027-03-22: 4 days (Vendredi saint)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
	// Six days of 8 to 17 and no holiday: every week keeps the standard.
	path := filepath.Join(t.TempDir(), "long.yaml")
	cfg := "club:\n  name: Test\nhours:\n  weekly:\n    mon-sat: 08:00-17:00\n  holidays: none\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errOut = check(t, "--config", path, "--at", "2026-12-05 10:00")
	if !strings.Contains(out, "Reception standard: every week of the next 52 offers at least 5 days of 7h of office hours\n") {
		t.Errorf("a line open six days a week:\n%s%s", out, errOut)
	}
}

// An urgency fallback whose host cannot be found fails only when an
// urgent call rings it: check looks it up as the dialer would, and warns
// (.invalid never resolves, RFC 6761). An address needs no look-up.
func TestCheckWarnsOfAFallbackNotFound(t *testing.T) {
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	const commented = `  # fallback: "sip:urgence@pbx.example.org"`
	if !strings.Contains(string(example), commented) {
		t.Fatalf("example.yaml has no %q: adapt the test", commented)
	}
	for _, tt := range []struct{ host, want string }{
		{"nowhere.invalid", `: urgency.fallback: sip:urgence@nowhere.invalid cannot be found here (`},
		{"127.0.0.1:5090", ""},
	} {
		path := filepath.Join(t.TempDir(), "f.yaml")
		cfg := strings.Replace(string(example), commented, `  fallback: "sip:urgence@`+tt.host+`"`, 1)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := check(t, "--config", path, "--at", "2026-12-20 12:00")
		if code != 0 {
			t.Fatalf("%s: exit %d (a warning is no error)\n%s", tt.host, code, errOut)
		}
		line := strconv.Itoa(lineOf(t, path, "fallback:"))
		switch {
		case tt.want != "" && !strings.Contains(out, "  "+path+":"+line+tt.want):
			t.Errorf("%s: no warning %q on line %s:\n%s", tt.host, tt.want, line, out)
		case tt.want == "" && strings.Contains(out, "urgency.fallback"):
			t.Errorf("%s: a warning for an address:\n%s", tt.host, out)
		}
	}
}

// The example's menu keeps a caller who presses nothing under a minute
// before the default route: every reading of the menu (the built-in
// clips, as ivr says them), its timeout and the "no input" after it.
func TestExampleMenuUnderAMinute(t *testing.T) {
	c, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	dur := func(names ...string) time.Duration {
		n := 0
		for _, name := range names {
			fr := set.Frames("fr", name)
			if len(fr) == 0 {
				t.Fatalf("no clip fr/%s", name)
			}
			n += len(fr)
		}
		return time.Duration(n) * 20 * time.Millisecond
	}
	reading := dur("menu_intro")
	for _, o := range c.Menu.Options {
		digit := "digit_" + o.Key
		switch o.Route {
		case "urgency":
			reading += dur("urgent_option", digit)
		case "voicemail":
			reading += dur("message_option", digit)
		default:
			reading += dur("for", "category_"+o.Category, "press", digit)
		}
	}
	rounds := c.Menu.Retries + 1
	wait := time.Duration(rounds) * (reading + c.Menu.Timeout + dur("no_input"))
	if wait >= time.Minute {
		t.Errorf("a caller who presses nothing waits %s before the default route (%d readings of %s), want under a minute", wait.Round(time.Second), rounds, reading.Round(time.Second))
	}
	t.Logf("menu: %s a reading, %s before the default route", reading.Round(100*time.Millisecond), wait.Round(100*time.Millisecond))
}
