package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	sipmsg "github.com/emiago/sipgo/sip"
)

// dialogLeg is what an answered inbound call and an outbound leg to a
// staff phone share: the dialog and its RTP side, the requests the peer
// sends in it (re-INVITE, UPDATE, INFO, BYE, REFER), the session timer,
// and the end. Each kind embeds it and adds what only it has; its
// supervising goroutine runs supervise, then sends the BYE owed. Handlers
// and the script ask for the end with finish.
type dialogLeg struct {
	s     *Server
	dlg   *dialog
	media *mediaState
	log   *slog.Logger

	ctx    context.Context // cancelled (cause errCallEnded) when the leg ends
	cancel context.CancelCauseFunc

	endOnce sync.Once
	reason  endReason
	ended   chan struct{} // closed by finish: Leg.Done
	byeDone chan struct{} // closed once the BYE (if any) got its answer
	byeErr  error

	refresh    chan sessionTimer // a session refresh arrived (cap 1, latest wins)
	peerUpdate bool              // the peer's Allow lists UPDATE: refresh with it

	// events carries what a staff phone asks for (hold, resume, transfer);
	// nil on a caller's leg, whose peer may ask for none of it.
	events  chan ivr.StaffEvent
	notices notifier // NOTIFYs of transfers (staff legs)

	mu       sync.Mutex
	timer    sessionTimer
	inInvite bool                            // an INVITE transaction is open in the dialog
	ackWait  map[uint32]chan *sipmsg.Request // INVITE CSeq → its ACK
	held     bool                            // the staff phone holds the call (staff legs)
	refers   int                             // REFERs accepted (staff legs)
}

// staffEventBuffer is how many staff events wait for the script before
// new ones are dropped (see OutboundLeg.Events).
const staffEventBuffer = 16

// newDialogLeg starts the shared state of a leg; staff makes it report its
// phone's requests on events.
func newDialogLeg(s *Server, dlg *dialog, ms *mediaState, log *slog.Logger, staff bool) *dialogLeg {
	ctx, cancel := context.WithCancelCause(context.Background()) // detached from any request
	d := &dialogLeg{
		s: s, dlg: dlg, media: ms, log: log,
		ctx: ctx, cancel: cancel,
		ended:   make(chan struct{}),
		byeDone: make(chan struct{}),
		refresh: make(chan sessionTimer, 1),
		ackWait: make(map[uint32]chan *sipmsg.Request),
	}
	if staff {
		d.events = make(chan ivr.StaffEvent, staffEventBuffer)
	}
	return d
}

// Session is the leg's RTP session (ivr.Bridgeable); nil before media
// started or when it could not.
func (d *dialogLeg) Session() *media.Session { return d.media.session() }

// Play sends src to the peer, paced in real time.
func (d *dialogLeg) Play(ctx context.Context, src media.Source) error {
	sess := d.media.session()
	if sess == nil {
		return errors.New("sip: call has no media yet")
	}
	if err := sess.Play(ctx, src); err != nil {
		return d.endedErr(err)
	}
	return nil
}

// Record hands the peer's audio to sink until ctx is done or the leg ends.
func (d *dialogLeg) Record(ctx context.Context, sink media.Sink) error {
	sess := d.media.session()
	if sess == nil {
		return errors.New("sip: call has no media yet")
	}
	if err := sess.Record(ctx, sink); err != nil {
		return d.endedErr(err)
	}
	return nil
}

// endedErr says the leg ended when that is why a media operation failed.
func (d *dialogLeg) endedErr(err error) error {
	if d.isEnded() {
		return fmt.Errorf("sip: call ended (%s): %w", d.reason.text, err)
	}
	return err
}

// Digits delivers each key the peer presses, from RFC 4733 events and SIP
// INFO alike.
func (d *dialogLeg) Digits() <-chan rune {
	if sess := d.media.session(); sess != nil {
		return sess.Digits()
	}
	return nil
}

// Hangup ends the leg with a BYE (once, however often it is called) and
// waits for the answer to it. A context that ended because a call ended
// (the script's own, when the caller hung up) does not cut the wait short;
// any other does.
func (d *dialogLeg) Hangup(ctx context.Context) error {
	d.finish(endHangup)
	select {
	case <-d.byeDone:
		return d.byeErr
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), errCallEnded) {
			return ctx.Err()
		}
	}
	<-d.byeDone // bounded: the BYE gives up after byeTimeout
	return d.byeErr
}

// Done is closed when the leg has ended, whichever side ended it.
func (d *dialogLeg) Done() <-chan struct{} { return d.ended }

// finish ends the leg for reason; the first reason wins. It stops the
// media and the leg's context at once; the supervisor sends the BYE.
func (d *dialogLeg) finish(reason endReason) {
	d.endOnce.Do(func() {
		d.reason = reason
		close(d.ended)
		d.cancel(errCallEnded)
		d.media.close()
	})
}

func (d *dialogLeg) isEnded() bool {
	select {
	case <-d.ended:
		return true
	default:
		return false
	}
}

// supervise is the leg's one select: it returns once the leg has ended.
// A caller's leg passes the channel closed when its script returns; a
// staff leg, nil.
func (d *dialogLeg) supervise(scriptDone <-chan struct{}) {
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
	arm(d.sessionTimer())
	sess := d.media.session()
	if sess == nil { // closed before media could start
		d.finish(endMediaFailed)
		return
	}
	sessDone := sess.Done()
	for {
		select {
		case <-d.ended:
			return
		case <-scriptDone:
			scriptDone = nil
			d.finish(endScriptReturned)
		case <-sessDone:
			sessDone = nil
			if d.isEnded() {
				return // finish closed the session
			}
			if err := sess.Err(); errors.Is(err, media.ErrTimeout) {
				d.log.Info("no RTP from the peer", "timeout", d.s.o.RTPTimeout.String())
				d.finish(endRTPTimeout)
			} else {
				d.log.Warn("media session ended", "error", err)
				d.finish(endMediaFailed)
			}
		case st := <-d.refresh:
			arm(st)
		case <-timerC:
			st := d.sessionTimer()
			if st.refresher != refresherUAS {
				d.log.Info("session not refreshed in time", "interval", st.interval.String())
				d.finish(endSessionExpired)
				continue
			}
			st, err := d.refreshSession(st)
			if err != nil {
				d.log.Warn("session refresh failed", "error", err)
				d.finish(endRefreshFailed)
				continue
			}
			d.mu.Lock()
			d.timer = st
			d.mu.Unlock()
			arm(st)
		}
	}
}

func (d *dialogLeg) sessionTimer() sessionTimer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timer
}

// refreshed records the timer a session refresh agreed on and restarts
// the supervisor's clock.
func (d *dialogLeg) refreshed(st sessionTimer) {
	d.mu.Lock()
	d.timer = st
	d.mu.Unlock()
	for { // never blocks: a newer refresh replaces one not yet read
		select {
		case d.refresh <- st:
			return
		default:
		}
		select {
		case <-d.refresh:
		default:
		}
	}
}

// refreshSession sends our refresh when the peer asked clubline to be the
// refresher (RFC 4028 §7.4): an UPDATE without SDP if the peer allows
// UPDATE, else a re-INVITE with a fresh offer. It returns the timer the
// peer's answer agreed on.
func (d *dialogLeg) refreshSession(st sessionTimer) (sessionTimer, error) {
	se := st.refreshHeader()
	supported := sipmsg.NewHeader("Supported", supportedOptions)
	ctx, cancel := context.WithTimeout(d.ctx, 64*sipmsg.T1)
	defer cancel()
	if d.peerUpdate {
		req := d.dlg.request(sipmsg.UPDATE, 0)
		req.AppendHeader(se)
		req.AppendHeader(supported)
		res, err := d.dlg.do(ctx, req)
		if err != nil {
			return st, err
		}
		if !res.IsSuccess() {
			return st, fmt.Errorf("UPDATE answered %d %s", res.StatusCode, res.Reason)
		}
		return answeredRefresh(res, st), nil
	}
	d.mu.Lock()
	busy := d.inInvite
	if !busy {
		d.inInvite = true
	}
	d.mu.Unlock()
	if busy {
		return st, nil // the peer's own re-INVITE is refreshing the session
	}
	defer d.endInvite()
	res, err := d.dlg.invite(ctx, d.media.reoffer(), se, supported)
	if err != nil {
		return st, err
	}
	if !res.IsSuccess() {
		d.media.cancelOffer()
		return st, fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if err := d.media.takeAnswer(res.Body(), d.log); err != nil {
		d.log.Warn("refresh answer unusable: keeping the previous media", "error", err)
	}
	return answeredRefresh(res, st), nil
}

// followHold tells the script of a staff leg that its phone put the call
// on hold (its offer went sendonly or inactive) or took it off (sendrecv
// again). remote is the direction the phone offered.
func (d *dialogLeg) followHold(remote media.Direction) {
	if d.events == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock() // emit never blocks; under the lock, events keep their order
	switch {
	case (remote == media.DirSendOnly || remote == media.DirInactive) && !d.held:
		d.held = true
		d.emit(ivr.StaffEvent{Kind: ivr.StaffHold})
	case (remote == media.DirSendRecv || remote == "") && d.held:
		d.held = false
		d.emit(ivr.StaffEvent{Kind: ivr.StaffResume})
	}
}

// emit hands a staff event to the script without ever blocking the SIP
// handler: when the script has left staffEventBuffer events unread, the
// new one is dropped with a warning, and emit reports false.
func (d *dialogLeg) emit(ev ivr.StaffEvent) bool {
	select {
	case d.events <- ev:
		return true
	default:
		d.log.Warn("staff event dropped: the script reads no events", "kind", int(ev.Kind))
		return false
	}
}
