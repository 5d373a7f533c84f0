package routing_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/routing"
)

// at is a wall-clock time in Toronto, "2026-11-23 16:30".
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, toronto(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// clubRoster is the on_call section of the example.
func clubRoster(tb testing.TB) *routing.Roster {
	return &routing.Roster{
		Location: toronto(tb),
		Rotation: routing.Rotation{Every: routing.EveryWeek, Starts: at(tb, "2026-11-23 16:30"), Members: []string{"luc", "marie"}},
		Overrides: []routing.RosterOverride{
			{From: at(tb, "2026-12-24 16:30"), To: at(tb, "2026-12-27 08:30"), Staff: "marie"},
		},
	}
}

func TestOnCall(t *testing.T) {
	r := clubRoster(t)
	tests := []struct {
		at, staff, why string
	}{
		{"2026-11-23 16:29", "", ""}, // before the rotation starts
		{"2026-11-23 16:30", "luc", "rotation week of 2026-11-23"},
		{"2026-11-30 16:29", "luc", "rotation week of 2026-11-23"},
		{"2026-11-30 16:30", "marie", "rotation week of 2026-11-30"},
		{"2026-12-07 16:30", "luc", "rotation week of 2026-12-07"}, // wraps around
		{"2026-12-24 16:29", "luc", "rotation week of 2026-12-21"},
		{"2026-12-24 16:30", "marie", "override until 2026-12-27 08:30"}, // from is included
		{"2026-12-27 08:29", "marie", "override until 2026-12-27 08:30"},
		{"2026-12-27 08:30", "luc", "rotation week of 2026-12-21"}, // to is excluded
		{"2027-11-22 16:30", "luc", "rotation week of 2027-11-22"}, // turn 52, across both DST changes
	}
	for _, tt := range tests {
		staff, why, ok := r.OnCall(at(t, tt.at))
		if staff != tt.staff || why != tt.why || ok != (tt.staff != "") {
			t.Errorf("%s: %q %q %v, want %q %q", tt.at, staff, why, ok, tt.staff, tt.why)
		}
	}
}

func TestOnCallAcrossDST(t *testing.T) {
	loc := toronto(t)
	// Clocks go back on 2026-11-01 and forward on 2027-03-14.
	r := &routing.Roster{Location: loc, Rotation: routing.Rotation{Starts: at(t, "2026-10-26 16:30"), Members: []string{"a", "b", "c"}}}
	check := func(wall, want string) {
		t.Helper()
		if got, _, _ := r.OnCall(at(t, wall)); got != want {
			t.Errorf("%s: %q, want %q", wall, got, want)
		}
	}
	check("2026-11-02 16:29", "a")
	check("2026-11-02 16:30", "b")
	// 2027-03-15 is 20 weeks after the start: turn 20 (c, since 20 % 3 = 2)
	// starts at 16:30 EDT, the clocks having gone forward on 03-14.
	check("2027-03-15 16:29", "b")
	check("2027-03-15 16:30", "c")
	if h := r.Agenda(at(t, "2026-10-30 00:00"), at(t, "2026-11-10 00:00")); len(h) != 3 ||
		h[1].From.UTC().Format("15:04") != "21:30" || h[1].To.Sub(h[1].From) != 7*24*time.Hour {
		t.Errorf("agenda across the change: %v", h)
	}
	// A day rotation through the autumn change: the day of the change is 25 hours.
	d := &routing.Roster{Location: loc, Rotation: routing.Rotation{Every: routing.EveryDay, Starts: at(t, "2026-10-31 08:00"), Members: []string{"x", "y"}}}
	shifts := d.Agenda(at(t, "2026-10-31 08:00"), at(t, "2026-11-02 08:00"))
	if len(shifts) != 2 || shifts[0].To.Sub(shifts[0].From) != 25*time.Hour || shifts[1].Staff != "y" || !shifts[1].To.Equal(at(t, "2026-11-02 08:00")) {
		t.Errorf("day rotation: %v", shifts)
	}
	// A handover written in the spring gap (02:30 does not exist on 2027-03-14)
	// happens when the clock jumps: 03:00.
	g := &routing.Roster{Location: loc, Rotation: routing.Rotation{Every: routing.EveryDay, Starts: at(t, "2027-03-13 02:30"), Members: []string{"x", "y"}}}
	if who, why, _ := g.OnCall(at(t, "2027-03-14 03:00")); who != "y" || why != "rotation day of 2027-03-14" {
		t.Errorf("gap handover: %s %s", who, why)
	}
	if who, _, _ := g.OnCall(at(t, "2027-03-14 01:59")); who != "x" {
		t.Errorf("before gap handover: %s", who)
	}
}

// agenda renders shifts one a line, as check prints them.
func agenda(shifts []routing.Shift) string {
	var b strings.Builder
	for _, s := range shifts {
		kind := "rotation"
		if s.Override {
			kind = "override"
		}
		fmt.Fprintf(&b, "%s → %s %s (%s)\n", s.From.Format("Mon 2006-01-02 15:04"), s.To.Format("Mon 2006-01-02 15:04"), s.Staff, kind)
	}
	return b.String()
}

func TestRosterAgenda(t *testing.T) {
	r := clubRoster(t)
	got := agenda(r.Agenda(at(t, "2026-11-22 12:00"), at(t, "2027-01-04 16:30")))
	want := `Mon 2026-11-23 16:30 → Mon 2026-11-30 16:30 luc (rotation)
Mon 2026-11-30 16:30 → Mon 2026-12-07 16:30 marie (rotation)
Mon 2026-12-07 16:30 → Mon 2026-12-14 16:30 luc (rotation)
Mon 2026-12-14 16:30 → Mon 2026-12-21 16:30 marie (rotation)
Mon 2026-12-21 16:30 → Thu 2026-12-24 16:30 luc (rotation)
Thu 2026-12-24 16:30 → Sun 2026-12-27 08:30 marie (override)
Sun 2026-12-27 08:30 → Mon 2026-12-28 16:30 luc (rotation)
Mon 2026-12-28 16:30 → Mon 2027-01-04 16:30 marie (rotation)
`
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	// Cut to the window asked for.
	got = agenda(r.Agenda(at(t, "2026-12-01 00:00"), at(t, "2026-12-02 00:00")))
	if got != "Tue 2026-12-01 00:00 → Wed 2026-12-02 00:00 marie (rotation)\n" {
		t.Errorf("cut: %s", got)
	}
	if gaps := r.Gaps(at(t, "2026-11-22 12:00"), at(t, "2027-01-04 16:30")); len(gaps) != 1 ||
		!gaps[0].From.Equal(at(t, "2026-11-22 12:00")) || !gaps[0].To.Equal(at(t, "2026-11-23 16:30")) {
		t.Errorf("gaps: %v", gaps)
	}
	if gaps := r.Gaps(at(t, "2026-11-24 00:00"), at(t, "2026-12-24 00:00")); len(gaps) != 0 {
		t.Errorf("gaps once started: %v", gaps)
	}
	// Back-to-back turns of the same person are one shift.
	one := &routing.Roster{Location: toronto(t), Rotation: routing.Rotation{Every: routing.EveryDay, Starts: at(t, "2026-11-23 08:00"), Members: []string{"a", "a", "b"}}}
	got = agenda(one.Agenda(at(t, "2026-11-23 08:00"), at(t, "2026-11-29 08:00")))
	if got != "Mon 2026-11-23 08:00 → Wed 2026-11-25 08:00 a (rotation)\nWed 2026-11-25 08:00 → Thu 2026-11-26 08:00 b (rotation)\n"+
		"Thu 2026-11-26 08:00 → Sat 2026-11-28 08:00 a (rotation)\nSat 2026-11-28 08:00 → Sun 2026-11-29 08:00 b (rotation)\n" {
		t.Errorf("merged turns:\n%s", got)
	}
	if s := r.Agenda(at(t, "2026-12-02 00:00"), at(t, "2026-12-01 00:00")); len(s) != 0 {
		t.Errorf("empty window: %v", s)
	}
}

func TestRosterWithoutRotation(t *testing.T) {
	// No members: nobody on call except where an override holds.
	r := &routing.Roster{Location: toronto(t), Overrides: []routing.RosterOverride{
		{From: at(t, "2026-12-24 16:30"), To: at(t, "2026-12-27 08:30"), Staff: "marie"},
		{From: at(t, "2026-12-27 08:30"), To: at(t, "2026-12-28 08:30"), Staff: "luc"},
	}}
	if _, _, ok := r.OnCall(at(t, "2026-12-24 16:29")); ok {
		t.Error("on call before the override")
	}
	if who, _, _ := r.OnCall(at(t, "2026-12-27 08:30")); who != "luc" {
		t.Errorf("back-to-back overrides: %q", who)
	}
	got := agenda(r.Agenda(at(t, "2026-12-24 00:00"), at(t, "2026-12-29 00:00")))
	want := "Thu 2026-12-24 16:30 → Sun 2026-12-27 08:30 marie (override)\nSun 2026-12-27 08:30 → Mon 2026-12-28 08:30 luc (override)\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	gaps := r.Gaps(at(t, "2026-12-24 00:00"), at(t, "2026-12-29 00:00"))
	if len(gaps) != 2 || !gaps[0].To.Equal(at(t, "2026-12-24 16:30")) || !gaps[1].From.Equal(at(t, "2026-12-28 08:30")) {
		t.Errorf("gaps: %v", gaps)
	}
}
