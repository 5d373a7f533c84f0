package routing

import (
	"time"
)

// Override lets an admin force the office open or closed, whatever the
// hours say.
type Override string

const (
	OverrideAuto   Override = "auto" // follow the hours (the zero value means the same)
	OverrideOpen   Override = "open"
	OverrideClosed Override = "closed"
)

// Season is a stretch of days with its own weekly hours (registrations,
// a tournament). Its days are From to To, both included.
type Season struct {
	Name     string
	From, To Date
	Weekly   Weekly
}

// Closure is a day or a period the admins close the office. A single day
// has From == To.
type Closure struct {
	Name string
	// Key names the prompt that says the closure's name; may be empty.
	Key      string
	From, To Date
}

// Schedule is the office's hours. Its rules apply in this order, the first
// that speaks deciding: Override, Closures, Holidays, the Season the day
// falls in, Weekly. Dates and clocks are read in Location.
//
// A Schedule is a value: build it, then only read it. Its methods are safe
// for concurrent use.
type Schedule struct {
	Location *time.Location // nil means UTC
	Weekly   Weekly
	Seasons  []Season  // at most one applies to a day: the first that holds it
	Closures []Closure // on a day several hold, the shortest names it
	Holidays HolidaySet
	Override Override
}

// Day is what the schedule says about one calendar day.
type Day struct {
	Date Date
	// Ranges are the day's opening ranges; none when closed all day.
	Ranges []Range
	// Reason is the rule that decided the day.
	Reason Reason
	// Name is the closure or holiday name, the season name, the weekly
	// rules for that day ("mon-fri 08:30-16:30"), or the override.
	Name string
	// Key is the holiday or closure key (see Status.Key).
	Key string
	// Season is the season whose hours are in force that day, even when a
	// holiday or a closure closes it; empty outside seasons.
	Season string
}

// Open reports whether the office opens at all that day.
func (d Day) Open() bool { return len(d.Ranges) > 0 }

const (
	nextOpenHorizon = 366 // days NextOpen looks ahead
	wholeDay        = Clock(24 * 60)
)

func (s *Schedule) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// At says whether the office is open at t, why, and when it opens next.
func (s *Schedule) At(t time.Time) Status {
	v := s.view()
	local := t.In(s.loc())
	st := v.status(DateOf(local), clockOf(local))
	st.Hours = s.weeklyOn(DateOf(local)).Spans()
	if !st.Open {
		st.NextOpen = v.nextOpen(t)
	}
	return st
}

// Agenda lists days, starting with the day of from in the schedule's
// location.
func (s *Schedule) Agenda(from time.Time, days int) []Day {
	v := s.view()
	first := DateOf(from.In(s.loc()))
	out := make([]Day, 0, max(days, 0))
	for i := range days {
		out = append(out, v.day(first.AddDays(i)))
	}
	return out
}

// SeasonOn is the season holding day d, if any.
func (s *Schedule) SeasonOn(d Date) (Season, bool) {
	for _, se := range s.Seasons {
		if d.Within(se.From, se.To) {
			return se, true
		}
	}
	return Season{}, false
}

// ClosureOn is the closure holding day d, if any; when several do, the
// shortest (the most specific: "Noël" inside "Vacances des fêtes").
func (s *Schedule) ClosureOn(d Date) (Closure, bool) {
	var best Closure
	found := false
	for _, c := range s.Closures {
		if !d.Within(c.From, c.To) {
			continue
		}
		if !found || c.From.DaysUntil(c.To) < best.From.DaysUntil(best.To) {
			best, found = c, true
		}
	}
	return best, found
}

// weeklyOn is the weekly hours in force on day d: the season's or the
// regular ones.
func (s *Schedule) weeklyOn(d Date) Weekly {
	if se, ok := s.SeasonOn(d); ok {
		return se.Weekly
	}
	return s.Weekly
}

// view is one reading of the schedule, caching holidays per year.
type view struct {
	s        *Schedule
	holidays map[int][]Holiday
}

func (s *Schedule) view() *view { return &view{s: s, holidays: map[int][]Holiday{}} }

func (v *view) holidayOn(d Date) (Holiday, bool) {
	hs, ok := v.holidays[d.Year]
	if !ok {
		hs = v.s.Holidays.Year(d.Year)
		v.holidays[d.Year] = hs
	}
	for _, h := range hs {
		if h.Date == d {
			return h, true
		}
	}
	return Holiday{}, false
}

// day applies the rules, in order, to a whole day.
func (v *view) day(d Date) Day {
	s := v.s
	out := Day{Date: d}
	if se, ok := s.SeasonOn(d); ok {
		out.Season = se.Name
	}
	switch s.Override {
	case OverrideOpen:
		out.Reason, out.Name = ReasonOverride, string(OverrideOpen)
		out.Ranges = []Range{{0, wholeDay}}
		return out
	case OverrideClosed:
		out.Reason, out.Name = ReasonOverride, string(OverrideClosed)
		return out
	}
	if c, ok := s.ClosureOn(d); ok {
		out.Reason, out.Name, out.Key = ReasonClosure, c.Name, c.Key
		return out
	}
	if h, ok := v.holidayOn(d); ok {
		out.Reason, out.Name, out.Key = ReasonHoliday, h.Name, h.Key
		return out
	}
	w := s.weeklyOn(d)
	out.Ranges = w.On(d.Weekday())
	if out.Season != "" {
		out.Reason, out.Name = ReasonSeason, out.Season
	} else {
		out.Reason, out.Name = ReasonWeekly, w.rulesOn(d.Weekday())
	}
	return out
}

// status is the schedule's answer at clock c of day d, without Hours and
// NextOpen.
func (v *view) status(d Date, c Clock) Status {
	day := v.day(d)
	st := Status{Reason: day.Reason, Name: day.Name, Key: day.Key}
	for _, r := range day.Ranges {
		if r.Contains(c) {
			st.Open = true
			break
		}
	}
	if day.Reason == ReasonWeekly {
		// Name the rule that opens the office now, or the day's rules.
		if r, ok := v.s.Weekly.ruleAt(d.Weekday(), c); ok {
			st.Name = r.String()
		}
	}
	return st
}

// nextOpen is the first instant after t at which the office is open,
// walking the days ahead in the schedule's location; zero when none
// within a year.
func (v *view) nextOpen(t time.Time) time.Time {
	if v.s.Override == OverrideClosed {
		return time.Time{}
	}
	loc := v.s.loc()
	first := DateOf(t.In(loc))
	for i := 0; i <= nextOpenHorizon; i++ {
		d := first.AddDays(i)
		for _, r := range v.day(d).Ranges {
			for _, at := range instants(d, r.Start, loc) {
				if !at.After(t) {
					continue
				}
				if local := at.In(loc); v.status(DateOf(local), clockOf(local)).Open {
					return at
				}
			}
		}
	}
	return time.Time{}
}
