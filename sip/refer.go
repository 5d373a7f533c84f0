package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Blind transfer (RFC 3515). A staff phone sends REFER in its outbound
// leg's dialog with the target in Refer-To. clubline accepts it (202),
// hands it to the script as a StaffTransfer event, and reports how the
// transfer goes in NOTIFYs of the implicit subscription, each carrying a
// status line as message/sipfrag (RFC 3515 §2.4.4–2.4.5): "SIP/2.0 100
// Trying" at once, then whatever the script passes to Progress, until a
// final status ends the subscription.
//
// Decisions:
//
//   - Callers cannot transfer: a REFER in a caller's dialog gets 403.
//   - Attended transfer (Replaces in Refer-To, RFC 3891) gets 501.
//   - A missing Refer-To, more than one, or one clubline cannot read (no
//     user nor host, a scheme other than sip, sips and tel) gets 400. One
//     that sipgo's parser rejects drops the whole request before any
//     handler sees it, so the phone gets no answer.
//   - NOTIFYs go out one at a time, in the order asked, from a goroutine
//     of the leg's: Progress never blocks the script. Those still due when
//     the script hangs up go out before the BYE; once the phone has hung
//     up they are dropped. A NOTIFY that fails is logged, nothing more.

const (
	// referExpires is what the active subscription state announces, in seconds.
	referExpires = 60
	// notifyTimeout bounds the wait for the answer to each NOTIFY.
	notifyTimeout = 4 * time.Second
	// maxNotices bounds the NOTIFYs waiting to go out on one leg; beyond
	// it provisional ones are dropped (a final one never is).
	maxNotices = 16
)

// onRefer answers REFER: 202 and a transfer event on a staff leg, 403 from
// a caller.
func (s *Server) onRefer(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	refuse := func(r *rejection) {
		d.log.Info("REFER refused", "status", r.code, "why", r.why)
		s.respond(tx, r.response(req))
	}
	if d.events == nil {
		refuse(rejectCallerRefer())
		return
	}
	if d.isEnded() { // hung up, not yet forgotten: nothing left to transfer
		s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists,
			"Call/Transaction Does Not Exist", nil))
		return
	}
	to, r := referTarget(req)
	if r != nil {
		refuse(r)
		return
	}
	d.mu.Lock()
	d.refers++
	event := "refer" // the id may be left out for the first REFER (RFC 3515 §2.4.6)
	if d.refers > 1 {
		event += ";id=" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
	}
	d.mu.Unlock()
	s.respond(tx, sipmsg.NewResponseFromRequest(req, sipmsg.StatusAccepted, "Accepted", nil))
	t := &transfer{d: d, event: event}
	t.progress(sipmsg.StatusTrying, "Trying")
	d.log.Info("transfer asked by the staff phone", "to", s.shownTo(to))
	if !d.emit(ivr.StaffEvent{Kind: ivr.StaffTransfer, To: to, Progress: t.progress}) {
		t.progress(sipmsg.StatusServiceUnavailable, "Service Unavailable")
	}
}

// referTarget reads the one Refer-To of a REFER: the user part of its URI,
// else the host; the number of a tel URI.
func referTarget(req *sipmsg.Request) (string, *rejection) {
	vs := sipx.Values(req, "Refer-To")
	switch len(vs) {
	case 0:
		return "", rejectBadRequest("missing Refer-To header")
	case 1:
	default:
		return "", rejectBadRequest("more than one Refer-To header")
	}
	var u sipmsg.Uri
	params := sipmsg.NewParams()
	if _, err := sipmsg.ParseAddressValue(vs[0], &u, &params); err != nil {
		return "", rejectBadRequest("bad Refer-To: " + err.Error())
	}
	for _, k := range u.Headers.Keys() {
		if strings.EqualFold(k, "replaces") {
			return "", rejectAttendedTransfer()
		}
	}
	var to string
	switch u.Scheme {
	case "sip", "sips":
		to = u.User
		if to == "" {
			to = u.Host
		}
	case "tel":
		to, _, _ = strings.Cut(u.Raw(), ";")
	default:
		return "", rejectBadRequest(fmt.Sprintf("Refer-To scheme %q: want sip, sips or tel", sipx.Printable(u.Scheme, 16)))
	}
	if to == "" {
		return "", rejectBadRequest("Refer-To names no user nor host")
	}
	return to, nil
}

// transfer is one accepted REFER, whose progress goes to the phone.
type transfer struct {
	d     *dialogLeg
	event string // the Event header of its NOTIFYs
	final bool   // a final status was sent: the subscription is over (under d.notices.mu)
}

// progress is the Progress of a StaffTransfer event: it queues a NOTIFY
// with "SIP/2.0 <code> <reason>" and returns at once. After a final status
// (code >= 200), or once the leg has ended, it does nothing.
func (t *transfer) progress(code int, reason string) {
	if code < 100 || code > 699 {
		t.d.log.Warn("transfer progress ignored: not a SIP status", "status", code)
		return
	}
	reason = sipx.Printable(strings.TrimSpace(reason), 64) // no CR or LF into the sipfrag
	if reason == "" {
		reason = "Status"
	}
	t.d.queueNotice(t, notice{event: t.event, code: code, reason: reason})
}

// notice is one NOTIFY waiting to go out.
type notice struct {
	event  string
	code   int
	reason string
}

// notifier sends the NOTIFYs of a leg one at a time, in the order they
// were queued, from a goroutine that runs while some wait.
type notifier struct {
	mu      sync.Mutex
	pending []notice
	sending bool
	closed  bool           // the leg has ended: nothing more is queued
	wg      sync.WaitGroup // the sending goroutine
}

func (d *dialogLeg) queueNotice(t *transfer, n notice) {
	q := &d.notices
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed || t.final || d.isEnded():
		return
	case n.code >= 200:
		t.final = true
	case len(q.pending) >= maxNotices:
		d.log.Warn("transfer progress dropped: too many NOTIFYs waiting", "status", n.code)
		return
	}
	q.pending = append(q.pending, n)
	if !q.sending {
		q.sending = true
		q.wg.Add(1)
		go d.sendNotices()
	}
}

// sendNotices sends what is queued, then returns.
func (d *dialogLeg) sendNotices() {
	q := &d.notices
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.sending = false
			q.mu.Unlock()
			return
		}
		n := q.pending[0]
		q.pending = q.pending[1:]
		q.mu.Unlock()
		if d.isEnded() && !d.reason.sendBye {
			continue // the phone hung up: the dialog is gone
		}
		d.sendNotify(n)
	}
}

// flushNotifies stops the queue and waits for what it still had to be
// sent; the supervisor calls it once the leg has ended, before the BYE.
func (d *dialogLeg) flushNotifies() {
	d.notices.mu.Lock()
	d.notices.closed = true
	d.notices.mu.Unlock()
	d.notices.wg.Wait()
}

// sendNotify sends one NOTIFY and waits a while for its answer; a failure
// is logged, never fatal.
func (d *dialogLeg) sendNotify(n notice) {
	state := "active;expires=" + strconv.Itoa(referExpires)
	if n.code >= 200 {
		state = "terminated;reason=noresource"
	}
	req := d.dlg.request(sipmsg.NOTIFY, 0)
	req.AppendHeader(sipmsg.NewHeader("Event", n.event))
	req.AppendHeader(sipmsg.NewHeader("Subscription-State", state))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", contentSipfrag))
	req.SetBody(fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", n.code, n.reason))
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	res, err := d.dlg.do(ctx, req)
	switch {
	case err != nil:
		d.log.Warn("transfer NOTIFY failed", "status", n.code, "error", err)
	case !res.IsSuccess():
		d.log.Warn("transfer NOTIFY refused", "status", n.code, "answer", res.StatusCode)
	}
}
