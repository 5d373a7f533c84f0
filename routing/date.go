package routing

import (
	"fmt"
	"slices"
	"time"
)

// Date is a day on the calendar, with no time and no time zone: the day a
// closure, a season or a holiday is written for. It is read in the
// schedule's location when compared with an instant.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the calendar day of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads a date written YYYY-MM-DD and refuses days that do not
// exist (2026-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date written YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// noon is d at noon UTC, a time that date arithmetic cannot push to
// another day.
func (d Date) noon() time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

// Weekday is the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.noon().Weekday() }

// AddDays is d moved n days forward (or back when n < 0).
func (d Date) AddDays(n int) Date { return DateOf(d.noon().AddDate(0, 0, n)) }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return sign(d.Year - e.Year)
	case d.Month != e.Month:
		return sign(int(d.Month) - int(e.Month))
	default:
		return sign(d.Day - e.Day)
	}
}

// Before and After compare two dates.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }
func (d Date) After(e Date) bool  { return d.Compare(e) > 0 }

// Within reports whether d lies in [from, to], both days included.
func (d Date) Within(from, to Date) bool { return !d.Before(from) && !d.After(to) }

// DaysUntil is the number of days from d to e (negative when e is before d).
func (d Date) DaysUntil(e Date) int {
	return int(e.noon().Sub(d.noon()).Round(24*time.Hour) / (24 * time.Hour))
}

// Start is the first instant of d in loc (midnight, or the end of a
// daylight-saving gap when the clock skips midnight).
func (d Date) Start(loc *time.Location) time.Time {
	return firstInstant(d, 0, loc)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// clockOf is the wall-clock time of t, to the minute, in t's location.
func clockOf(t time.Time) Clock {
	return Clock(t.Hour()*60 + t.Minute())
}

// instants lists, in order, the instants at which the wall clock in loc
// shows clock c on day d: one on most days, two when the clocks go back
// through c, and, when they jump over c, the first instant after the jump
// (the moment the clock first shows c or later).
func instants(d Date, c Clock, loc *time.Location) []time.Time {
	wall := time.Date(d.Year, d.Month, d.Day, c.Hour(), c.Minute(), 0, 0, time.UTC)
	// The offsets in force a day either side cover any transition near c.
	var offsets []int
	for _, probe := range []time.Time{wall.Add(-26 * time.Hour), wall, wall.Add(26 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		if !slices.Contains(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var out []time.Time
	var latest time.Time
	for _, off := range offsets {
		u := wall.Add(-time.Duration(off) * time.Second)
		if u.After(latest) {
			latest = u
		}
		l := u.In(loc)
		if DateOf(l) == d && clockOf(l) == c && !slices.ContainsFunc(out, u.Equal) {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		// c falls in a gap: the clock first reads c or later when the new
		// zone starts.
		start, _ := latest.In(loc).ZoneBounds()
		if !start.IsZero() && DateOf(start.In(loc)) == d {
			out = append(out, start.In(loc))
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	for i := range out {
		out[i] = out[i].In(loc)
	}
	return out
}

// firstInstant is the earliest of instants(d, c, loc), or the plain
// normalised wall time when there is none.
func firstInstant(d Date, c Clock, loc *time.Location) time.Time {
	if in := instants(d, c, loc); len(in) > 0 {
		return in[0]
	}
	return time.Date(d.Year, d.Month, d.Day, c.Hour(), c.Minute(), 0, 0, loc)
}
