package edge

import (
	"net"
	"testing"
)

// The 400 for a datagram whose Content-Length lies goes to the source
// address, at the top Via's port unless the Via asks for rport (RFC 3261
// §18.2.2, RFC 3581); a request too broken to answer is not answered.
func TestDatagramAnswer(t *testing.T) {
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	request := func(method, via, length string) []byte {
		return []byte(method + " sip:club@192.0.2.1 SIP/2.0\r\n" + via +
			"From: <sip:a@192.0.2.7>;tag=1\r\nTo: <sip:club@192.0.2.1>\r\nCall-ID: c1\r\n" +
			"CSeq: 1 " + method + "\r\nContent-Length: " + length + "\r\n\r\nv=0\r\n")
	}
	for _, c := range []struct {
		name    string
		data    []byte
		why     bool // badLength finds something
		port    int  // of the answer; 0: none
		wantNil bool
	}{
		{"right length", request("OPTIONS", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1\r\n", "5"), false, 0, true},
		{"cut short, Via port", request("OPTIONS", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1\r\n", "50"), true, 5070, false},
		{"cut short, rport", request("OPTIONS", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1;rport\r\n", "50"), true, 40000, false},
		{"cut short, Via without port", request("OPTIONS", "Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1\r\n", "50"), true, 5060, false},
		{"not a number", request("INVITE", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1\r\n", "-999"), true, 5070, false},
		{"ACK", request("ACK", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1\r\n", "50"), true, 0, true},
		{"no Via", request("OPTIONS", "", "50"), true, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			why := badLength(c.data)
			if (why != "") != c.why {
				t.Fatalf("badLength = %q, want a problem: %v", why, c.why)
			}
			if !c.why {
				return
			}
			req, dst := answerable(c.data, src)
			if c.wantNil {
				if req != nil {
					t.Fatalf("answerable: an answer to %s", req.Method)
				}
				return
			}
			if req == nil || dst.Port != c.port || !dst.IP.Equal(src.IP) {
				t.Fatalf("answerable: %v to %v, want an answer to %s:%d", req, dst, src.IP, c.port)
			}
		})
	}
}
