package sipx

import (
	"github.com/clubline/clubline"

	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
)

// MaskNumber hides the middle of a phone number or SIP user so it can go in a
// log line (clubline.MaskNumber).
func MaskNumber(s string) string { return clubline.MaskNumber(s) }

var longDigits = regexp.MustCompile(`\+?[0-9]{7,}`)

// MaskDigits masks every phone-number-like run of digits (seven or more)
// in s, with MaskNumber: for text a peer sent or a log line built from it.
func MaskDigits(s string) string { return longDigits.ReplaceAllStringFunc(s, MaskNumber) }

// MaskAddr hides the last part of an IP address in a log line
// ("203.0.113.5" → "203.0.113.x").
func MaskAddr(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
	}
	if i := strings.LastIndexByte(ip, ':'); i > 0 {
		return ip[:i] + ":x"
	}
	return "x"
}

// ipInText finds what may be an IP address in a line of text: IPv4, or
// IPv6 (checked by parsing, so that "10:30:00" is left alone).
var ipInText = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}`)

// MaskAddrs masks every IP address in s with MaskAddr, but loopback and
// unspecified ones (0.0.0.0, 127.0.0.1, ::1), which are nobody's: for
// text a library logs ("write udp 0.0.0.0:5060->203.0.113.5:5060").
func MaskAddrs(s string) string {
	return ipInText.ReplaceAllStringFunc(s, func(m string) string {
		a, err := netip.ParseAddr(m)
		if err != nil || a.IsLoopback() || a.IsUnspecified() {
			return m
		}
		return MaskAddr(m)
	})
}

// SourceIP is the address part of a request's source ("192.0.2.7:5060"
// → "192.0.2.7").
func SourceIP(src string) string {
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap().String()
	}
	if i := strings.LastIndexByte(src, ':'); i > 0 {
		return src[:i]
	}
	return src
}

// Printable keeps at most n runes of s, with anything unprintable as '?',
// so that text from a peer cannot flood or garble a log line or a record.
func Printable(s string, n int) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
