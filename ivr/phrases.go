package ivr

import (
	"time"

	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
)

// The clip names of the parts spoken at run time come from the prompts
// package's composition helpers; these wrappers adapt routing's types.

// digitClips says a key: "digit_1", "digit_star", "digit_pound".
func digitClips(lang, key string) []string { return prompts.Digit(lang, key) }

// dayRangeClips says "Monday to Friday", or "Saturday".
func dayRangeClips(lang string, from, to time.Weekday) []string {
	return prompts.DayRange(lang, from, to)
}

// timeClips says a time of day; the end of day (24:00) is midnight.
func timeClips(lang string, c routing.Clock) []string {
	return prompts.Time(lang, c.Hour()%24, c.Minute())
}

// reopeningClips says "we reopen tomorrow at 8:30".
func reopeningClips(lang string, at, now time.Time) []string {
	return prompts.Reopening(lang, at, now)
}
