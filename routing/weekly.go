package routing

import (
	"slices"
	"strings"
	"time"
)

// dayNames are the short day names admins write, Monday first.
var dayNames = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// MondayIndex numbers a weekday from Monday (0) to Sunday (6), the order
// of a week in Quebec.
func MondayIndex(d time.Weekday) int { return (int(d) + 6) % 7 }

// weekdayAt is the inverse of MondayIndex.
func weekdayAt(i int) time.Weekday { return time.Weekday((i + 1) % 7) }

// DayName is the short name of a weekday as written in the config: "mon".
func DayName(d time.Weekday) string { return dayNames[MondayIndex(d)] }

// ParseDayName reads a short day name ("mon" … "sun", any case).
func ParseDayName(s string) (time.Weekday, bool) {
	i := slices.Index(dayNames[:], strings.ToLower(s))
	if i < 0 {
		return 0, false
	}
	return weekdayAt(i), true
}

// WeeklyRule is one line of weekly hours as an admin writes it: a run of
// days from First to Last (Monday first, so First comes no later than
// Last), and the ranges the office is open on each of those days.
type WeeklyRule struct {
	First, Last time.Weekday
	Ranges      []Range
}

// Has reports whether the rule covers day d.
func (r WeeklyRule) Has(d time.Weekday) bool {
	i := MondayIndex(d)
	return MondayIndex(r.First) <= i && i <= MondayIndex(r.Last)
}

// Days is the rule's days as written: "mon-fri", or "sat" for one day.
func (r WeeklyRule) Days() string {
	if r.First == r.Last {
		return DayName(r.First)
	}
	return DayName(r.First) + "-" + DayName(r.Last)
}

// String is the rule as written: "mon-fri 08:30-12:00,13:00-16:30".
func (r WeeklyRule) String() string {
	return r.Days() + " " + rangesString(r.Ranges)
}

// Weekly is a set of weekly hours. A day may appear in several rules; its
// ranges are those of all the rules that cover it.
type Weekly []WeeklyRule

// On is the day's opening ranges, sorted by start.
func (w Weekly) On(d time.Weekday) []Range {
	var out []Range
	for _, r := range w {
		if r.Has(d) {
			out = append(out, r.Ranges...)
		}
	}
	slices.SortFunc(out, func(a, b Range) int { return int(a.Start - b.Start) })
	return out
}

// ruleAt is the rule whose range holds clock c on day d.
func (w Weekly) ruleAt(d time.Weekday, c Clock) (WeeklyRule, bool) {
	for _, r := range w {
		if !r.Has(d) {
			continue
		}
		for _, rg := range r.Ranges {
			if rg.Contains(c) {
				return r, true
			}
		}
	}
	return WeeklyRule{}, false
}

// rulesOn is the rules covering day d, as written, joined by "; ".
func (w Weekly) rulesOn(d time.Weekday) string {
	var names []string
	for _, r := range w {
		if r.Has(d) {
			names = append(names, r.String())
		}
	}
	return strings.Join(names, "; ")
}

// Spans groups the week, Monday to Sunday, into runs of consecutive days
// with the same ranges. Days the office is closed all day are left out.
func (w Weekly) Spans() []DaySpan {
	var out []DaySpan
	for i := range 7 {
		d := weekdayAt(i)
		rs := w.On(d)
		if len(rs) == 0 {
			continue
		}
		if n := len(out); n > 0 && MondayIndex(out[n-1].Last) == i-1 && slices.Equal(out[n-1].Ranges, rs) {
			out[n-1].Last = d
			continue
		}
		out = append(out, DaySpan{First: d, Last: d, Ranges: rs})
	}
	return out
}

// Contains reports whether clock c lies in [r.Start, r.End).
func (r Range) Contains(c Clock) bool { return r.Start <= c && c < r.End }

// Overlaps reports whether two ranges share at least a minute. Ranges that
// only touch (12:00 end, 12:00 start) do not overlap.
func (r Range) Overlaps(o Range) bool { return r.Start < o.End && o.Start < r.End }

func rangesString(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}
