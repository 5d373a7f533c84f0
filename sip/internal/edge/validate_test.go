package edge

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Validate names the kind of each problem; sip's reject.go answers it
// (the torture tests of package sip check the answers on the wire).
func TestValidateKinds(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  string
		kind Kind // -1: valid
	}{
		{"valid", "OPTIONS sip:club@192.0.2.1 SIP/2.0\r\n", -1},
		{"version", "OPTIONS sip:club@192.0.2.1 SIP/7.0\r\n", BadVersion},
		{"scheme", "OPTIONS http://192.0.2.1 SIP/2.0\r\n", UnknownScheme},
		{"Require", "OPTIONS sip:club@192.0.2.1 SIP/2.0\r\nRequire: nothing, timer\r\n", UnsupportedExtension},
		{"Accept", "INVITE sip:club@192.0.2.1 SIP/2.0\r\nContact: <sip:a@192.0.2.7>\r\nAccept: text/plain\r\n", SDPNotAccepted},
		{"Max-Forwards", "OPTIONS sip:club@192.0.2.1 SIP/2.0\r\nMax-Forwards: 256\r\n", Malformed},
		{"two Call-IDs", "OPTIONS sip:club@192.0.2.1 SIP/2.0\r\nCall-ID: other\r\n", Malformed},
		{"ACK is never checked", "ACK sip:club@192.0.2.1 SIP/7.0\r\n", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, _, _ := strings.Cut(c.msg, " ")
			data := c.msg + "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1\r\n" +
				"From: <sip:a@192.0.2.7>;tag=1\r\nTo: <sip:club@192.0.2.1>\r\nCall-ID: c1\r\n" +
				"CSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
			msg, err := sipmsg.ParseMessage([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			p := Validate(msg.(*sipmsg.Request))
			switch {
			case c.kind == -1 && p != nil:
				t.Fatalf("Validate = %+v, want nil", p)
			case c.kind == -1:
			case p == nil || p.Kind != c.kind || p.Why == "":
				t.Fatalf("Validate = %+v, want kind %d with a why", p, c.kind)
			}
			if c.kind == UnsupportedExtension && (len(p.Tags) != 1 || p.Tags[0] != "nothing") {
				t.Errorf("Tags = %q, want [nothing]", p.Tags)
			}
		})
	}
}
