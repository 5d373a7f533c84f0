package prompts

import (
	"strconv"
	"time"
)

// The functions below say runtime values (keys, numbers, times, days,
// dates) as lists of clip names, in the word order of the language. They
// use the French rules for "fr" and the English rules for any other
// language. A value they cannot say (a key that is not 0-9, * or #, a
// number out of range, an hour past 23) gives nil.

var weekdays = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var months = [12]string{"january", "february", "march", "april", "may", "june",
	"july", "august", "september", "october", "november", "december"}

// maxOrdinal is the highest ordinal with a clip (ord_1..ord_31).
const maxOrdinal = 31

func numName(n int) string { return "num_" + strconv.Itoa(n) }

// Digit names a telephone key: "0".."9", "*" (star, étoile) and "#"
// (pound, carré).
func Digit(lang, key string) []string {
	switch {
	case key == "*":
		return []string{"digit_star"}
	case key == "#":
		return []string{"digit_pound"}
	case len(key) == 1 && '0' <= key[0] && key[0] <= '9':
		return []string{"digit_" + key}
	}
	return nil
}

// Number says n, from 0 to 999: fr 71 "soixante et onze", 95
// "quatre-vingt-quinze", en 42 "forty two", 205 "two hundred five".
func Number(lang string, n int) []string {
	if lang == French {
		return frenchNumber(n, false)
	}
	return englishNumber(n)
}

// Minutes says a number of minutes with the noun agreeing: fr "une
// minute", "vingt et une minutes", en "one minute", "five minutes".
func Minutes(lang string, n int) []string {
	var out []string
	if lang == French {
		out = frenchNumber(n, true)
	} else {
		out = englishNumber(n)
	}
	if out == nil {
		return nil
	}
	// French takes the singular for 0 and 1, English for 1 only.
	if n == 1 || (n == 0 && lang == French) {
		return append(out, "minute")
	}
	return append(out, "minutes")
}

func englishNumber(n int) []string {
	switch {
	case n < 0 || n > 999:
		return nil
	case n < 60:
		return []string{numName(n)}
	case n < 100:
		out := []string{numName(n / 10 * 10)}
		if n%10 != 0 {
			out = append(out, numName(n%10))
		}
		return out
	}
	out := []string{numName(n / 100), "num_100"}
	if n%100 != 0 {
		out = append(out, englishNumber(n%100)...)
	}
	return out
}

// frenchNumber says n in French; feminine gives "une" for the 1 of 1, 21,
// 31, ... (une minute, vingt et une minutes).
func frenchNumber(n int, feminine bool) []string {
	switch {
	case n < 0 || n > 999:
		return nil
	case n < 60:
		if feminine && n%10 == 1 && n != 11 {
			return []string{"numf_" + strconv.Itoa(n)}
		}
		return []string{numName(n)}
	case n < 80:
		// soixante, soixante et un, soixante-deux ... soixante-dix,
		// soixante et onze, soixante-douze ...
		out := []string{"num_60"}
		switch r := n - 60; r {
		case 0:
		case 1:
			if feminine {
				return append(out, "num_and_1f")
			}
			return append(out, "num_and_1")
		case 11:
			return append(out, "num_and_11")
		default:
			out = append(out, numName(r))
		}
		return out
	case n < 100:
		// quatre-vingts, quatre-vingt-un ... quatre-vingt-dix,
		// quatre-vingt-onze ...
		out := []string{"num_80"}
		if r := n - 80; r != 0 {
			out = append(out, frenchNumber(r, feminine)...)
		}
		return out
	}
	// cent, cent un, deux cents, deux cent quinze ...
	var out []string
	if n >= 200 {
		out = append(out, numName(n/100))
	}
	out = append(out, "num_100")
	if r := n % 100; r != 0 {
		out = append(out, frenchNumber(r, feminine)...)
	}
	return out
}

// Time says a time of day: fr "huit heures trente", "seize heures trente",
// "midi", "minuit quinze"; en "eight thirty a.m.", "four thirty p.m.",
// "nine a.m.", "eight oh five a.m.", "noon", "midnight".
func Time(lang string, hour, min int) []string {
	if hour < 0 || hour > 23 || min < 0 || min > 59 {
		return nil
	}
	if lang == French {
		var out []string
		switch hour {
		case 0:
			out = []string{"minuit"}
		case 12:
			out = []string{"midi"}
		default:
			out = []string{"hour_" + strconv.Itoa(hour)}
		}
		if min > 0 {
			// Minutes are feminine: huit heures une, vingt et une.
			out = append(out, frenchNumber(min, true)...)
		}
		return out
	}
	if min == 0 && hour == 0 {
		return []string{"minuit"}
	}
	if min == 0 && hour == 12 {
		return []string{"midi"}
	}
	h := hour % 12
	if h == 0 {
		h = 12
	}
	out := []string{numName(h)}
	switch {
	case min == 0:
	case min < 10:
		out = append(out, "oh", numName(min))
	default:
		out = append(out, englishNumber(min)...)
	}
	if hour < 12 {
		return append(out, "am")
	}
	return append(out, "pm")
}

// Day names a day of the week.
func Day(lang string, d time.Weekday) []string {
	if d < time.Sunday || d > time.Saturday {
		return nil
	}
	return []string{"day_" + weekdays[d]}
}

// DayRange says a span of days: fr "du lundi au vendredi", en "Monday to
// Friday"; a single day when from and to are the same.
func DayRange(lang string, from, to time.Weekday) []string {
	first, last := Day(lang, from), Day(lang, to)
	if first == nil || last == nil {
		return nil
	}
	if from == to {
		return first
	}
	if lang == French {
		return []string{"day_from", first[0], "day_to", last[0]}
	}
	return []string{first[0], "day_to", last[0]}
}

// Hours says opening hours on a span of days: fr "du lundi au vendredi de
// huit heures trente à seize heures trente", en "Monday to Friday, eight
// thirty a.m. to four thirty p.m.". Play it after "hours_intro"; join two
// spans with "hours_and".
func Hours(lang string, from, to time.Weekday, openHour, openMin, closeHour, closeMin int) []string {
	days := DayRange(lang, from, to)
	open, closing := Time(lang, openHour, openMin), Time(lang, closeHour, closeMin)
	if days == nil || open == nil || closing == nil {
		return nil
	}
	out := append(days, "hours_from")
	out = append(out, open...)
	out = append(out, "hours_to")
	return append(out, closing...)
}

// Date says the day of t (in t's location): fr "le lundi 4 janvier", "le
// jeudi premier janvier", en "Monday, January 4th".
func Date(lang string, t time.Time) []string {
	day, month := "day_"+weekdays[t.Weekday()], "month_"+months[t.Month()-1]
	if lang == French {
		n := numName(t.Day())
		if t.Day() == 1 {
			n = "ord_1" // le premier janvier
		}
		return []string{"date_le", day, n, month}
	}
	return []string{day, month, "ord_" + strconv.Itoa(t.Day())}
}

// Reopening says when the office opens again: "Nous rouvrons" +
// ("plus tard aujourd'hui" | "demain" | the day, within six days | the date)
// + "à" + the time; en "We reopen" + ("later today" | "tomorrow" |
// "Tuesday" | "on Monday, January 4th") + "at" + the time. Days are
// counted on the calendar of at's location, so a change of daylight saving
// time does not move them; at is expected to be after now.
func Reopening(lang string, at, now time.Time) []string {
	out := []string{"reopening"}
	switch days := calendarDays(now.In(at.Location()), at); {
	case days == 0:
		out = append(out, "later_today")
	case days == 1:
		out = append(out, "tomorrow")
	case days > 1 && days <= 6:
		out = append(out, Day(lang, at.Weekday())...)
	default:
		if lang != French {
			out = append(out, "on")
		}
		out = append(out, Date(lang, at)...)
	}
	out = append(out, "at")
	return append(out, Time(lang, at.Hour(), at.Minute())...)
}

// calendarDays returns how many midnights lie between the dates of from and
// to, read in their own locations.
func calendarDays(from, to time.Time) int {
	y1, m1, d1 := from.Date()
	y2, m2, d2 := to.Date()
	a := time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)
	b := time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a) / (24 * time.Hour))
}

// QueuePosition says where a waiting caller stands: fr "Votre appel est le
// troisième en ligne." (ordinals up to 31), en "You are number three in
// line." (up to 999). Past that it says that several calls are waiting
// ahead ("queue_many").
func QueuePosition(lang string, n int) []string {
	if n < 1 {
		return nil
	}
	if lang == French {
		if n > maxOrdinal {
			return []string{"queue_many"}
		}
		return []string{"queue_position", "ord_" + strconv.Itoa(n), "queue_position_suffix"}
	}
	num := englishNumber(n)
	if num == nil {
		return []string{"queue_many"}
	}
	out := append([]string{"queue_position"}, num...)
	return append(out, "queue_position_suffix")
}

// maxDelayHours is where Delay stops saying hours that are not whole days:
// past it the amount would not fit Number (0 to 999).
const maxDelayHours = 999

// Delay says a callback delay, the amount spoken after
// "voicemail_callback" ("Nous vous rappellerons dans les", "We will call
// you back within"):
//
//   - under 2 hours, minutes: fr "trente minutes", "quatre-vingt-dix
//     minutes" (1 h 30), "soixante minutes" (1 h);
//   - from 2 to 72 hours, hours: "deux heures", "quarante-huit heures",
//     "soixante-douze heures" (the club's policy says "48 heures", not
//     "2 jours");
//   - past 72 hours, days when it is a whole number of them ("quatre
//     jours" for 96 h), hours otherwise ("cent heures"), and past 999
//     hours days again.
//
// Each unit rounds up (47 h 30 is "48 heures", 100 h past 999 hours is
// days rounded up): a "within" promise that says more than the delay the
// club keeps is still kept, one that says less is not. For the same reason
// the amount is never below 2 (30 s says "deux minutes"), so it is always
// a plural and fits "dans les". In French the hours and minutes are
// feminine ("vingt et une heures") and the days masculine ("vingt et un
// jours"). It returns nil for a delay of zero or less, or more than 999
// days.
func Delay(lang string, d time.Duration) []string {
	if d <= 0 {
		return nil
	}
	const day = 24 * time.Hour
	var n int
	var unit string
	switch {
	case d < 2*time.Hour:
		n, unit = ceilDiv(d, time.Minute), "minutes"
	case d <= 72*time.Hour:
		n, unit = ceilDiv(d, time.Hour), "hours"
	case d%day == 0:
		n, unit = int(d/day), "days"
	case ceilDiv(d, time.Hour) <= maxDelayHours:
		n, unit = ceilDiv(d, time.Hour), "hours"
	default:
		n, unit = ceilDiv(d, day), "days"
	}
	n = max(n, 2)
	var out []string
	if lang == French {
		out = frenchNumber(n, unit != "days")
	} else {
		out = englishNumber(n)
	}
	if out == nil {
		return nil
	}
	return append(out, unit)
}

// ceilDiv returns d/unit rounded up, capped so that it fits an int on
// every platform; a delay that large is said by no one.
func ceilDiv(d, unit time.Duration) int {
	n := d / unit
	if d%unit != 0 {
		n++
	}
	return int(min(n, 1<<30))
}

// VoicemailInstruction says what a caller hears before the beep, with the
// callback delay the club keeps: "voicemail" ("Laissez votre nom, votre
// numéro de téléphone et la raison de votre appel après le signal.") +
// "voicemail_callback" ("Nous vous rappellerons dans les") + Delay(within)
// + "voicemail_end" ("Appuyez sur le carré pour terminer."). A delay that
// Delay cannot say leaves the promise out rather than say a wrong one.
//
// An admin who records the instruction as one clip names it
// "voicemail_full"; the call script plays that instead, and it is not
// part of this.
func VoicemailInstruction(lang string, within time.Duration) []string {
	delay := Delay(lang, within)
	if delay == nil {
		return []string{"voicemail", "voicemail_end"}
	}
	out := make([]string, 0, len(delay)+3)
	out = append(out, "voicemail", "voicemail_callback")
	out = append(out, delay...)
	return append(out, "voicemail_end")
}
