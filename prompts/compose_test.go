package prompts_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/prompts"
)

func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

func check(t *testing.T, call string, got []string, want string) {
	t.Helper()
	if !slices.Equal(got, words(want)) {
		t.Errorf("%s = %q, want %q", call, strings.Join(got, " "), want)
	}
}

func TestDigit(t *testing.T) {
	for _, lang := range []string{"fr", "en"} {
		for _, tt := range []struct{ key, want string }{
			{"0", "digit_0"}, {"1", "digit_1"}, {"9", "digit_9"},
			{"*", "digit_star"}, {"#", "digit_pound"},
			{"", ""}, {"12", ""}, {"a", ""}, {"A", ""},
		} {
			check(t, fmt.Sprintf("Digit(%s, %q)", lang, tt.key), prompts.Digit(lang, tt.key), tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		lang string
		n    int
		want string
	}{
		{"fr", 0, "num_0"},
		{"fr", 7, "num_7"},
		{"fr", 21, "num_21"},
		{"fr", 59, "num_59"},
		{"fr", 60, "num_60"},
		{"fr", 61, "num_60 num_and_1"},
		{"fr", 65, "num_60 num_5"},
		{"fr", 70, "num_60 num_10"},
		{"fr", 71, "num_60 num_and_11"},
		{"fr", 77, "num_60 num_17"},
		{"fr", 80, "num_80"},
		{"fr", 81, "num_80 num_1"},
		{"fr", 90, "num_80 num_10"},
		{"fr", 91, "num_80 num_11"},
		{"fr", 99, "num_80 num_19"},
		{"fr", 100, "num_100"},
		{"fr", 101, "num_100 num_1"},
		{"fr", 200, "num_2 num_100"},
		{"fr", 371, "num_3 num_100 num_60 num_and_11"},
		{"fr", 999, "num_9 num_100 num_80 num_19"},
		{"fr", -1, ""},
		{"fr", 1000, ""},
		{"en", 0, "num_0"},
		{"en", 13, "num_13"},
		{"en", 42, "num_42"},
		{"en", 60, "num_60"},
		{"en", 61, "num_60 num_1"},
		{"en", 75, "num_70 num_5"},
		{"en", 99, "num_90 num_9"},
		{"en", 100, "num_1 num_100"},
		{"en", 205, "num_2 num_100 num_5"},
		{"en", 999, "num_9 num_100 num_90 num_9"},
		{"en", -5, ""},
		{"en", 1000, ""},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("Number(%s, %d)", tt.lang, tt.n), prompts.Number(tt.lang, tt.n), tt.want)
	}
}

func TestMinutes(t *testing.T) {
	tests := []struct {
		lang string
		n    int
		want string
	}{
		{"fr", 0, "num_0 minute"},
		{"fr", 1, "numf_1 minute"},
		{"fr", 2, "num_2 minutes"},
		{"fr", 11, "num_11 minutes"},
		{"fr", 21, "numf_21 minutes"},
		{"fr", 51, "numf_51 minutes"},
		{"fr", 61, "num_60 num_and_1f minutes"},
		{"fr", 71, "num_60 num_and_11 minutes"},
		{"fr", 81, "num_80 numf_1 minutes"},
		{"fr", 121, "num_100 numf_21 minutes"},
		{"fr", -1, ""},
		{"en", 0, "num_0 minutes"},
		{"en", 1, "num_1 minute"},
		{"en", 5, "num_5 minutes"},
		{"en", 21, "num_21 minutes"},
		{"en", 1000, ""},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("Minutes(%s, %d)", tt.lang, tt.n), prompts.Minutes(tt.lang, tt.n), tt.want)
	}
}

func TestTime(t *testing.T) {
	tests := []struct {
		lang      string
		hour, min int
		want      string
	}{
		{"fr", 8, 30, "hour_8 num_30"},
		{"fr", 16, 30, "hour_16 num_30"},
		{"fr", 8, 5, "hour_8 num_5"},
		{"fr", 9, 0, "hour_9"},
		{"fr", 12, 0, "midi"},
		{"fr", 12, 30, "midi num_30"},
		{"fr", 0, 0, "minuit"},
		{"fr", 0, 15, "minuit num_15"},
		{"fr", 1, 0, "hour_1"},
		{"fr", 8, 1, "hour_8 numf_1"},
		{"fr", 13, 21, "hour_13 numf_21"},
		{"fr", 23, 59, "hour_23 num_59"},
		{"en", 8, 30, "num_8 num_30 am"},
		{"en", 16, 30, "num_4 num_30 pm"},
		{"en", 8, 5, "num_8 oh num_5 am"},
		{"en", 9, 0, "num_9 am"},
		{"en", 12, 0, "midi"},
		{"en", 12, 30, "num_12 num_30 pm"},
		{"en", 0, 0, "minuit"},
		{"en", 0, 30, "num_12 num_30 am"},
		{"en", 13, 0, "num_1 pm"},
		{"en", 23, 59, "num_11 num_59 pm"},
		{"en", 11, 10, "num_11 num_10 am"},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("Time(%s, %d, %d)", tt.lang, tt.hour, tt.min), prompts.Time(tt.lang, tt.hour, tt.min), tt.want)
	}
	for _, bad := range [][2]int{{24, 0}, {-1, 0}, {8, 60}, {8, -1}} {
		for _, lang := range []string{"fr", "en"} {
			check(t, fmt.Sprintf("Time(%s, %d, %d)", lang, bad[0], bad[1]), prompts.Time(lang, bad[0], bad[1]), "")
		}
	}
}

func TestDays(t *testing.T) {
	check(t, "Day(fr, Monday)", prompts.Day("fr", time.Monday), "day_monday")
	check(t, "Day(en, Sunday)", prompts.Day("en", time.Sunday), "day_sunday")
	check(t, "Day(en, 7)", prompts.Day("en", 7), "")
	check(t, "DayRange(fr, Mon, Fri)", prompts.DayRange("fr", time.Monday, time.Friday), "day_from day_monday day_to day_friday")
	check(t, "DayRange(en, Mon, Fri)", prompts.DayRange("en", time.Monday, time.Friday), "day_monday day_to day_friday")
	check(t, "DayRange(fr, Sat, Sat)", prompts.DayRange("fr", time.Saturday, time.Saturday), "day_saturday")
	check(t, "DayRange(en, Sat, Sat)", prompts.DayRange("en", time.Saturday, time.Saturday), "day_saturday")
	check(t, "DayRange(fr, Sat, Sun)", prompts.DayRange("fr", time.Saturday, time.Sunday), "day_from day_saturday day_to day_sunday")
}

func TestHours(t *testing.T) {
	check(t, "Hours(fr)", prompts.Hours("fr", time.Monday, time.Friday, 8, 30, 16, 30),
		"day_from day_monday day_to day_friday hours_from hour_8 num_30 hours_to hour_16 num_30")
	check(t, "Hours(en)", prompts.Hours("en", time.Monday, time.Friday, 8, 30, 16, 30),
		"day_monday day_to day_friday hours_from num_8 num_30 am hours_to num_4 num_30 pm")
	check(t, "Hours(fr, Sat)", prompts.Hours("fr", time.Saturday, time.Saturday, 9, 0, 12, 0),
		"day_saturday hours_from hour_9 hours_to midi")
	check(t, "Hours(en, bad)", prompts.Hours("en", time.Monday, time.Friday, 25, 0, 12, 0), "")
}

func TestDate(t *testing.T) {
	tests := []struct {
		lang string
		date time.Time
		want string
	}{
		{"fr", time.Date(2021, 1, 4, 9, 0, 0, 0, time.UTC), "date_le day_monday num_4 month_january"},
		{"fr", time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), "date_le day_thursday ord_1 month_january"},
		{"fr", time.Date(2026, 6, 24, 9, 0, 0, 0, time.UTC), "date_le day_wednesday num_24 month_june"},
		{"fr", time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC), "date_le day_thursday num_31 month_december"},
		{"en", time.Date(2021, 1, 4, 9, 0, 0, 0, time.UTC), "day_monday month_january ord_4"},
		{"en", time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), "day_thursday month_january ord_1"},
		{"en", time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC), "day_thursday month_december ord_31"},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("Date(%s, %s)", tt.lang, tt.date.Format(time.DateOnly)), prompts.Date(tt.lang, tt.date), tt.want)
	}
	// The date is read in the time's own location.
	montreal := loadLocation(t, "America/Toronto")
	late := time.Date(2026, 1, 4, 23, 30, 0, 0, montreal) // 04:30 UTC on the 5th
	check(t, "Date(en, late)", prompts.Date("en", late), "day_sunday month_january ord_4")
}

func loadLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	return loc
}

func TestReopening(t *testing.T) {
	tz := loadLocation(t, "America/Toronto")
	at := func(month time.Month, day, hour, min int) time.Time {
		return time.Date(2026, month, day, hour, min, 0, 0, tz)
	}
	friday := at(1, 9, 17, 0) // Friday 9 January 2026, 17:00
	tests := []struct {
		name    string
		at, now time.Time
		fr, en  string
	}{
		{"later today", at(1, 9, 19, 0), friday,
			"reopening later_today at hour_19",
			"reopening later_today at num_7 pm"},
		{"tomorrow", at(1, 10, 8, 30), friday,
			"reopening tomorrow at hour_8 num_30",
			"reopening tomorrow at num_8 num_30 am"},
		{"after the weekend", at(1, 12, 8, 30), friday,
			"reopening day_monday at hour_8 num_30",
			"reopening day_monday at num_8 num_30 am"},
		{"six days", at(1, 15, 12, 0), friday,
			"reopening day_thursday at midi",
			"reopening day_thursday at midi"},
		{"seven days", at(1, 16, 8, 5), friday,
			"reopening date_le day_friday num_16 month_january at hour_8 num_5",
			"reopening on day_friday month_january ord_16 at num_8 oh num_5 am"},
		{"after the holidays", at(1, 5, 9, 0), at(12, 23, 16, 30).AddDate(-1, 0, 0),
			"reopening date_le day_monday num_5 month_january at hour_9",
			"reopening on day_monday month_january ord_5 at num_9 am"},
		{"just before midnight", at(1, 10, 0, 30), at(1, 9, 23, 59),
			"reopening tomorrow at minuit num_30",
			"reopening tomorrow at num_12 num_30 am"},
		// 02:00 UTC on the 10th is still the 9th in Toronto.
		{"now in UTC", at(1, 10, 8, 30), time.Date(2026, 1, 10, 2, 0, 0, 0, time.UTC),
			"reopening tomorrow at hour_8 num_30",
			"reopening tomorrow at num_8 num_30 am"},
		// Clocks spring forward on Sunday 8 March 2026: Saturday 23:00 to
		// Monday 08:00 is 32 hours yet two days on the calendar.
		{"across daylight saving time", at(3, 9, 8, 0), at(3, 7, 23, 0),
			"reopening day_monday at hour_8",
			"reopening day_monday at num_8 am"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "Reopening(fr)", prompts.Reopening("fr", tt.at, tt.now), tt.fr)
			check(t, "Reopening(en)", prompts.Reopening("en", tt.at, tt.now), tt.en)
		})
	}
}

func TestQueuePosition(t *testing.T) {
	check(t, "QueuePosition(fr, 1)", prompts.QueuePosition("fr", 1), "queue_position ord_1 queue_position_suffix")
	check(t, "QueuePosition(fr, 31)", prompts.QueuePosition("fr", 31), "queue_position ord_31 queue_position_suffix")
	check(t, "QueuePosition(fr, 32)", prompts.QueuePosition("fr", 32), "queue_many")
	check(t, "QueuePosition(en, 3)", prompts.QueuePosition("en", 3), "queue_position num_3 queue_position_suffix")
	check(t, "QueuePosition(en, 75)", prompts.QueuePosition("en", 75), "queue_position num_70 num_5 queue_position_suffix")
	check(t, "QueuePosition(en, 1000)", prompts.QueuePosition("en", 1000), "queue_many")
	check(t, "QueuePosition(fr, 0)", prompts.QueuePosition("fr", 0), "")
}

func TestDelay(t *testing.T) {
	h, m := time.Hour, time.Minute
	tests := []struct {
		d      time.Duration
		fr, en string
	}{
		{48 * h, "num_48 hours", "num_48 hours"},
		{72 * h, "num_60 num_12 hours", "num_70 num_2 hours"},
		{2 * h, "num_2 hours", "num_2 hours"},
		{30 * m, "num_30 minutes", "num_30 minutes"},
		{96 * h, "num_4 days", "num_4 days"},
		{24 * h, "num_24 hours", "num_24 hours"},
		// Under 2 hours, minutes: never a singular after "dans les".
		{h, "num_60 minutes", "num_60 minutes"},
		{90 * m, "num_80 num_10 minutes", "num_90 minutes"},
		{119 * m, "num_100 num_19 minutes", "num_1 num_100 num_19 minutes"},
		{30 * time.Second, "num_2 minutes", "num_2 minutes"},
		{m, "num_2 minutes", "num_2 minutes"},
		{21 * m, "numf_21 minutes", "num_21 minutes"},
		// Hours are feminine in French, days masculine.
		{21 * h, "numf_21 hours", "num_21 hours"},
		{61 * h, "num_60 num_and_1f hours", "num_60 num_1 hours"},
		{21 * 24 * h, "num_21 days", "num_21 days"},
		// Rounded up: the promise is never shorter than the delay.
		{47*h + 30*m, "num_48 hours", "num_48 hours"},
		{2*h + time.Second, "num_3 hours", "num_3 hours"},
		{72*h + m, "num_60 num_13 hours", "num_70 num_3 hours"},
		// Past 72 hours, days only when whole.
		{100 * h, "num_100 hours", "num_1 num_100 hours"},
		{999 * h, "num_9 num_100 num_80 num_19 hours", "num_9 num_100 num_90 num_9 hours"},
		{1000 * h, "num_42 days", "num_42 days"},
		{999 * 24 * h, "num_9 num_100 num_80 num_19 days", "num_9 num_100 num_90 num_9 days"},
		{1000 * 24 * h, "", ""},
		{0, "", ""},
		{-h, "", ""},
		{1<<63 - 1, "", ""},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("Delay(fr, %s)", tt.d), prompts.Delay("fr", tt.d), tt.fr)
		check(t, fmt.Sprintf("Delay(en, %s)", tt.d), prompts.Delay("en", tt.d), tt.en)
	}
}

func TestVoicemailInstruction(t *testing.T) {
	check(t, "VoicemailInstruction(fr, 48h)", prompts.VoicemailInstruction("fr", 48*time.Hour),
		"voicemail voicemail_callback num_48 hours voicemail_end")
	check(t, "VoicemailInstruction(en, 72h)", prompts.VoicemailInstruction("en", 72*time.Hour),
		"voicemail voicemail_callback num_70 num_2 hours voicemail_end")
	check(t, "VoicemailInstruction(fr, 2h)", prompts.VoicemailInstruction("fr", 2*time.Hour),
		"voicemail voicemail_callback num_2 hours voicemail_end")
	// A delay Delay cannot say: no promise rather than a wrong one.
	check(t, "VoicemailInstruction(fr, 0)", prompts.VoicemailInstruction("fr", 0), "voicemail voicemail_end")
}
