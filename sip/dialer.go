package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/media"
	sipmsg "github.com/emiago/sipgo/sip"
)

// DialRequest describes an outbound leg to a staff contact.
type DialRequest struct {
	// Target is the SIP URI rung ("sip:201@127.0.0.1:5062"); the Request-URI
	// and To of the INVITE.
	Target string
	// Destination is where the INVITE goes, as a registration's Received
	// ("udp:127.0.0.1:5062"); empty: the host and port of Target.
	Destination string
	// CallerID is the caller's number, the user part of From.
	CallerID string
	// Display is From's display name (the category label).
	Display string
	// Headers are added to the INVITE (X-Clubline-Category,
	// X-Clubline-Call-Id, X-Clubline-Waited).
	Headers map[string]string
	// RingTimeout, when positive, cancels the INVITE if nobody has answered
	// by then.
	RingTimeout time.Duration
}

// DialError is a final non-2xx answer to the INVITE (486 busy, 480, 603…).
type DialError struct {
	Code   int
	Reason string
}

func (e *DialError) Error() string {
	return fmt.Sprintf("sip: dial refused: %d %s", e.Code, e.Reason)
}

// ErrNoAnswer is the error of a Dial whose RingTimeout elapsed.
var ErrNoAnswer = errors.New("sip: no answer before the ring timeout")

// errDialShutdown is the error of a Dial cut short by HangupAll or Close.
var errDialShutdown = errors.New("sip: server shutting down")

// cancelWait bounds how long a cancelled Dial waits for the 487.
const cancelWait = 4 * time.Second

// OutboundLeg is an answered call that clubline placed. Hangup ends it
// with a BYE; a BYE from the other side ends it too (Done, EndedBy).
type OutboundLeg struct {
	s        *Server
	dlg      *dialog
	media    *mediaState
	log      *slog.Logger
	inviteTx sipmsg.ClientTransaction

	endOnce sync.Once
	reason  endReason
	ended   chan struct{}
	byeDone chan struct{}
	byeErr  error
}

// Session is the leg's RTP session.
func (l *OutboundLeg) Session() *media.Session { return l.media.session() }

// Done is closed when the leg has ended, whichever side ended it.
func (l *OutboundLeg) Done() <-chan struct{} { return l.ended }

// EndedBy says why the leg ended ("remote BYE", "hung up by the script",
// "server shutdown", "rtp timeout"…); "" while it is up.
func (l *OutboundLeg) EndedBy() string {
	select {
	case <-l.ended:
		return l.reason.text
	default:
		return ""
	}
}

// Hangup ends the leg with a BYE (once) and waits for its answer or ctx.
func (l *OutboundLeg) Hangup(ctx context.Context) error {
	l.finish(endHangup)
	select {
	case <-l.byeDone:
		return l.byeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *OutboundLeg) finish(reason endReason) {
	l.endOnce.Do(func() {
		l.reason = reason
		close(l.ended)
		l.media.close()
	})
}

// run supervises the leg until it ends, sends the BYE owed and forgets
// it. It holds one count of s.wg, taken by Dial.
func (l *OutboundLeg) run() {
	defer l.s.wg.Done()
	var sessDone <-chan struct{}
	if sess := l.media.session(); sess != nil {
		sessDone = sess.Done()
	} else {
		l.finish(endMediaFailed)
	}
	select {
	case <-l.ended:
	case <-sessDone:
		if errors.Is(l.media.session().Err(), media.ErrTimeout) {
			l.finish(endRTPTimeout)
		} else {
			l.finish(endMediaFailed)
		}
	}
	if l.reason.sendBye {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		l.byeErr = l.dlg.bye(ctx)
		cancel()
		if l.byeErr != nil {
			l.log.Warn("BYE failed", "error", l.byeErr)
		}
	}
	close(l.byeDone)
	l.inviteTx.Terminate()
	l.s.forgetLeg(l.dlg.key())
	l.log.Info("staff leg ended", "reason", l.reason.text)
}

// Dial places an outbound call from clubline's own listener and returns
// it once answered. A refusal is a *DialError; a RingTimeout that elapses
// is ErrNoAnswer; a ctx that ends, its error. Before giving up on a ringing
// phone Dial sends CANCEL and waits for the 487.
func (s *Server) Dial(ctx context.Context, r DialRequest) (*OutboundLeg, error) {
	if !s.enter() {
		return nil, errDialShutdown
	}
	handed := false
	defer func() {
		if !handed {
			s.wg.Done()
		}
	}()
	if s.stop.Err() != nil {
		return nil, errDialShutdown
	}
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(r.Target, &target); err != nil {
		return nil, fmt.Errorf("sip: dial target %q: %w", r.Target, err)
	}
	transport, dest, err := dialDestination(target, r.Destination)
	if err != nil {
		return nil, err
	}
	lst := s.listenerFor(transport)
	if lst == nil {
		return nil, fmt.Errorf("sip: dial: no listener for transport %q", transport)
	}
	adv := s.publicIP
	if !adv.IsValid() {
		adv = lst.addr.Addr()
		if adv.IsUnspecified() {
			if ip, ok := localIPFor(dest); ok {
				adv = ip
			}
		}
	}
	bindIP := lst.addr.Addr()
	if bindIP.IsUnspecified() || bindIP.Is4() != adv.Is4() {
		bindIP = unspecifiedLike(adv)
	}
	log := s.log.With("leg", "staff", "clubline_call_id", r.Headers["X-Clubline-Call-Id"])
	conn, err := media.ListenRTP(bindIP, s.o.RTPPortMin, s.o.RTPPortMax)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: RTP port: %w", err)
	}
	ms := newMediaState(conn, media.Local{
		Addr:            netip.AddrPortFrom(adv, uint16(conn.LocalAddr().(*net.UDPAddr).Port)),
		Codecs:          s.o.Codecs,
		DTMFPayloadType: s.o.DTMFPayloadType,
	}, s.o.RTPTimeout, log)
	offer := ms.offer()

	upper := strings.ToUpper(transport)
	contact := sipmsg.Uri{Scheme: "sip", User: userAgent, Host: uriHost(adv), Port: int(lst.addr.Port())}
	if transport == "tcp" {
		contact.UriParams = sipmsg.NewParams()
		contact.UriParams.Add("transport", "tcp")
	}
	localTag := sipmsg.GenerateTagN(16)
	dlg := &dialog{
		client:    s.client,
		callID:    sipmsg.GenerateTagN(24),
		local:     sipmsg.Uri{Scheme: "sip", User: r.CallerID, Host: uriHost(adv)},
		localName: r.Display,
		localTag:  localTag,
		remote:    *target.Clone(),
		transport: upper,
		contact:   contact,
		viaHost:   uriHost(adv),
		viaPort:   int(lst.addr.Port()),
		target:    *target.Clone(),
		localSeq:  randomSeq() - 1,
		dest:      dest.String(),
	}
	if transport == "udp" {
		dlg.laddr = lst.udpAddr
	}
	// The INVITE is the dialog's first request: built like one within it,
	// then stripped of the To tag it does not have yet.
	req := dlg.request(sipmsg.INVITE, 0)
	req.To().Params.Remove("tag")
	keys := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.AppendHeader(sipmsg.NewHeader(k, r.Headers[k]))
	}
	for _, h := range s.capabilityHeaders() {
		req.AppendHeader(h)
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
	req.SetBody(offer)

	tx, err := s.client.TransactionRequest(context.WithoutCancel(ctx), req, asIs)
	if err != nil {
		ms.close()
		return nil, fmt.Errorf("sip: dial: send INVITE: %w", err)
	}
	res, cause := s.ring(ctx, r.RingTimeout, req, tx, log)
	if res == nil || !res.IsSuccess() {
		tx.Terminate()
		ms.close()
		if cause != nil {
			return nil, cause
		}
		return nil, &DialError{Code: res.StatusCode, Reason: res.Reason}
	}

	// Answered: the dialog takes the To tag, Contact and route set of the 2xx.
	seq := req.CSeq().SeqNo
	dlg.remoteTag, _ = res.To().Params.Get("tag")
	if c := res.Contact(); c != nil {
		dlg.target = *c.Address.Clone()
	}
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		dlg.routes = append(dlg.routes, sipmsg.NewHeader("Route", rrs[i].Value()))
	}
	if len(dlg.routes) > 0 {
		dlg.dest = ""
	}
	leg := &OutboundLeg{s: s, dlg: dlg, media: ms, log: log, inviteTx: tx,
		ended: make(chan struct{}), byeDone: make(chan struct{})}
	tx.OnRetransmission(func(r *sipmsg.Response) {
		if r.IsSuccess() {
			_ = dlg.ack(seq, nil)
		}
	})
	registered := s.trackLeg(dlg.key(), leg)
	if err := dlg.ack(seq, nil); err != nil {
		log.Warn("ACK not sent", "error", err)
	}
	switch {
	case cause != nil: // answered while we were cancelling: hang up at once
		leg.finish(endHangup)
	case !registered:
		leg.finish(endShutdown)
		cause = errDialShutdown
	default:
		if err := ms.takeAnswer(res.Body(), log); err != nil {
			log.Warn("answer unusable: hanging up", "error", err)
			leg.finish(endBadAnswer)
			cause = fmt.Errorf("sip: dial: SDP answer: %w", err)
		}
	}
	handed = true
	go leg.run()
	if cause != nil {
		<-leg.byeDone
		return nil, cause
	}
	log.Info("staff leg answered")
	return leg, nil
}

// ring waits for the final answer to the INVITE. When ctx ends, the ring
// timeout elapses or the server stops, it sends CANCEL (after a
// provisional response, RFC 3261 §9.1) and waits a while for the final
// answer: it returns that answer (487, or a 2xx that crossed the CANCEL)
// with the reason for giving up; nil when none came.
func (s *Server) ring(ctx context.Context, timeout time.Duration, invite *sipmsg.Request,
	tx sipmsg.ClientTransaction, log *slog.Logger) (*sipmsg.Response, error) {
	var ringC <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		ringC = t.C
	}
	var (
		cause       error
		provisional bool
		cancelTx    sipmsg.ClientTransaction
		cancelRes   <-chan *sipmsg.Response
		giveUpC     <-chan time.Time
		giveUpT     *time.Timer
		done        = ctx.Done()
		stop        = s.stop.Done()
	)
	defer func() {
		if cancelTx != nil {
			cancelTx.Terminate()
		}
		if giveUpT != nil {
			giveUpT.Stop()
		}
	}()
	sendCancel := func() {
		if cancelTx != nil || !provisional || cause == nil {
			return
		}
		var err error
		cancelTx, err = s.client.TransactionRequest(context.Background(), cancelRequest(invite), asIs)
		if err != nil {
			log.Warn("CANCEL not sent", "error", err)
			cancelTx = nil
			return
		}
		cancelRes = cancelTx.Responses()
	}
	giveUp := func(err error) {
		cause, done, stop, ringC = err, nil, nil, nil
		giveUpT = time.NewTimer(cancelWait)
		giveUpC = giveUpT.C
		sendCancel()
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				provisional = true
				sendCancel()
				continue
			}
			return res, cause
		case <-cancelRes:
			cancelRes = nil
		case <-tx.Done():
			if cause != nil {
				return nil, cause
			}
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("sip: dial: INVITE: %w", err)
			}
			return nil, errors.New("sip: dial: INVITE transaction ended without an answer")
		case <-ringC:
			giveUp(ErrNoAnswer)
		case <-done:
			giveUp(fmt.Errorf("sip: dial: %w", ctx.Err()))
		case <-stop:
			giveUp(errDialShutdown)
		case <-giveUpC:
			log.Warn("no final answer to the cancelled INVITE")
			return nil, cause
		}
	}
}

// cancelRequest builds the CANCEL of an INVITE (RFC 3261 §9.1): same
// Request-URI, top Via, From, To, Call-ID and CSeq number.
func cancelRequest(invite *sipmsg.Request) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.CANCEL, *invite.Recipient.Clone())
	req.AppendHeader(sipmsg.HeaderClone(invite.Via()))
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sipmsg.HeaderClone(invite.From()))
	req.AppendHeader(sipmsg.HeaderClone(invite.To()))
	req.AppendHeader(sipmsg.HeaderClone(invite.CallID()))
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sipmsg.CANCEL})
	for _, h := range invite.GetHeaders("Route") {
		req.AppendHeader(sipmsg.HeaderClone(h))
	}
	req.AppendHeader(sipmsg.NewHeader("User-Agent", userAgent))
	req.SetTransport(invite.Transport())
	req.SetDestination(invite.Destination())
	req.Laddr = invite.Laddr
	req.SetBody(nil)
	return req
}

// dialDestination parses a Destination ("udp:127.0.0.1:5062") or, when
// empty, takes the target's host, port and transport parameter.
func dialDestination(target sipmsg.Uri, destination string) (string, netip.AddrPort, error) {
	transport, addr := "udp", ""
	if destination != "" {
		t, a, ok := strings.Cut(destination, ":")
		if !ok {
			return "", netip.AddrPort{}, fmt.Errorf("sip: dial destination %q: want transport:host:port", destination)
		}
		transport, addr = strings.ToLower(t), a
	} else {
		if target.UriParams != nil {
			if t, ok := target.UriParams.Get("transport"); ok && t != "" {
				transport = strings.ToLower(t)
			}
		}
		port := target.Port
		if port == 0 {
			port = 5060
		}
		addr = net.JoinHostPort(strings.Trim(target.Host, "[]"), fmt.Sprint(port))
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("sip: dial destination %q: %w", addr, err)
	}
	return transport, unmapAP(ap), nil
}

// trackLeg makes a leg findable by its dialog for the in-dialog BYE; it
// fails once the server is stopping.
func (s *Server) trackLeg(key string, l *OutboundLeg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop.Err() != nil {
		return false
	}
	if s.legs == nil {
		s.legs = make(map[string]*OutboundLeg)
	}
	s.legs[key] = l
	return true
}

func (s *Server) forgetLeg(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.legs, key)
}

// onLegBye ends an outbound leg whose peer hung up; false when the BYE
// belongs to no outbound leg.
func (s *Server) onLegBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	from, to, id := req.From(), req.To(), req.CallID()
	if from == nil || to == nil || id == nil || req.CSeq() == nil {
		return false
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	s.mu.Lock()
	l := s.legs[dialogKey(id.Value(), toTag, fromTag)]
	s.mu.Unlock()
	if l == nil {
		return false
	}
	if err := l.dlg.checkRemote(req); err != nil {
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Out Of Order", nil))
		return true
	}
	l.finish(endRemoteBye)
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
	return true
}

// hangupLegs ends every outbound leg (HangupAll); their supervisors send
// the BYEs.
func (s *Server) hangupLegs() {
	s.mu.Lock()
	legs := make([]*OutboundLeg, 0, len(s.legs))
	for _, l := range s.legs {
		legs = append(legs, l)
	}
	s.mu.Unlock()
	for _, l := range legs {
		l.finish(endShutdown)
	}
}
