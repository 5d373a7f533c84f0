// Package rawsip writes SIP by hand over UDP, for tests: what a flood, a
// scanner or a forged request sends, which a real phone (package
// softphone) never would. A Sender sends INVITEs that name other
// addresses in their Contact and SDP, and nothing after them unless the
// test says so; a Sink is a socket that keeps what reaches it, such as the
// victim of a reflection.
package rawsip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Sender is a UDP socket that sends SIP to one server.
type Sender struct {
	tb   testing.TB
	conn *net.UDPConn
	srv  *net.UDPAddr
	n    int               // INVITEs sent, for unique Call-IDs and branches
	sent map[string]string // Call-ID → its INVITE, for retransmissions
}

// NewSender binds a socket on ip (127.0.0.1, or 127.0.0.2 for a second
// source address) that sends to the server's UDP listener at server
// (host:port). It is closed when the test ends.
func NewSender(tb testing.TB, ip, server string) *Sender {
	tb.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	srv, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		tb.Fatal(err)
	}
	return &Sender{tb: tb, conn: conn, srv: srv, sent: make(map[string]string)}
}

// Addr is the sender's own address: its INVITEs' Via.
func (r *Sender) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Invite is one INVITE as sent, for the requests that follow it.
type Invite struct {
	CallID                    string
	fromTag, branch, from, to string
	ruri                      string
}

// Invite sends an INVITE to user whose Contact is contact and whose SDP
// offers PCMU at media (no SDP when media is the zero value).
func (r *Sender) Invite(user string, contact, media netip.AddrPort) Invite {
	r.tb.Helper()
	r.n++
	inv := Invite{
		CallID:  fmt.Sprintf("raw-%d-%d@%s", os.Getpid(), r.n, r.Addr()),
		fromTag: fmt.Sprintf("f%d", r.n),
		branch:  fmt.Sprintf("z9hG4bK-raw-%d-%d", r.Addr().Port(), r.n),
		from:    "<sip:+15145550199@" + r.Addr().Addr().String() + ">",
		to:      "<sip:" + user + "@" + r.srv.String() + ">",
		ruri:    "sip:" + user + "@" + r.srv.String(),
	}
	var sdp string
	if media.IsValid() {
		ip := media.Addr().String()
		sdp = "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\n" +
			fmt.Sprintf("m=audio %d RTP/AVP 0 101\r\n", media.Port()) +
			"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	}
	msg := "INVITE " + inv.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.Addr().String() + ";branch=" + inv.branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + inv.from + ";tag=" + inv.fromTag + "\r\n" +
		"To: " + inv.to + "\r\n" +
		"Call-ID: " + inv.CallID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:+15145550199@" + contact.String() + ">\r\n"
	if sdp != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	msg += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp
	r.sent[inv.CallID] = msg
	r.write(msg)
	return inv
}

// ACK acknowledges the 2xx answer, with its To tag.
func (r *Sender) ACK(inv Invite, answer *sipmsg.Response) {
	r.tb.Helper()
	r.inDialog("ACK", 1, inv.branch+"-ack", inv, answer.To().Value())
}

// ForgedACK acknowledges an answer the sender never saw: it reuses the
// INVITE's branch and has no To tag.
func (r *Sender) ForgedACK(inv Invite) {
	r.tb.Helper()
	r.inDialog("ACK", 1, inv.branch, inv, inv.to)
}

// BYE hangs up the call that answer answered.
func (r *Sender) BYE(inv Invite, answer *sipmsg.Response) {
	r.tb.Helper()
	r.inDialog("BYE", 2, inv.branch+"-bye", inv, answer.To().Value())
}

func (r *Sender) inDialog(method string, seq int, branch string, inv Invite, to string) {
	r.write(method + " " + inv.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.Addr().String() + ";branch=" + branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + inv.from + ";tag=" + inv.fromTag + "\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: " + inv.CallID + "\r\n" +
		fmt.Sprintf("CSeq: %d %s\r\n", seq, method) +
		"Content-Length: 0\r\n\r\n")
}

func (r *Sender) write(msg string) {
	r.tb.Helper()
	if _, err := r.conn.WriteToUDP([]byte(msg), r.srv); err != nil {
		r.tb.Fatal(err)
	}
}

// Final reads responses until a final one to the INVITE of callID
// arrives, and returns it; nil if none came within d.
func (r *Sender) Final(callID string, d time.Duration) *sipmsg.Response {
	r.tb.Helper()
	deadline := time.Now().Add(d)
	for {
		res := r.Read(time.Until(deadline))
		if res == nil {
			return nil
		}
		if res.StatusCode >= 200 && res.CallID().Value() == callID && res.CSeq().MethodName == sipmsg.INVITE {
			return res
		}
	}
}

// Finals reads responses until each INVITE of callIDs has a final one, or
// d has passed; it returns the status of each. Like a phone (RFC 3261
// §17.1.1.2, Timer A) it sends again, every T1, an INVITE that got no
// answer at all: a burst can overflow a socket's buffer on a loaded
// machine, and the server answers a retransmission from its transaction.
func (r *Sender) Finals(callIDs []string, d time.Duration) map[string]int {
	r.tb.Helper()
	heard := make(map[string]bool, len(callIDs)) // got any response
	got := make(map[string]int, len(callIDs))
	want := make(map[string]bool, len(callIDs))
	for _, id := range callIDs {
		want[id] = true
	}
	resend := time.Now().Add(sipmsg.T1)
	for deadline := time.Now().Add(d); len(got) < len(want) && time.Now().Before(deadline); {
		if time.Now().After(resend) {
			for _, id := range callIDs {
				if !heard[id] {
					r.write(r.sent[id])
				}
			}
			resend = time.Now().Add(sipmsg.T1)
		}
		res := r.Read(min(time.Until(deadline), time.Until(resend)))
		if res == nil || !want[res.CallID().Value()] || res.CSeq().MethodName != sipmsg.INVITE {
			continue
		}
		heard[res.CallID().Value()] = true
		if res.StatusCode >= 200 {
			got[res.CallID().Value()] = res.StatusCode
		}
	}
	return got
}

// Read returns the next response the socket receives, nil after d.
func (r *Sender) Read(d time.Duration) *sipmsg.Response {
	r.tb.Helper()
	buf := make([]byte, 65535)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		_ = r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			r.tb.Fatalf("unparsable datagram from the server: %v\n%s", err, buf[:n])
		}
		if res, ok := msg.(*sipmsg.Response); ok {
			return res
		}
	}
	return nil
}

// Sink is a UDP socket of the test's that keeps every datagram it
// receives: the address a forged INVITE names for its media or Contact.
type Sink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
}

// NewSink binds a socket on 127.0.0.1; it is closed when the test ends.
func NewSink(tb testing.TB) *Sink {
	tb.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Sink{conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				s.mu.Lock()
				s.got = append(s.got, append([]byte(nil), buf[:n]...))
				s.mu.Unlock()
			}
		}
	}()
	tb.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return s
}

// Addr is the sink's address.
func (s *Sink) Addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// RTP returns the datagrams that look like RTP (version 2, a header).
func (s *Sink) RTP() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, p := range s.got {
		if len(p) >= 12 && p[0]>>6 == 2 {
			out = append(out, p)
		}
	}
	return out
}

// Requests returns the request line of each SIP request received.
func (s *Sink) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.got {
		line, _, _ := bytes.Cut(p, []byte("\r\n"))
		if strings.HasSuffix(string(line), " SIP/2.0") {
			out = append(out, string(line))
		}
	}
	return out
}
