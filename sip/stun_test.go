package sip

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// fakeSTUN answers Binding requests with XOR-MAPPED-ADDRESS seen, after
// dropping the first `drop` requests (a lost packet).
func fakeSTUN(t *testing.T, seen netip.AddrPort, drop int) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n < 20 || drop > 0 {
				drop--
				continue
			}
			res := make([]byte, 20+12)
			binary.BigEndian.PutUint16(res[0:], stunBindingResp)
			binary.BigEndian.PutUint16(res[2:], 12)
			copy(res[4:20], buf[4:20]) // cookie and transaction id
			binary.BigEndian.PutUint16(res[20:], stunXORMapped)
			binary.BigEndian.PutUint16(res[22:], 8)
			res[25] = 0x01
			binary.BigEndian.PutUint16(res[26:], seen.Port()^uint16(stunMagicCookie>>16))
			ip := seen.Addr().As4()
			for i := range ip {
				ip[i] ^= res[4+i]
			}
			copy(res[28:], ip[:])
			_, _ = conn.WriteToUDPAddrPort(res, from)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestSTUNLearnsPublicAddress(t *testing.T) {
	server := fakeSTUN(t, netip.MustParseAddrPort("203.0.113.7:41000"), 1)
	ip, err := stunAddress(context.Background(), server)
	if err != nil {
		t.Fatal(err)
	}
	if ip != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("learnt %s, want 203.0.113.7", ip)
	}
}

func TestSTUNRefusesGarbage(t *testing.T) {
	id := make([]byte, 12)
	for _, b := range [][]byte{nil, make([]byte, 19), make([]byte, 40)} {
		if _, err := parseStunResponse(b, id); err == nil {
			t.Errorf("parsed %x", b)
		}
	}
	// A length beyond the datagram.
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], stunBindingResp)
	binary.BigEndian.PutUint16(b[2:], 400)
	binary.BigEndian.PutUint32(b[4:], stunMagicCookie)
	if _, err := parseStunResponse(b, id); err == nil {
		t.Error("parsed a truncated response")
	}
}

// FuzzSTUNResponse: whatever arrives from the STUN server's address (or
// is forged to look so) is read without a panic.
func FuzzSTUNResponse(f *testing.F) {
	id := []byte("0123456789ab")
	ok := make([]byte, 32)
	binary.BigEndian.PutUint16(ok[0:], stunBindingResp)
	binary.BigEndian.PutUint16(ok[2:], 12)
	binary.BigEndian.PutUint32(ok[4:], stunMagicCookie)
	copy(ok[8:], id)
	binary.BigEndian.PutUint16(ok[20:], stunXORMapped)
	binary.BigEndian.PutUint16(ok[22:], 8)
	ok[25] = 1
	f.Add(ok)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStunResponse(b, id)
	})
}
