package routing

import (
	"slices"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/aa"
	"github.com/rickar/cal/v2/ca"
)

// HolidaySet names the list of statutory holidays the office closes for.
type HolidaySet string

const (
	HolidaysNone   HolidaySet = "none"
	HolidaysQuebec HolidaySet = "quebec" // Quebec's statutory holidays (Loi sur les normes du travail, Loi sur la fête nationale)
	HolidaysCanada HolidaySet = "canada" // the federal list (Canada Labour Code)
)

// HolidaySets lists the valid sets, in the order docs present them.
var HolidaySets = []HolidaySet{HolidaysNone, HolidaysQuebec, HolidaysCanada}

// Valid reports whether h is a known set. The empty set counts as none.
func (h HolidaySet) Valid() bool { return h == "" || slices.Contains(HolidaySets, h) }

// Holiday is one day the office is closed for a statutory holiday.
type Holiday struct {
	// Key is the holiday's stable id ("fete_nationale"); its prompt is
	// named "holiday_" + Key.
	Key string
	// Name is the holiday's French name ("Fête nationale"); see HolidayName.
	Name string
	// Date is the day the office is closed.
	Date Date
	// Actual is the holiday's own date. It differs from Date on the day
	// off given in its place when it falls on a weekend (June 25 for a
	// Sunday June 24).
	Actual Date
}

// Observed reports whether h is the day off given in place of a holiday
// that fell on a weekend.
func (h Holiday) Observed() bool { return h.Date != h.Actual }

type holidayRule struct {
	key  string
	rule *cal.Holiday
}

// sundayToMonday is the only weekend rule Quebec law sets: Canada Day and
// the Fête nationale move to Monday when they fall on a Sunday. Other
// holidays stay on their date (the law gives employees another day off
// instead, at the employer's choice).
var sundayToMonday = []cal.AltDay{{Day: time.Sunday, Offset: 1}}

var quebecRules = []holidayRule{
	{"new_year", aa.NewYear},
	{"good_friday", aa.GoodFriday},
	{"easter_monday", aa.EasterMonday},
	{"patriots_day", &cal.Holiday{ // the Monday before May 25
		Name: "Journée nationale des patriotes", Type: cal.ObservancePublic,
		Month: time.May, Weekday: time.Monday, Offset: -2, Func: cal.CalcWeekdayOffset,
	}},
	{"fete_nationale", &cal.Holiday{
		Name: "Fête nationale", Type: cal.ObservancePublic,
		Month: time.June, Day: 24, Observed: sundayToMonday, Func: cal.CalcDayOfMonth,
	}},
	{"canada_day", ca.CanadaDay.Clone(&cal.Holiday{Observed: sundayToMonday})},
	{"labour_day", ca.LabourDay},
	{"thanksgiving", ca.ThanksgivingDay},
	{"christmas", aa.ChristmasDay},
}

// canadaRules follow the federal practice kept by rickar/cal: a holiday on
// a Saturday or Sunday moves to the next Monday (Boxing Day to the
// Tuesday when Christmas takes the Monday).
var canadaRules = []holidayRule{
	{"new_year", ca.NewYear},
	{"good_friday", ca.GoodFriday},
	{"easter_monday", ca.EasterMonday},
	{"victoria_day", ca.VictoriaDay},
	{"canada_day", ca.CanadaDay},
	{"labour_day", ca.LabourDay},
	{"truth_reconciliation", ca.NationalDayForTruthAndReconciliation},
	{"thanksgiving", ca.ThanksgivingDay},
	{"remembrance_day", ca.RemembranceDay},
	{"christmas", ca.ChristmasDay},
	{"boxing_day", ca.BoxingDay},
}

func (h HolidaySet) rules() []holidayRule {
	switch h {
	case HolidaysQuebec:
		return quebecRules
	case HolidaysCanada:
		return canadaRules
	}
	return nil
}

// Keys lists the ids of the set's holidays, in calendar order.
func (h HolidaySet) Keys() []string {
	var keys []string
	for _, r := range h.rules() {
		keys = append(keys, r.key)
	}
	return keys
}

// Year lists the days the office is closed for the set's holidays in a
// year, sorted by date. A holiday that falls on a weekend and has a day
// off in its place gives two entries: its own date and the day off.
func (h HolidaySet) Year(year int) []Holiday {
	var out []Holiday
	for _, r := range h.rules() {
		actual, observed := r.rule.Calc(year)
		if actual.IsZero() {
			continue
		}
		hd := Holiday{Key: r.key, Name: HolidayName(r.key, "fr"), Date: DateOf(actual), Actual: DateOf(actual)}
		out = append(out, hd)
		if o := DateOf(observed); o != hd.Actual {
			hd.Date = o
			out = append(out, hd)
		}
	}
	// By date; on a day shared by a holiday and another's day off, the
	// holiday itself comes first and names the day.
	slices.SortStableFunc(out, func(a, b Holiday) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		switch {
		case !a.Observed() && b.Observed():
			return -1
		case a.Observed() && !b.Observed():
			return 1
		}
		return 0
	})
	return out
}

// On is the holiday the office closes for on day d, if any.
func (h HolidaySet) On(d Date) (Holiday, bool) {
	for _, hd := range h.Year(d.Year) {
		if hd.Date == d {
			return hd, true
		}
	}
	return Holiday{}, false
}

var holidayNames = map[string][2]string{ // key: {fr, en}
	"new_year":             {"Jour de l'An", "New Year's Day"},
	"good_friday":          {"Vendredi saint", "Good Friday"},
	"easter_monday":        {"Lundi de Pâques", "Easter Monday"},
	"patriots_day":         {"Journée nationale des patriotes", "National Patriots' Day"},
	"victoria_day":         {"Fête de Victoria", "Victoria Day"},
	"fete_nationale":       {"Fête nationale", "Fête nationale (Saint-Jean-Baptiste Day)"},
	"canada_day":           {"Fête du Canada", "Canada Day"},
	"labour_day":           {"Fête du Travail", "Labour Day"},
	"truth_reconciliation": {"Journée nationale de la vérité et de la réconciliation", "National Day for Truth and Reconciliation"},
	"thanksgiving":         {"Action de grâce", "Thanksgiving"},
	"remembrance_day":      {"Jour du Souvenir", "Remembrance Day"},
	"christmas":            {"Noël", "Christmas Day"},
	"boxing_day":           {"Lendemain de Noël", "Boxing Day"},
}

// HolidayName is the name of a holiday in a language ("fr" or "en"; any
// other language gets French). An unknown key is returned as is.
func HolidayName(key, lang string) string {
	n, ok := holidayNames[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return n[1]
	}
	return n[0]
}
