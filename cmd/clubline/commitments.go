package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/routing"
)

// The club's reception standard asks for staff reachable at least
// minDaysAWeek days a week, minHoursADay hours each of them. `clubline
// check` says whether the hours configured (seasons, closures and
// holidays counted) keep that promise over the year ahead: a warning, not
// an error, since a club may close for the holidays on purpose.
const (
	minDaysAWeek = 5
	minHoursADay = 7 * time.Hour
	// commitmentWeeks is how far ahead the weeks are looked at.
	commitmentWeeks = 52
)

// shortWeek is a week that offers fewer than minDaysAWeek full days.
type shortWeek struct {
	monday routing.Date
	days   int      // days with at least minHoursADay open
	why    []string // the holidays and closures of the week
}

// shortWeeks looks at the commitmentWeeks weeks from the Monday of the
// week of now.
func shortWeeks(c *config.Config, now time.Time) []shortWeek {
	now = now.In(c.Club.Location)
	start := now.AddDate(0, 0, -((int(now.Weekday()) + 6) % 7)) // Monday
	agenda := c.Schedule().Agenda(start, commitmentWeeks*7)
	var out []shortWeek
	for w := 0; w+7 <= len(agenda); w += 7 {
		week := shortWeek{monday: agenda[w].Date}
		for _, d := range agenda[w : w+7] {
			var open time.Duration
			for _, r := range d.Ranges {
				open += time.Duration(r.End-r.Start) * time.Minute
			}
			if open >= minHoursADay {
				week.days++
			}
			if (d.Reason == routing.ReasonHoliday || d.Reason == routing.ReasonClosure) && !slices.Contains(week.why, d.Name) {
				week.why = append(week.why, d.Name)
			}
		}
		if week.days < minDaysAWeek {
			out = append(out, week)
		}
	}
	return out
}

// printCommitments is check's lines about the reception standard.
func printCommitments(w io.Writer, c *config.Config, now time.Time) {
	short := shortWeeks(c, now)
	if len(short) == 0 {
		fmt.Fprintf(w, "Reception standard: every week of the next %d offers at least %d days of %s of office hours\n",
			commitmentWeeks, minDaysAWeek, hoursText(minHoursADay))
		return
	}
	fmt.Fprintf(w, "warning: %d of the next %d weeks offer fewer than %d days of %s of office hours (the club's reception standard):\n",
		len(short), commitmentWeeks, minDaysAWeek, hoursText(minHoursADay))
	for i, s := range short {
		if i == 6 {
			fmt.Fprintf(w, "  … and %d more\n", len(short)-i)
			break
		}
		line := fmt.Sprintf("  week of %s: %d days", s.monday, s.days)
		if len(s.why) > 0 {
			line += " (" + strings.Join(s.why, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "  a week short of the standard is fine for holidays the club chose; otherwise widen hours.weekly or add a season")
}

func hoursText(d time.Duration) string { return fmt.Sprintf("%dh", int(d.Hours())) }
