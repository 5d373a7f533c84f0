package sip_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// rawPeer is a SIP peer that sends bytes exactly as given, the way a
// carrier, a broken phone or a scanner would, and reports every message
// the server sends back: what a peer would see, nothing more.
type rawPeer struct {
	t       *testing.T
	network string // "udp" or "tcp"
	udp     *net.UDPConn
	server  *net.UDPAddr // UDP: where to send
	tcp     net.Conn
	res     chan *sipmsg.Response
	req     chan *sipmsg.Request
	closed  chan struct{} // closed when the server closes the TCP connection
	done    sync.WaitGroup
}

// newRawPeer opens a peer to the server's listener of network. Over UDP
// it binds bind (host:port, "" for any port on 127.0.0.1): an answer goes
// to the source address and the port of the top Via (RFC 3261 §18.2.2),
// so a peer sending a message it did not write binds that port.
func newRawPeer(t *testing.T, h *harness, network, bind string) *rawPeer {
	t.Helper()
	p := &rawPeer{t: t, network: network, res: make(chan *sipmsg.Response, 64),
		req: make(chan *sipmsg.Request, 64), closed: make(chan struct{})}
	server := serverAddr(t, h, network)
	if network == "udp" {
		if bind == "" {
			bind = "127.0.0.1:0"
		}
		la, err := net.ResolveUDPAddr("udp4", bind)
		if err != nil {
			t.Fatal(err)
		}
		if p.udp, err = net.ListenUDP("udp4", la); err != nil {
			t.Fatalf("bind %s: %v", bind, err)
		}
		if p.server, err = net.ResolveUDPAddr("udp4", server); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if p.tcp, err = net.Dial("tcp4", server); err != nil {
			t.Fatal(err)
		}
	}
	p.done.Add(1)
	go p.read()
	t.Cleanup(p.close)
	return p
}

func serverAddr(t *testing.T, h *harness, network string) string {
	t.Helper()
	for _, a := range h.srv.Addrs() {
		if n, hp, _ := strings.Cut(a, "://"); n == network {
			return hp
		}
	}
	t.Fatalf("no %s listener in %v", network, h.srv.Addrs())
	return ""
}

func (p *rawPeer) close() {
	if p.udp != nil {
		_ = p.udp.Close()
	} else {
		_ = p.tcp.Close()
	}
	p.done.Wait()
}

// read sorts what arrives into responses and requests; what does not
// parse is reported as an error of the test, since clubline wrote it.
func (p *rawPeer) read() {
	defer p.done.Done()
	deliver := func(m sipmsg.Message) {
		switch m := m.(type) {
		case *sipmsg.Response:
			p.res <- m
		case *sipmsg.Request:
			p.req <- m
		}
	}
	buf := make([]byte, 65535)
	if p.udp != nil {
		for {
			n, _, err := p.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				p.t.Errorf("unparsable datagram from the server: %v\n%s", err, buf[:n])
				continue
			}
			deliver(m)
		}
	}
	defer close(p.closed)
	stream := sipmsg.NewParser().NewSIPStream()
	for {
		n, err := p.tcp.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.t.Logf("tcp read: %v", err)
			}
			return
		}
		if err := stream.ParseSIPStream(buf[:n], deliver); err != nil && !errors.Is(err, sipmsg.ErrParseSipPartial) {
			p.t.Errorf("unparsable stream from the server: %v", err)
			return
		}
	}
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	var err error
	if p.udp != nil {
		_, err = p.udp.WriteTo(b, p.server)
	} else {
		_, err = p.tcp.Write(b)
	}
	if err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// finals collects final responses until n have come, or until within has
// passed (or the server closed the connection) with no new one.
func (p *rawPeer) finals(n int, within time.Duration) []*sipmsg.Response {
	var out []*sipmsg.Response
	timer := time.NewTimer(within)
	defer timer.Stop()
	for len(out) < n {
		select {
		case r := <-p.res:
			if r.StatusCode >= 200 {
				out = append(out, r)
			}
		case <-p.closed:
			// Drain what arrived before the close.
			for {
				select {
				case r := <-p.res:
					if r.StatusCode >= 200 {
						out = append(out, r)
					}
				default:
					return out
				}
			}
		case <-timer.C:
			return out
		}
	}
	return out
}

// nextRequest waits for a request from the server.
func (p *rawPeer) nextRequest(within time.Duration) *sipmsg.Request {
	p.t.Helper()
	select {
	case r := <-p.req:
		return r
	case <-time.After(within):
		p.t.Fatalf("no request from the server within %s", within)
		return nil
	}
}

// local is the peer's own address for a Via.
func (p *rawPeer) local() string {
	if p.udp != nil {
		return p.udp.LocalAddr().String()
	}
	return p.tcp.LocalAddr().String()
}

func (p *rawPeer) via() string {
	return fmt.Sprintf("Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", strings.ToUpper(p.network), p.local(), randHex(8))
}

// inDialog writes a request in the dialog a 2xx to an INVITE set up.
func (p *rawPeer) inDialog(method string, ok *sipmsg.Response, seq uint32) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ok.Contact().Address.String())
	b.WriteString(p.via())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\n", ok.From().Value(), ok.To().Value(), ok.CallID().Value())
	fmt.Fprintf(&b, "CSeq: %d %s\r\nContent-Length: 0\r\n\r\n", seq, method)
	return []byte(b.String())
}

// ackAndBye acknowledges a 2xx to an INVITE and hangs the call up; it
// returns the status of the answer to the BYE (0 for none).
func (p *rawPeer) ackAndBye(ok *sipmsg.Response) int {
	seq := ok.CSeq().SeqNo
	p.send(p.inDialog("ACK", ok, seq))
	p.send(p.inDialog("BYE", ok, seq+1))
	for _, r := range p.finals(2, 3*time.Second) {
		if r.CSeq().MethodName == sipmsg.BYE {
			return r.StatusCode
		}
	}
	return 0
}

// options asks the server whether it is alive.
func (p *rawPeer) options() int {
	p.t.Helper()
	id := randHex(8)
	p.send([]byte("OPTIONS sip:" + serverHost(p) + " SIP/2.0\r\n" + p.via() +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=" + id + "\r\nTo: <sip:probe@127.0.0.1>\r\n" +
		"Call-ID: probe-" + id + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	for _, r := range p.finals(1, 3*time.Second) {
		if r.CallID().Value() == "probe-"+id {
			return r.StatusCode
		}
	}
	return 0
}

func serverHost(p *rawPeer) string {
	if p.udp != nil {
		return p.server.String()
	}
	return p.tcp.RemoteAddr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loopbackAlias picks an address of 127.0.0.0/8 other than 127.0.0.1, so a
// peer can bind the well-known port its message names without clashing
// with anything else on the machine (Linux answers all of 127/8).
func loopbackAlias() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<16))
	v := int(n.Int64())
	return "127.1" + strconv.Itoa(10+v%90) + "." + strconv.Itoa(1+(v>>8)%250) + "." + strconv.Itoa(1+v%250)
}
