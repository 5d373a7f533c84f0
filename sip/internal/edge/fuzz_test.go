package edge

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzDatagram: a UDP datagram from the network, before sipgo parses it,
// through what the read filter does with it: the Content-Length check
// and, for one it refuses, the request and address its 400 is built for.
// Seeds: the RFC 4475 torture messages (sip/testdata/torture).
func FuzzDatagram(f *testing.F) {
	files, err := filepath.Glob("../../testdata/torture/*.sip")
	if err != nil || len(files) == 0 {
		f.Fatalf("no torture messages to seed with: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5060}
	f.Fuzz(func(t *testing.T, data []byte) {
		why := badLength(data)
		if why == "" {
			return
		}
		if !utf8.ValidString(why) && utf8.Valid(data) {
			t.Fatalf("badLength: %q is not valid text", why)
		}
		req, dst := answerable(data, src)
		if req == nil {
			return
		}
		if dst == nil || !dst.IP.Equal(src.IP) {
			t.Fatalf("answerable: a 400 for %s would go to %v", src, dst)
		}
		if req.IsAck() || req.Via() == nil {
			t.Fatalf("answerable: an answer to %s without Via or to an ACK", req.Method)
		}
	})
}
