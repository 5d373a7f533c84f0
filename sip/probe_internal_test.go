package sip

import (
	"context"
	"testing"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/trunk"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The probe's token is believed from loopback and from a trunk's
// provider, and from nowhere else (no test can send from a routable
// address on loopback, hence this test of the decision itself).
func TestProbeTokenBelievedFrom(t *testing.T) {
	const token = "00112233445566778899aabbccddeeff"
	tr, err := trunk.New(trunk.Account{Name: "provider", OutboundProxy: "203.0.113.5", AllowFrom: []string{"198.51.100.0/24"}, Numbers: []string{"+14505550100"}, KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Resolve(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	s := &Server{o: Options{ProbeToken: token, Trunks: []*trunk.Trunk{tr}}}
	invite := func(h string) *sipmsg.Request {
		req := sipmsg.NewRequest(sipmsg.INVITE, sipmsg.Uri{Scheme: "sip", User: "+14505550100", Host: "club.example"})
		if h != "" {
			req.AppendHeader(sipmsg.NewHeader(clubline.ProbeHeader, h))
		}
		return req
	}
	for _, tc := range []struct {
		src, header string
		want        bool
	}{
		{"127.0.0.1", token, true},
		{"::1", token, true},
		{"203.0.113.5", token, true},   // the provider's proxy
		{"198.51.100.77", token, true}, // the provider's allow_from
		{"192.0.2.1", token, false},    // anyone else
		{"203.0.113.5", token[:31] + "0", false},
		{"203.0.113.5", "", false},
		{"127.0.0.1", "", false},
	} {
		if got := s.isProbe(invite(tc.header), tc.src); got != tc.want {
			t.Errorf("from %s with %q: probe %v, want %v", tc.src, tc.header, got, tc.want)
		}
	}
	if (&Server{o: Options{}}).isProbe(invite(""), "127.0.0.1") {
		t.Error("no token set: a call without the header is a probe")
	}
}
