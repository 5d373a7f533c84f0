package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	sipmsg "github.com/emiago/sipgo/sip"
)

// An answered call before and after its ACK.
//
// Decisions
//
//   - The dialog is confirmed by the ACK of our 200 OK, which carries our
//     To tag: only a caller who received the 200 OK can send it. The INVITE
//     itself proves nothing: over UDP its source, Contact and SDP are
//     whatever the sender wrote. So until the ACK, clubline sends nothing
//     but the 200 OK retransmissions, which go where the INVITE came from
//     (its Via, RFC 3261 §13.3.1.4): no RTP to the address in the SDP (the
//     RTP port is open, but the session starts at the ACK), no BYE to the
//     Contact, and the script does not start. Before this, one 543-byte
//     INVITE naming a victim's address sent it 1,501 RTP packets (258 KB)
//     over 30 s and a BYE: a ~475× reflection (issue 7, finding 2).
//   - A call whose ACK does not come within Options.AckTimeout (64*T1 =
//     32 s) ends silently, without a BYE. RFC 3261 §13.3.1.4 says the UAS
//     SHOULD send one; to a dialog never confirmed, from an unauthenticated
//     source, that BYE is the reflection again, and a real caller whose ACK
//     was lost has heard nothing of the call either. The same holds for any
//     other end before the ACK (shutdown): the BYE waits 2*T1 for a late
//     ACK, then is not sent.
//   - Such a call still leaves a record (outcome abandoned, stage answer),
//     handed to Options.OnUnstarted.

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
	endNoAck          = endReason{"no ACK for 200 OK", true}  // re-INVITE: the dialog was confirmed
	endUnconfirmed    = endReason{"no ACK for 200 OK", false} // the INVITE's: see Decisions
	endBadAnswer      = endReason{"unusable SDP answer in ACK", true}
	endShutdown       = endReason{"server shutdown", true}
)

// call is one answered inbound call: a dialog and an RTP leg. It implements
// ivr.Leg (Play, Record, Digits, Hangup, Done and Session come with the
// dialogLeg it embeds). Its supervising goroutine (run) owns its end;
// handlers and the script ask for the end with finish.
type call struct {
	*dialogLeg
	id        string
	from, to  string
	trunk     string // the trunk that delivered the call, if any
	staff     string // the staff member whose phone authenticated the INVITE, if any
	probe     bool   // the line's own probe (probe.go)
	started   time.Time
	inviteTx  sipmsg.ServerTransaction
	invite    *sipmsg.Request  // the INVITE, with our To tag
	ok        *sipmsg.Response // our 200 OK, retransmitted until ACKed
	acked     chan struct{}    // closed when the INVITE's ACK arrived
	ticket    *ticket          // its hold on the limits (awaiting.go)
	scriptLog *slog.Logger     // the script's logger: adds the reason to its end line (endLine)
	endLogged atomic.Bool      // the script logged the end of the call
}

var (
	_ ivr.Leg        = (*call)(nil)
	_ ivr.Bridgeable = (*call)(nil)
)

func newCall(s *Server, id string, dlg *dialog, tx sipmsg.ServerTransaction, ms *mediaState, log *slog.Logger) *call {
	c := &call{
		dialogLeg: newDialogLeg(s, dlg, ms, log, false),
		id:        id, inviteTx: tx,
		started: time.Now(),
		acked:   make(chan struct{}),
	}
	c.scriptLog = slog.New(endLine{next: c.log.Handler(), c: c})
	return c
}

func (c *call) inbound() ivr.Inbound {
	return ivr.Inbound{ID: c.id, From: c.from, To: c.to, Trunk: c.trunk, Staff: c.staff, Probe: c.probe, Leg: c, Log: c.scriptLog}
}

// endOfCall is the message of the one line that says a call ended: the
// script's (with the outcome, the stage, the language), to which endLine
// adds why the call ended; sip's own when no script ran.
const endOfCall = "call ended"

// endLine is the handler of the script's logger: the script logs the end
// of the call with what it knows, and sip adds the reason to that line
// rather than log a second one.
type endLine struct {
	next slog.Handler
	c    *call
}

func (h endLine) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h endLine) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == endOfCall {
		h.c.endLogged.Store(true)
		if h.c.isEnded() { // the reason is set before ended is closed
			r = r.Clone()
			r.AddAttrs(slog.String("reason", h.c.reason.text))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h endLine) WithAttrs(as []slog.Attr) slog.Handler {
	return endLine{next: h.next.WithAttrs(as), c: h.c}
}

func (h endLine) WithGroup(name string) slog.Handler {
	return endLine{next: h.next.WithGroup(name), c: h.c}
}

// run supervises the call from the 200 OK to the end: it waits for the ACK,
// runs the script, watches RTP and the session timer, then sends the BYE
// owed, waits for the script to return and frees the call. A call whose
// script never started gets its record here.
func (c *call) run() {
	scriptDone := make(chan struct{})
	started := c.awaitAck()
	if started {
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
	c.inviteTx.Terminate() // no more 2xx retransmissions
	close(c.byeDone)
	<-scriptDone
	c.media.close()
	if !started { // no script wrote a record: before release, so Wait covers it
		c.s.o.OnUnstarted(c.unstartedRecord())
	}
	c.s.release(c.dlg.key(), c.ticket)
	if !c.endLogged.Load() { // no script ran, or it said nothing of the end
		c.log.Info(endOfCall, "reason", c.reason.text,
			"duration", time.Since(c.started).Round(time.Second).String())
	}
}

// unstartedRecord is the record of a call that ended before its script
// started; the script writes the record of every other answered call.
func (c *call) unstartedRecord() clubline.Call {
	now := time.Now()
	rec := clubline.Call{
		ID: c.id, From: c.from, To: c.to, Trunk: c.trunk, StartedAt: c.started,
		Outcome: clubline.OutcomeAbandoned, Stage: clubline.StageAnswer,
		EndedAt: now, Duration: now.Sub(c.started), Probe: c.probe,
	}
	switch c.reason {
	case endUnconfirmed:
		rec.AddTrace(fmt.Sprintf("answer: no ACK for the 200 OK within %s", c.s.o.AckTimeout))
	case endRemoteBye:
		rec.AddTrace("answer: caller hung up before the greeting")
	case endBadAnswer, endMediaFailed:
		rec.Outcome = clubline.OutcomeFailed
		rec.AddTrace("answer: " + c.reason.text)
	default:
		rec.AddTrace("answer: call ended before the greeting: " + c.reason.text)
	}
	return rec
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
	ack := awaitACK(c.inviteTx, c.ok, c.dlg.transport, c.ackChan(c.invite.CSeq().SeqNo), c.ended,
		c.s.o.AckTimeout, c.dlg.localTag)
	if ack == nil {
		if !c.isEnded() {
			c.log.Warn("no ACK for 200 OK: ending the call without a BYE", "waited", c.s.o.AckTimeout.String())
			c.finish(endUnconfirmed)
		}
		return false
	}
	close(c.acked)
	c.s.acked(c.ticket)
	if c.media.awaitingAnswer() {
		if err := c.media.takeAnswer(ack.Body(), c.log); err != nil {
			c.log.Warn("ACK answer unusable: ending the call", "error", err)
			c.finish(endBadAnswer)
			return false
		}
	}
	c.media.confirm()
	return !c.isEnded()
}

// sendBye ends the dialog from our side. The callee must not send BYE
// before the ACK (RFC 3261 §15), so it waits a little for a late ACK: the
// channel of the INVITE's CSeq stays registered and takes one. Without
// it, no BYE is sent (Decisions).
func (c *call) sendBye() error {
	select {
	case <-c.acked:
	default:
		wait := time.NewTimer(2 * sipmsg.T1)
		defer wait.Stop()
		select {
		case <-c.ackChan(c.invite.CSeq().SeqNo):
		case <-wait.C:
			c.log.Info("no BYE: the caller never confirmed the call with an ACK")
			return nil
		}
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

// closeConn closes an RTP socket not (yet) owned by a media session.
func closeConn(conn *net.UDPConn) {
	if conn != nil {
		_ = conn.Close()
	}
}
