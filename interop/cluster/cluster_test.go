package cluster_test

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/internal/rawsip"
	"github.com/clubline/clubline/interop/cluster"
	sipmsg "github.com/emiago/sipgo/sip"
)

// instance is a plain SIP UAS on loopback standing for a clubline
// instance: it answers OPTIONS with 200, INVITE with 486 naming itself
// (X-Instance), REGISTER with 200, and keeps the REGISTERs.
type instance struct {
	name string
	addr string
	conn *net.UDPConn

	mu   sync.Mutex
	regs []*sipmsg.Request
}

func startInstance(t *testing.T, name, addr string) *instance {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, addr: conn.LocalAddr().String(), conn: conn}
	t.Cleanup(in.stop)
	go in.serve()
	return in
}

// stop is the instance dying: its socket closes, nothing answers.
func (in *instance) stop() { in.conn.Close() }

func (in *instance) serve() {
	buf := make([]byte, 65535)
	for {
		n, src, err := in.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		req, ok := msg.(*sipmsg.Request)
		if err != nil || !ok {
			continue
		}
		var res *sipmsg.Response
		switch req.Method {
		case sipmsg.OPTIONS:
			res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
		case sipmsg.INVITE:
			res = sipmsg.NewResponseFromRequest(req, 486, "Busy Here", nil)
			res.AppendHeader(sipmsg.NewHeader("X-Instance", in.name))
		case sipmsg.REGISTER:
			in.mu.Lock()
			in.regs = append(in.regs, req)
			in.mu.Unlock()
			res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(sipmsg.NewHeader("X-Instance", in.name))
		default:
			continue // ACK
		}
		_, _ = in.conn.WriteToUDP([]byte(res.String()), src)
	}
}

func (in *instance) registers() []*sipmsg.Request {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*sipmsg.Request(nil), in.regs...)
}

// invite sends an INVITE through the proxy and returns which instance
// answered it, and how long the answer took.
func invite(t *testing.T, s *rawsip.Sender) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	inv := s.Invite("100", s.Addr(), netip.AddrPort{})
	res := s.Final(inv.CallID, 8*time.Second)
	if res == nil {
		t.Fatalf("INVITE %s: no final answer through the proxy within 8s", inv.CallID)
	}
	h := res.GetHeader("X-Instance")
	if h == nil {
		t.Fatalf("INVITE %s: %d %s, not from an instance", inv.CallID, res.StatusCode, res.Reason)
	}
	return h.Value(), time.Since(start)
}

// The shipped front proxy dispatches new INVITEs over the live instances,
// carries an INVITE to the other one when the chosen one is gone, takes a
// dead instance out of the rotation within its probes, and brings it back.
func TestDispatchAndFailover(t *testing.T) {
	a := startInstance(t, "a", "")
	b := startInstance(t, "b", "")
	p := cluster.Start(t, cluster.Options{Instances: []string{a.addr, b.addr}, PingInterval: time.Second, FRTimer: time.Second})
	caller := rawsip.NewSender(t, "127.0.0.1", p.Addr())

	count := map[string]int{}
	for range 20 {
		who, _ := invite(t, caller)
		count[who]++
	}
	if count["a"] == 0 || count["b"] == 0 {
		t.Fatalf("20 INVITEs reached %v, want both instances", count)
	}

	// b dies: the INVITEs sent at once all reach a, the first one meant
	// for b after FRTimer, through the failure_route (which marks b down).
	b.stop()
	failedOver := false
	for i := 0; i < 20 && !failedOver; i++ {
		who, took := invite(t, caller)
		if who != "a" {
			t.Fatalf("after b stopped: INVITE answered by %s, want a", who)
		}
		failedOver = took >= 500*time.Millisecond // FRTimer is 1s; a direct answer takes milliseconds
	}
	if !failedOver {
		t.Fatal("after b stopped: no INVITE of 20 was meant for b (none waited for the failover)")
	}
	p.WaitLog(t, "CLUSTER FAILOVER INVITE from=sip:"+b.addr+" to=sip:"+a.addr, time.Second)
	p.WaitLog(t, "CLUSTER DOWN dst=sip:"+b.addr, 4*time.Second)

	// Out of the rotation: every new INVITE goes to a straight away.
	for range 10 {
		who, took := invite(t, caller)
		if who != "a" || took >= 500*time.Millisecond {
			t.Fatalf("b marked down: INVITE answered by %s after %s, want a without waiting for a failover", who, took)
		}
	}

	// b is back on its port: probed up again, dispatched to again.
	b = startInstance(t, "b", b.addr)
	p.WaitLog(t, "CLUSTER UP dst=sip:"+b.addr, 4*time.Second)
	count = map[string]int{}
	for range 20 {
		who, _ := invite(t, caller)
		count[who]++
	}
	if count["b"] == 0 {
		t.Fatalf("b back: 20 INVITEs reached %v, want b too", count)
	}
}

// phone is a UDP socket playing a staff phone behind the proxy.
type phone struct {
	conn *net.UDPConn
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &phone{conn: conn}
}

func (ph *phone) addr() string { return ph.conn.LocalAddr().String() }

func (ph *phone) send(t *testing.T, to, msg string) {
	t.Helper()
	dst, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ph.conn.WriteToUDP([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
}

// read returns the next SIP message, or fails the test after 3s.
func (ph *phone) read(t *testing.T) sipmsg.Message {
	t.Helper()
	_ = ph.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	for {
		n, err := ph.conn.Read(buf)
		if err != nil {
			t.Fatalf("phone %s: nothing within 3s: %v", ph.addr(), err)
		}
		msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err == nil {
			if res, ok := msg.(*sipmsg.Response); ok && res.StatusCode < 200 {
				continue
			}
			return msg
		}
	}
}

// A REGISTER reaches an instance with a Path naming the proxy and the
// phone's address; the instance reaches the phone back through that Path
// (Route), and only an instance may: the proxy relays nobody else's.
func TestRegisterPathAndRelayToPhone(t *testing.T) {
	a := startInstance(t, "a", "")
	p := cluster.Start(t, cluster.Options{Instances: []string{a.addr}, Debug: true})
	ph := newPhone(t)
	ph.send(t, p.Addr(), "REGISTER sip:"+p.Addr()+" SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+ph.addr()+";branch=z9hG4bK-reg-1;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:201@"+p.Addr()+">;tag=r1\r\n"+
		"To: <sip:201@"+p.Addr()+">\r\n"+
		"Call-ID: reg-1@"+ph.addr()+"\r\n"+
		"CSeq: 1 REGISTER\r\n"+
		"Contact: <sip:201@10.0.0.9:5062>\r\n"+
		"Supported: path\r\n"+
		"Expires: 3600\r\n"+
		"Content-Length: 0\r\n\r\n")
	res, ok := ph.read(t).(*sipmsg.Response)
	if !ok || res.StatusCode != 200 {
		t.Fatalf("REGISTER through the proxy: %v, want the instance's 200", res)
	}
	regs := a.registers()
	if len(regs) != 1 {
		t.Fatalf("instance got %d REGISTERs, want 1", len(regs))
	}
	path := regs[0].GetHeader("Path")
	if path == nil {
		t.Fatalf("REGISTER reached the instance without a Path:\n%s", regs[0])
	}
	if !strings.Contains(path.Value(), "sip:"+p.Addr()+";lr") || !strings.Contains(path.Value(), "received=sip:"+ph.addr()) {
		t.Fatalf("Path = %q, want the proxy %s with lr and received=sip:%s", path.Value(), p.Addr(), ph.addr())
	}

	// The instance's keep-alive to the phone, with the Path as Route.
	route := path.Value()
	t.Logf("Path: %s", route)
	options := func(from *net.UDPConn, branch string) {
		t.Helper()
		local := from.LocalAddr().String()
		msg := "OPTIONS sip:201@10.0.0.9:5062 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + branch + ";rport\r\n" +
			"Route: " + route + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:clubline@" + local + ">;tag=o1\r\n" +
			"To: <sip:201@10.0.0.9:5062>\r\n" +
			"Call-ID: " + branch + "@" + local + "\r\n" +
			"CSeq: 1 OPTIONS\r\n" +
			"Content-Length: 0\r\n\r\n"
		dst, _ := net.ResolveUDPAddr("udp4", p.Addr())
		if _, err := from.WriteToUDP([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
	}
	a.stop() // its socket is ours now: read what the proxy answers it
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(a.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	options(conn, "keepalive-1")
	req, ok := ph.read(t).(*sipmsg.Request)
	if !ok || req.Method != sipmsg.OPTIONS || req.Recipient.String() != "sip:201@10.0.0.9:5062" {
		t.Fatalf("phone got %v, want the instance's OPTIONS to its Contact", req)
	}

	// The instance rings the phone through the Path: the proxy records
	// itself in the route set, and the phone's BYE comes back through it
	// to the instance (loose_route).
	local := conn.LocalAddr().String()
	inviteMsg := "INVITE sip:201@10.0.0.9:5062 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-ring-1;rport\r\n" +
		"Route: " + route + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:5145550123@" + local + ">;tag=c1\r\n" +
		"To: <sip:201@10.0.0.9:5062>\r\n" +
		"Call-ID: ring-1@" + local + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:clubline@" + local + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
	dst, _ := net.ResolveUDPAddr("udp4", p.Addr())
	if _, err := conn.WriteToUDP([]byte(inviteMsg), dst); err != nil {
		t.Fatal(err)
	}
	var ring *sipmsg.Request
	for ring == nil || ring.Method != sipmsg.INVITE { // the OPTIONS may be retransmitted
		req, ok := ph.read(t).(*sipmsg.Request)
		if !ok {
			t.Fatal("phone got a response, want the INVITE")
		}
		ring = req
	}
	rr := ring.GetHeader("Record-Route")
	if rr == nil || !strings.Contains(rr.Value(), p.Addr()) {
		t.Fatalf("INVITE reached the phone without the proxy's Record-Route:\n%s", ring)
	}
	ok200 := sipmsg.NewResponseFromRequest(ring, 200, "OK", nil)
	ok200.To().Params.Add("tag", "p1")
	ok200.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1", Port: ph.conn.LocalAddr().(*net.UDPAddr).Port}})
	ph.send(t, p.Addr(), ok200.String())
	ph.send(t, p.Addr(), "BYE sip:clubline@"+local+" SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+ph.addr()+";branch=z9hG4bK-bye-1;rport\r\n"+
		"Route: "+rr.Value()+"\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:201@10.0.0.9:5062>;tag=p1\r\n"+
		"To: <sip:5145550123@"+local+">;tag=c1\r\n"+
		"Call-ID: ring-1@"+local+"\r\n"+
		"CSeq: 1 BYE\r\n"+
		"Content-Length: 0\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("the phone's BYE did not reach the instance through the proxy: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "BYE ") {
			break
		}
	}

	// The same request from anyone else is refused.
	stranger := newPhone(t)
	options(stranger.conn, "relay-1")
	if res, ok := stranger.read(t).(*sipmsg.Response); !ok || res.StatusCode != 403 {
		t.Fatalf("a stranger's request with the Route: %v, want 403", res)
	}
	p.WaitLog(t, "CLUSTER REFUSE OPTIONS reason=relay-not-from-an-instance", time.Second)
}
