package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	sipmsg "github.com/emiago/sipgo/sip"
)

// TestBigAnswerOverUDP places a call the way a carrier whose INVITE went
// through eight proxies would: eight long Record-Routes and a long Via
// chain, over UDP. The 200 OK echoing them is over 1,300 bytes; it must
// arrive over UDP, the call must carry the greeting, and clubline's BYE,
// as big, must reach the first hop over UDP (RFC 3261 §18.2.2, and
// §18.1.1's fallback). A caller's route never gets a TCP connection, even
// when its first hop listens on TCP: that hop is an address a request from
// the network named (reach.go, issue 7 finding 8).
func TestBigAnswerOverUDP(t *testing.T) {
	t.Run("hop without TCP", func(t *testing.T) { bigCall(t, false) })
	t.Run("hop with TCP", func(t *testing.T) { bigCall(t, true) })
}

func bigCall(t *testing.T, hopTCP bool) {
	ended := make(chan struct{})
	h := newHarness(t, func(ctx context.Context, in ivr.Inbound) {
		defer close(ended)
		_ = in.Leg.Play(ctx, media.Tone(toneHz, 600*time.Millisecond, 8000)) // then hang up
	})
	p := newRawPeer(t, h, "udp", "")
	var hop *tcpHop
	if hopTCP {
		hop = listenTCPHop(t, p.local())
	}
	rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()

	invite, routes := bigInvite(p, serverAddr(t, h, "udp"), rtp.LocalAddr().(*net.UDPAddr).Port)
	p.send(invite)
	res := p.finals(1, 5*time.Second)
	if len(res) != 1 || res[0].StatusCode != 200 {
		t.Fatalf("answer to an INVITE with %d Record-Routes: %s, want 200%s", len(routes), statuses(res), recorded(h))
	}
	ok := res[0]
	if n := len(ok.String()); n <= 1300 {
		t.Fatalf("the 200 OK is %d bytes: the test wants one over 1,300", n)
	}
	var echoed []string
	for _, rr := range ok.GetHeaders("Record-Route") {
		echoed = append(echoed, rr.Value())
	}
	if !slices.Equal(echoed, routes) {
		t.Errorf("Record-Route in the 200 OK:\n%q\nwant\n%q", echoed, routes)
	}
	p.send(p.inDialog("ACK", ok, ok.CSeq().SeqNo))
	if d, heard := toneHeard(receiveRTP(t, rtp, 300*time.Millisecond), toneHz); !heard {
		t.Errorf("greeting not heard over RTP (%s of sound)", d)
	}

	// The script has played: clubline hangs up along the route set.
	bye := p.nextRequest(5 * time.Second)
	if bye.Method != sipmsg.BYE {
		t.Fatalf("got %s from clubline, want BYE", bye.Method)
	}
	const wantVia = "UDP"
	if hopTCP {
		select {
		case <-hop.conn:
			t.Error("clubline opened a TCP connection to a hop a caller's Record-Route named")
		default:
		}
	}
	if n := len(bye.String()); n <= 1300 || len(bye.GetHeaders("Route")) != len(routes) || bye.Via().Transport != wantVia {
		t.Errorf("BYE of %d bytes with %d Route headers, Via %s; want over 1,300 bytes, %d Routes, Via %s",
			n, len(bye.GetHeaders("Route")), bye.Via().Transport, len(routes), wantVia)
	}
	p.send([]byte(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil).String()))
	<-ended
	h.waitIdle()
	select {
	case rec := <-h.rejected:
		t.Errorf("call recorded as refused: %s", rec.Trace)
	default:
	}
}

// recorded describes the record of a refused call, if one comes.
func recorded(h *harness) string {
	select {
	case rec := <-h.rejected:
		return fmt.Sprintf("; the call was recorded as %q", rec.Trace)
	case <-time.After(time.Second):
		return ""
	}
}

// bigInvite writes an INVITE as it reaches clubline through eight
// record-routing proxies, the nearest of which is p; it returns the
// Record-Route values too.
func bigInvite(p *rawPeer, server string, rtpPort int) ([]byte, []string) {
	var routes []string
	for i := 1; i <= 8; i++ {
		routes = append(routes, fmt.Sprintf("<sip:%s;lr;r2=on;ftag=as7f3c0a1b;hop=%d;did=%s;x-carrier-trace=%s>",
			p.local(), i, randHex(6), strings.Repeat(fmt.Sprint(i), 60)))
	}
	sdp := fmt.Sprintf("v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", rtpPort)
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE sip:%s@%s SIP/2.0\r\n", clubNumber, server)
	b.WriteString(p.via())
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP 198.51.100.%d:5060;branch=z9hG4bK-edge-%d-%s;received=198.51.100.%d;rport=5060\r\n",
			i, i, randHex(12), i)
	}
	for _, r := range routes {
		fmt.Fprintf(&b, "Record-Route: %s\r\n", r)
	}
	fmt.Fprintf(&b, "Max-Forwards: 62\r\nFrom: <sip:+15145550101@carrier.example>;tag=%s\r\n", randHex(4))
	fmt.Fprintf(&b, "To: <sip:%s@carrier.example>\r\nCall-ID: big-%s\r\nCSeq: 1 INVITE\r\n", clubNumber, randHex(8))
	fmt.Fprintf(&b, "Contact: <sip:+15145550101@%s>\r\nContent-Type: application/sdp\r\n", p.local())
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(sdp), sdp)
	return []byte(b.String()), routes
}

// receiveRTP decodes the PCMU that arrives at conn until it holds at least
// d of the test tone, or 3 s have passed.
func receiveRTP(t *testing.T, conn *net.UDPConn, d time.Duration) []int16 {
	t.Helper()
	var samples []int16
	buf := make([]byte, 1500)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return samples
		}
		if n <= 12 || buf[0]>>6 != 2 || buf[1]&0x7f != 0 {
			continue // not PCMU over RTP
		}
		for _, c := range buf[12:n] {
			samples = append(samples, media.DecodeULaw(c))
		}
		if heard, ok := toneHeard(samples, toneHz); ok && heard >= d {
			return samples
		}
	}
}

// tcpHop is the TCP side of the first proxy on the route: it takes the
// connection clubline opens and reads the requests on it.
type tcpHop struct {
	ln   net.Listener
	conn chan net.Conn
	req  chan *sipmsg.Request
}

func listenTCPHop(t *testing.T, addr string) *tcpHop {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	hop := &tcpHop{ln: ln, conn: make(chan net.Conn, 1), req: make(chan *sipmsg.Request, 8)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		hop.conn <- c
		stream := sipmsg.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			err = stream.ParseSIPStream(buf[:n], func(m sipmsg.Message) {
				if r, ok := m.(*sipmsg.Request); ok {
					hop.req <- r
				}
			})
			if err != nil && !errors.Is(err, sipmsg.ErrParseSipPartial) {
				t.Errorf("unparsable stream from clubline: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-hop.conn:
			_ = c.Close()
		default:
		}
		<-done
	})
	return hop
}
