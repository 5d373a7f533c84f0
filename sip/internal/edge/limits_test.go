package edge

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// request is an out-of-dialog request from src ("ip:port").
func request(method sipmsg.RequestMethod, src string) *sipmsg.Request {
	req := sipmsg.NewRequest(method, sipmsg.Uri{Scheme: "sip", User: "club", Host: "192.0.2.1"})
	req.SetSource(src)
	return req
}

// One source over its INVITE limit gets one refusal, then is dropped,
// every method alike, until the block ends; then it starts over with a
// full bucket. Another source is counted on its own.
func TestLimiterBlocksThenForgets(t *testing.T) {
	reasons := map[string]int{}
	l := NewLimiter(Limits{Invites: 3, Window: 3 * time.Second, BlockFor: time.Minute, Trusted: []netip.Prefix{},
		OnBlocked: func(r string) { reasons[r]++ }}, slog.New(slog.DiscardHandler))
	now := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return now }

	const scanner, caller = "192.0.2.7:5060", "198.51.100.9:5060"
	for i := range 3 {
		if v := l.Check(request(sipmsg.INVITE, scanner)); v != Pass {
			t.Fatalf("INVITE %d: %v, want Pass", i+1, v)
		}
	}
	if v := l.Check(request(sipmsg.INVITE, scanner)); v != Refuse {
		t.Fatalf("INVITE 4: %v, want Refuse", v)
	}
	if v := l.Check(request(sipmsg.OPTIONS, scanner)); v != Drop {
		t.Errorf("OPTIONS while blocked: %v, want Drop", v)
	}
	if !l.DropDatagram(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5060}) {
		t.Error("a datagram from the blocked source is read")
	}
	if v := l.Check(request(sipmsg.INVITE, caller)); v != Pass {
		t.Errorf("another source: %v, want Pass", v)
	}
	if reasons[BlockedInviteRate] != 1 || reasons[BlockedSource] != 2 {
		t.Errorf("OnBlocked: %v, want invite_rate 1, blocked 2", reasons)
	}

	now = now.Add(time.Minute)
	for i := range 3 {
		if v := l.Check(request(sipmsg.INVITE, scanner)); v != Pass {
			t.Fatalf("after the block, INVITE %d: %v, want Pass", i+1, v)
		}
	}
}

// Trusted and exempt sources, requests in a dialog, ACK, CANCEL and
// REGISTER are never counted; a negative limit is off.
func TestLimiterSpares(t *testing.T) {
	l := NewLimiter(Limits{Invites: 1, Options: -1, Other: 1,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Exempt:  func(ip netip.Addr) bool { return ip == netip.MustParseAddr("192.0.2.9") },
	}, slog.New(slog.DiscardHandler))
	inDialog := request(sipmsg.BYE, "192.0.2.7:5060")
	tag := sipmsg.NewParams()
	tag.Add("tag", "x")
	inDialog.AppendHeader(&sipmsg.ToHeader{Address: inDialog.Recipient, Params: tag})
	for _, c := range []struct {
		name string
		req  *sipmsg.Request
	}{
		{"trusted", request(sipmsg.INVITE, "10.1.2.3:5060")},
		{"exempt", request(sipmsg.INVITE, "192.0.2.9:5060")},
		{"OPTIONS, limit off", request(sipmsg.OPTIONS, "192.0.2.7:5060")},
		{"in a dialog", inDialog},
		{"ACK", request(sipmsg.ACK, "192.0.2.7:5060")},
		{"CANCEL", request(sipmsg.CANCEL, "192.0.2.7:5060")},
		{"REGISTER", request(sipmsg.REGISTER, "192.0.2.7:5060")},
	} {
		for i := range 5 {
			if v := l.Check(c.req); v != Pass {
				t.Errorf("%s, request %d: %v, want Pass", c.name, i+1, v)
				break
			}
		}
	}
}

// SUBSCRIBE counts as an other request, with a To tag too (a refresh, or
// a forged one); from a staff phone's address it is spared like the rest.
func TestLimiterCountsSubscribe(t *testing.T) {
	reasons := map[string]int{}
	l := NewLimiter(Limits{Other: 2, Window: 10 * time.Second, Trusted: []netip.Prefix{},
		Exempt:    func(ip netip.Addr) bool { return ip == netip.MustParseAddr("192.0.2.9") },
		OnBlocked: func(r string) { reasons[r]++ }}, slog.New(slog.DiscardHandler))
	refresh := func(src string) *sipmsg.Request {
		req := request(sipmsg.SUBSCRIBE, src)
		tag := sipmsg.NewParams()
		tag.Add("tag", "x")
		req.AppendHeader(&sipmsg.ToHeader{Address: req.Recipient, Params: tag})
		return req
	}
	const stranger = "192.0.2.7:5060"
	want := []Verdict{Pass, Pass, Refuse, Drop}
	for i, req := range []*sipmsg.Request{request(sipmsg.SUBSCRIBE, stranger), refresh(stranger),
		refresh(stranger), request(sipmsg.SUBSCRIBE, stranger)} {
		if v := l.Check(req); v != want[i] {
			t.Errorf("SUBSCRIBE %d from a stranger: %v, want %v", i+1, v, want[i])
		}
	}
	if reasons[BlockedRequestRate] != 1 {
		t.Errorf("OnBlocked: %v, want request_rate 1", reasons)
	}
	for i := range 5 {
		if v := l.Check(refresh("192.0.2.9:5060")); v != Pass {
			t.Fatalf("SUBSCRIBE %d from a staff phone's address: %v, want Pass", i+1, v)
		}
	}
}
