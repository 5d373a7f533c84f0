package clubline

import "strings"

// A caller's number is personal information (Quebec's Law 25): it is kept
// in the call's record and shown in full only where someone needs it to
// call back. Everywhere else it is masked with MaskNumber.

// MaskNumber hides the middle of a phone number or SIP user so it can go in a
// log line, an e-mail or a page. A number of
// nine digits or more keeps its country and area code and its last four
// digits ("+15145550101" → "+1514***0101"); a shorter one keeps its last two
// ("5550101" → "***01"); anything of four characters or fewer, and any name
// that is not a number, keeps only its first character ("alice" → "a***").
// The empty string stays empty.
func MaskNumber(s string) string {
	if s == "" {
		return ""
	}
	plus := ""
	digits := s
	if strings.HasPrefix(s, "+") {
		plus, digits = "+", s[1:]
	}
	if !isDigits(digits) {
		// A SIP user name such as "alice" or "anonymous": keep one letter.
		r := []rune(s)
		return string(r[0]) + "***"
	}
	switch n := len(digits); {
	case n >= 9:
		return plus + digits[:4] + "***" + digits[n-4:]
	case n > 4:
		return plus + "***" + digits[n-2:]
	default:
		return plus + "***"
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Digits returns the digits of a phone number written with separators
// ("+1 (514) 555-0101" → "15145550101"), or "" if s is not a number.
func Digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' || c == '-' || c == ' ' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	return b.String()
}

// SameNumber reports whether two phone numbers are the same whatever
// their form: the same digits, or one the other's national form (ten
// digits or more, one ending the other: "5145550101" and "+15145550101").
// A caller's history and a Law 25 request find their records with it.
func SameNumber(a, b string) bool {
	da, db := Digits(a), Digits(b)
	switch {
	case da == "" || db == "":
		return false
	case da == db:
		return true
	case len(da) >= 10 && len(db) >= 10:
		return strings.HasSuffix(da, db) || strings.HasSuffix(db, da)
	}
	return false
}
