// Package routing answers the questions a call asks of time and people:
// is the office open now, why, when does it reopen, which hours apply this
// week. Everything here is a pure function of its values and the time it is
// given; nothing calls time.Now().
package routing

import (
	"fmt"
	"time"
)

// Reason says which rule decided whether the office is open.
type Reason string

const (
	ReasonWeekly   Reason = "weekly"   // the regular weekly hours
	ReasonSeason   Reason = "season"   // a season's weekly hours (registrations, tournaments)
	ReasonClosure  Reason = "closure"  // a closure day or period set by the admins
	ReasonHoliday  Reason = "holiday"  // a statutory holiday
	ReasonOverride Reason = "override" // the admin forced open or closed
)

// Clock is a time of day in minutes since midnight (0..1440).
type Clock int

// Hour and Minute split a Clock.
func (c Clock) Hour() int   { return int(c) / 60 }
func (c Clock) Minute() int { return int(c) % 60 }

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour(), c.Minute()) }

// Range is one opening range within a day, [Start, End).
type Range struct{ Start, End Clock }

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

// DaySpan is a run of consecutive weekdays that share the same ranges,
// as one would say it: "Monday to Friday, 8:30 to 16:30".
type DaySpan struct {
	First, Last time.Weekday
	Ranges      []Range
}

// Status is what the schedule says about one instant.
type Status struct {
	Open   bool
	Reason Reason
	// Name is the season, closure or holiday name ("Fête nationale"),
	// or the weekly rule ("mon-fri 08:30-16:30"), or the override value.
	Name string
	// Key is a stable identifier for the holiday or closure, used to find
	// a prompt that says its name ("fete_nationale"); empty otherwise.
	Key string
	// NextOpen is the next moment the office opens after a closed instant
	// (zero when open, or when nothing opens within a year).
	NextOpen time.Time
	// Hours are the weekly hours in force at that instant (the season's or
	// the regular ones), grouped into spans, to be told to a caller.
	Hours []DaySpan
}

// String is the one-line reason an admin reads in a call's trace:
// "open: weekly mon-fri 08:30-16:30", "closed: holiday Fête nationale".
func (s Status) String() string {
	state := "closed"
	if s.Open {
		state = "open"
	}
	if s.Name == "" {
		return fmt.Sprintf("%s: %s", state, s.Reason)
	}
	return fmt.Sprintf("%s: %s %s", state, s.Reason, s.Name)
}
