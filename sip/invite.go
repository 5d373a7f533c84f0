package sip

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// onInvite answers a new call, or hands a re-INVITE to its call.
func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if h := sipx.MissingHeader(req); h != "" {
		s.respond(tx, rejectBadRequest("missing "+h+" header").response(req))
		return
	}
	if sipx.ToTag(req) != "" {
		s.onReinvite(req, tx)
		return
	}
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusTrying, "Trying", nil))
	a := &attempt{s: s, req: req, tx: tx, started: time.Now(), id: s.o.NewCallID(),
		from: userOf(req.From().Address), to: req.Recipient.User, src: sipx.SourceIP(req.Source())}
	if a.to == "" {
		a.to = req.To().Address.User
	}
	a.probe = s.isProbe(req, a.src)
	a.log = s.log.With("call", a.id)
	s.answer(a)
}

func userOf(u sipmsg.Uri) string {
	if u.User != "" {
		return u.User
	}
	return "anonymous"
}

// attempt is an INVITE on its way to an answer or a refusal.
type attempt struct {
	s        *Server
	req      *sipmsg.Request
	tx       sipmsg.ServerTransaction
	started  time.Time
	id       string
	from, to string
	src      string // source IP address
	trunk    string // the trunk that delivered the call, if any
	staff    string // the staff member whose phone authenticated the INVITE, if any
	probe    bool   // the line's own probe (probe.go)
	log      *slog.Logger
}

// reject answers the INVITE with r (unless sipgo already answered a CANCEL
// with 487) and hands the record of the refused call to OnRejected.
func (a *attempt) reject(r *rejection) {
	if r.outcome != clubline.OutcomeAbandoned {
		a.s.respond(a.tx, r.response(a.req))
	}
	now := time.Now()
	rec := clubline.Call{
		ID: a.id, From: a.from, To: a.to, Trunk: a.trunk, StartedAt: a.started,
		Outcome: r.outcome, EndedAt: now, Duration: now.Sub(a.started), Probe: a.probe,
	}
	rec.AddTrace(r.trace())
	a.s.refusals.Refused(a.log, now, a.src, "from", sipx.MaskNumber(a.from), "to", a.s.shownTo(a.to),
		"status", r.code, "why", sipx.MaskDigits(r.why), "outcome", string(r.outcome))
	a.s.o.OnRejected(rec, r.code)
}

// answer takes an admitted INVITE to its 200 OK, then leaves the call to
// its supervisor.
func (s *Server) answer(a *attempt) {
	// A number that is not the club's is refused before it can hold a
	// call slot, even for a moment: a scanner's flood of them must not
	// turn a caller away with 503.
	tr, r, challenged := s.trunks.admit(a) // trunks.go: before the number, which a stranger must not learn
	switch {
	case challenged:
		return
	case r != nil:
		a.reject(r)
		return
	}
	releaseChannel := func() {}
	if tr != nil {
		if releaseChannel, r = s.trunks.take(a, tr); r != nil {
			a.reject(r)
			return
		}
	} else if code, ok := s.staffCode(a.to); ok {
		a.to = code
		if r, challenged := s.trunks.staffOnly(a); challenged {
			return
		} else if r != nil {
			a.reject(r)
			return
		}
	} else if !s.numbers.accepts(a.to) {
		if s.trunks.local(a.src) {
			a.reject(rejectUnknownNumberLocal(a.to, s.o.Numbers))
		} else {
			a.reject(rejectUnknownNumber(a.to))
		}
		return
	}
	t, r := s.admit(a.src)
	if r != nil {
		releaseChannel()
		a.reject(r)
		return
	}
	t.onRelease = releaseChannel
	c, r := s.prepare(a)
	if r != nil {
		s.release("", t)
		a.reject(r)
		return
	}
	c.ticket = t
	// Logged once taken: a refusal has its own, sampled, line (refusals.go).
	a.log.Info("incoming call", "from", sipx.MaskNumber(a.from), "to", a.s.shownTo(a.to),
		"transport", a.req.Transport(), "sip_call_id", a.req.CallID().Value())
	if r := s.ringAndAnswer(a, c); r != nil {
		c.finish(endReason{text: "not answered"}) // frees the RTP port
		s.release(c.dlg.key(), t)
		a.reject(r)
		return
	}
	// This handler holds a slot in s.wg, so the count is above zero and
	// Add is allowed even while Close waits.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run()
	}()
}

// prepare checks the request, negotiates media and builds the dialog and
// the call, registered under its dialog key.
func (s *Server) prepare(a *attempt) (*call, *rejection) {
	req := a.req
	if unknown := unsupportedRequires(req); len(unknown) > 0 {
		return nil, rejectBadExtension(unknown)
	}
	st, r := negotiateTimer(req, sessionTimer{}, s.o.MinSessionExpires)
	if r != nil {
		return nil, r
	}
	offer, r := sdpBody(req)
	if r != nil {
		return nil, r
	}
	l := s.listenerFor(req.Transport())
	if l == nil {
		return nil, rejectInternal(errors.New("no listener for transport " + req.Transport()))
	}
	adv := s.advertiseIP(req, l)
	port := l.addr.Port()
	if seen := s.trunks.seen(a.trunk); seen.IsValid() && !s.publicIP.IsValid() && l.network == "udp" {
		adv, port = seen.Addr(), seen.Port()
	}
	ms, sdp, r := s.openMedia(a, l, adv, offer)
	if r != nil {
		return nil, r
	}
	c := s.newInboundCall(a, l, adv, port, ms, st, sdp)
	if !s.register(c.dlg.key(), c) {
		ms.close()
		return nil, rejectShutdown()
	}
	return c, nil
}

// openMedia takes an RTP port and answers the offer, or makes one for an
// INVITE without (delayed offer: the answer comes in the ACK).
func (s *Server) openMedia(a *attempt, l *listener, adv netip.Addr, offer []byte) (*mediaState, []byte, *rejection) {
	// RTP binds where SIP listens; behind NAT the SDP shows the public address.
	bindIP := l.addr.Addr()
	if bindIP.IsUnspecified() || bindIP.Is4() != adv.Is4() {
		bindIP = unspecifiedLike(adv)
	}
	conn, err := media.ListenRTP(bindIP, s.o.RTPPortMin, s.o.RTPPortMax)
	if err != nil {
		return nil, nil, rejectNoRTPPort(err, s.o.RetryAfter)
	}
	rtpPort := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	ms := newMediaState(conn, media.Local{
		Addr:            netip.AddrPortFrom(adv, rtpPort),
		Codecs:          s.o.Codecs,
		DTMFPayloadType: s.o.DTMFPayloadType,
		SRTP:            s.trunks.answerSRTP(a.trunk), // trunks.go
	}, s.o.RTPTimeout, a.log)
	ms.holdUntilConfirmed() // no RTP to the SDP's address before the ACK (call.go)
	if offer == nil {
		a.log.Info("INVITE without SDP: offering in 200 OK")
		return ms, ms.offer(), nil
	}
	sdp, err := ms.answer(offer)
	if err != nil {
		ms.close()
		return nil, nil, rejectSDP(err)
	}
	return ms, sdp, nil
}

// newInboundCall builds the dialog (our To tag, our Contact) and the call
// with its 200 OK.
func (s *Server) newInboundCall(a *attempt, l *listener, adv netip.Addr, port uint16, ms *mediaState,
	st sessionTimer, sdp []byte) *call {
	localTag := sipmsg.GenerateTagN(16)
	invite := a.req.Clone()
	invite.To().Params.Add("tag", localTag)
	contact := sipmsg.Uri{Scheme: "sip", User: a.to, Host: uriHost(adv), Port: int(port)}
	end := dialogEnd{client: s.client, host: uriHost(adv), port: int(port), contact: contact}
	if l.network != "udp" {
		end.contact.UriParams = sipmsg.NewParams()
		end.contact.UriParams.Add("transport", l.network)
	} else {
		end.laddr = l.udpAddr
	}
	c := newCall(s, a.id, newUASDialog(invite, localTag, end), a.tx, ms, a.log)
	c.from, c.to, c.trunk, c.started, c.invite, c.timer = a.from, a.to, a.trunk, a.started, invite, st
	c.staff, c.probe = a.staff, a.probe
	c.peerUpdate = sipx.HasToken(invite, "Allow", "update")
	c.ackChan(invite.CSeq().SeqNo) // before the 200 OK: the ACK may beat the supervisor

	c.ok = sipmsg.NewResponseFromRequest(invite, sipmsg.StatusOK, "OK", sdp)
	c.ok.AppendHeader(&sipmsg.ContactHeader{Address: end.contact})
	c.ok.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
	for _, h := range s.capabilityHeaders() {
		c.ok.AppendHeader(h)
	}
	for _, h := range st.headers() {
		c.ok.AppendHeader(h)
	}
	c.ok.AppendHeader(sipmsg.NewHeader("Server", userAgent))
	return c
}

// ringAndAnswer sends 180 and waits Options.RingFor if asked, then the
// 200 OK. A CANCEL before the 200 wins: sipgo has answered it (200 for the
// CANCEL, 487 for the INVITE) and the attempt is abandoned.
func (s *Server) ringAndAnswer(a *attempt, c *call) *rejection {
	cancelled := make(chan struct{})
	var once sync.Once
	if !a.tx.OnCancel(func(*sipmsg.Request) { once.Do(func() { close(cancelled) }) }) {
		return rejectCancelled()
	}
	if s.o.RingFor > 0 {
		ring := sipmsg.NewResponseFromRequest(c.invite, sipmsg.StatusRinging, "Ringing", nil)
		s.respond(a.tx, ring)
		t := time.NewTimer(s.o.RingFor)
		defer t.Stop()
		select {
		case <-t.C:
		case <-cancelled:
			return rejectCancelled()
		case <-s.stop.Done():
			return rejectShutdown()
		case <-a.tx.Done():
			return rejectCancelled()
		}
	}
	// sipgo overwrites its 487 with whatever is sent after a CANCEL, so look
	// before answering.
	select {
	case <-cancelled:
		return rejectCancelled()
	default:
	}
	if errors.Is(a.tx.Err(), sipmsg.ErrTransactionCanceled) {
		return rejectCancelled()
	}
	if err := a.tx.Respond(c.ok); err != nil {
		if errors.Is(err, sipmsg.ErrTransactionCanceled) {
			return rejectCancelled()
		}
		return rejectInternal(err)
	}
	return nil
}

// unsupportedRequires lists the Require option tags clubline does not
// support (RFC 3261 §8.2.2.3: answer 420 naming them).
func unsupportedRequires(req *sipmsg.Request) []string {
	var out []string
	for _, t := range sipx.Tokens(req, "Require") {
		if t != "timer" {
			out = append(out, t)
		}
	}
	return out
}

// sdpBody returns the SDP offer of a request, nil for none (delayed
// offer). Carriers sometimes send multipart/mixed with SDP and ISUP; the
// SDP part is used.
func sdpBody(req *sipmsg.Request) ([]byte, *rejection) {
	body := req.Body()
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil
	}
	ct, _ := sipx.Header(req, "Content-Type")
	typ, params, err := mime.ParseMediaType(ct)
	if err != nil && ct == "" {
		typ = contentTypeSDP // a body without a type: assume SDP
	} else if err != nil {
		return nil, rejectUnsupportedBody(ct)
	}
	switch typ {
	case contentTypeSDP:
		return body, nil
	case "multipart/mixed", "multipart/alternative":
		mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return nil, rejectUnsupportedBody(typ + " without an application/sdp part")
			}
			if pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt == contentTypeSDP {
				b, err := io.ReadAll(p)
				if err != nil {
					return nil, rejectBadSDP(err)
				}
				return b, nil
			}
		}
	}
	return nil, rejectUnsupportedBody(typ)
}

// advertiseIP is the address put in Contact and SDP: PublicAddress, else
// the listener's own address, else (wildcard listener) the local address
// that routes to the caller.
func (s *Server) advertiseIP(req *sipmsg.Request, l *listener) netip.Addr {
	if ip := s.public(); ip.IsValid() {
		return ip
	}
	if ip := l.addr.Addr(); !ip.IsUnspecified() {
		return ip
	}
	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		if ip, ok := localIPFor(src); ok {
			return ip
		}
	}
	return netip.IPv4Unspecified()
}

// localIPFor asks the routing table which local address reaches remote.
// A connected UDP socket sends nothing.
func localIPFor(remote netip.AddrPort) (netip.Addr, bool) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.Addr{}, false
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), true
}

func unspecifiedLike(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// uriHost writes an IP for a SIP URI host (IPv6 in brackets).
func uriHost(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}
