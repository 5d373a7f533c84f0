package sipx

import "strings"

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
