package sip_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// udpPeer is a bare UDP socket on a loopback address of its own, that
// sends hand-written SIP and counts what comes back.
type udpPeer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string // first lines of what it received
	ids  []string // and their Call-IDs
}

func newUDPPeer(t *testing.T, ip string) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPeer{conn: conn}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			line, _, _ := strings.Cut(msg, "\r\n")
			_, id, _ := strings.Cut(msg, "\r\nCall-ID: ")
			id, _, _ = strings.Cut(id, "\r\n")
			p.mu.Lock()
			p.got = append(p.got, line)
			p.ids = append(p.ids, id)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return p
}

func (p *udpPeer) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// send writes one request to the server's UDP address (host:port).
func (p *udpPeer) send(t *testing.T, to, method, ruri string, i int) {
	t.Helper()
	la := p.conn.LocalAddr().(*net.UDPAddr)
	body := ""
	if method == "INVITE" {
		body = fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", i, la.IP, la.IP, 40000+2*i)
	}
	msg := fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-flood-%d-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:scanner@%s>;tag=f%d\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: flood-%d-%d@%s\r\n"+
		"CSeq: 1 %s\r\n"+
		"Contact: <sip:scanner@%s>\r\n", method, ruri, la, la.Port, i, la.IP, i, ruri, la.Port, i, la.IP, method, la)
	if body != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	msg += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	ua, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDP([]byte(msg), ua); err != nil {
		t.Fatal(err)
	}
}

// limitedHarness is a server whose limits spare only 127.0.0.1, with the
// refusals counted.
func limitedHarness(t *testing.T, mutate ...func(*sip.Limits)) (*harness, *blockedCounts, string) {
	t.Helper()
	var blocked blockedCounts
	h := newHarness(t, func(ctx context.Context, _ ivr.Inbound) { <-ctx.Done() }, func(o *sip.Options) {
		o.MaxCalls = 500
		o.Limits = sip.Limits{Invites: 5, Window: 10 * time.Second, BlockFor: time.Minute,
			Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, OnBlocked: blocked.add}
		for _, m := range mutate {
			m(&o.Limits)
		}
	})
	hostport := strings.TrimPrefix(h.udpURI, "sip:"+clubNumber+"@")
	return h, &blocked, hostport
}

// One address floods INVITEs (to a number the line does not answer, as
// scanners do): the first few get their 404, the next gets 503 with
// Retry-After, everything after is dropped unanswered, and a caller from
// another address is answered meanwhile (issue 7, finding 1).
func TestInviteFloodFromOneSourceIsBlocked(t *testing.T) {
	h, blocked, hostport := limitedHarness(t)
	scanner := newUDPPeer(t, "127.0.0.2")
	ruri := "sip:100@" + hostport
	for i := range 200 {
		scanner.send(t, hostport, "INVITE", ruri, i)
	}

	// A caller from elsewhere during the flood.
	start := time.Now()
	c := h.dialURI(h.udpURI, softphone.Options{LocalIP: netip.MustParseAddr("127.0.0.3")})
	t.Logf("the caller from 127.0.0.3 was answered %s after a 200-INVITE flood from 127.0.0.2", time.Since(start).Round(time.Millisecond))
	_ = c

	time.Sleep(500 * time.Millisecond)
	finals := map[string]int{} // final status → calls (retransmissions of one answer count once)
	seen := map[string]bool{}
	scanner.mu.Lock()
	for i, l := range scanner.got {
		if strings.HasPrefix(l, "SIP/2.0 1") || seen[l+scanner.ids[i]] {
			continue // 100 Trying, or a retransmission
		}
		seen[l+scanner.ids[i]] = true
		finals[l]++
	}
	scanner.mu.Unlock()
	if finals["SIP/2.0 404 Not Found"] != 5 || finals["SIP/2.0 503 Service Unavailable"] != 1 || len(finals) != 2 {
		t.Fatalf("the flood's final answers: %v; want 5×404 then one 503, the rest unanswered", finals)
	}
	if n := blocked.get(sip.BlockedInviteRate); n != 1 {
		t.Errorf("invite_rate counted %d, want 1", n)
	}
	// The rest of the flood (194, less what the kernel's socket buffer
	// itself drops under such a burst) is dropped unanswered.
	if n := blocked.get(sip.BlockedSource); n < 150 {
		t.Errorf("dropped while blocked: %d, want most of the other 194", n)
	}

	// Blocked means everything: an OPTIONS from there gets nothing either.
	before := len(scanner.received())
	scanner.send(t, hostport, "OPTIONS", ruri, 999)
	time.Sleep(300 * time.Millisecond)
	if got := scanner.received()[before:]; len(got) != 0 {
		t.Errorf("a blocked address got %q", got)
	}
}

// Addresses the line trusts, and those staff phones registered from, are
// never limited: a provider delivering many calls is never blocked.
func TestLimitsSpareTrustedAndStaff(t *testing.T) {
	_, blocked, hostport := limitedHarness(t, func(l *sip.Limits) {
		l.Options = 3
		l.Trusted = append(l.Trusted, netip.MustParsePrefix("127.0.0.4/32"))
		l.Exempt = func(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.5") }
	})
	for _, ip := range []string{"127.0.0.4", "127.0.0.5"} {
		p := newUDPPeer(t, ip)
		for i := range 30 {
			p.send(t, hostport, "OPTIONS", "sip:"+hostport, i)
		}
		deadline := time.Now().Add(3 * time.Second)
		for len(p.received()) < 30 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := p.received(); len(got) != 30 || got[29] != "SIP/2.0 200 OK" {
			t.Errorf("%s: %d answers to 30 OPTIONS (last %q), want 30×200", ip, len(got), got[len(got)-1])
		}
	}
	if blocked.n != nil {
		t.Errorf("blocked %v, want nothing", blocked.n)
	}
}
