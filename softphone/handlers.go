package softphone

import (
	"context"
	"fmt"

	"github.com/clubline/clubline/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// routes answers what the callee may send the phone.
func (c *Call) routes(srv *sipgo.Server) {
	srv.OnBye(c.onBye)
	srv.OnInfo(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		respond(tx, req, sipmsg.StatusOK, "OK")
	})
	srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
		res.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
		_ = tx.Respond(res)
	})
	srv.OnUpdate(c.onUpdate)
	srv.OnNotify(c.onNotify)
	srv.OnInvite(c.onReinvite)
	srv.OnAck(func(*sipmsg.Request, sipmsg.ServerTransaction) {})
	srv.OnNoRoute(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !req.IsAck() {
			respond(tx, req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed")
		}
	})
}

// onBye ends the call on the far end's BYE.
func (c *Call) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	dialog, answer, _ := c.state()
	if dialog == nil || answer == nil || !sameCall(dialog, req) {
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if err := dialog.ReadBye(req, tx); err != nil {
		c.log.Warn("answering BYE", "error", err)
	}
	c.remoteByeOnce.Do(func() { close(c.remoteBye) })
}

// onUpdate answers a session refresh (UPDATE without SDP).
func (c *Call) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c.refreshes.Add(1)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	c.echoSessionExpires(req, res)
	_ = tx.Respond(res)
}

// echoSessionExpires answers a refresh the way a phone that knows session
// timers does: it keeps the interval and the refresher asked for (RFC
// 4028 §9), and notes the header for LastRefresh.
func (c *Call) echoSessionExpires(req *sipmsg.Request, res *sipmsg.Response) {
	hs := req.GetHeaders("Session-Expires")
	if len(hs) == 0 {
		return
	}
	c.mu.Lock()
	c.refreshSE = hs[0].Value()
	c.mu.Unlock()
	res.AppendHeader(sipmsg.NewHeader("Session-Expires", hs[0].Value()))
}

// LastRefresh is the Session-Expires of the last refresh the callee sent
// ("" if none had one).
func (c *Call) LastRefresh() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshSE
}

func respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string) {
	_ = tx.Respond(sipmsg.NewResponseFromRequest(req, code, reason, nil))
}

// state reads what the handlers need, set by Dial while they may run.
func (c *Call) state() (dialogSession, *sipmsg.Response, *media.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialog, c.answer, c.sess
}

func sameCall(d dialogSession, req *sipmsg.Request) bool {
	id := req.CallID()
	return id != nil && id.Value() == dialogInvite(d).CallID().Value()
}

// onReinvite answers an offer the callee sends within the call (a session
// refresh it does itself, or a change of media).
func (c *Call) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	dialog, _, sess := c.state()
	if dialog == nil || sess == nil || !sameCall(dialog, req) {
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.refreshes.Add(1)
	c.mu.Lock()
	c.local.Version++
	local := c.local
	c.mu.Unlock()
	var sdp []byte
	if body := req.Body(); len(body) > 0 {
		answer, n, err := media.Answer(body, local)
		if err != nil {
			respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		c.update(n)
		sdp = answer
	} else {
		sdp = media.Offer(local) // its answer in the ACK is not used: the phone keeps its media
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", sdp)
	c.echoSessionExpires(req, res)
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&sipmsg.ContactHeader{Address: c.contact})
	_ = tx.Respond(res)
}

// Refreshes counts the UPDATEs and re-INVITEs the callee sent (its
// session refreshes, when it is the refresher).
func (c *Call) Refreshes() int { return int(c.refreshes.Load()) }

// Hold puts the callee on hold (re-INVITE with a sendonly offer) and
// returns what was agreed: Direction is the phone's (sendonly when the
// callee answered recvonly).
func (c *Call) Hold(ctx context.Context) (media.Negotiated, error) {
	return c.Reinvite(ctx, media.DirSendOnly)
}

// Resume takes the callee off hold (re-INVITE with a sendrecv offer).
func (c *Call) Resume(ctx context.Context) (media.Negotiated, error) {
	return c.Reinvite(ctx, media.DirSendRecv)
}

// Reinvite sends a new offer with the given direction in a re-INVITE,
// applies the answer to the media and ACKs it.
func (c *Call) Reinvite(ctx context.Context, dir media.Direction) (media.Negotiated, error) {
	c.mu.Lock()
	c.local.Version++
	c.local.Direction = dir
	local := c.local
	c.mu.Unlock()
	req := c.inDialog(sipmsg.INVITE)
	req.AppendHeader(&sipmsg.ContactHeader{Address: c.contact})
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(media.Offer(local))
	res, err := c.reinvite(ctx, req)
	if err != nil {
		return media.Negotiated{}, err
	}
	n, err := media.ParseAnswer(res.Body(), local)
	if err != nil {
		return media.Negotiated{}, fmt.Errorf("phone: answer to re-INVITE: %w", err)
	}
	c.update(n)
	return n, nil
}

// ReinviteSDP sends a re-INVITE carrying sdp as is and ACKs the answer,
// which it returns without applying it: a test can point the callee's
// audio at a socket of its own.
func (c *Call) ReinviteSDP(ctx context.Context, sdp []byte) (*sipmsg.Response, error) {
	req := c.inDialog(sipmsg.INVITE)
	req.AppendHeader(&sipmsg.ContactHeader{Address: c.contact})
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
	return c.reinvite(ctx, req)
}

// ReinviteWithoutOffer sends a re-INVITE with no SDP: the callee offers in
// its 200 OK and the phone answers (sendrecv) in the ACK.
func (c *Call) ReinviteWithoutOffer(ctx context.Context) (media.Negotiated, error) {
	req := c.inDialog(sipmsg.INVITE)
	req.AppendHeader(&sipmsg.ContactHeader{Address: c.contact})
	c.mu.Lock()
	c.local.Version++
	c.local.Direction = ""
	local := c.local
	c.mu.Unlock()
	var n media.Negotiated
	var answer []byte
	if _, err := c.reinviteAck(ctx, req, func(res *sipmsg.Response) ([]byte, error) {
		var err error
		answer, n, err = media.Answer(res.Body(), local)
		return answer, err
	}); err != nil {
		return media.Negotiated{}, err
	}
	c.update(n)
	return n, nil
}

func (c *Call) reinvite(ctx context.Context, req *sipmsg.Request) (*sipmsg.Response, error) {
	return c.reinviteAck(ctx, req, nil)
}

// reinviteAck sends a re-INVITE, waits for its final answer and ACKs a
// 2xx, with the body ackBody makes from the answer.
func (c *Call) reinviteAck(ctx context.Context, req *sipmsg.Request,
	ackBody func(*sipmsg.Response) ([]byte, error)) (*sipmsg.Response, error) {
	res, err := c.dialog.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("phone: re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason, Method: "re-INVITE", Response: res}
	}
	ack := c.inDialog(sipmsg.ACK)
	var bodyErr error
	if ackBody != nil {
		body, err := ackBody(res)
		if err != nil {
			bodyErr = fmt.Errorf("phone: offer in re-INVITE answer: %w", err)
		} else {
			ack.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(body)
		}
	}
	if err := c.dialog.WriteRequest(ack); err != nil {
		return nil, fmt.Errorf("phone: ACK of re-INVITE: %w", err)
	}
	return res, bodyErr
}

// update applies a new negotiation to the media (a Silent phone stays silent).
func (c *Call) update(n media.Negotiated) {
	c.mu.Lock()
	c.neg = n
	c.mu.Unlock()
	if c.o.Silent {
		n.Direction = media.DirRecvOnly
	}
	c.sess.Update(n)
}
