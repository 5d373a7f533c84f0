package sip_test

// Where clubline sends, opens connections and looks names up for a request
// it cannot authenticate (issue 7, finding 8). The peers here write SIP by
// hand: they say what a phone would not (a Via naming someone else, a
// Record-Route to a local service) and see where clubline's answers and
// requests arrive.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	sipmsg "github.com/emiago/sipgo/sip"
)

// A request over TCP whose connection is closed before the answer: the
// answer is dropped. clubline never connects to the address the Via names
// (a Redis on the same host, in the finding), given as an IP address or a
// name, and never looks the name up. Nor does it log a warning for each:
// a flood of such requests is not a flood of log lines.
func TestTCPAnswerNeverDialsTheVia(t *testing.T) {
	var dns lookups
	var warnings atomic.Int32
	h := newHarness(t, noCall(t), func(o *sip.Options) {
		o.Resolver = dns.resolver()
		o.Logger = slog.New(warnCounter{&warnings})
	})
	redis := newTCPTrap(t)
	server := serverAddr(h.t, h, "tcp")
	for _, host := range []string{"127.0.0.1", "localhost", "redis.invalid"} {
		d := newRawDialog("TCP", net.JoinHostPort(host, strconv.Itoa(redis.port)), "sip:+15145550199@"+server)
		for range 3 {
			for _, method := range []string{"OPTIONS", "INVITE"} {
				c, err := net.Dial("tcp", server)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write(d.request(method, 1, nil, "")); err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
			}
		}
		// The same request on a connection left open is answered on it:
		// the ones above were read, and their answers had somewhere to go.
		p := dialPeer(t, "tcp", server)
		p.send(d.request("OPTIONS", 2, nil, ""))
		if res := p.final(); res.StatusCode != 200 {
			t.Fatalf("OPTIONS on an open connection, Via %s: %d", host, res.StatusCode)
		}
	}
	time.Sleep(2 * time.Second) // what a dial would take, many times over
	if n := redis.accepted.Load(); n != 0 {
		t.Errorf("the address in the Via got %d connections, want none", n)
	}
	if n := dns.queries.Load(); n != 0 {
		t.Errorf("%d DNS queries for names in Vias, want none", n)
	}
	if n := warnings.Load(); n != 0 {
		t.Errorf("%d warnings logged for the dropped answers, want none", n)
	}
}

// warnCounter is a log handler that counts warnings and errors.
type warnCounter struct{ n *atomic.Int32 }

func (warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnCounter) WithGroup(string) slog.Handler      { return w }

// Within a call clubline sends requests (here the BYE when the script
// hangs up). A host name in the caller's Contact or Record-Route is never
// looked up, and never reached by its loopback address: the requests go to
// where the INVITE came from.
func TestInDialogHostNamesNotLookedUp(t *testing.T) {
	var dns lookups
	h := newHarness(t, func(context.Context, ivr.Inbound) {}, // hangs up at once
		func(o *sip.Options) { o.Resolver = dns.resolver() })
	named := newUDPTrap(t)
	server := serverAddr(h.t, h, "udp")
	for name, hdrs := range map[string][]string{
		"Contact by /etc/hosts name": {"Contact: <sip:caller@localhost:" + strconv.Itoa(named.port) + ">"},
		"Contact by DNS name":        {"Contact: <sip:caller@caller.invalid>"},
		"Record-Route by /etc/hosts": {"Record-Route: <sip:localhost:" + strconv.Itoa(named.port) + ";lr>"},
		"Record-Route by DNS name":   {"Record-Route: <sip:proxy.invalid;lr>"},
	} {
		t.Run(name, func(t *testing.T) {
			p := dialPeer(t, "udp", server)
			d := newRawDialog("UDP", p.local(), "sip:"+clubNumber+"@"+server)
			if !strings.HasPrefix(hdrs[0], "Contact:") {
				hdrs = append(hdrs, "Contact: <sip:caller@"+p.local()+">")
			}
			p.answered(d, hdrs)
			p.answerBye(p.request("BYE"))
		})
	}
	if n := named.received.Load(); n != 0 {
		t.Errorf("the socket named by a host name got %d datagrams, want none", n)
	}
	if n := dns.queries.Load(); n != 0 {
		t.Errorf("%d DNS queries for names a caller gave, want none", n)
	}
}

// Over TCP the requests of a call go on the caller's connection, even when
// its Record-Route names another address (here a local service).
func TestInDialogTCPStaysOnTheConnection(t *testing.T) {
	h := newHarness(t, func(context.Context, ivr.Inbound) {})
	redis := newTCPTrap(t)
	p := dialPeer(t, "tcp", serverAddr(h.t, h, "tcp"))
	d := newRawDialog("TCP", p.local(), "sip:"+clubNumber+"@"+serverAddr(h.t, h, "tcp")+";transport=tcp")
	p.answered(d, []string{
		"Contact: <sip:caller@" + p.local() + ";transport=tcp>",
		"Record-Route: <sip:127.0.0.1:" + strconv.Itoa(redis.port) + ";transport=tcp;lr>",
	})
	p.answerBye(p.request("BYE"))
	if n := redis.accepted.Load(); n != 0 {
		t.Errorf("the Record-Route's address got %d connections, want none", n)
	}
}

// clubline's own requests still open connections where it was told to: a
// staff phone on TCP is dialled at the address of its registration.
func TestDialStaffOverTCP(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	phone := make(chan *connPeer, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(phone)
			return
		}
		phone <- newPeer(t, c, true)
	}()
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := h.srv.Dial(ctx, sip.DialRequest{
			Target: "sip:201@" + addr + ";transport=tcp", Destination: "tcp:" + addr,
			CallerID: "+15145550101", RingTimeout: 5 * time.Second,
		})
		done <- err
	}()
	var p *connPeer
	select {
	case p = <-phone:
	case <-time.After(5 * time.Second):
		t.Fatal("the staff phone got no connection")
	}
	if p == nil {
		t.Fatal("accept failed")
	}
	inv := p.request("INVITE")
	res := sipmsg.NewResponseFromRequest(inv, 486, "Busy Here", nil)
	res.To().Params.Add("tag", "busy1")
	p.send([]byte(res.String()))
	var de *sip.DialError
	if err := <-done; !errors.As(err, &de) || de.Code != 486 {
		t.Fatalf("Dial over TCP = %v, want the phone's 486", err)
	}
}

// lookups counts the DNS queries of a resolver: each one dials a server.
// Names in /etc/hosts are answered without one.
type lookups struct{ queries atomic.Int32 }

func (l *lookups) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		l.queries.Add(1)
		return nil, errors.New("no DNS server in this test")
	}}
}

// tcpTrap is a TCP listener standing in for a local service that a
// request names: it counts the connections it gets.
type tcpTrap struct {
	port     int
	accepted atomic.Int32
}

func newTCPTrap(t *testing.T) *tcpTrap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &tcpTrap{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return tr
}

// udpTrap is a UDP socket that counts the datagrams it gets.
type udpTrap struct {
	port     int
	received atomic.Int32
}

func newUDPTrap(t *testing.T) *udpTrap {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &udpTrap{port: c.LocalAddr().(*net.UDPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			tr.received.Add(1)
		}
	}()
	t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	return tr
}

// rawDialog writes the requests of one caller's dialog by hand.
type rawDialog struct {
	transport, sentBy, uri string
	callID, fromTag, toTag string
}

func newRawDialog(transport, sentBy, uri string) *rawDialog {
	return &rawDialog{transport: transport, sentBy: sentBy, uri: uri, callID: randHex(6), fromTag: randHex(6)}
}

func (d *rawDialog) request(method string, cseq int, hdrs []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, d.uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s\r\n", d.transport, d.sentBy, randHex(6))
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:+15145550101@127.0.0.1>;tag=%s\r\n", d.fromTag)
	if d.toTag != "" {
		fmt.Fprintf(&b, "To: <%s>;tag=%s\r\n", d.uri, d.toTag)
	} else {
		fmt.Fprintf(&b, "To: <%s>\r\n", d.uri)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\n", d.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

// connPeer is one end of a UDP or TCP conversation with the server: it
// sends what it is given and parses what arrives.
type connPeer struct {
	t    *testing.T
	conn net.Conn
	msgs chan sipmsg.Message
}

func dialPeer(t *testing.T, network, addr string) *connPeer {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return newPeer(t, c, network == "tcp")
}

func newPeer(t *testing.T, c net.Conn, stream bool) *connPeer {
	p := &connPeer{t: t, conn: c, msgs: make(chan sipmsg.Message, 32)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(p.msgs)
		parser := sipmsg.NewParser()
		sp := parser.NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if stream {
				if err := sp.ParseSIPStream(buf[:n], func(m sipmsg.Message) { p.msgs <- m }); err != nil &&
					!errors.Is(err, sipmsg.ErrParseSipPartial) {
					return
				}
				continue
			}
			if m, err := parser.ParseSIP(buf[:n]); err == nil {
				p.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	return p
}

func (p *connPeer) local() string { return p.conn.LocalAddr().String() }

func (p *connPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

func (p *connPeer) next() sipmsg.Message {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.t.Fatal("connection closed")
		}
		return m
	case <-time.After(5 * time.Second):
		p.t.Fatal("nothing arrived within 5s")
	}
	return nil
}

// final returns the next final response.
func (p *connPeer) final() *sipmsg.Response {
	p.t.Helper()
	for {
		if res, ok := p.next().(*sipmsg.Response); ok && !res.IsProvisional() {
			return res
		}
	}
}

// request returns the next request of a method, skipping anything else.
func (p *connPeer) request(method string) *sipmsg.Request {
	p.t.Helper()
	for {
		if req, ok := p.next().(*sipmsg.Request); ok && string(req.Method) == method {
			return req
		}
	}
}

// answered places a call to the club with headers hdrs and acknowledges
// the 200 OK.
func (p *connPeer) answered(d *rawDialog, hdrs []string) {
	p.t.Helper()
	rtp := newUDPTrap(p.t) // where the server's audio goes
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(rtp.port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	p.send(d.request("INVITE", 1, hdrs, sdp))
	res := p.final()
	if res.StatusCode != 200 {
		p.t.Fatalf("INVITE: %d %s", res.StatusCode, res.Reason)
	}
	d.toTag, _ = res.To().Params.Get("tag")
	p.send(d.request("ACK", 1, nil, ""))
}

// answerBye answers 200 to a BYE.
func (p *connPeer) answerBye(bye *sipmsg.Request) {
	p.t.Helper()
	p.send([]byte(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil).String()))
}
