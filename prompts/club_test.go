package prompts_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clubline/clubline/prompts"
)

func TestClubPrompts(t *testing.T) {
	if got, want := prompts.ClubPrompts(), []string{"call_confirm", "callback_hello", "greeting"}; !slices.Equal(got, want) {
		t.Errorf("ClubPrompts() = %v, want %v", got, want)
	}
	// Every prompt that names the club can be recorded, by phone too.
	for _, r := range prompts.Recordables() {
		if r.ClubNaming != slices.Contains(prompts.ClubPrompts(), r.Name) {
			t.Errorf("%s: ClubNaming %v", r.Name, r.ClubNaming)
		}
		if r.ClubNaming && !r.Phone {
			t.Errorf("%s names the club but cannot be recorded by phone", r.Name)
		}
		if r.French == "" || r.English == "" {
			t.Errorf("%s has no description", r.Name)
		}
	}
}

// generate.sh and the run-time synthesis say the same club with the same
// voices at the same speed.
func TestGenerateShAgrees(t *testing.T) {
	b, err := os.ReadFile("generate.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`CLUB="${CLUB:-` + prompts.BuiltinClub + `}"`,
		`CLUB_ARTICLE="${CLUB_ARTICLE:-le}"`,
		`FR_VOICE="${FR_VOICE:-fr-fr}"`,
		`EN_VOICE="${EN_VOICE:-en-us}"`,
		`SPEED="${SPEED:-150}"`,
		`PEAK_DB=-3 `, `FADE=0.04 `, `GAP=0.06 `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("generate.sh no longer has %s: change synth.go and audio.go with it", want)
		}
	}
}

func TestCheckClub(t *testing.T) {
	base := builtin(t)
	langs := []string{"fr", "en"}

	check := prompts.CheckClub(base, prompts.Club{Name: prompts.BuiltinClub}, langs)
	if w := check.Warning("*77"); w != "" || len(check.Prompts) != 6 {
		t.Errorf("built-in club: %q, %v", w, check.Lines())
	}

	check = prompts.CheckClub(base, prompts.Club{Name: "Club de soccer Les Aigles"}, langs)
	w := check.Warning("*77")
	for _, want := range []string{"fr/greeting", "en/callback_hello", "say 'Club de Soccer Roussillon'",
		"club.name is 'Club de soccer Les Aigles'", "by phone (*77) or on the Recordings page", "install espeak-ng"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if l := check.Lines()[0]; l != "fr/call_confirm: built-in: says Club de Soccer Roussillon" {
		t.Errorf("line %q", l)
	}

	// Only the greeting left: the warning says so, in the brief's words.
	rec, err := prompts.OpenRecordings(prompts.RecordingsOptions{Dir: t.TempDir(), Converter: noTools})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"call_confirm", "callback_hello"} {
		if _, err := rec.Save("fr", name, toneFrames(440, 50), prompts.Meta{By: "marie", Via: prompts.ViaPhone}); err != nil {
			t.Fatal(err)
		}
	}
	check = prompts.CheckClub(rec.Overlay(base), prompts.Club{Name: "X"}, []string{"fr"})
	if w := check.Warning(""); w != "the greeting says 'Club de Soccer Roussillon' but club.name is 'X': record your greeting on the Recordings page, or install espeak-ng (apt-get install -y espeak-ng) and restart clubline" {
		t.Errorf("warning %q", w)
	}
	if l := check.Lines(); !strings.HasPrefix(l[0], "fr/call_confirm: recorded (version 1 by marie (phone), ") {
		t.Errorf("lines %q", l)
	}
}
