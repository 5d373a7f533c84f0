package edge

import (
	"net"
	"testing"
)

// The source a TCP connection counts against for MaxPerSource (tcp.go):
// its IPv4 address, or its IPv6 /64, which one host can fill; an
// IPv4-mapped address is its IPv4 address.
func TestSourceOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5060":              "192.0.2.7/32",
		"[::ffff:192.0.2.7]:40000":    "192.0.2.7/32",
		"[2001:db8:1:2:aaaa::1]:5060": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:6000": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:5060":      "2001:db8:1:3::/64",
		"[fe80::1%eth0]:5060":         "fe80::/64",
	} {
		if got := sourceOf(textAddr(addr)).String(); got != want {
			t.Errorf("source of %s = %s, want %s", addr, got, want)
		}
	}
}

type textAddr string

func (a textAddr) Network() string { return "tcp" }
func (a textAddr) String() string  { return string(a) }

var _ net.Addr = textAddr("")
