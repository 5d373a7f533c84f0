package sip

import (
	"errors"
	"strconv"
	"strings"
)

// Content types of a SIP INFO that carries a key press.
const (
	typeDTMFRelay = "application/dtmf-relay" // "Signal=5\r\nDuration=160"
	typeDTMF      = "application/dtmf"       // "5"
)

var errNoDigit = errors.New("no DTMF digit in body")

// parseDTMFInfo returns the digit carried by the body of an INFO of the given
// content type. Signals may be written as the key itself ("5", "*", "#",
// "A"…) or, as some gateways do, as the RFC 4733 event code ("10" for *,
// "11" for #, "12"–"15" for A–D).
func parseDTMFInfo(contentType string, body []byte) (rune, error) {
	text := strings.TrimSpace(string(body))
	switch contentType {
	case typeDTMF:
		return digitFromSignal(text)
	case typeDTMFRelay:
		for _, line := range strings.Split(text, "\n") {
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if strings.EqualFold(strings.TrimSpace(key), "signal") {
				return digitFromSignal(strings.TrimSpace(value))
			}
		}
		return 0, errNoDigit
	}
	return 0, errNoDigit
}

func digitFromSignal(s string) (rune, error) {
	s = strings.TrimSpace(s)
	if len(s) == 1 {
		c := rune(strings.ToUpper(s)[0])
		if (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D') {
			return c, nil
		}
		return 0, errNoDigit
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 10 || n > 15 {
		return 0, errNoDigit
	}
	return rune("*#ABCD"[n-10]), nil
}
