package sipx_test

import (
	"testing"

	"github.com/clubline/clubline/sip/internal/sipx"
)

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15145550101": "+1514***0101",
		"15145550101":  "1514***0101",
		"5145550101":   "5145***0101",
		"+33612345678": "+3361***5678",
		"5550101":      "***01",
		"+4930":        "+***",
		"101":          "***",
		"alice":        "a***",
		"anonymous":    "a***",
		"élodie":       "é***",
		"":             "",
	} {
		if got := sipx.MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskAddrs(t *testing.T) {
	for in, want := range map[string]string{
		"write udp 0.0.0.0:5060->203.0.113.5:5060: sendto: refused": "write udp 0.0.0.0:5060->203.0.113.x:5060: sendto: refused",
		"raddr=198.51.100.20:5062":                                  "raddr=198.51.100.x:5062",
		"dial tcp [2001:db8::7]:5060: i/o timeout":                  "dial tcp [2001:db8::x]:5060: i/o timeout",
		"127.0.0.1:5060 and ::1":                                    "127.0.0.1:5060 and ::1",
		"at 10:30:00, version 1.7.2":                                "at 10:30:00, version 1.7.2",
		"no address here":                                           "no address here",
	} {
		if got := sipx.MaskAddrs(in); got != want {
			t.Errorf("MaskAddrs(%q) = %q, want %q", in, got, want)
		}
	}
}
