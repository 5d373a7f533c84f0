package routing_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/clubline/clubline/routing"
)

// yearList renders a year's holidays as "key date" lines; a day off in
// place of a weekend holiday is marked "(observed)".
func yearList(set routing.HolidaySet, year int) string {
	var b strings.Builder
	for _, h := range set.Year(year) {
		fmt.Fprintf(&b, "%s %s", h.Date, h.Key)
		if h.Observed() {
			b.WriteString(" (observed)")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestQuebecHolidays(t *testing.T) {
	want := map[int]string{
		2025: `2025-01-01 new_year
2025-04-18 good_friday
2025-04-21 easter_monday
2025-05-19 patriots_day
2025-06-24 fete_nationale
2025-07-01 canada_day
2025-09-01 labour_day
2025-10-13 thanksgiving
2025-12-25 christmas
`,
		2026: `2026-01-01 new_year
2026-04-03 good_friday
2026-04-06 easter_monday
2026-05-18 patriots_day
2026-06-24 fete_nationale
2026-07-01 canada_day
2026-09-07 labour_day
2026-10-12 thanksgiving
2026-12-25 christmas
`,
		2027: `2027-01-01 new_year
2027-03-26 good_friday
2027-03-29 easter_monday
2027-05-24 patriots_day
2027-06-24 fete_nationale
2027-07-01 canada_day
2027-09-06 labour_day
2027-10-11 thanksgiving
2027-12-25 christmas
`,
		// June 24 and July 1 on a Saturday: Quebec moves neither.
		2028: `2028-01-01 new_year
2028-04-14 good_friday
2028-04-17 easter_monday
2028-05-22 patriots_day
2028-06-24 fete_nationale
2028-07-01 canada_day
2028-09-04 labour_day
2028-10-09 thanksgiving
2028-12-25 christmas
`,
		// June 24 and July 1 on a Sunday: the Monday after is the day off.
		2029: `2029-01-01 new_year
2029-03-30 good_friday
2029-04-02 easter_monday
2029-05-21 patriots_day
2029-06-24 fete_nationale
2029-06-25 fete_nationale (observed)
2029-07-01 canada_day
2029-07-02 canada_day (observed)
2029-09-03 labour_day
2029-10-08 thanksgiving
2029-12-25 christmas
`,
		2030: `2030-01-01 new_year
2030-04-19 good_friday
2030-04-22 easter_monday
2030-05-20 patriots_day
2030-06-24 fete_nationale
2030-07-01 canada_day
2030-09-02 labour_day
2030-10-14 thanksgiving
2030-12-25 christmas
`,
	}
	for year := 2025; year <= 2030; year++ {
		if got := yearList(routing.HolidaysQuebec, year); got != want[year] {
			t.Errorf("Quebec %d:\ngot\n%swant\n%s", year, got, want[year])
		}
	}
}

func TestCanadaHolidays(t *testing.T) {
	want := map[int]string{
		2027: `2027-01-01 new_year
2027-03-26 good_friday
2027-03-29 easter_monday
2027-05-24 victoria_day
2027-07-01 canada_day
2027-09-06 labour_day
2027-09-30 truth_reconciliation
2027-10-11 thanksgiving
2027-11-11 remembrance_day
2027-12-25 christmas
2027-12-26 boxing_day
2027-12-27 christmas (observed)
2027-12-28 boxing_day (observed)
`,
		2028: `2028-01-01 new_year
2028-01-03 new_year (observed)
2028-04-14 good_friday
2028-04-17 easter_monday
2028-05-22 victoria_day
2028-07-01 canada_day
2028-07-03 canada_day (observed)
2028-09-04 labour_day
2028-09-30 truth_reconciliation
2028-10-02 truth_reconciliation (observed)
2028-10-09 thanksgiving
2028-11-11 remembrance_day
2028-11-13 remembrance_day (observed)
2028-12-25 christmas
2028-12-26 boxing_day
`,
		2029: `2029-01-01 new_year
2029-03-30 good_friday
2029-04-02 easter_monday
2029-05-21 victoria_day
2029-07-01 canada_day
2029-07-02 canada_day (observed)
2029-09-03 labour_day
2029-09-30 truth_reconciliation
2029-10-01 truth_reconciliation (observed)
2029-10-08 thanksgiving
2029-11-11 remembrance_day
2029-11-12 remembrance_day (observed)
2029-12-25 christmas
2029-12-26 boxing_day
`,
	}
	for year, w := range want {
		if got := yearList(routing.HolidaysCanada, year); got != w {
			t.Errorf("Canada %d:\ngot\n%swant\n%s", year, got, w)
		}
	}
}

func TestHolidaySetNoneAndOn(t *testing.T) {
	if got := routing.HolidaysNone.Year(2027); len(got) != 0 {
		t.Errorf("none: got %v", got)
	}
	h, ok := routing.HolidaysQuebec.On(routing.Date{Year: 2029, Month: 6, Day: 25})
	if !ok || h.Key != "fete_nationale" || !h.Observed() || h.Actual.String() != "2029-06-24" {
		t.Errorf("On(2029-06-25) = %+v, %v", h, ok)
	}
	if _, ok := routing.HolidaysQuebec.On(routing.Date{Year: 2028, Month: 6, Day: 26}); ok {
		t.Error("Monday 2028-06-26 is no holiday: June 24 2028 is a Saturday")
	}
	for _, s := range []routing.HolidaySet{"", "none", "quebec", "canada"} {
		if !s.Valid() {
			t.Errorf("%q should be valid", s)
		}
	}
	if routing.HolidaySet("ontario").Valid() {
		t.Error("ontario should not be valid")
	}
}

func TestHolidayName(t *testing.T) {
	tests := []struct{ key, lang, want string }{
		{"fete_nationale", "fr", "Fête nationale"},
		{"patriots_day", "fr", "Journée nationale des patriotes"},
		{"patriots_day", "en", "National Patriots' Day"},
		{"thanksgiving", "fr", "Action de grâce"},
		{"christmas", "en", "Christmas Day"},
		{"christmas", "de", "Noël"},
		{"nope", "fr", "nope"},
	}
	for _, tt := range tests {
		if got := routing.HolidayName(tt.key, tt.lang); got != tt.want {
			t.Errorf("HolidayName(%q, %q) = %q, want %q", tt.key, tt.lang, got, tt.want)
		}
	}
	// Every key of both sets has a name in both languages.
	for _, set := range []routing.HolidaySet{routing.HolidaysQuebec, routing.HolidaysCanada} {
		for _, k := range set.Keys() {
			if routing.HolidayName(k, "fr") == k || routing.HolidayName(k, "en") == k {
				t.Errorf("%s: %s has no name", set, k)
			}
		}
	}
}
