package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Phone numbers the file gives for clubline to dial (staff.phone, a
// number in urgency.fallback, a trunk's numbers and caller_id) are kept in
// E.164, "+" and the country code: the one form every provider takes, and
// one form to compare (a number in two trunks, a staff phone that is the
// club's own number). The club is North American, so a number without
// its country code is read as one of the North American Numbering Plan.

// numberExample is the number the fixes show.
const numberExample = `"+15145550199"`

// NormalizeNumber reads a phone number as an admin writes it and returns
// it in E.164: "+" and 8 to 15 digits is taken as is; ten digits whose
// area code starts with 2-9 ("5145550199") get "+1"; eleven digits
// starting with 1 ("15145550199") get "+". Anything else, spaces and
// dashes included, is refused: msg says why and fix what to write, the
// E.164 form itself when it can be guessed. msg is empty when s is valid.
func NormalizeNumber(s string) (e164, msg, fix string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "is empty", "write the number with its country code, e.g. " + numberExample
	}
	digits, plus := strings.CutPrefix(s, "+")
	if !digitsPattern.MatchString(digits) {
		return "", fmt.Sprintf("%q is not a phone number", s), formattingFix(s, NormalizeNumber)
	}
	if plus {
		switch {
		case digits[0] == '0':
			return "", fmt.Sprintf("%q is not a phone number: no country code starts with 0", s),
				"write + then the country code and the number, e.g. " + numberExample
		case len(digits) < 8 || len(digits) > 15:
			return "", fmt.Sprintf("%q is not a phone number: after the + come the country code and the number, 8 to 15 digits", s),
				"write the whole number, e.g. " + numberExample
		}
		return s, "", ""
	}
	switch {
	case len(digits) == 10 && isNXX(digits):
		return "+1" + digits, "", ""
	case len(digits) == 11 && digits[0] == '1' && isNXX(digits[1:]):
		return "+" + digits, "", ""
	case strings.HasPrefix(digits, "011") && international(digits[3:]):
		return "", fmt.Sprintf("%q starts with 011, the prefix for calling abroad from North America", s),
			fmt.Sprintf("write %q", "+"+digits[3:])
	case strings.HasPrefix(digits, "00") && international(digits[2:]):
		return "", fmt.Sprintf("%q starts with 00, the prefix for calling abroad", s),
			fmt.Sprintf("write %q", "+"+digits[2:])
	case len(digits) == 7:
		return "", fmt.Sprintf("%q is not a whole phone number: the area code is missing", s),
			fmt.Sprintf("write it with + and the area code, e.g. %q if the area code is 514", "+1514"+digits)
	case len(digits) < 7:
		return "", fmt.Sprintf("%q is not a whole phone number (an extension is not rung this way)", s),
			"write an outside number with its area code, e.g. " + numberExample
	case len(digits) == 10 || (len(digits) == 11 && digits[0] == '1'):
		return "", fmt.Sprintf("%q is not a North American number: area codes do not start with 0 or 1", s),
			"write + then the country code and the number, e.g. \"+33123456789\" for France"
	}
	return "", fmt.Sprintf("%q is not a phone number clubline can read without its country code", s),
		"write + then the country code and the number, e.g. " + numberExample
}

// normalizeIn is NormalizeNumber for a trunk of another country than
// North America: there a number written without "+" is that country's,
// and the fix puts its country code in front (after its trunk prefix 0, if
// any, is dropped).
func normalizeIn(s, countryCode string) (e164, msg, fix string) {
	s = strings.TrimSpace(s)
	if countryCode == "" || countryCode == DefaultCountryCode || strings.HasPrefix(s, "+") {
		return NormalizeNumber(s)
	}
	if !digitsPattern.MatchString(s) {
		if s == "" {
			return NormalizeNumber(s)
		}
		return "", fmt.Sprintf("%q is not a phone number", s), formattingFix(s, func(s string) (string, string, string) { return normalizeIn(s, countryCode) })
	}
	guess := "+" + countryCode + strings.TrimPrefix(s, "0")
	if strings.HasPrefix(s, countryCode) && !strings.HasPrefix(s, "0") {
		guess = "+" + s
	}
	return "", fmt.Sprintf("%q lacks its country code: this trunk's numbers are written in international form", s),
		fmt.Sprintf("write %q (+%s, the trunk's country_code, then the number)", guess, countryCode)
}

// formattingFix is the fix for a number written with spaces, dashes,
// dots or parentheses: the same digits, in E.164 when norm can read them.
func formattingFix(s string, norm func(string) (string, string, string)) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '+' && i == 0:
			b.WriteRune(r)
		case strings.ContainsRune(" -.()/", r):
		default:
			return "write digits only, e.g. " + numberExample
		}
	}
	only := b.String()
	if strings.TrimPrefix(only, "+") == "" {
		return "write digits only, e.g. " + numberExample
	}
	if e164, msg, fix := norm(only); msg == "" {
		return fmt.Sprintf("write %q: digits only, no spaces or dashes", e164)
	} else if m := quotedWrite.FindString(fix); m != "" {
		return m + ": digits only, no spaces or dashes"
	}
	return fmt.Sprintf("write %q with its country code: digits only, no spaces or dashes", only)
}

// quotedWrite is the number a fix writes: `write "+33123456789"`.
var quotedWrite = regexp.MustCompile(`^write "\+?[0-9]+"`)

// isNXX reports whether ten digits start like a North American number:
// an area code whose first digit is 2-9.
func isNXX(ten string) bool { return ten[0] >= '2' && ten[0] <= '9' }

// international reports whether digits after an international prefix
// make an E.164 number.
func international(digits string) bool {
	return len(digits) >= 8 && len(digits) <= 15 && digits[0] != '0'
}
