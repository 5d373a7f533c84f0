package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	sipmsg "github.com/emiago/sipgo/sip"
)

// errCallEnded is the cause of the call's context once the call is over.
var errCallEnded = errors.New("sip: call ended")

// endReason says why a call ended, and whether clubline owes a BYE.
type endReason struct {
	text    string
	sendBye bool
}

var (
	endRemoteBye      = endReason{"remote BYE", false}
	endHangup         = endReason{"hung up by the script", true}
	endScriptReturned = endReason{"script returned", true}
	endRTPTimeout     = endReason{"rtp timeout", true}
	endMediaFailed    = endReason{"media failed", true}
	endSessionExpired = endReason{"session timer expired", true}
	endRefreshFailed  = endReason{"session refresh failed", true}
	endNoAck          = endReason{"no ACK for 200 OK", true}
	endBadAnswer      = endReason{"unusable SDP answer in ACK", true}
	endShutdown       = endReason{"server shutdown", true}
)

// call is one answered inbound call: a dialog and an RTP leg. It implements
// ivr.Leg. Its supervising goroutine (run) owns its end; handlers and the
// script ask for the end with finish.
type call struct {
	s        *Server
	id       string
	from, to string
	log      *slog.Logger
	dlg      *dialog
	started  time.Time
	inviteTx sipmsg.ServerTransaction
	invite   *sipmsg.Request  // the INVITE, with our To tag
	ok       *sipmsg.Response // our 200 OK, retransmitted until ACKed

	ctx    context.Context // the call's: cancelled (cause errCallEnded) when it ends
	cancel context.CancelCauseFunc

	media *mediaState

	ackOnce sync.Once
	acked   chan struct{} // closed when the INVITE's ACK arrived

	endOnce sync.Once
	reason  endReason
	ended   chan struct{} // closed by finish: Leg.Done
	byeDone chan struct{} // closed once the BYE (if any) got its answer
	byeErr  error

	refresh chan sessionTimer // a session refresh arrived (cap 1, latest wins)

	mu       sync.Mutex
	timer    sessionTimer
	inInvite bool                            // an INVITE transaction is open in the dialog
	ackWait  map[uint32]chan *sipmsg.Request // re-INVITE CSeq → its ACK
}

var _ ivr.Leg = (*call)(nil)

func newCall(s *Server, id string, dlg *dialog, tx sipmsg.ServerTransaction, ms *mediaState) *call {
	ctx, cancel := context.WithCancelCause(context.Background()) // detached from any request
	return &call{
		s: s, id: id, dlg: dlg, inviteTx: tx, media: ms,
		started: time.Now(),
		ctx:     ctx, cancel: cancel,
		acked:   make(chan struct{}),
		ended:   make(chan struct{}),
		byeDone: make(chan struct{}),
		refresh: make(chan sessionTimer, 1),
		ackWait: make(map[uint32]chan *sipmsg.Request),
	}
}

// Play sends src to the caller, paced in real time.
func (c *call) Play(ctx context.Context, src media.Source) error {
	sess := c.media.session()
	if sess == nil {
		return errors.New("sip: call has no media yet")
	}
	if err := sess.Play(ctx, src); err != nil {
		return c.endedErr(err)
	}
	return nil
}

// Record hands the caller's audio to sink until ctx is done or the call ends.
func (c *call) Record(ctx context.Context, sink media.Sink) error {
	sess := c.media.session()
	if sess == nil {
		return errors.New("sip: call has no media yet")
	}
	if err := sess.Record(ctx, sink); err != nil {
		return c.endedErr(err)
	}
	return nil
}

// endedErr says the call ended when that is why a media operation failed.
func (c *call) endedErr(err error) error {
	if c.isEnded() {
		return fmt.Errorf("sip: call ended (%s): %w", c.reason.text, err)
	}
	return err
}

// Digits delivers each key the caller presses, from RFC 4733 events and SIP
// INFO alike.
func (c *call) Digits() <-chan rune {
	if sess := c.media.session(); sess != nil {
		return sess.Digits()
	}
	return nil
}

// Hangup ends the call with a BYE (once, however often it is called) and
// waits for the answer to it. The script's own context ends with the call,
// so that cancellation does not cut the wait short; any other does.
func (c *call) Hangup(ctx context.Context) error {
	c.finish(endHangup)
	select {
	case <-c.byeDone:
		return c.byeErr
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), errCallEnded) {
			return ctx.Err()
		}
	}
	<-c.byeDone // bounded: the BYE gives up after byeTimeout
	return c.byeErr
}

// Done is closed when the call has ended, whichever side ended it.
func (c *call) Done() <-chan struct{} { return c.ended }

// finish ends the call for reason; the first reason wins. It stops the
// media and the script's context at once; the supervisor sends the BYE.
func (c *call) finish(reason endReason) {
	c.endOnce.Do(func() {
		c.reason = reason
		close(c.ended)
		c.cancel(errCallEnded)
		c.media.close()
	})
}

func (c *call) inbound() ivr.Inbound {
	return ivr.Inbound{ID: c.id, From: c.from, To: c.to, Leg: c, Log: c.log}
}

// run supervises the call from the 200 OK to the end: it waits for the ACK,
// runs the script, watches RTP and the session timer, then sends the BYE
// owed, waits for the script to return and frees the call.
func (c *call) run() {
	scriptDone := make(chan struct{})
	if c.awaitAck() {
		c.log.Info("call answered", "setup", time.Since(c.started).Round(time.Millisecond).String())
		go c.runScript(scriptDone)
		c.supervise(scriptDone)
	} else {
		close(scriptDone)
	}
	c.finish(endShutdown) // a no-op: the call has ended by now, with its reason
	if c.reason.sendBye {
		c.byeErr = c.sendBye()
	}
	close(c.byeDone)
	<-scriptDone
	c.media.close()
	c.s.release(c.dlg.key())
	c.log.Info("call ended", "reason", c.reason.text,
		"duration", time.Since(c.started).Round(time.Second).String())
}

// runScript runs Handle; a panic in it is logged and ends the call.
func (c *call) runScript(done chan<- struct{}) {
	defer close(done)
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("call script panicked", "panic", fmt.Sprint(p))
		}
	}()
	c.s.o.Handle(c.ctx, c.inbound())
}

// awaitAck waits for the ACK of the 200 OK; with a delayed offer the ACK
// carries the caller's answer, and only then can media start.
func (c *call) awaitAck() bool {
	ack := awaitACK(c.inviteTx, c.ok, c.dlg.transport, c.ackChan(c.invite.CSeq().SeqNo), c.ended)
	if ack == nil {
		if !c.isEnded() {
			c.log.Warn("no ACK for 200 OK: ending the call")
			c.finish(endNoAck)
		}
		return false
	}
	c.ackOnce.Do(func() { close(c.acked) })
	if c.media.awaitingAnswer() {
		if err := c.media.takeAnswer(ack.Body(), c.log); err != nil {
			c.log.Warn("ACK answer unusable: ending the call", "error", err)
			c.finish(endBadAnswer)
			return false
		}
	}
	return !c.isEnded()
}

func (c *call) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// supervise is the call's one select: it returns once the call has ended.
func (c *call) supervise(scriptDone <-chan struct{}) {
	var timerC <-chan time.Time
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	arm := func(st sessionTimer) {
		t.Stop()
		timerC = nil
		if st.on() {
			if st.refresher == refresherUAS {
				t.Reset(st.refreshIn())
			} else {
				t.Reset(st.expiryIn())
			}
			timerC = t.C
		}
	}
	arm(c.sessionTimer())
	sess := c.media.session()
	if sess == nil { // closed before media could start
		c.finish(endMediaFailed)
		return
	}
	sessDone := sess.Done()
	for {
		select {
		case <-c.ended:
			return
		case <-scriptDone:
			scriptDone = nil
			c.finish(endScriptReturned)
		case <-sessDone:
			sessDone = nil
			if c.isEnded() {
				return // finish closed the session
			}
			if err := sess.Err(); errors.Is(err, media.ErrTimeout) {
				c.log.Info("no RTP from the caller", "timeout", c.s.o.RTPTimeout.String())
				c.finish(endRTPTimeout)
			} else {
				c.log.Warn("media session ended", "error", err)
				c.finish(endMediaFailed)
			}
		case st := <-c.refresh:
			arm(st)
		case <-timerC:
			st := c.sessionTimer()
			if st.refresher != refresherUAS {
				c.log.Info("session not refreshed in time", "interval", st.interval.String())
				c.finish(endSessionExpired)
				continue
			}
			if err := c.refreshSession(st); err != nil {
				c.log.Warn("session refresh failed", "error", err)
				c.finish(endRefreshFailed)
				continue
			}
			arm(st)
		}
	}
}

// sendBye ends the dialog from our side. The callee must not send BYE
// before the ACK (RFC 3261 §15), so it waits a little for a late ACK.
func (c *call) sendBye() error {
	select {
	case <-c.acked:
	default:
		wait := time.NewTimer(2 * sipmsg.T1)
		select {
		case <-c.acked:
		case <-wait.C:
		}
		wait.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	c.inviteTx.Terminate() // no more 2xx retransmissions
	if err := c.dlg.bye(ctx); err != nil {
		c.log.Warn("BYE failed", "error", err)
		return err
	}
	return nil
}

func (c *call) sessionTimer() sessionTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timer
}

// refreshed records the timer a session refresh agreed on and restarts
// the supervisor's clock.
func (c *call) refreshed(st sessionTimer) {
	c.mu.Lock()
	c.timer = st
	c.mu.Unlock()
	for { // never blocks: a newer refresh replaces one not yet read
		select {
		case c.refresh <- st:
			return
		default:
		}
		select {
		case <-c.refresh:
		default:
		}
	}
}

// refreshSession sends our refresh when the caller asked clubline to be the
// refresher (RFC 4028 §7.4): an UPDATE without SDP if the caller allows
// UPDATE, else a re-INVITE with a fresh offer.
func (c *call) refreshSession(st sessionTimer) error {
	se := sipmsg.NewHeader("Session-Expires", seconds(st.interval)+";refresher=uas")
	supported := sipmsg.NewHeader("Supported", supportedOptions)
	ctx, cancel := context.WithTimeout(c.ctx, 64*sipmsg.T1)
	defer cancel()
	if hasToken(c.invite, "Allow", "update") {
		req := c.dlg.request(sipmsg.UPDATE, 0)
		req.AppendHeader(se)
		req.AppendHeader(supported)
		res, err := c.dlg.do(ctx, req)
		if err != nil {
			return err
		}
		if !res.IsSuccess() {
			return fmt.Errorf("UPDATE answered %d %s", res.StatusCode, res.Reason)
		}
		return nil
	}
	c.mu.Lock()
	busy := c.inInvite
	if !busy {
		c.inInvite = true
	}
	c.mu.Unlock()
	if busy {
		return nil // the caller's own re-INVITE is refreshing the session
	}
	defer c.endInvite()
	res, err := c.dlg.invite(ctx, c.media.reoffer(), se, supported)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		c.media.cancelOffer()
		return fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if err := c.media.takeAnswer(res.Body(), c.log); err != nil {
		c.log.Warn("refresh answer unusable: keeping the previous media", "error", err)
	}
	return nil
}

// closeConn closes an RTP socket not (yet) owned by a media session.
func closeConn(conn *net.UDPConn) {
	if conn != nil {
		_ = conn.Close()
	}
}
