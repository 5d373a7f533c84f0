package sip_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// TestMain checks that no goroutine outlives the tests: every server and
// phone must release everything when closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const clubNumber = "+15145550100"

// harness is a server on loopback ports with a call script the test picks.
type harness struct {
	t        *testing.T
	srv      *sip.Server
	rejected chan clubline.Call
	udpURI   string
	tcpURI   string
}

// testLogger writes the server's logs to stderr when CLUBLINE_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CLUBLINE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHarness starts a server answering clubNumber with handle, over UDP
// and TCP on 127.0.0.1. mutate may change the options first.
func newHarness(t *testing.T, handle func(context.Context, ivr.Inbound), mutate ...func(*sip.Options)) *harness {
	t.Helper()
	h := &harness{t: t, rejected: make(chan clubline.Call, 16)}
	o := sip.Options{
		Listen:     []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"},
		RTPPortMin: 30000, RTPPortMax: 39999,
		RTPTimeout: 10 * time.Second,
		Numbers:    []string{clubNumber},
		Handle:     handle,
		OnRejected: func(c clubline.Call, _ int) { h.rejected <- c },
		Logger:     testLogger(t),
	}
	for _, m := range mutate {
		m(&o)
	}
	srv, err := sip.NewServer(o)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.srv = srv
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Close did not return")
		}
	})
	for _, a := range srv.Addrs() {
		network, hostport, _ := strings.Cut(a, "://")
		switch network {
		case "udp":
			h.udpURI = "sip:" + clubNumber + "@" + hostport
		case "tcp":
			h.tcpURI = "sip:" + clubNumber + "@" + hostport + ";transport=tcp"
		}
	}
	return h
}

// dial calls the server from a phone and fails the test if it is refused.
func (h *harness) dial(o softphone.Options) *softphone.Call {
	h.t.Helper()
	return h.dialURI(h.udpURI, o)
}

func (h *harness) dialURI(uri string, o softphone.Options) *softphone.Call {
	h.t.Helper()
	if o.From == "" {
		o.From = "+15145550101"
	}
	if o.Logger == nil {
		o.Logger = testLogger(h.t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, uri, o)
	if err != nil {
		h.t.Fatalf("Dial %s: %v", uri, err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Hangup(ctx); err != nil {
			h.t.Logf("cleanup: phone hangup: %v", err)
		}
	})
	return c
}

// refused dials and expects a refusal; it returns it.
func (h *harness) refused(uri string, o softphone.Options) *softphone.StatusError {
	h.t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(h.t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, uri, o)
	if err == nil {
		_ = c.Hangup(ctx)
		h.t.Fatalf("Dial %s: answered, want a refusal", uri)
	}
	se, ok := err.(*softphone.StatusError)
	if !ok {
		h.t.Fatalf("Dial %s: %v, want a *softphone.StatusError", uri, err)
	}
	return se
}

// nextRejected waits for the record of a refused call.
func (h *harness) nextRejected() clubline.Call {
	h.t.Helper()
	select {
	case c := <-h.rejected:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("no OnRejected record")
		return clubline.Call{}
	}
}

// waitIdle waits until the server has no active call.
func (h *harness) waitIdle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Wait(ctx); err != nil {
		h.t.Fatalf("Wait: %v", err)
	}
}

// script is a call script that tests observe: it reports each call,
// each digit, and when its context ends.
type script struct {
	calls  chan ivr.Inbound
	digits chan rune
	ended  chan struct{} // one value per call whose context ended
	body   func(ctx context.Context, in ivr.Inbound)
}

func newScript(body func(ctx context.Context, in ivr.Inbound)) *script {
	return &script{calls: make(chan ivr.Inbound, 8), digits: make(chan rune, 32),
		ended: make(chan struct{}, 8), body: body}
}

func (s *script) handle(ctx context.Context, in ivr.Inbound) {
	s.calls <- in
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case d := <-in.Leg.Digits():
				s.digits <- d
			case <-ctx.Done():
				return
			}
		}
	}()
	if s.body != nil {
		s.body(ctx, in)
	} else {
		<-ctx.Done()
	}
	wg.Wait()
	s.ended <- struct{}{}
}

func (s *script) nextCall(t *testing.T) ivr.Inbound {
	t.Helper()
	select {
	case in := <-s.calls:
		return in
	case <-time.After(5 * time.Second):
		t.Fatal("the script was not started")
		return ivr.Inbound{}
	}
}

func (s *script) waitEnded(t *testing.T) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the script's context did not end")
	}
}

func waitDone(t *testing.T, c *softphone.Call, within time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("call not ended after %s", within)
	}
}

// rawClient sends requests the phone would not: OPTIONS, MESSAGE, odd ones.
// It sends from a UDP socket it serves itself: sipgo does not close the
// sockets it opens for a client on its own when its user agent closes.
type rawClient struct {
	ua     *sipgo.UserAgent
	client *sipgo.Client
	port   int // of its UDP socket, for a Contact
}

func newRawClient(t *testing.T) *rawClient {
	t.Helper()
	return newRawClientWith(t, nil, nil)
}

// newRawClientWith is newRawClient with a filter on what its socket reads
// (nil: none) and handlers for requests it receives (nil: none).
func newRawClientWith(t *testing.T, readFilter func([]byte) []byte, handle func(*sipgo.Server)) *rawClient {
	t.Helper()
	return newRawClientOn(t, "127.0.0.1", readFilter, handle)
}

// newRawClientFrom is a raw client whose socket is on another loopback
// address (127.0.0.2…): another source, as a phone elsewhere would be.
func newRawClientFrom(t *testing.T, ip string) *rawClient {
	t.Helper()
	return newRawClientOn(t, ip, nil, nil)
}

func newRawClientOn(t *testing.T, ip string, readFilter func([]byte) []byte, handle func(*sipgo.Server)) *rawClient {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	transport := []sipmsg.TransportLayerOption{sipmsg.WithTransportLayerLogger(quiet)}
	if readFilter != nil {
		transport = append(transport, sipmsg.WithTransportLayerReadFilter(
			func(_ sipmsg.TransportReadProps, data []byte) ([]byte, error) { return readFilter(data), nil }))
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgentTransportLayerOptions(transport...),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(quiet),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {})))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if handle != nil {
		handle(srv)
	}
	conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(conn)
	}()
	for ua.TransportLayer().Pool("udp").Size() == 0 {
		time.Sleep(time.Millisecond)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(ip),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		<-served
		_ = ua.Close()
	})
	return &rawClient{ua: ua, client: client, port: conn.LocalAddr().(*net.UDPAddr).Port}
}

// do sends method to uri and returns the final response.
func (r *rawClient) do(t *testing.T, method sipmsg.RequestMethod, uri string, hdrs ...sipmsg.Header) *sipmsg.Response {
	t.Helper()
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &target); err != nil {
		t.Fatal(err)
	}
	req := sipmsg.NewRequest(method, target)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}

func headerValue(m interface {
	GetHeaders(string) []sipmsg.Header
}, name string) string {
	if hs := m.GetHeaders(name); len(hs) > 0 {
		return hs[0].Value()
	}
	return ""
}
