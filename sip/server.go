// Package sip is clubline's signalling: it answers calls on sipgo over UDP
// and TCP, runs the SIP dialog of each (ACK, BYE, CANCEL, re-INVITE, UPDATE,
// INFO, session timers), pairs it with an RTP leg from package media, and
// hands the call to the script as an ivr.Leg. It rings staff phones
// (Dial, Dialer) and serves their hold, resume and blind transfer (REFER)
// as ivr.StaffEvents, and their message-waiting lights (SUBSCRIBE,
// MailboxChanged: mwi.go).
//
// Each answered call and each staff leg has one supervising goroutine that
// owns its end: BYE, INFO, re-INVITE and REFER handlers, the RTP watchdog
// and the session timer only tell it what happened.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Server answers SIP calls. Create it with NewServer, then Start it.
type Server struct {
	o       Options
	binds   []listenAddr
	numbers numberSet
	log     *slog.Logger

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	limits *edge.Limiter // per-source request limits (edge.go)

	// stop is cancelled by HangupAll and Close: a call still ringing is
	// refused and no new call can register.
	stop     context.Context
	stopNow  context.CancelFunc
	deaf     atomic.Bool    // Close: drop whatever the sockets still read
	wg       sync.WaitGroup // request handlers and call goroutines
	serveWG  sync.WaitGroup // listener loops
	closeErr error

	mu        sync.Mutex
	listeners []*listener
	publicIP  netip.Addr                 // resolved PublicAddress, if any
	stunIP    atomic.Pointer[netip.Addr] // learnt from Options.STUN when PublicAddress is not set (stun.go)
	trunks    *trunkSide                 // who may call, calls through the trunks (trunks.go)
	mwi       *mwiSide                   // message-waiting indication (mwi.go)
	calls     map[string]*call
	active    int           // admitted calls: being set up or up
	changed   chan struct{} // closed and replaced when active changes
	draining  bool
	closing   bool
	started   bool

	// Admitted calls whose ACK has not come, in all and by source IP
	// address (limits.go); mu guards them.
	awaiting     int
	awaitingFrom map[string]int

	legs map[string]*OutboundLeg // outbound legs by dialog (dialer.go)

	refusals edge.RefusalLog // samples the log lines of refused INVITEs
}

// listener is one bound socket.
type listener struct {
	network string // "udp", "tcp" or "tls"
	addr    netip.AddrPort
	udpAddr *net.UDPAddr // UDP: the socket's address, as sipgo keys it
	closer  interface{ Close() error }
}

// NewServer checks the options and prepares a server; nothing is bound
// until Start.
func NewServer(o Options) (*Server, error) {
	o, binds, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	s := &Server{
		o:       o,
		binds:   binds,
		numbers: newNumberSet(o.Numbers),
		log:     o.Logger.With("component", "sip"),
		calls:   make(map[string]*call),
		changed: make(chan struct{}),
		limits:  edge.NewLimiter(o.Limits, o.Logger.With("component", "sip")),
	}
	s.trunks = &trunkSide{Server: s}
	s.mwi = newMWISide(s)
	s.stop, s.stopNow = context.WithCancel(context.Background())
	if len(o.Numbers) == 0 {
		s.log.Warn("no numbers configured: answering calls to any number")
	}
	sipLog := redactedLogger(o.Logger)
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(userAgent),
		sipgo.WithUserAgentDNSResolver(edge.RefusingResolver()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(sipLog),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(sipLog),
			sipmsg.WithTransportLayerReadFilter(s.readFilter()), // edge.go
			// Last: sipgo copies the read filter set above into the
			// transport when this option runs (reach.go).
			sipmsg.WithTransportLayerTransports(sipmsg.TransportsConfig{
				TCP: edge.GuardedTCP(sipLog),
				TLS: &sipmsg.TransportTLS{TransportTCP: edge.GuardedTCP(sipLog)},
			}),
		),
		sipgo.WithUserAgenTLSConfig(clientTLS(o.TLSRootCAs, o.tlsNames())), // tls.go
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		_ = s.ua.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(sipLog))
	if err != nil {
		_ = s.ua.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	s.routes()
	return s, nil
}

// routes registers a handler for every method; sipgo runs each request on
// its own goroutine.
func (s *Server) routes() {
	s.srv.OnInvite(s.tracked(s.onInvite))
	s.srv.OnAck(s.tracked(s.onAck))
	s.srv.OnCancel(s.tracked(s.onCancel))
	s.srv.OnBye(s.tracked(s.onBye))
	s.srv.OnOptions(s.tracked(s.onOptions))
	s.srv.OnInfo(s.tracked(s.onInfo))
	s.srv.OnUpdate(s.tracked(s.onUpdate))
	s.srv.OnRefer(s.tracked(s.onRefer))
	s.srv.OnRegister(s.tracked(s.onRegister))
	s.srv.OnSubscribe(s.tracked(s.mwi.onSubscribe))
	s.srv.OnNoRoute(s.tracked(s.onOther))
}

// tracked wraps a handler so Close waits for it, so a panic in it is
// logged and answered 500 instead of killing the process, and so a
// malformed request is refused before it runs (validate.go).
func (s *Server) tracked(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !s.enter() {
			if !req.IsAck() {
				s.respond(tx, rejectShutdown().response(req))
			}
			return
		}
		defer s.wg.Done()
		if s.limited(req, tx) {
			return
		}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("request handler panicked", "method", string(req.Method), "panic", fmt.Sprint(p))
				if !req.IsAck() {
					s.respond(tx, rejectInternal(errors.New("internal error")).response(req))
				}
			}
		}()
		if s.refuseMalformed(req, tx) { // edge.go
			return
		}
		h(req, tx)
	}
}

// enter admits one more tracked goroutine unless the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// Start binds every listener and returns once they all accept requests.
// ctx bounds only the start-up (name resolution); stop the server with
// Drain, Wait, HangupAll and Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.closing {
		s.mu.Unlock()
		return errors.New("sip: server already started or closed")
	}
	s.started = true
	s.mu.Unlock()

	if s.o.PublicAddress != "" {
		ip, err := resolvePublic(ctx, s.o.Resolver, s.o.PublicAddress)
		if err != nil {
			return err
		}
		s.publicIP = ip
	}
	if err := s.trunks.resolveAllowFrom(ctx); err != nil {
		return err
	}
	for _, b := range s.binds {
		l, err := s.bind(b)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, l)
		s.mu.Unlock()
		s.log.Info("listening", "transport", l.network, "addr", l.addr.String())
	}
	if err := s.awaitServing(); err != nil {
		s.closeListeners()
		return err
	}
	s.startKeepalive()
	s.trunks.run()
	s.mwi.run()
	if s.o.STUN != "" && s.o.PublicAddress == "" && s.enter() {
		go func() {
			defer s.wg.Done()
			s.learnPublic(s.stop)
		}()
	}
	return nil
}

// onRegister hands a REGISTER to the registrar.
func (s *Server) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.o.Registrar == nil {
		s.onOther(req, tx)
		return
	}
	s.respond(tx, s.o.Registrar.Handle(req))
}

// startKeepalive runs the registrar (its Store writes and its keep-alive,
// with this server sending the pings) until the server stops (HangupAll,
// Close); Close waits for it.
func (s *Server) startKeepalive() {
	if s.o.Registrar == nil || !s.enter() {
		return
	}
	go func() {
		defer s.wg.Done()
		s.o.Registrar.Run(s.stop, s)
	}()
}

func resolvePublic(ctx context.Context, r *net.Resolver, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := r.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("sip: PublicAddress %q: not an IP and does not resolve: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

func (s *Server) bind(b listenAddr) (*listener, error) {
	switch b.network {
	case "udp":
		conn, err := net.ListenPacket(ipNetwork("udp", b.addr), b.addr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen udp %s: %w", b.addr, err)
		}
		ap := conn.LocalAddr().(*net.UDPAddr).AddrPort()
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.srv.ServeUDP(conn); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("udp listener stopped", "addr", ap.String(), "error", err)
			}
		}()
		return &listener{network: "udp", addr: unmapAP(ap), udpAddr: conn.LocalAddr().(*net.UDPAddr), closer: conn}, nil
	case "tls":
		ln, ap, err := s.listenTLS(b) // tls.go
		if err != nil {
			return nil, err
		}
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.srv.ServeTLS(ln); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("tls listener stopped", "addr", ap.String(), "error", err)
			}
		}()
		return &listener{network: "tls", addr: unmapAP(ap), closer: ln}, nil
	default:
		ln, err := net.Listen(ipNetwork("tcp", b.addr), b.addr)
		if err != nil {
			return nil, fmt.Errorf("sip: listen tcp %s: %w", b.addr, err)
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		ln = s.limitTCP(ln) // idle timeout, per-source cap (edge.go)
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.srv.ServeTCP(ln); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("tcp listener stopped", "addr", ap.String(), "error", err)
			}
		}()
		return &listener{network: "tcp", addr: unmapAP(ap), closer: ln}, nil
	}
}

// ipNetwork keeps an IPv4 address, 0.0.0.0 included, to IPv4: Go would
// otherwise bind a dual-stack [::] for "udp" on 0.0.0.0.
func ipNetwork(network, hostport string) string {
	host, _, _ := net.SplitHostPort(hostport)
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			return network + "4"
		}
		return network + "6"
	}
	return network
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Addrs returns the bound listeners as "udp://127.0.0.1:54321".
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.network + "://" + l.addr.String()
	}
	return out
}

// listenerFor returns the first listener of a transport ("UDP", "tcp").
func (s *Server) listenerFor(network string) *listener {
	network = sipmsg.NetworkToLower(network)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.network == network {
			return l
		}
	}
	return nil
}

// Drain makes the server answer new INVITEs (and OPTIONS pings) with 503
// and Retry-After, so a carrier routes elsewhere; calls in progress go on.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.draining {
		s.draining = true
		s.log.Info("draining: new calls get 503", "active", s.active)
	}
}

// Draining reports whether new calls are refused (Drain, HangupAll, Close).
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Active returns the number of calls being set up or in progress.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Wait blocks until no call is active or ctx is done.
func (s *Server) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		n, changed := s.active, s.changed
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("sip: %d calls still active: %w", n, ctx.Err())
		}
	}
}

// HangupAll ends every call now: calls being set up are refused, answered
// ones get a BYE. New calls are refused from then on. It does not wait;
// use Wait.
func (s *Server) HangupAll() {
	s.Drain()
	s.stopNow()
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		c.finish(endShutdown)
	}
	s.hangupLegs()
}

// Close hangs up every call, waits for their scripts to return, then stops
// the listeners and sipgo. When it returns no goroutine, socket or timer of
// the server is left.
func (s *Server) Close() error {
	s.HangupAll()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.wg.Wait()
		s.serveWG.Wait()
		return s.closeErr
	}
	s.closing = true
	s.mu.Unlock()

	s.wg.Wait() // handlers and calls end: their contexts are cancelled
	// A request sipgo reads once its connections are gone makes it open a
	// socket of its own to answer, which nothing would close: stop reading
	// first, then close what it may still open (settle).
	s.deaf.Store(true)
	s.closeListeners()
	s.serveWG.Wait()
	err := s.ua.Close()
	settle(s.ua)
	s.closeErr = err
	s.refusals.Flush()
	s.log.Info("closed")
	return err
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		_ = l.closer.Close()
	}
}

// admit counts a new call from the source IP address src, or says why it
// cannot be taken. The call awaits its ACK until acked.
func (s *Server) admit(src string) (*ticket, *rejection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.draining || s.closing:
		return nil, rejectDraining(s.o.RetryAfter)
	case s.o.MaxCalls > 0 && s.active >= s.o.MaxCalls:
		return nil, rejectOverCapacity(s.o.MaxCalls, s.o.RetryAfter)
	}
	t, r := s.awaitLocked(src)
	if r != nil {
		return nil, r
	}
	s.active++
	s.signalLocked()
	return t, nil
}

// release uncounts a call admitted by admit and forgets its dialog.
func (s *Server) release(key string, t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		delete(s.calls, key)
	}
	s.unawaitLocked(t)
	if t != nil && t.onRelease != nil {
		t.onRelease()
	}
	s.active--
	s.signalLocked()
}

func (s *Server) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// register makes a call findable by its dialog; it fails once the server
// is stopping, so no call escapes HangupAll.
func (s *Server) register(key string, c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop.Err() != nil {
		return false
	}
	s.calls[key] = c
	return true
}

// lookup finds the leg an in-dialog request belongs to: an inbound call,
// or an outbound leg to a staff phone.
func (s *Server) lookup(req *sipmsg.Request) *dialogLeg {
	from, to, id := req.From(), req.To(), req.CallID()
	if from == nil || to == nil || id == nil {
		return nil
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	key := dialogKey(id.Value(), toTag, fromTag)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.calls[key]; c != nil {
		return c.dialogLeg
	}
	if l := s.legs[key]; l != nil {
		return l.dialogLeg
	}
	return nil
}

// respond sends a response and logs a failure; there is nothing else to do
// about a response that cannot be sent.
func (s *Server) respond(tx sipmsg.ServerTransaction, res *sipmsg.Response) {
	if err := tx.Respond(res); err != nil && !errors.Is(err, sipmsg.ErrTransactionTerminated) {
		s.log.Debug("response not sent", "status", res.StatusCode, "error", err)
	}
}

// settle closes, for a short while after the user agent has closed, the
// sockets sipgo opens by itself to answer a request it read just before.
func settle(ua *sipgo.UserAgent) {
	tp := ua.TransportLayer()
	for range 10 {
		time.Sleep(5 * time.Millisecond)
		if tp.Pool("udp").Size() > 0 || tp.Pool("tcp").Size() > 0 || tp.Pool("tls").Size() > 0 {
			_ = tp.Close()
		}
	}
}

// byeTimeout bounds how long a call waits for the answer to its BYE.
const byeTimeout = 8 * time.Second

// awaitServing waits until sipgo has taken every UDP socket into its
// connection pool, which its serving goroutine does a moment after bind.
// A request sent before (the trunk's first REGISTER, a keep-alive ping)
// would find no connection for the listener's address and make sipgo
// bind that address a second time, which fails: the trunk would then
// wait out a backoff, and blame the provider, after one start in five.
func (s *Server) awaitServing() error {
	pool := s.ua.TransportLayer().Pool("udp")
	for _, l := range s.listenersOf("udp") {
		deadline := time.Now().Add(2 * time.Second)
		for pool.Get(l.addr.String()) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("sip: the UDP listener %s is not served after 2s", l.addr)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// listenersOf returns the listeners of a transport.
func (s *Server) listenersOf(network string) []*listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*listener
	for _, l := range s.listeners {
		if l.network == network {
			out = append(out, l)
		}
	}
	return out
}
