package routing_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/routing"
)

func toronto(tb testing.TB) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

func date(tb testing.TB, s string) routing.Date {
	tb.Helper()
	d, err := routing.ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func rng(s string) routing.Range {
	var h1, m1, h2, m2 int
	if _, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil {
		panic(s)
	}
	return routing.Range{Start: routing.Clock(h1*60 + m1), End: routing.Clock(h2*60 + m2)}
}

func rule(first, last time.Weekday, ranges ...string) routing.WeeklyRule {
	r := routing.WeeklyRule{First: first, Last: last}
	for _, s := range ranges {
		r.Ranges = append(r.Ranges, rng(s))
	}
	return r
}

// clubSchedule is the schedule of config/example.yaml.
func clubSchedule(tb testing.TB) *routing.Schedule {
	tb.Helper()
	return &routing.Schedule{
		Location: toronto(tb),
		Weekly:   routing.Weekly{rule(time.Monday, time.Friday, "08:30-16:30")},
		Seasons: []routing.Season{{
			Name: "Inscriptions hiver", From: date(tb, "2027-01-11"), To: date(tb, "2027-02-12"),
			Weekly: routing.Weekly{
				rule(time.Monday, time.Thursday, "08:30-20:00"),
				rule(time.Friday, time.Friday, "08:30-16:30"),
				rule(time.Saturday, time.Saturday, "09:00-12:00"),
			},
		}},
		Closures: []routing.Closure{
			{Name: "Noël", From: date(tb, "2026-12-25"), To: date(tb, "2026-12-25")},
			{Name: "Vacances des fêtes", Key: "closure_holidays", From: date(tb, "2026-12-24"), To: date(tb, "2027-01-04")},
		},
		Holidays: routing.HolidaysQuebec,
	}
}

// local reads "2006-01-02 15:04" in Toronto.
func local(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, toronto(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// utc reads "2006-01-02 15:04" in UTC, for instants the local clock
// shows twice.
func utc(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// describe renders a Status in one line, NextOpen in local time with its
// zone, so DST mistakes show.
func describe(st routing.Status, loc *time.Location) string {
	s := st.String()
	if st.Key != "" {
		s += " [" + st.Key + "]"
	}
	if !st.NextOpen.IsZero() {
		s += "; next " + st.NextOpen.In(loc).Format("Mon 2006-01-02 15:04 MST")
	}
	return s
}

func TestScheduleAt(t *testing.T) {
	loc := toronto(t)
	club := clubSchedule(t)
	lunch := &routing.Schedule{Location: loc, Weekly: routing.Weekly{
		rule(time.Monday, time.Friday, "08:30-12:00", "13:00-16:30"),
	}}
	// The clocks change on a Sunday: these schedules open then.
	sunday := &routing.Schedule{Location: loc, Weekly: routing.Weekly{
		rule(time.Monday, time.Friday, "08:30-16:30"),
		rule(time.Sunday, time.Sunday, "08:30-16:30"),
	}}
	night := &routing.Schedule{Location: loc, Weekly: routing.Weekly{
		rule(time.Sunday, time.Sunday, "01:30-05:00"),
	}}
	gap := &routing.Schedule{Location: loc, Weekly: routing.Weekly{
		rule(time.Sunday, time.Sunday, "02:30-04:00"),
	}}

	tests := []struct {
		name  string
		sched *routing.Schedule
		at    time.Time
		want  string
	}{
		// The minute before and after opening and closing.
		{"before opening", club, local(t, "2026-06-16 08:29"), "closed: weekly mon-fri 08:30-16:30; next Tue 2026-06-16 08:30 EDT"},
		{"opening", club, local(t, "2026-06-16 08:30"), "open: weekly mon-fri 08:30-16:30"},
		{"before closing", club, local(t, "2026-06-16 16:29"), "open: weekly mon-fri 08:30-16:30"},
		{"closing", club, local(t, "2026-06-16 16:30"), "closed: weekly mon-fri 08:30-16:30; next Wed 2026-06-17 08:30 EDT"},
		{"friday evening", club, local(t, "2026-06-19 18:00"), "closed: weekly mon-fri 08:30-16:30; next Mon 2026-06-22 08:30 EDT"},
		{"sunday", club, local(t, "2026-06-21 10:00"), "closed: weekly; next Mon 2026-06-22 08:30 EDT"},
		{"lunch", lunch, local(t, "2026-06-16 12:00"), "closed: weekly mon-fri 08:30-12:00,13:00-16:30; next Tue 2026-06-16 13:00 EDT"},
		{"after lunch", lunch, local(t, "2026-06-16 13:00"), "open: weekly mon-fri 08:30-12:00,13:00-16:30"},

		// Holidays, with the day off in place of a Sunday.
		{"fête nationale", club, local(t, "2027-06-24 10:00"), "closed: holiday Fête nationale [fete_nationale]; next Fri 2027-06-25 08:30 EDT"},
		{"fête nationale on sunday", club, local(t, "2029-06-25 10:00"), "closed: holiday Fête nationale [fete_nationale]; next Tue 2029-06-26 08:30 EDT"},
		{"before thanksgiving", club, local(t, "2026-10-09 16:30"), "closed: weekly mon-fri 08:30-16:30; next Tue 2026-10-13 08:30 EDT"},
		{"patriots", club, local(t, "2027-05-24 09:00"), "closed: holiday Journée nationale des patriotes [patriots_day]; next Tue 2027-05-25 08:30 EDT"},
		{"easter weekend", club, local(t, "2027-03-25 17:00"), "closed: weekly mon-fri 08:30-16:30; next Tue 2027-03-30 08:30 EDT"},

		// Closures across the new year; the shortest names the day; a
		// closure wins over the holiday it covers.
		{"before the break", club, local(t, "2026-12-23 16:30"), "closed: weekly mon-fri 08:30-16:30; next Tue 2027-01-05 08:30 EST"},
		{"christmas", club, local(t, "2026-12-25 10:00"), "closed: closure Noël; next Tue 2027-01-05 08:30 EST"},
		{"break", club, local(t, "2026-12-28 10:00"), "closed: closure Vacances des fêtes [closure_holidays]; next Tue 2027-01-05 08:30 EST"},
		{"new year in break", club, local(t, "2027-01-01 10:00"), "closed: closure Vacances des fêtes [closure_holidays]; next Tue 2027-01-05 08:30 EST"},
		{"last day of break", club, local(t, "2027-01-04 23:59"), "closed: closure Vacances des fêtes [closure_holidays]; next Tue 2027-01-05 08:30 EST"},
		{"after the break", club, local(t, "2027-01-05 08:30"), "open: weekly mon-fri 08:30-16:30"},

		// Seasons: their own hours, first and last day included.
		{"season evening", club, local(t, "2027-01-11 19:59"), "open: season Inscriptions hiver"},
		{"season closing", club, local(t, "2027-01-11 20:00"), "closed: season Inscriptions hiver; next Tue 2027-01-12 08:30 EST"},
		{"season friday", club, local(t, "2027-01-15 17:00"), "closed: season Inscriptions hiver; next Sat 2027-01-16 09:00 EST"},
		{"season saturday", club, local(t, "2027-01-16 11:59"), "open: season Inscriptions hiver"},
		{"last season day", club, local(t, "2027-02-12 16:29"), "open: season Inscriptions hiver"},
		{"season over", club, local(t, "2027-02-13 10:00"), "closed: weekly; next Mon 2027-02-15 08:30 EST"},
		{"weekday before season", club, local(t, "2027-01-08 17:00"), "closed: weekly mon-fri 08:30-16:30; next Mon 2027-01-11 08:30 EST"},

		// DST starts 2026-03-08 02:00 EST → 03:00 EDT.
		{"weekend before spring", club, local(t, "2026-03-06 16:30"), "closed: weekly mon-fri 08:30-16:30; next Mon 2026-03-09 08:30 EDT"},
		{"spring sunday before", sunday, utc(t, "2026-03-08 12:29"), "closed: weekly sun 08:30-16:30; next Sun 2026-03-08 08:30 EDT"},
		{"spring sunday open", sunday, utc(t, "2026-03-08 12:30"), "open: weekly sun 08:30-16:30"},
		{"spring sunday closing", sunday, utc(t, "2026-03-08 20:30"), "closed: weekly sun 08:30-16:30; next Mon 2026-03-09 08:30 EDT"},
		// 02:30 does not exist that night: it opens when the clock jumps.
		{"spring gap", gap, utc(t, "2026-03-08 06:59"), "closed: weekly sun 02:30-04:00; next Sun 2026-03-08 03:00 EDT"},
		{"spring gap open", gap, utc(t, "2026-03-08 07:00"), "open: weekly sun 02:30-04:00"},

		// DST ends 2026-11-01 02:00 EDT → 01:00 EST.
		{"weekend before fall", club, local(t, "2026-10-30 16:30"), "closed: weekly mon-fri 08:30-16:30; next Mon 2026-11-02 08:30 EST"},
		{"fall sunday before", sunday, utc(t, "2026-11-01 13:29"), "closed: weekly sun 08:30-16:30; next Sun 2026-11-01 08:30 EST"},
		{"fall sunday open", sunday, utc(t, "2026-11-01 13:30"), "open: weekly sun 08:30-16:30"},
		{"fall sunday closing", sunday, utc(t, "2026-11-01 21:30"), "closed: weekly sun 08:30-16:30; next Mon 2026-11-02 08:30 EST"},
		// 01:00–02:00 happens twice; the local clock decides each time.
		{"fall first 01:10", night, utc(t, "2026-11-01 05:10"), "closed: weekly sun 01:30-05:00; next Sun 2026-11-01 01:30 EDT"},
		{"fall first 01:30", night, utc(t, "2026-11-01 05:30"), "open: weekly sun 01:30-05:00"},
		{"fall second 01:10", night, utc(t, "2026-11-01 06:10"), "closed: weekly sun 01:30-05:00; next Sun 2026-11-01 01:30 EST"},
		{"fall second 01:30", night, utc(t, "2026-11-01 06:30"), "open: weekly sun 01:30-05:00"},

		// Override.
		{"forced open", &routing.Schedule{Location: loc, Weekly: club.Weekly, Override: routing.OverrideOpen}, local(t, "2026-12-25 03:00"), "open: override open"},
		{"forced closed", &routing.Schedule{Location: loc, Weekly: club.Weekly, Override: routing.OverrideClosed}, local(t, "2026-06-16 10:00"), "closed: override closed"},
		{"never opens", &routing.Schedule{Location: loc}, local(t, "2026-06-16 10:00"), "closed: weekly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.sched.At(tt.at)
			if got := describe(st, loc); got != tt.want {
				t.Errorf("At(%s):\n got %s\nwant %s", tt.at.In(loc).Format("Mon 2006-01-02 15:04 MST"), got, tt.want)
			}
			if st.Open {
				return
			}
			// NextOpen is strictly after t and is an open instant, with the
			// minute before it closed.
			if n := st.NextOpen; !n.IsZero() {
				if !n.After(tt.at) {
					t.Errorf("NextOpen %v not after %v", n, tt.at)
				}
				if !tt.sched.At(n).Open {
					t.Errorf("closed at NextOpen %v", n)
				}
				if tt.sched.At(n.Add(-time.Minute)).Open {
					t.Errorf("already open the minute before NextOpen %v", n)
				}
			}
		})
	}
}

func TestScheduleHours(t *testing.T) {
	club := clubSchedule(t)
	spans := func(st routing.Status) string {
		var parts []string
		for _, s := range st.Hours {
			parts = append(parts, fmt.Sprintf("%s-%s %v", routing.DayName(s.First), routing.DayName(s.Last), s.Ranges))
		}
		return strings.Join(parts, "; ")
	}
	if got, want := spans(club.At(local(t, "2026-06-21 10:00"))), "mon-fri [08:30-16:30]"; got != want {
		t.Errorf("regular hours: got %s, want %s", got, want)
	}
	// In a season, the season's hours, even after closing time.
	if got, want := spans(club.At(local(t, "2027-01-20 21:00"))), "mon-thu [08:30-20:00]; fri-fri [08:30-16:30]; sat-sat [09:00-12:00]"; got != want {
		t.Errorf("season hours: got %s, want %s", got, want)
	}
	split := routing.Weekly{
		rule(time.Monday, time.Tuesday, "09:00-17:00"),
		rule(time.Wednesday, time.Wednesday, "09:00-12:00"),
		rule(time.Thursday, time.Friday, "09:00-17:00"),
		rule(time.Sunday, time.Sunday, "10:00-12:00"),
	}
	got := split.Spans()
	want := []routing.DaySpan{
		{First: time.Monday, Last: time.Tuesday, Ranges: []routing.Range{rng("09:00-17:00")}},
		{First: time.Wednesday, Last: time.Wednesday, Ranges: []routing.Range{rng("09:00-12:00")}},
		{First: time.Thursday, Last: time.Friday, Ranges: []routing.Range{rng("09:00-17:00")}},
		{First: time.Sunday, Last: time.Sunday, Ranges: []routing.Range{rng("10:00-12:00")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Spans:\n got %v\nwant %v", got, want)
	}
}

func TestScheduleAgenda(t *testing.T) {
	club := clubSchedule(t)
	render := func(days []routing.Day) string {
		var b strings.Builder
		for _, d := range days {
			fmt.Fprintf(&b, "%s %s %v %s %q", d.Date, routing.DayName(d.Date.Weekday()), d.Ranges, d.Reason, d.Name)
			if d.Season != "" {
				fmt.Fprintf(&b, " season=%q", d.Season)
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	got := render(club.Agenda(local(t, "2027-06-21 23:30"), 7))
	want := `2027-06-21 mon [08:30-16:30] weekly "mon-fri 08:30-16:30"
2027-06-22 tue [08:30-16:30] weekly "mon-fri 08:30-16:30"
2027-06-23 wed [08:30-16:30] weekly "mon-fri 08:30-16:30"
2027-06-24 thu [] holiday "Fête nationale"
2027-06-25 fri [08:30-16:30] weekly "mon-fri 08:30-16:30"
2027-06-26 sat [] weekly ""
2027-06-27 sun [] weekly ""
`
	if got != want {
		t.Errorf("Agenda:\n got\n%s\nwant\n%s", got, want)
	}
	got = render(club.Agenda(local(t, "2027-02-11 00:00"), 3))
	want = `2027-02-11 thu [08:30-20:00] season "Inscriptions hiver" season="Inscriptions hiver"
2027-02-12 fri [08:30-16:30] season "Inscriptions hiver" season="Inscriptions hiver"
2027-02-13 sat [] weekly "" 
`
	want = strings.ReplaceAll(want, " \n", "\n")
	if got != want {
		t.Errorf("Agenda in season:\n got\n%s\nwant\n%s", got, want)
	}
}

func TestScheduleZeroLocation(t *testing.T) {
	s := &routing.Schedule{Weekly: routing.Weekly{rule(time.Monday, time.Sunday, "00:00-24:00")}}
	if st := s.At(time.Date(2026, 6, 16, 23, 59, 0, 0, time.UTC)); !st.Open {
		t.Errorf("open all day in UTC: got %s", st)
	}
}

func TestDate(t *testing.T) {
	d := date(t, "2026-12-31")
	if got := d.AddDays(1).String(); got != "2027-01-01" {
		t.Errorf("AddDays: %s", got)
	}
	if got := d.DaysUntil(date(t, "2027-03-01")); got != 60 {
		t.Errorf("DaysUntil: %d", got)
	}
	for _, bad := range []string{"2026-02-30", "25/12/2026", "2026-1-5", ""} {
		if _, err := routing.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	// In Toronto the clocks change at 02:00: the day still starts at
	// midnight.
	if got := date(t, "2026-03-08").Start(toronto(t)).Format(time.RFC3339); got != "2026-03-08T00:00:00-05:00" {
		t.Errorf("Start: %s", got)
	}
	// São Paulo skipped midnight on 2018-11-04: the day began at 01:00.
	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	if got := date(t, "2018-11-04").Start(sp).Format(time.RFC3339); got != "2018-11-04T01:00:00-02:00" {
		t.Errorf("Start in a gap at midnight: %s", got)
	}
}

func TestNextOpenHorizon(t *testing.T) {
	loc := toronto(t)
	s := &routing.Schedule{
		Location: loc,
		Weekly:   routing.Weekly{rule(time.Monday, time.Friday, "08:30-16:30")},
		Closures: []routing.Closure{{Name: "Travaux", From: date(t, "2026-01-01"), To: date(t, "2026-11-30")}},
	}
	st := s.At(local(t, "2026-01-02 10:00"))
	if got := st.NextOpen.In(loc).Format("2006-01-02 15:04 MST"); got != "2026-12-01 08:30 EST" {
		t.Errorf("after a long closure: %s", got)
	}
	s.Closures[0].To = date(t, "2027-06-30")
	if st := s.At(local(t, "2026-01-02 10:00")); !st.NextOpen.IsZero() {
		t.Errorf("closed over a year: NextOpen %v, want zero", st.NextOpen)
	}
}
