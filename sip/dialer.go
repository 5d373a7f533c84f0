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
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
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
	// Route is the preloaded route set (a registration's Path, RFC 3327),
	// a Route header's value: the INVITE and its CANCEL carry it, and so
	// do the dialog's later requests unless the 2xx brings a Record-Route.
	Route string
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

	// For a call through a trunk (trunks.go):
	// FromHost is From's host (the provider's domain); empty: clubline's
	// address.
	FromHost string
	// Auth answers the provider's 401 and 407 challenges; nil: a challenge
	// is a refusal.
	Auth Authorizer
	// Advertise is the address written in Contact and SDP when valid and
	// no public address is configured: where the provider sees clubline.
	Advertise netip.AddrPort
	// Trunk names the trunk, for the log.
	Trunk string
	// SRTP is the offer's policy: a trunk's srtp; for a staff phone,
	// optional over TLS (the keys cross encrypted) and off otherwise.
	SRTP media.SRTPPolicy
}

// Authorizer adds credentials answering a challenge to a request sent
// again (trunk.Authorizer).
type Authorizer interface {
	Authorize(req *sipmsg.Request, res *sipmsg.Response) error
}

// Dialer is the server as the call script's ivr.Dialer: it rings a
// registered phone with Dial, and an outside number (a Target with a
// Number and no URI) through a trunk (trunks.go); with no trunk able to
// carry it, its Dial returns an error wrapping ivr.ErrNoTrunk and sends
// nothing.
func (s *Server) Dialer() ivr.Dialer { return dialer{s} }

type dialer struct{ s *Server }

func (d dialer) Dial(ctx context.Context, r ivr.DialRequest) (ivr.StaffLeg, error) {
	if r.Target.URI == "" {
		if r.Target.Number != "" {
			return d.s.trunks.dial(ctx, r) // trunks.go
		}
		return nil, fmt.Errorf("sip: dial %s: the target has neither a URI nor a number", r.Target)
	}
	leg, err := d.s.Dial(ctx, DialRequest{
		Target:      r.Target.URI,
		Destination: r.Target.Destination,
		Route:       r.Target.Route,
		CallerID:    r.CallerID,
		Display:     r.Display,
		Headers:     r.Headers,
		RingTimeout: r.RingTimeout,
	})
	if err != nil {
		return nil, err // not a nil *OutboundLeg in a non-nil interface
	}
	return leg, nil
}

// DialError is a final non-2xx answer to the INVITE (486 busy, 480, 603…).
type DialError struct {
	Code   int
	Reason string
}

// StatusCode is the SIP status of the refusal.
func (e *DialError) StatusCode() int { return e.Code }

func (e *DialError) Error() string {
	return fmt.Sprintf("sip: dial refused: %d %s", e.Code, e.Reason)
}

// ErrNoAnswer is the error of a Dial whose RingTimeout elapsed.
var ErrNoAnswer = errors.New("sip: no answer before the ring timeout")

// errDialShutdown is the error of a Dial cut short by HangupAll or Close.
var errDialShutdown = errors.New("sip: server shutting down")

// cancelWait bounds how long a cancelled Dial waits for the 487.
const cancelWait = 4 * time.Second

// OutboundLeg is an answered call that clubline placed to a staff phone.
// It implements ivr.StaffLeg and ivr.Bridgeable: Play, Record, Digits,
// Hangup, Done and Session as an inbound call has them, and Events for
// what the phone asks for. Hangup ends it with a BYE; a BYE from the other
// side ends it too (Done, EndedBy).
type OutboundLeg struct {
	*dialogLeg
	inviteTx sipmsg.ClientTransaction
}

var (
	_ ivr.StaffLeg   = (*OutboundLeg)(nil)
	_ ivr.Bridgeable = (*OutboundLeg)(nil)
)

// Events delivers what the staff phone asks for: StaffHold and
// StaffResume when a re-INVITE or UPDATE takes its direction to sendonly
// or inactive and back to sendrecv, StaffTransfer for a REFER. The channel
// holds 16 events and is never closed: watch Done for the end. The SIP
// handlers never wait for the script: when 16 events are unread, a new one
// is dropped and logged, and a dropped transfer is reported to the phone
// as failed (NOTIFY with 503).
func (l *OutboundLeg) Events() <-chan ivr.StaffEvent { return l.events }

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

// run supervises the leg until it ends, sends the transfer NOTIFYs still
// due and the BYE owed, and forgets it. It holds one count of s.wg, taken
// by Dial.
func (l *OutboundLeg) run() {
	defer l.s.wg.Done()
	l.supervise(nil)
	l.flushNotifies()
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
	transport, dest, err := dialDestination(ctx, s.o.Resolver, target, r.Destination)
	if err != nil {
		return nil, err
	}
	lst := s.listenerFor(transport)
	if lst == nil {
		return nil, fmt.Errorf("sip: dial: no listener for transport %q", transport)
	}
	adv := s.public()
	contactPort := int(lst.addr.Port())
	if !adv.IsValid() && r.Advertise.IsValid() {
		adv, contactPort = r.Advertise.Addr(), int(r.Advertise.Port())
	}
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
	if r.Trunk != "" {
		log = s.log.With("leg", "outside", "trunk", r.Trunk)
	}
	conn, err := media.ListenRTP(bindIP, s.o.RTPPortMin, s.o.RTPPortMax)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: RTP port: %w", err)
	}
	srtp := r.SRTP
	if r.Trunk == "" && transport == "tls" {
		srtp = media.SRTPOptional
	}
	ms := newMediaState(conn, media.Local{
		Addr:            netip.AddrPortFrom(adv, uint16(conn.LocalAddr().(*net.UDPAddr).Port)),
		Codecs:          s.o.Codecs,
		DTMFPayloadType: s.o.DTMFPayloadType,
		SRTP:            srtp,
	}, s.o.RTPTimeout, log)
	offer := ms.offer()

	upper := strings.ToUpper(transport)
	contact := sipmsg.Uri{Scheme: "sip", User: userAgent, Host: uriHost(adv), Port: contactPort}
	if transport != "udp" {
		contact.UriParams = sipmsg.NewParams()
		contact.UriParams.Add("transport", transport)
	}
	localTag := sipmsg.GenerateTagN(16)
	fromHost := r.FromHost
	if fromHost == "" {
		fromHost = uriHost(adv)
	}
	dlg := &dialog{
		client:    s.client,
		callID:    sipmsg.GenerateTagN(24),
		local:     sipmsg.Uri{Scheme: "sip", User: r.CallerID, Host: fromHost},
		localName: r.Display,
		localTag:  localTag,
		remote:    *target.Clone(),
		transport: upper,
		contact:   contact,
		viaHost:   uriHost(adv),
		viaPort:   contactPort,
		target:    *target.Clone(),
		localSeq:  randomSeq() - 1,
		dest:      dest.String(),
		placed:    true,
	}
	if transport == "udp" {
		dlg.laddr = lst.udpAddr
	}
	if r.Route != "" {
		dlg.routes = []sipmsg.Header{sipmsg.NewHeader("Route", r.Route)}
	}
	// The INVITE is the dialog's first request: built like one within it,
	// then stripped of the To tag it does not have yet. Sent again with
	// credentials after a challenge: same Call-ID and From tag, next CSeq.
	invite := func() *sipmsg.Request {
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
		return req
	}
	req := invite()
	var (
		tx    sipmsg.ClientTransaction
		res   *sipmsg.Response
		cause error
	)
	for {
		tx, err = s.client.TransactionRequest(edge.AllowDial(context.WithoutCancel(ctx)), req, asIs)
		if err != nil {
			ms.close()
			return nil, fmt.Errorf("sip: dial: send INVITE: %w", err)
		}
		res, cause = s.ring(ctx, r.RingTimeout, req, tx, log)
		if cause != nil || res == nil || r.Auth == nil || (res.StatusCode != 401 && res.StatusCode != 407) {
			break
		}
		tx.Terminate()
		next := invite()
		if err := r.Auth.Authorize(next, res); err != nil {
			ms.close()
			log.Warn("outside call refused by the provider", "status", res.StatusCode, "error", err)
			return nil, &DialError{Code: res.StatusCode, Reason: res.Reason}
		}
		req = next
	}
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
	// A Record-Route replaces the preloaded route (a Path); a phone
	// reached through a proxy that did not record-route keeps the Path and
	// its destination, its only known way in.
	if rrs := res.GetHeaders("Record-Route"); len(rrs) > 0 {
		dlg.routes = nil
		for i := len(rrs) - 1; i >= 0; i-- {
			dlg.routes = append(dlg.routes, sipmsg.NewHeader("Route", rrs[i].Value()))
		}
		dlg.dest = ""
	}
	leg := &OutboundLeg{dialogLeg: newDialogLeg(s, dlg, ms, log, true), inviteTx: tx}
	leg.peerUpdate = sipx.HasToken(res, "Allow", "update")
	// The INVITE said Supported: timer: a phone may answer with a session
	// timer, and refresher=uac makes clubline the refresher (RFC 4028 §9).
	leg.timer = answeredRefresh(res, sessionTimer{})
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
		cancelTx, err = s.client.TransactionRequest(edge.AllowDial(context.Background()), cancelRequest(invite), asIs)
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
// empty, takes the target's host, port and transport parameter. A host
// name is resolved as RFC 3263 §4.2 does without NAPTR: with no port, the
// SRV records _sip._udp (or _tcp) first, then the name's addresses.
func dialDestination(ctx context.Context, res *net.Resolver, target sipmsg.Uri, destination string) (string, netip.AddrPort, error) {
	transport, host, port := "udp", "", 0
	if destination != "" {
		t, a, ok := strings.Cut(destination, ":")
		if !ok {
			return "", netip.AddrPort{}, fmt.Errorf("sip: dial destination %q: want transport:host:port", destination)
		}
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return "", netip.AddrPort{}, fmt.Errorf("sip: dial destination %q: %w", a, err)
		}
		return strings.ToLower(t), unmapAP(ap), nil
	}
	if target.UriParams != nil {
		if t, ok := target.UriParams.Get("transport"); ok && t != "" {
			transport = strings.ToLower(t)
		}
	}
	host, port = strings.Trim(target.Host, "[]"), target.Port
	if ip, err := netip.ParseAddr(host); err == nil {
		if port == 0 {
			port = sipx.DefaultPort(transport)
		}
		return transport, unmapAP(netip.AddrPortFrom(ip, uint16(port))), nil
	}
	ap, err := sipx.Resolve(ctx, res, transport, host, port)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("sip: dial %s: %w", target.String(), err)
	}
	return transport, ap, nil
}

// LookUp finds where a SIP URI the config names (the urgency fallback)
// would be rung, as the dialer does when it rings it (dialDestination):
// for `clubline check`, which warns before an urgent call finds out. A
// nil res is net.DefaultResolver.
func LookUp(ctx context.Context, res *net.Resolver, uri string) (transport string, dest netip.AddrPort, err error) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &target); err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("sip: %q: %w", uri, err)
	}
	if res == nil {
		res = net.DefaultResolver
	}
	return dialDestination(ctx, res, target, "")
}

// trackLeg makes a leg findable by its dialog for the requests its phone
// sends in it (lookup); it fails once the server is stopping.
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
