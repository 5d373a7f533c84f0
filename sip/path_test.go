package sip_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip/registrar"
	sipmsg "github.com/emiago/sipgo/sip"
)

// fakeProxy is a UDP socket on loopback playing the first hop of a Path:
// it keeps the requests clubline sends it, parsed, and answers an INVITE
// with 486 (busy), nothing else.
type fakeProxy struct {
	conn *net.UDPConn
	reqs chan *sipmsg.Request
}

func newFakeProxy(t *testing.T) *fakeProxy {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProxy{conn: conn, reqs: make(chan *sipmsg.Request, 16)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, src, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
			if req, ok := msg.(*sipmsg.Request); ok && err == nil {
				if req.Method == sipmsg.INVITE {
					busy := sipmsg.NewResponseFromRequest(req, 486, "Busy Here", nil)
					_, _ = conn.WriteToUDP([]byte(busy.String()), src)
				}
				select {
				case p.reqs <- req:
				default:
				}
			}
		}
	}()
	return p
}

func (p *fakeProxy) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// next returns the next request of the method, skipping others.
func (p *fakeProxy) next(t *testing.T, method sipmsg.RequestMethod) *sipmsg.Request {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case req := <-p.reqs:
			if req.Method == method {
				return req
			}
		case <-deadline:
			t.Fatalf("no %s reached the proxy within 5s", method)
			return nil
		}
	}
}

// registerVia registers marie from rc with the extra headers (a Path, a
// Supported) and returns the 200.
func registerVia(t *testing.T, rh *regHarness, rc *rawClient, extra ...sipmsg.Header) *sipmsg.Response {
	t.Helper()
	uri := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	hs := func(authz string) []sipmsg.Header {
		out := []sipmsg.Header{
			sipmsg.NewHeader("Contact", "<sip:201@10.0.0.9:5062>"),
			sipmsg.NewHeader("Expires", "3600"),
		}
		for _, h := range extra {
			out = append(out, sipmsg.HeaderClone(h))
		}
		if authz != "" {
			out = append(out, sipmsg.NewHeader("Authorization", authz))
		}
		return out
	}
	res := rc.do(t, sipmsg.REGISTER, uri, hs("")...)
	res = rc.do(t, sipmsg.REGISTER, uri, hs(answerChallenge(t, res, uri, "201", "secret-marie", 1))...)
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s, want 200", res.StatusCode, res.Reason)
	}
	return res
}

func pathValues(m interface{ GetHeaders(string) []sipmsg.Header }) []string {
	var out []string
	for _, h := range m.GetHeaders("Path") {
		out = append(out, h.Value())
	}
	return out
}

// A phone registered through a proxy (RFC 3327): its Path is kept, in the
// Store too, echoed in the 200 when it said Supported: path, and the INVITE
// that rings it and the keep-alive OPTIONS carry the Path as Route and go
// to the proxy, not to the phone. The proxy's address is no staff phone's.
func TestRegisterPathUsedAsRoute(t *testing.T) {
	rh := newRegHarness(t, func(o *registrar.Options) { o.PingEvery = -1 })
	proxy := newFakeProxy(t)
	path := fmt.Sprintf("<sip:127.0.0.1:%d;lr;received=sip:203.0.113.5:5062>", proxy.port())
	rc := newRawClient(t) // on 127.0.0.1: the proxy that added the Path sent the REGISTER

	res := registerVia(t, rh, rc, sipmsg.NewHeader("Path", path), sipmsg.NewHeader("Supported", "path"))
	if got := pathValues(res); !slices.Equal(got, []string{path}) {
		t.Errorf("200's Path = %q, want the REGISTER's %q", got, path)
	}
	regs := rh.bound()
	if len(regs) != 1 || !slices.Equal(regs[0].Path, []string{path}) {
		t.Fatalf("bindings = %+v, want marie's with the Path", regs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stored := rh.store.all(t, rh.clock.Now())
		if len(stored) == 1 && slices.Equal(stored[0].Path, []string{path}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store holds %+v, want marie's binding with the Path", stored)
		}
		time.Sleep(10 * time.Millisecond)
	}

	where, err := rh.reg.Where(context.Background(), []string{"marie"})
	if err != nil {
		t.Fatal(err)
	}
	hop := fmt.Sprintf("udp:127.0.0.1:%d", proxy.port())
	want := ivr.Target{Staff: "marie", URI: "sip:201@10.0.0.9:5062", Destination: hop, Route: path}
	if len(where["marie"]) != 1 || where["marie"][0] != want {
		t.Fatalf("Where = %+v, want %+v", where["marie"], want)
	}
	if got := registrar.NextHop(regs[0]); got != hop {
		t.Errorf("NextHop = %q, want %q", got, hop)
	}
	if rh.reg.IsPhoneAddress(mustAddr(t, "127.0.0.1")) {
		t.Error("the proxy's address counts as a staff phone's")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialed := make(chan error, 1)
	go func() {
		_, err := rh.srv.Dialer().Dial(ctx, ivr.DialRequest{Target: want, CallerID: "5145550123", RingTimeout: 2 * time.Second})
		dialed <- err
	}()
	inv := proxy.next(t, sipmsg.INVITE)
	if inv.Recipient.String() != "sip:201@10.0.0.9:5062" {
		t.Errorf("INVITE's Request-URI = %s, want the phone's Contact", inv.Recipient.String())
	}
	if got := headerValue(inv, "Route"); got != path {
		t.Errorf("INVITE's Route = %q, want the Path %q", got, path)
	}
	if err := <-dialed; err == nil || !strings.Contains(err.Error(), "486") {
		t.Errorf("Dial through the proxy: %v, want its 486", err)
	}

	pctx, pcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer pcancel()
	go func() { _ = rh.srv.Ping(pctx, regs[0]) }()
	opt := proxy.next(t, sipmsg.OPTIONS)
	if got := headerValue(opt, "Route"); got != path {
		t.Errorf("OPTIONS's Route = %q, want the Path %q", got, path)
	}
}

// Without Supported: path the Path is used but not echoed; a Path whose
// first hop is not where the REGISTER came from is ignored, and the phone
// is reached where it registered from.
func TestRegisterPathEchoAndForgedPath(t *testing.T) {
	rh := newRegHarness(t, func(o *registrar.Options) { o.PingEvery = -1 })
	rc := newRawClient(t)
	path := fmt.Sprintf("<sip:127.0.0.1:%d;lr>", rc.port)
	res := registerVia(t, rh, rc, sipmsg.NewHeader("Path", path))
	if got := pathValues(res); len(got) != 0 {
		t.Errorf("200's Path = %q without Supported: path, want none", got)
	}
	if regs := rh.bound(); len(regs) != 1 || !slices.Equal(regs[0].Path, []string{path}) {
		t.Fatalf("bindings = %+v, want the Path kept", regs)
	}

	forged := "<sip:192.0.2.99:5060;lr>, <sip:198.51.100.7;lr>"
	res = registerVia(t, rh, rc, sipmsg.NewHeader("Path", forged), sipmsg.NewHeader("Supported", "path"))
	if got := pathValues(res); len(got) != 0 {
		t.Errorf("200's Path = %q for an ignored Path, want none", got)
	}
	regs := rh.bound()
	if len(regs) != 1 || len(regs[0].Path) != 0 || registrar.NextHop(regs[0]) != regs[0].Received {
		t.Fatalf("bindings = %+v, want no Path and the source as the next hop", regs)
	}
	if !rh.reg.IsPhoneAddress(mustAddr(t, "127.0.0.1")) {
		t.Error("a phone registered directly is no longer a staff phone's address")
	}
}

// With Shared, Where reads the Store (a phone registered with the other
// instance is rung), keeps the read for SharedFor, lays this instance's
// changes on top at once, and falls back to its own book when the Store
// fails. Without it, only the book counts.
func TestRegistrarShared(t *testing.T) {
	rh := newRegHarness(t, func(o *registrar.Options) {
		o.PingEvery, o.Shared, o.SharedFor = -1, true, time.Hour
	})
	lone := newRegHarnessWith(t, nil, func(o *registrar.Options) { o.PingEvery, o.Store = -1, rh.store })
	other := &clubline.Registration{StaffID: "luc", Contact: "sip:202@10.0.0.8:5062", Received: "udp:127.0.0.1:5999",
		Path: []string{"<sip:127.0.0.1:5999;lr>"}, Expires: rh.clock.Now().Add(time.Hour), RegisteredAt: rh.clock.Now()}
	if err := rh.store.SaveRegistration(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	staffOf := func(r *registrar.Registrar) []string {
		where, err := r.Where(context.Background(), []string{"marie", "luc"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, id := range []string{"luc", "marie"} {
			if len(where[id]) > 0 {
				out = append(out, id)
			}
		}
		return out
	}
	if got := staffOf(rh.reg); !slices.Equal(got, []string{"luc"}) {
		t.Fatalf("shared: Where rings %q, want the other instance's luc", got)
	}
	if got := rh.reg.Registered(); got != 1 {
		t.Errorf("shared: Registered = %d, want 1", got)
	}
	if got := staffOf(lone.reg); len(got) != 0 {
		t.Fatalf("not shared: Where rings %q, want nobody (nobody registered here)", got)
	}

	// Kept for SharedFor: the other instance's unregistration is not seen
	// yet; this instance's own REGISTER is, at once.
	if err := rh.store.DeleteRegistration(context.Background(), "luc", other.Contact); err != nil {
		t.Fatal(err)
	}
	if got := staffOf(rh.reg); !slices.Equal(got, []string{"luc"}) {
		t.Fatalf("within SharedFor: Where rings %q, want the read kept", got)
	}
	registerVia(t, rh, newRawClient(t))
	got := staffOf(rh.reg)
	if !slices.Contains(got, "marie") {
		t.Fatalf("after marie's REGISTER here: Where rings %q, want marie", got)
	}

	// Once written the read is renewed; a Store that fails leaves the book.
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(staffOf(rh.reg), []string{"marie"}) {
		if time.Now().After(deadline) {
			t.Fatalf("after the write: Where rings %q, want marie alone", staffOf(rh.reg))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := rh.store.SaveRegistration(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	registerVia(t, rh, newRawClient(t)) // a refresh: once written, the read is renewed
	waitRings := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Equal(staffOf(rh.reg), want) {
			if time.Now().After(deadline) {
				t.Fatalf("Where rings %q, want %q", staffOf(rh.reg), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRings("luc", "marie")
	rh.store.down.Store(true)
	registerVia(t, rh, newRawClient(t)) // the writer fails, the read is renewed and fails
	waitRings("marie")
	if got := rh.reg.Registered(); got != 1 {
		t.Errorf("store down: Registered = %d, want 1", got)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

// Registered (the gauge, counted inside a REGISTER's handling) never
// waits on a frozen Store: it counts from the last read or the book.
func TestRegistrarSharedRegisteredDoesNotWait(t *testing.T) {
	rh := newRegHarness(t, func(o *registrar.Options) {
		o.PingEvery, o.Shared, o.SharedFor = -1, true, time.Millisecond
	})
	registerVia(t, rh, newRawClient(t))
	rh.store.freeze()
	defer rh.store.thaw()
	for range 3 {
		start := time.Now()
		if got := rh.reg.Registered(); got != 1 {
			t.Errorf("Registered = %d, want marie", got)
		}
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Fatalf("Registered took %s with the Store frozen, want no wait", took)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
