package softphone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// dialogSession is what a Call needs of its dialog, on either side:
// *sipgo.DialogClientSession for Dial, *sipgo.DialogServerSession for an
// Answerer.
type dialogSession interface {
	Bye(ctx context.Context) error
	Do(ctx context.Context, req *sipmsg.Request) (*sipmsg.Response, error)
	WriteRequest(req *sipmsg.Request) error
	ReadBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error
}

// dialogInvite is the INVITE that made the dialog.
func dialogInvite(d dialogSession) *sipmsg.Request {
	switch d := d.(type) {
	case *sipgo.DialogClientSession:
		return d.InviteRequest
	case *sipgo.DialogServerSession:
		return d.InviteRequest
	}
	return nil
}

// AnswerMode is what a test staff phone does with an INVITE.
type AnswerMode int

const (
	// AnswerAfter rings, then answers (200 OK) after Delay.
	AnswerAfter AnswerMode = iota
	// RejectBusy answers 486 Busy Here.
	RejectBusy
	// NeverAnswer rings until the caller cancels (487).
	NeverAnswer
)

// AnswerOptions describe a test staff phone that receives calls.
type AnswerOptions struct {
	// User is the user part of the Contact (default "staff").
	User string
	// Transport is "udp" (the default and the only one for now).
	Transport string
	// LocalIP is the address of the phone's sockets (default 127.0.0.1).
	LocalIP netip.Addr
	// RTPPortMin and RTPPortMax bound the RTP ports; 0 and 0: any.
	RTPPortMin, RTPPortMax int
	// Codecs the phone accepts, in its order of preference (default PCMU, PCMA).
	Codecs []media.Codec
	Logger *slog.Logger
	Mode   AnswerMode
	// Delay is the ringing time before the answer (AnswerAfter).
	Delay time.Duration
	// SRTP is whether the phone answers encrypted audio: off (the
	// default: an RTP/SAVP offer is refused), optional or required.
	SRTP media.SRTPPolicy
	// SessionExpires, when set and the INVITE says Supported: timer, puts
	// a session timer in the 200 OK that makes the caller of the leg the
	// refresher (refresher=uac, Require: timer), as phones and PBXs with
	// session timers on do (RFC 4028 §9).
	SessionExpires time.Duration
}

// Answerer is a test staff phone that receives INVITEs on a UDP socket and
// answers them according to its Mode. Answered calls are *Call values, like
// those of Dial.
type Answerer struct {
	o       AnswerOptions
	log     *slog.Logger
	ua      *sipgo.UserAgent
	client  *sipgo.Client
	dua     *sipgo.DialogUA
	conn    *net.UDPConn
	serving chan struct{}
	contact sipmsg.Uri
	deaf    atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // INVITE handlers

	rang, cancelled atomic.Int32
	calls           chan *Call
	engaged         atomic.Int32 // INVITEs ringing or answered and not yet ended
	mostEngaged     atomic.Int32 // the most at once

	notifies  atomic.Int32        // message-summary NOTIFYs received (mwi.go)
	summaries chan MessageSummary // what those accepted said

	mu          sync.Mutex
	active      map[string]*Call         // by Call-ID
	subs        map[string]*Subscription // message-summary subscriptions, by Call-ID
	lastSummary MessageSummary
	summarised  bool // lastSummary is set
	closed      bool
}

// Listen opens the phone's SIP socket and starts receiving calls until
// Close (or until ctx ends: then no new call is answered; Close still
// releases everything).
func Listen(ctx context.Context, o AnswerOptions) (*Answerer, error) {
	if o.User == "" {
		o.User = "staff"
	}
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if !strings.EqualFold(o.Transport, "udp") {
		return nil, fmt.Errorf("phone: answerer transport %q: only udp", o.Transport)
	}
	if !o.LocalIP.IsValid() {
		o.LocalIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	o.LocalIP = o.LocalIP.Unmap()
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Answerer{o: o, log: o.Logger.With("component", "answerer", "user", o.User),
		calls: make(chan *Call, 16), active: make(map[string]*Call),
		subs: make(map[string]*Subscription), summaries: make(chan MessageSummary, 32)}
	a.ctx, a.cancel = context.WithCancel(ctx)
	var err error
	if a.ua, err = newUA(o.LocalIP, o.Logger, &a.deaf); err != nil {
		a.cancel()
		return nil, err
	}
	srv, err := sipgo.NewServer(a.ua, sipgo.WithServerLogger(o.Logger))
	if err != nil {
		a.cancel()
		_ = a.ua.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	a.routes(srv)
	a.conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.LocalIP, 0)))
	if err != nil {
		a.cancel()
		_ = a.ua.Close()
		return nil, fmt.Errorf("phone: SIP socket: %w", err)
	}
	a.contact = sipmsg.Uri{Scheme: "sip", User: o.User, Host: hostOf(o.LocalIP),
		Port: a.conn.LocalAddr().(*net.UDPAddr).Port}
	a.client, err = sipgo.NewClient(a.ua, sipgo.WithClientHostname(o.LocalIP.String()),
		sipgo.WithClientLogger(o.Logger), sipgo.WithClientConnectionAddr(a.conn.LocalAddr().String()))
	if err != nil {
		a.release()
		return nil, fmt.Errorf("phone: %w", err)
	}
	a.dua = &sipgo.DialogUA{Client: a.client, ContactHDR: sipmsg.ContactHeader{Address: a.contact}}
	a.serving = make(chan struct{})
	go func() {
		defer close(a.serving)
		_ = srv.ServeUDP(a.conn)
	}()
	if err := waitServing(a.ua); err != nil {
		a.release()
		return nil, err
	}
	return a, nil
}

// Contact is the phone's SIP URI, "sip:user@127.0.0.1:port": what it
// registers and where it is called.
func (a *Answerer) Contact() string { return a.contact.String() }

// Calls delivers the answered calls (once acknowledged). It holds up to 16
// calls nobody has read.
func (a *Answerer) Calls() <-chan *Call { return a.calls }

// Rang counts the INVITEs received.
func (a *Answerer) Rang() int { return int(a.rang.Load()) }

// Cancelled counts the calls the caller cancelled while the phone rang.
func (a *Answerer) Cancelled() int { return int(a.cancelled.Load()) }

// Invite is the INVITE that an Answerer's call came with (X-Clubline-*
// headers, From display name); nil for a call of Dial. For an Answerer's
// call, Response is the 200 OK it sent.
func (c *Call) Invite() *sipmsg.Request { return c.received }

func (a *Answerer) routes(srv *sipgo.Server) {
	srv.OnInvite(a.onInvite)
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if c := a.call(req); c != nil {
			c.onBye(req, tx)
			return
		}
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	srv.OnUpdate(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if c := a.call(req); c != nil {
			c.onUpdate(req, tx)
			return
		}
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if c := a.call(req); c != nil {
			if ds, ok := c.dialog.(*sipgo.DialogServerSession); ok {
				_ = ds.ReadAck(req, tx)
			}
		}
	})
	srv.OnNotify(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if isSummary(req) {
			a.onSummary(req, tx) // mwi.go
			return
		}
		if c := a.call(req); c != nil {
			c.onNotify(req, tx)
			return
		}
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	})
	srv.OnInfo(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		respond(tx, req, sipmsg.StatusOK, "OK")
	})
	srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
		res.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
		_ = tx.Respond(res)
	})
	srv.OnNoRoute(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !req.IsAck() {
			respond(tx, req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed")
		}
	})
}

// call finds the call a request belongs to.
func (a *Answerer) call(req *sipmsg.Request) *Call {
	id := req.CallID()
	if id == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active[id.Value()]
}

func (a *Answerer) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			if c := a.call(req); c != nil { // a re-INVITE
				c.onReinvite(req, tx)
				return
			}
			respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		respond(tx, req, sipmsg.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	a.rang.Add(1)
	a.engage()
	inCall := false
	defer func() {
		if !inCall {
			a.engaged.Add(-1)
		}
	}()

	ds, err := a.dua.ReadInvite(req, tx)
	if err != nil {
		a.log.Warn("bad INVITE", "error", err)
		respond(tx, req, sipmsg.StatusBadRequest, "Bad Request")
		return
	}
	defer func() { _ = ds.Close() }()
	_ = ds.Respond(sipmsg.StatusTrying, "Trying", nil)
	if err := ds.Respond(sipmsg.StatusRinging, "Ringing", nil); err != nil {
		a.log.Debug("180", "error", err)
		return
	}
	switch a.o.Mode {
	case RejectBusy:
		_ = ds.Respond(sipmsg.StatusBusyHere, "Busy Here", nil)
		return
	case NeverAnswer:
		select {
		case <-ds.Context().Done():
			a.cancelled.Add(1)
		case <-a.ctx.Done():
			_ = ds.Respond(sipmsg.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		}
		return
	}
	t := time.NewTimer(a.o.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ds.Context().Done():
		a.cancelled.Add(1)
		return
	case <-a.ctx.Done():
		_ = ds.Respond(sipmsg.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		return
	}
	inCall = a.answer(ds)
}

// engage counts an INVITE the phone rings for, and the most at once.
func (a *Answerer) engage() {
	n := a.engaged.Add(1)
	for {
		most := a.mostEngaged.Load()
		if n <= most || a.mostEngaged.CompareAndSwap(most, n) {
			return
		}
	}
}

// MostAtOnce is the most calls the phone was rung for or was on at the
// same time: 1 for a staff member never rung for a second caller while
// ringing or talking.
func (a *Answerer) MostAtOnce() int { return int(a.mostEngaged.Load()) }

// answer sends the 200 OK with an SDP answer, waits for the ACK and starts
// the call's media; true when the call started (it is then engaged until
// it ends).
func (a *Answerer) answer(ds *sipgo.DialogServerSession) bool {
	invite := ds.InviteRequest
	var target sipmsg.Uri
	if ct := invite.Contact(); ct != nil {
		target = *ct.Address.Clone()
	}
	c := &Call{
		o:        Options{From: a.o.User, Transport: "udp", LocalIP: a.o.LocalIP, Codecs: a.o.Codecs, Logger: a.o.Logger, RTPTimeout: 30 * time.Second},
		target:   target,
		log:      a.log,
		ua:       a.ua,
		client:   a.client,
		contact:  a.contact,
		received: invite,
		shared:   true,
		ended:    make(chan struct{}), done: make(chan struct{}),
		remoteBye: make(chan struct{}),
	}
	var err error
	c.rtpConn, err = media.ListenRTP(a.o.LocalIP, a.o.RTPPortMin, a.o.RTPPortMax)
	if err != nil {
		a.log.Warn("RTP socket", "error", err)
		_ = ds.Respond(sipmsg.StatusInternalServerError, "No RTP port", nil)
		return false
	}
	c.local = media.Local{
		Addr:            netip.AddrPortFrom(a.o.LocalIP, c.rtpConn.LocalAddr().(*net.UDPAddr).AddrPort().Port()),
		Codecs:          a.o.Codecs,
		DTMFPayloadType: dtmfPayloadType,
		SessionID:       randomID(),
		Version:         1,
		SRTP:            a.o.SRTP,
	}
	if a.o.SRTP != media.SRTPOff {
		c.local.SRTPKeyring = media.NewSRTPKeyring()
	}
	sdp, n, err := media.Answer(invite.Body(), c.local)
	if err != nil {
		_ = c.rtpConn.Close()
		a.log.Warn("offer refused", "error", err)
		_ = ds.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return false
	}
	c.neg = n
	res := sipmsg.NewResponseFromRequest(invite, sipmsg.StatusOK, "OK", sdp)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&sipmsg.ContactHeader{Address: a.contact})
	res.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	if a.o.SessionExpires > 0 && supportsTimer(invite) {
		res.AppendHeader(sipmsg.NewHeader("Session-Expires", strconv.Itoa(int(a.o.SessionExpires/time.Second))+";refresher=uac"))
		res.AppendHeader(sipmsg.NewHeader("Require", "timer"))
	}
	c.dialog, c.answer = ds, res
	id := invite.CallID().Value()
	a.mu.Lock()
	a.active[id] = c
	a.mu.Unlock()
	if err := ds.WriteResponse(res); err != nil { // returns once ACKed
		a.log.Warn("200 OK not acknowledged", "error", err)
		a.mu.Lock()
		delete(a.active, id)
		a.mu.Unlock()
		_ = c.rtpConn.Close()
		if errors.Is(err, sipmsg.ErrTransactionCanceled) {
			a.cancelled.Add(1)
		}
		return false
	}
	c.start()
	go func() {
		<-c.Done()
		a.mu.Lock()
		delete(a.active, id)
		a.mu.Unlock()
		a.engaged.Add(-1)
	}()
	select {
	case a.calls <- c:
	default:
		a.log.Warn("answered call not read: Calls() is full")
	}
	return true
}

// supportsTimer reports whether a request says Supported: timer.
func supportsTimer(req *sipmsg.Request) bool {
	for _, h := range req.GetHeaders("Supported") {
		for _, tag := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(tag), "timer") {
				return true
			}
		}
	}
	return false
}

// Close stops answering, hangs up the calls still up and releases the
// sockets; nothing of the Answerer is left running once it returns.
func (a *Answerer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait() // ringing calls given up, answered ones started
	a.mu.Lock()
	calls := make([]*Call, 0, len(a.active))
	for _, c := range a.active {
		calls = append(calls, c)
	}
	a.mu.Unlock()
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.Hangup(ctx)
		cancel()
		<-c.Done()
	}
	a.release()
	return nil
}

func (a *Answerer) release() {
	a.cancel()
	a.deaf.Store(true)
	if a.conn != nil {
		_ = a.conn.Close()
		if a.serving != nil {
			<-a.serving
		}
	}
	_ = a.ua.Close()
	tp := a.ua.TransportLayer()
	for range 10 {
		time.Sleep(5 * time.Millisecond)
		if tp.Pool("udp").Size() > 0 || tp.Pool("tcp").Size() > 0 {
			_ = tp.Close()
		}
	}
}
