package ivr_test

import (
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
)

// The script asks only for clips the built-in prompt set has, in both
// languages, open and closed: a caller never hears technical_difficulty
// for a missing clip with the defaults.
func TestBuiltinPromptsCoverTheScript(t *testing.T) {
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	saturday := []routing.DaySpan{
		{First: time.Monday, Last: time.Friday, Ranges: []routing.Range{{Start: 8*60 + 30, End: 12 * 60}, {Start: 13 * 60, End: 16*60 + 30}}},
		{First: time.Saturday, Last: time.Saturday, Ranges: []routing.Range{{Start: 9 * 60, End: 24 * 60}}},
	}
	holiday := routing.Status{Reason: routing.ReasonHoliday, Name: "Fête nationale", Key: "fete_nationale",
		NextOpen: time.Date(2026, 6, 25, 8, 30, 0, 0, montreal), Hours: saturday}
	later := nightStatus
	later.NextOpen = time.Date(2026, 7, 6, 8, 30, 0, 0, montreal)
	cases := []struct {
		name   string
		status routing.Status
		events []*event
	}{
		{"open fr", openStatus, []*event{after(endOfMenu, '1')}},
		{"open en", openStatus, []*event{after("en/digit_8", '8'), after("en/digit_0", '1')}},
		{"night fr", nightStatus, nil},
		{"night en", nightStatus, []*event{during("fr/closed", '8')}},
		{"holiday en", holiday, []*event{during("fr/closed_today_for", '8')}},
		{"weeks later en", later, []*event{during("fr/closed", '8')}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.prompts.real = set
			h.status = tc.status
			h.now = tuesdayNight
			rec, leg := h.run(recording{frames: tone(100), then: "#"}, tc.events...)
			if slices.Contains(leg.Heard(), "fr/technical_difficulty") || slices.Contains(leg.Heard(), "en/technical_difficulty") {
				t.Errorf("trace %q\nheard %v", rec.Trace, leg.Heard())
			}
			if rec.Outcome != clubline.OutcomeVoicemail {
				t.Errorf("outcome = %s", rec.Outcome)
			}
		})
	}
}

// Every callback delay a club may configure is said with built-in clips,
// in both languages.
func TestBuiltinPromptsSayTheDelay(t *testing.T) {
	set, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{30 * time.Minute, 90 * time.Minute, 2 * time.Hour, 48 * time.Hour,
		72 * time.Hour, 96 * time.Hour, 100 * time.Hour, 2000 * time.Hour} {
		for _, lang := range []string{"fr", "en"} {
			t.Run(lang+" "+d.String(), func(t *testing.T) {
				h := newHarness(t)
				h.prompts.real = set
				h.opts.Voicemail.FollowUpWithin = d
				events := []*event{toMessage()}
				if lang == "en" { // events fire once: new ones for each call
					events = []*event{after("en/digit_8", '8'), after("en/digit_0", '0')}
				}
				rec, leg := h.run(recording{frames: tone(100), then: "#"}, events...)
				want := prefixed(lang, prompts.VoicemailInstruction(lang, d)...)
				if len(want) < 5 || rec.Outcome != clubline.OutcomeVoicemail ||
					!slices.Equal(instructionHeard(leg.Heard()), append(want, lang+"/beep")) {
					t.Errorf("want %v, trace %q\nheard %v", want, rec.Trace, leg.Heard())
				}
			})
		}
	}
}
