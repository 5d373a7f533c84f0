package sip

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/clubline/clubline/media"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Handlers for requests that arrive in an established call, and for the
// requests that need no call (OPTIONS, unknown methods).

// inDialog finds the call of a request and checks its CSeq, answering 481
// or 500 itself when it cannot go on.
func (s *Server) inDialog(req *sipmsg.Request, tx sipmsg.ServerTransaction) *call {
	if h := missingHeader(req); h != "" {
		s.respond(tx, rejectBadRequest("missing "+h+" header").response(req))
		return nil
	}
	c := s.lookup(req)
	if c == nil {
		s.log.Debug("request for no known call", "method", string(req.Method))
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists,
			"Call/Transaction Does Not Exist", nil))
		return nil
	}
	if err := c.dlg.checkRemote(req); err != nil {
		c.log.Warn("request out of order", "method", string(req.Method), "error", err)
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Out Of Order", nil))
		return nil
	}
	return c
}

// onBye: the caller hung up (RFC 3261 §15.1.2).
func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.onLegBye(req, tx) { // the staff side of an outbound leg hung up
		return
	}
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	c.finish(endRemoteBye) // first: once the caller has its 200, nothing may send a BYE
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
}

// onAck matches the ACK of a 2xx to the INVITE it acknowledges. An ACK
// gets no response.
func (s *Server) onAck(req *sipmsg.Request, _ sipmsg.ServerTransaction) {
	c := s.lookup(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	c.deliverAck(req)
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
	if draining && toTag(req) == "" {
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
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	ct := mediaType(req)
	switch {
	case len(req.Body()) == 0:
		// An empty INFO probes the dialog (RFC 6086 §4.2.2).
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
	case ct == typeDTMFRelay || ct == typeDTMF:
		d, err := parseDTMFInfo(ct, req.Body())
		if err != nil {
			s.respond(tx, rejectBadRequest(err.Error()).response(req))
			return
		}
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
		if sess := c.media.session(); sess != nil {
			sess.InjectDigit(d)
			c.log.Debug("key press by SIP INFO") // never the digit itself
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
	if knownMethods[req.Method] {
		code, reason = sipmsg.StatusMethodNotAllowed, "Method Not Allowed"
	}
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sipmsg.NewHeader("Allow", s.allow()))
	s.respond(tx, res)
}

// beginInvite opens an INVITE transaction in the dialog, or answers why
// not: 500 with Retry-After while another INVITE is open (RFC 3261 §14.2),
// 491 while our own offer waits for its answer (glare, RFC 3261 §14.1).
func (c *call) beginInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	c.mu.Lock()
	busy := c.inInvite
	if !busy {
		c.inInvite = true
	}
	c.mu.Unlock()
	switch {
	case busy:
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(retryAfter(time.Duration(rand.IntN(10)+1) * time.Second))
		c.s.respond(tx, res)
		return false
	case c.media.awaitingAnswer():
		c.endInvite()
		c.s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusRequestPending, "Request Pending", nil))
		return false
	}
	return true
}

func (c *call) endInvite() {
	c.mu.Lock()
	c.inInvite = false
	c.mu.Unlock()
}

// onReinvite answers an INVITE within a call: hold, resume, a new address,
// a session refresh (RFC 3261 §14.2, RFC 3264 §8, RFC 4028).
func (s *Server) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.inDialog(req, tx)
	if c == nil || !c.beginInvite(req, tx) {
		return
	}
	res, offered, st := c.modify(req, tx)
	if res == nil {
		c.endInvite()
		return
	}
	seq := req.CSeq().SeqNo
	acks := c.ackChan(seq)
	defer c.forgetAck(seq)
	// Another INVITE may come as soon as the peer has this final answer
	// (RFC 3261 §14.2), even before its ACK: open the way first.
	c.endInvite()
	if err := tx.Respond(res); err != nil {
		c.log.Warn("re-INVITE answer not sent", "error", err)
		return
	}
	c.refreshed(st)
	ack := awaitACK(tx, res, c.dlg.transport, acks, c.ended)
	switch {
	case ack == nil:
		if !c.isEnded() {
			c.log.Warn("no ACK for re-INVITE answer: ending the call")
			c.finish(endNoAck)
		}
	case offered:
		if err := c.media.takeAnswer(ack.Body(), c.log); err != nil {
			c.log.Warn("answer in ACK unusable: keeping the previous media", "error", err)
		}
	}
}

// onUpdate answers UPDATE (RFC 3311): a session refresh, with or without
// a new offer.
func (s *Server) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	if len(req.Body()) > 0 && c.media.awaitingAnswer() {
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusRequestPending, "Request Pending", nil))
		return
	}
	res, _, st := c.modify(req, tx)
	if res == nil {
		return
	}
	s.respond(tx, res)
	c.refreshed(st)
}

// modify negotiates a re-INVITE or UPDATE and builds its 2xx; on failure
// it answers the request itself and returns nil. offered says the 2xx
// carries our offer (an INVITE without SDP), whose answer comes in the ACK.
func (c *call) modify(req *sipmsg.Request, tx sipmsg.ServerTransaction) (*sipmsg.Response, bool, sessionTimer) {
	fail := func(r *rejection) (*sipmsg.Response, bool, sessionTimer) {
		c.log.Info("request in call refused", "method", string(req.Method), "status", r.code, "why", r.why)
		c.s.respond(tx, r.response(req))
		return nil, false, sessionTimer{}
	}
	if unknown := unsupportedRequires(req); len(unknown) > 0 {
		return fail(rejectBadExtension(unknown))
	}
	st, r := negotiateTimer(req, c.sessionTimer(), c.s.o.MinSessionExpires)
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
		answer, n, err := c.media.reanswer(offer)
		if err != nil {
			if errors.Is(err, media.ErrNoCommonCodec) {
				return fail(rejectNoCommonCodec())
			}
			return fail(rejectBadSDP(err))
		}
		sdp = answer
		c.log.Info("media renegotiated", "method", string(req.Method),
			"remote_direction", string(n.RemoteDirection), "direction", string(n.Direction), "codec", n.Codec.Name)
	case req.IsInvite():
		sdp, offered = c.media.reoffer(), true
	}
	c.dlg.refreshTarget(req)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", sdp)
	res.AppendHeader(&sipmsg.ContactHeader{Address: c.dlg.contact})
	if sdp != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
	}
	for _, h := range c.s.capabilityHeaders() {
		res.AppendHeader(h)
	}
	for _, h := range st.headers() {
		res.AppendHeader(h)
	}
	return res, offered, st
}
