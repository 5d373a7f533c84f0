package media_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/clubline/clubline/media"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func TestListenRTPEvenPortInRange(t *testing.T) {
	for range 5 {
		conn, err := media.ListenRTP(loopback, 40001, 40100)
		if err != nil {
			t.Skipf("range 40001-40100 unavailable on this machine: %v", err)
		}
		port := conn.LocalAddr().(*net.UDPAddr).Port
		conn.Close()
		if port%2 != 0 || port < 40002 || port > 40100 {
			t.Fatalf("port %d: want an even port in 40002-40100", port)
		}
	}
}

func TestListenRTPExhausted(t *testing.T) {
	// Take an even port, then ask for a range holding only that one.
	var taken *net.UDPConn
	for taken == nil {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if c.LocalAddr().(*net.UDPAddr).Port%2 == 0 {
			taken = c
		} else {
			defer c.Close()
		}
	}
	defer taken.Close()
	port := taken.LocalAddr().(*net.UDPAddr).Port
	_, err := media.ListenRTP(loopback, port, port+1)
	if !errors.Is(err, media.ErrNoPorts) {
		t.Fatalf("err = %v, want ErrNoPorts", err)
	}
	if _, err := media.ListenRTP(loopback, 5001, 5001); err == nil {
		t.Error("a range without an even port must be an error")
	}
}

// An RTP socket on 0.0.0.0 is IPv4 only: what clubline advertises is an
// IPv4 address, so it must not be able to send to an IPv6 peer either.
func TestListenRTPWildcardIsIPv4Only(t *testing.T) {
	conn, err := media.ListenRTP(netip.IPv4Unspecified(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr(); got != netip.IPv4Unspecified() {
		t.Errorf("bound to %v, want 0.0.0.0 (not a dual-stack [::])", got)
	}
	if _, err := conn.WriteToUDPAddrPort([]byte("rtp"), netip.MustParseAddrPort("[::1]:9")); err == nil {
		t.Error("an IPv4 RTP socket sent to [::1]")
	}
}
