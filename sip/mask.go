package sip

import "strings"

// MaskNumber hides the middle of a phone number or SIP user so it can go in a
// log line (Quebec's Law 25: numbers are personal information). A number of
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
