package sip_test

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

// rawSender writes SIP by hand from a UDP socket of its own, as a flood or
// a forged request would: an INVITE that names other addresses in its
// Contact and SDP, and nothing after it unless the test says so.
type rawSender struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
	n    int // INVITEs sent, for unique Call-IDs and branches
}

// newRawSender binds a socket on ip (127.0.0.1, or 127.0.0.2 for a second
// source address) that sends to the server's UDP listener at srvHostPort.
func newRawSender(t *testing.T, ip, srvHostPort string) *rawSender {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	srv, err := net.ResolveUDPAddr("udp4", srvHostPort)
	if err != nil {
		t.Fatal(err)
	}
	return &rawSender{t: t, conn: conn, srv: srv}
}

func (r *rawSender) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// rawInvite is one INVITE as sent, for the requests that follow it.
type rawInvite struct {
	callID, fromTag, branch, from, to string
	ruri                              string
}

// invite sends an INVITE to user whose Contact is contact and whose SDP
// offers PCMU at media (no SDP when media is the zero value).
func (r *rawSender) invite(user string, contact, media netip.AddrPort) rawInvite {
	r.t.Helper()
	r.n++
	inv := rawInvite{
		callID:  fmt.Sprintf("raw-%d-%d@%s", os.Getpid(), r.n, r.addr()),
		fromTag: fmt.Sprintf("f%d", r.n),
		branch:  fmt.Sprintf("z9hG4bK-raw-%d-%d", r.addr().Port(), r.n),
		from:    "<sip:+15145550199@" + r.addr().Addr().String() + ">",
		to:      "<sip:" + user + "@" + r.srv.String() + ">",
		ruri:    "sip:" + user + "@" + r.srv.String(),
	}
	var sdp string
	if media.IsValid() {
		sdp = "v=0\r\no=- 1 1 IN IP4 " + media.Addr().String() + "\r\ns=-\r\nc=IN IP4 " + media.Addr().String() +
			"\r\nt=0 0\r\nm=audio " + fmt.Sprint(media.Port()) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n" +
			"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	}
	msg := "INVITE " + inv.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.addr().String() + ";branch=" + inv.branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + inv.from + ";tag=" + inv.fromTag + "\r\n" +
		"To: " + inv.to + "\r\n" +
		"Call-ID: " + inv.callID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:+15145550199@" + contact.String() + ">\r\n"
	if sdp != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	msg += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp
	r.write(msg)
	return inv
}

// ack acknowledges a 2xx: with the To tag of answer, or, when answer is
// nil, a forged one that reuses the INVITE's branch and has no To tag, as
// a sender who never saw the answer would write it.
func (r *rawSender) ack(inv rawInvite, answer *sipmsg.Response) {
	r.t.Helper()
	branch, to := inv.branch, inv.to
	if answer != nil {
		branch = inv.branch + "-ack"
		to = answer.To().Value()
	}
	r.write("ACK " + inv.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.addr().String() + ";branch=" + branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + inv.from + ";tag=" + inv.fromTag + "\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: " + inv.callID + "\r\n" +
		"CSeq: 1 ACK\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// bye hangs up the call that answer answered.
func (r *rawSender) bye(inv rawInvite, answer *sipmsg.Response) {
	r.t.Helper()
	r.write("BYE " + inv.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.addr().String() + ";branch=" + inv.branch + "-bye;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + inv.from + ";tag=" + inv.fromTag + "\r\n" +
		"To: " + answer.To().Value() + "\r\n" +
		"Call-ID: " + inv.callID + "\r\n" +
		"CSeq: 2 BYE\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func (r *rawSender) write(msg string) {
	r.t.Helper()
	if _, err := r.conn.WriteToUDP([]byte(msg), r.srv); err != nil {
		r.t.Fatal(err)
	}
}

// final reads responses until a final one to the INVITE callID arrives,
// and returns it; nil if none came within d.
func (r *rawSender) final(callID string, d time.Duration) *sipmsg.Response {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		res := r.read(time.Until(deadline))
		if res == nil {
			return nil
		}
		if res.StatusCode >= 200 && res.CallID().Value() == callID && res.CSeq().MethodName == sipmsg.INVITE {
			return res
		}
	}
}

// read returns the next response the socket receives, nil after d.
func (r *rawSender) read(d time.Duration) *sipmsg.Response {
	r.t.Helper()
	buf := make([]byte, 65535)
	for d > 0 {
		_ = r.conn.SetReadDeadline(time.Now().Add(d))
		start := time.Now()
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		d -= time.Since(start)
		msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			r.t.Fatalf("unparsable datagram from the server: %v\n%s", err, buf[:n])
		}
		if res, ok := msg.(*sipmsg.Response); ok {
			return res
		}
	}
	return nil
}

// udpSink is a socket of the test's that keeps every datagram it
// receives: the address a forged INVITE names for its media or Contact.
type udpSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{conn: conn}
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
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return s
}

func (s *udpSink) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// rtp returns the datagrams that look like RTP (version 2, a header).
func (s *udpSink) rtp() [][]byte {
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

// requests returns the first line of each SIP request received.
func (s *udpSink) requests() []string {
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
