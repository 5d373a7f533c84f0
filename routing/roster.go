package routing

import (
	"fmt"
	"slices"
	"time"
)

// Every is how often the on-call rotation hands over.
type Every string

const (
	EveryWeek Every = "week"
	EveryDay  Every = "day"
)

// days is the length of one turn, in calendar days.
func (e Every) days() int {
	if e == EveryDay {
		return 1
	}
	return 7
}

// Rotation is the on-call turn ("astreinte"): Members take turns, in order,
// each for one period, the first from Starts. Handovers happen at Starts'
// wall clock in the roster's location: a weekly handover at 16:30 stays at
// 16:30 across daylight-saving changes (that week is an hour shorter or
// longer).
type Rotation struct {
	Every   Every     // week (the zero value means the same) or day
	Starts  time.Time // the first handover
	Members []string  // staff ids, in turn order; the list wraps around
}

// RosterOverride puts Staff on call from From (included) to To (excluded),
// whatever the rotation says.
type RosterOverride struct {
	From, To time.Time
	Staff    string
}

// Roster says who is on call at any instant: an override when one holds,
// else the rotation. Nobody is on call before the rotation starts, or when
// it has no members (and no override holds).
//
// A Roster is a value: build it, then only read it. Its methods are safe
// for concurrent use.
type Roster struct {
	Location  *time.Location // nil means UTC
	Rotation  Rotation
	Overrides []RosterOverride // should not overlap; when they do, the first listed wins
}

// Shift is a stretch of time one person is on call, [From, To).
type Shift struct {
	Staff    string
	From, To time.Time
	Override bool // from an override, not the rotation
}

// Interval is a stretch of time [From, To).
type Interval struct{ From, To time.Time }

func (r *Roster) loc() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// handover is the instant of the k-th handover (k = 0 is Starts), at
// Starts' wall clock on the day k periods later, DST-safe.
func (r *Roster) handover(k int) time.Time {
	loc := r.loc()
	s := r.Rotation.Starts.In(loc)
	if k == 0 {
		return r.Rotation.Starts
	}
	d := DateOf(s).AddDays(k * r.Rotation.Every.days())
	c := clockOf(s)
	t := firstInstant(d, c, loc)
	// Keep seconds of a Starts that has them (config writes minutes).
	return t.Add(time.Duration(s.Second())*time.Second + time.Duration(s.Nanosecond()))
}

// turn is the index k of the rotation period holding t (handover(k) <= t <
// handover(k+1)); ok is false before Starts.
func (r *Roster) turn(t time.Time) (int, bool) {
	if t.Before(r.Rotation.Starts) {
		return 0, false
	}
	loc := r.loc()
	days := DateOf(r.Rotation.Starts.In(loc)).DaysUntil(DateOf(t.In(loc)))
	k := days / r.Rotation.Every.days()
	for k > 0 && t.Before(r.handover(k)) {
		k--
	}
	for !t.Before(r.handover(k + 1)) {
		k++
	}
	return k, true
}

// source says what decides an instant: an override (its index), a
// rotation turn, or nobody.
type source struct {
	override int // index in Overrides, or -1
	turn     int // rotation turn when override < 0 and staffed
	staff    string
}

func (s source) ok() bool { return s.staff != "" }

func (r *Roster) at(t time.Time) source {
	for i, o := range r.Overrides {
		if !t.Before(o.From) && t.Before(o.To) {
			return source{override: i, staff: o.Staff}
		}
	}
	if len(r.Rotation.Members) == 0 {
		return source{override: -1}
	}
	k, ok := r.turn(t)
	if !ok {
		return source{override: -1}
	}
	return source{override: -1, turn: k, staff: r.Rotation.Members[k%len(r.Rotation.Members)]}
}

// OnCall is the staff id on call at t, and why: "rotation week of
// 2026-11-23" (the day the turn started), "rotation day of 2026-11-23",
// or "override until 2026-12-27 08:30" (in the roster's location). ok is
// false when nobody is on call.
func (r *Roster) OnCall(t time.Time) (staffID string, why string, ok bool) {
	s := r.at(t)
	if !s.ok() {
		return "", "", false
	}
	if s.override >= 0 {
		return s.staff, "override until " + r.Overrides[s.override].To.In(r.loc()).Format("2006-01-02 15:04"), true
	}
	every := r.Rotation.Every
	if every == "" {
		every = EveryWeek
	}
	return s.staff, fmt.Sprintf("rotation %s of %s", every, DateOf(r.handover(s.turn).In(r.loc()))), true
}

// boundaries are the instants in (from, until) at which who is on call may
// change, sorted, with from and until at the ends.
func (r *Roster) boundaries(from, until time.Time) []time.Time {
	out := []time.Time{from, until}
	inside := func(t time.Time) bool { return t.After(from) && t.Before(until) }
	for _, o := range r.Overrides {
		for _, t := range []time.Time{o.From, o.To} {
			if inside(t) {
				out = append(out, t)
			}
		}
	}
	if len(r.Rotation.Members) > 0 {
		k := 0
		if t, ok := r.turn(from); ok {
			k = t + 1
		}
		for h := r.handover(k); h.Before(until); h = r.handover(k) {
			if inside(h) {
				out = append(out, h)
			}
			k++
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return slices.CompactFunc(out, time.Time.Equal)
}

// Agenda lists who is on call from from to until, in order, each shift
// cut to [from, until). A shift is one person's stretch: back-to-back turns
// of the same person make one shift, and a turn interrupted by an override
// comes back as a second shift after it. Stretches with nobody on call are
// left out (see Gaps).
func (r *Roster) Agenda(from, until time.Time) []Shift {
	var out []Shift
	r.walk(from, until, func(a, b time.Time, s source) {
		if !s.ok() {
			return
		}
		if n := len(out); n > 0 && out[n-1].To.Equal(a) && out[n-1].Staff == s.staff && out[n-1].Override == (s.override >= 0) {
			out[n-1].To = b
			return
		}
		out = append(out, Shift{Staff: s.staff, From: a, To: b, Override: s.override >= 0})
	})
	return out
}

// Gaps lists the stretches from from to until when nobody is on call:
// before the rotation starts, or all along when it has no members, except
// where an override holds.
func (r *Roster) Gaps(from, until time.Time) []Interval {
	var out []Interval
	r.walk(from, until, func(a, b time.Time, s source) {
		if s.ok() {
			return
		}
		if n := len(out); n > 0 && out[n-1].To.Equal(a) {
			out[n-1].To = b
			return
		}
		out = append(out, Interval{From: a, To: b})
	})
	return out
}

// walk calls fn for each stretch [a, b) of [from, until) over which the
// same source decides.
func (r *Roster) walk(from, until time.Time, fn func(a, b time.Time, s source)) {
	if !from.Before(until) {
		return
	}
	bs := r.boundaries(from, until)
	for i := 0; i+1 < len(bs); i++ {
		fn(bs[i], bs[i+1], r.at(bs[i]))
	}
}
