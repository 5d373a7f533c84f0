package sip

import (
	"math/rand/v2"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Handlers for requests that arrive in an established call, and for the
// requests that need no call (OPTIONS, unknown methods).

// inDialog finds the leg of a request (a caller's call or a staff leg)
// and checks its CSeq, answering 481 or 500 itself when it cannot go on.
func (s *Server) inDialog(req *sipmsg.Request, tx sipmsg.ServerTransaction) *dialogLeg {
	if h := sipx.MissingHeader(req); h != "" {
		s.respond(tx, rejectBadRequest("missing "+h+" header").response(req))
		return nil
	}
	d := s.lookup(req)
	if d == nil {
		s.log.Debug("request for no known call", "method", string(req.Method))
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists,
			"Call/Transaction Does Not Exist", nil))
		return nil
	}
	if err := d.dlg.checkRemote(req); err != nil {
		d.log.Warn("request out of order", "method", string(req.Method), "error", err)
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Out Of Order", nil))
		return nil
	}
	return d
}

// onBye: the caller, or the staff phone of an outbound leg, hung up
// (RFC 3261 §15.1.2).
func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	d.finish(endRemoteBye) // first: once the caller has its 200, nothing may send a BYE
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
}

// onAck matches the ACK of a 2xx to the INVITE it acknowledges. An ACK
// gets no response.
func (s *Server) onAck(req *sipmsg.Request, _ sipmsg.ServerTransaction) {
	d := s.lookup(req)
	if d == nil || req.CSeq() == nil {
		return
	}
	d.deliverAck(req)
}

// onCancel sees only CANCELs that match no INVITE: sipgo's transaction
// layer answers the others (200, then 487 for the INVITE).
func (s *Server) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists,
		"Call/Transaction Does Not Exist", nil))
}

// onOptions answers capability queries and keep-alive pings. While
// draining an out-of-dialog OPTIONS gets 503, so a carrier that probes
// with OPTIONS stops sending calls here.
func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining && sipx.ToTag(req) == "" {
		s.respond(tx, rejectDraining(s.o.RetryAfter).response(req))
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	for _, h := range s.capabilityHeaders() {
		res.AppendHeader(h)
	}
	res.AppendHeader(sipmsg.NewHeader("Accept", acceptSDP))
	res.AppendHeader(sipmsg.NewHeader("Server", userAgent))
	s.respond(tx, res)
}

// onInfo takes a key press sent as SIP INFO (application/dtmf-relay or
// application/dtmf) into the call's digit stream.
func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	ct := sipx.MediaType(req)
	switch {
	case len(req.Body()) == 0:
		// An empty INFO probes the dialog (RFC 6086 §4.2.2).
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
	case ct == typeDTMFRelay || ct == typeDTMF:
		key, err := parseDTMFInfo(ct, req.Body())
		if err != nil {
			s.respond(tx, rejectBadRequest(err.Error()).response(req))
			return
		}
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
		if sess := d.media.session(); sess != nil {
			sess.InjectDigit(key)
			d.log.Debug("key press by SIP INFO") // never the digit itself
		}
	default:
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sipmsg.NewHeader("Accept", acceptInfo))
		s.respond(tx, res)
	}
}

// onOther answers every method clubline does not serve: 405 for the ones
// SIP defines, 501 for the rest, both with Allow (RFC 3261 §8.2.1, §21.5.2).
func (s *Server) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if req.IsAck() {
		return
	}
	code, reason := sipmsg.StatusNotImplemented, "Not Implemented"
	if sipx.KnownMethod(req.Method) {
		code, reason = sipmsg.StatusMethodNotAllowed, "Method Not Allowed"
	}
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", s.allow()))
	s.respond(tx, res)
}

// beginInvite opens an INVITE transaction in the dialog, or answers why
// not: 500 with Retry-After while another INVITE is open (RFC 3261 §14.2),
// 491 while our own offer waits for its answer (glare, RFC 3261 §14.1).
func (d *dialogLeg) beginInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	d.mu.Lock()
	busy := d.inInvite
	if !busy {
		d.inInvite = true
	}
	d.mu.Unlock()
	switch {
	case busy:
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(sipx.RetryAfter(time.Duration(rand.IntN(10)+1) * time.Second))
		d.s.respond(tx, res)
		return false
	case d.media.awaitingAnswer():
		d.endInvite()
		d.s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusRequestPending, "Request Pending", nil))
		return false
	}
	return true
}

func (d *dialogLeg) endInvite() {
	d.mu.Lock()
	d.inInvite = false
	d.mu.Unlock()
}

// onReinvite answers an INVITE within a call or a staff leg: hold, resume,
// a new address, a session refresh (RFC 3261 §14.2, RFC 3264 §8, RFC 4028).
func (s *Server) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil || !d.beginInvite(req, tx) {
		return
	}
	res, offered, st := d.modify(req, tx)
	if res == nil {
		return // refused, and the way opened (modify)
	}
	seq := req.CSeq().SeqNo
	acks := d.ackChan(seq)
	defer d.forgetAck(seq)
	// Another INVITE may come as soon as the peer has this final answer
	// (RFC 3261 §14.2), even before its ACK: open the way first.
	d.endInvite()
	if err := tx.Respond(res); err != nil {
		d.log.Warn("re-INVITE answer not sent", "error", err)
		return
	}
	d.refreshed(st)
	ack := awaitACK(tx, res, d.dlg.transport, acks, d.ended, d.s.o.AckTimeout, d.dlg.localTag)
	switch {
	case ack == nil:
		if !d.isEnded() {
			d.log.Warn("no ACK for re-INVITE answer: ending the call")
			d.finish(endNoAck)
		}
	case offered:
		if err := d.media.takeAnswer(ack.Body(), d.log); err != nil {
			d.log.Warn("answer in ACK unusable: keeping the previous media", "error", err)
		}
	}
}

// onUpdate answers UPDATE (RFC 3311): a session refresh, with or without
// a new offer.
func (s *Server) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	if len(req.Body()) > 0 && d.media.awaitingAnswer() {
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusRequestPending, "Request Pending", nil))
		return
	}
	res, _, st := d.modify(req, tx)
	if res == nil {
		return
	}
	s.respond(tx, res)
	d.refreshed(st)
}

// modify negotiates a re-INVITE or UPDATE and builds its 2xx; on failure
// it answers the request itself and returns nil. offered says the 2xx
// carries our offer (an INVITE without SDP), whose answer comes in the ACK.
func (d *dialogLeg) modify(req *sipmsg.Request, tx sipmsg.ServerTransaction) (*sipmsg.Response, bool, sessionTimer) {
	fail := func(r *rejection) (*sipmsg.Response, bool, sessionTimer) {
		d.log.Info("request in call refused", "method", string(req.Method), "status", r.code, "why", r.why)
		if req.IsInvite() {
			// The peer may send its next INVITE as soon as it has this
			// answer (RFC 3261 §14.2): open the way before sending it.
			d.endInvite()
		}
		d.s.respond(tx, r.response(req))
		return nil, false, sessionTimer{}
	}
	if unknown := unsupportedRequires(req); len(unknown) > 0 {
		return fail(rejectBadExtension(unknown))
	}
	st, r := negotiateTimer(req, d.sessionTimer(), d.s.o.MinSessionExpires)
	if r != nil {
		return fail(r)
	}
	offer, r := sdpBody(req)
	if r != nil {
		return fail(r)
	}
	var sdp []byte
	offered := false
	switch {
	case offer != nil:
		answer, n, err := d.media.reanswer(offer)
		if err != nil {
			return fail(rejectSDP(err))
		}
		sdp = answer
		d.log.Info("media renegotiated", "method", string(req.Method),
			"remote_direction", string(n.RemoteDirection), "direction", string(n.Direction), "codec", n.Codec.Name)
		d.followHold(n.RemoteDirection)
	case req.IsInvite():
		sdp, offered = d.media.reoffer(), true
	}
	d.dlg.refreshTarget(req)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", sdp)
	res.AppendHeader(&sipmsg.ContactHeader{Address: d.dlg.contact})
	if sdp != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
	}
	for _, h := range d.s.capabilityHeaders() {
		res.AppendHeader(h)
	}
	for _, h := range st.headers() {
		res.AppendHeader(h)
	}
	return res, offered, st
}
