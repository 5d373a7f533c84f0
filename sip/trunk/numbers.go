package trunk

import (
	"strings"

	"github.com/clubline/clubline/sip/internal/sipx"
)

// Numbers: the config writes every number in E.164 ("+15145550199"); a
// provider may want it otherwise when dialled, and may write the club's
// number otherwise when it delivers a call.

// DialString is how number (E.164) is written in the request-URI of a
// call placed through the trunk: as is (e164), without the plus
// (national: "15145550199"), or without the country code either (local:
// "5145550199").
func (t *Trunk) DialString(number string) string {
	digits := strings.TrimPrefix(number, "+")
	switch t.a.DialFormat {
	case FormatNational:
		return digits
	case FormatLocal:
		if strings.HasPrefix(number, "+"+t.a.CountryCode) {
			return strings.TrimPrefix(digits, t.a.CountryCode)
		}
		return digits
	default:
		if strings.HasPrefix(number, "+") {
			return number
		}
		return "+" + digits
	}
}

// CallerID is the number shown on calls placed through the trunk, in the
// trunk's dial format (providers read From in the form they dial).
func (t *Trunk) CallerID() string { return t.DialString(t.a.CallerID) }

// Owns returns the trunk's number (as configured) that number is a form
// of, if any.
func (t *Trunk) Owns(number string) (string, bool) {
	for _, n := range t.a.Numbers {
		if sipx.SameNumber(n, number) {
			return n, true
		}
	}
	return "", false
}
