package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	"github.com/clubline/clubline/sip/mwi"
	"github.com/clubline/clubline/sip/registrar"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Message-waiting indication, as the server serves it: the light on a
// staff phone is on while that staff member's groups have open messages.
// Package mwi holds the subscriptions and their rules and builds the
// requests (its Decisions say what is refused and why); this file
// answers SUBSCRIBE, has the registrar authenticate it, and sends the
// NOTIFYs.
//
// Decisions:
//
//   - MWI is on when Options.Mailbox is set (with a Registrar: the phones
//     authenticate with it). Otherwise SUBSCRIBE gets 405, as before.
//   - A new SUBSCRIBE passes the toll-fraud gate first (trunks.go): with a
//     trunk or sip.allow_from configured, it is taken only from the
//     address of a registered staff phone, else 403 without a challenge,
//     as an INVITE from a stranger. Then the registrar's digest, whether
//     gated or not.
//   - Nothing here waits on a call, and no call waits on this.
//     MailboxChanged returns at once: each staff member's NOTIFYs go out
//     from a goroutine of theirs, one round at a time (mwi.Rounds), so the
//     light never shows an older state after a newer one; what changes
//     during a round is sent, once, in the next. A round asks Mailbox
//     once (within mailboxTimeout) and sends its NOTIFYs side by side,
//     each waiting at most notifyTimeout for its answer.
//   - When Mailbox fails, a round that only passes on a change sends
//     nothing (the lights keep their state, and a line is logged); the
//     NOTIFYs RFC 6665 requires (after a SUBSCRIBE, the last one) go
//     without a body.
//   - Unsolicited NOTIFYs (Options.UnsolicitedMWI: phones that expect
//     them and never subscribe) go out of dialog on each change to every
//     registered contact of the staff member, to where its REGISTER came
//     from (as the keep-alive OPTIONS), except a contact whose address
//     holds a live subscription: that phone hears it in its dialog. A
//     failure is logged at debug and changes nothing.
//   - Subscriptions live in memory and Close sends them nothing: a phone
//     learns of a restart at its next refresh (481) and subscribes again
//     (mwi.DefaultMaxExpires bounds the wait).

// mailboxTimeout bounds a round's question to Options.Mailbox.
const mailboxTimeout = 5 * time.Second

// mwiSide is the server as message-waiting indication sees it: the
// subscriptions and the rounds of NOTIFYs. Its methods are the server's,
// apart so that Server keeps only what every call needs.
type mwiSide struct {
	*Server
	book   *mwi.Book
	rounds mwi.Rounds // each staff member's NOTIFYs, one round at a time
	log    *slog.Logger
}

func newMWISide(s *Server) *mwiSide {
	m := &mwiSide{Server: s, book: mwi.NewBook(), log: s.log.With("component", "mwi")}
	m.rounds.Go = func(f func()) bool {
		if !m.enter() { // closing: nothing more goes out
			return false
		}
		go func() {
			defer m.wg.Done()
			f()
		}()
		return true
	}
	m.rounds.Send = func(staff string, r *mwi.Round) {
		if m.stop.Err() == nil {
			m.round(m.stop, staff, r)
		}
	}
	return m
}

// on reports whether message-waiting indication is served.
func (m *mwiSide) on() bool { return m.o.Mailbox != nil && m.o.Registrar != nil }

// MailboxChanged tells the phones of the staff members named that their
// messages changed (one arrived, one was marked done): a NOTIFY with the
// counts from Options.Mailbox to every live subscription of theirs, and,
// for those Options.UnsolicitedMWI names, to their registered contacts.
// It returns at once; ids that are no staff member's are ignored.
func (s *Server) MailboxChanged(staffIDs ...string) {
	if !s.mwi.on() {
		return
	}
	for _, id := range staffIDs {
		if _, ok := s.o.Registrar.Extension(id); ok {
			s.mwi.rounds.Add(id, func(r *mwi.Round) { r.Changed = true })
		}
	}
}

// onSubscribe answers SUBSCRIBE: a new subscription to a staff member's
// own mailbox, its refresh, or its end.
func (m *mwiSide) onSubscribe(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !m.on() {
		m.onOther(req, tx)
		return
	}
	if h := sipx.MissingHeader(req); h != "" {
		m.respond(tx, rejectBadRequest("missing "+h+" header").response(req))
		return
	}
	r, err := mwi.Check(req, m.o.MWIExpires)
	if err != nil {
		m.respond(tx, rejectSubscribe(err).response(req))
		return
	}
	if sipx.ToTag(req) != "" {
		m.refresh(req, tx, r)
		return
	}
	if rej := m.trunks.admitSubscriber(req); rej != nil {
		m.log.Debug("SUBSCRIBE refused", "status", rej.code, "why", rej.why,
			"source", sipx.MaskAddr(sipx.SourceIP(req.Source())))
		m.respond(tx, rej.response(req))
		return
	}
	staff, res := m.o.Registrar.Subscriber(req)
	if res != nil {
		m.respond(tx, res)
		return
	}
	ext, _ := m.o.Registrar.Extension(staff)
	sub, err := mwi.New(req, r, staff, ext, time.Now())
	if err != nil {
		m.respond(tx, rejectSubscribe(err).response(req))
		return
	}
	local, _, err := m.from(sub.Transport, sub.Dest)
	if err != nil {
		m.respond(tx, rejectInternal(err).response(req))
		return
	}
	if r.Expires == 0 { // a fetch: the state once, and no subscription
		m.respond(tx, sub.OK(req, local.Contact, 0))
		m.rounds.Add(staff, func(w *mwi.Round) { w.Final = append(w.Final, mwi.Ended{Subscription: sub, Seq: 1}) })
		return
	}
	if old := m.book.Add(sub); old != nil {
		m.log.Info("oldest message-waiting subscription dropped: too many", "staff", staff, "max", mwi.MaxPerStaff)
	}
	m.respond(tx, sub.OK(req, local.Contact, r.Expires))
	m.log.Info("subscribed to message-waiting", "staff", staff, "transport", strings.ToLower(sub.Transport),
		"source", sipx.MaskAddr(sub.Dest.Addr().String()), "expires", r.Expires)
	m.rounds.Add(staff, func(w *mwi.Round) { w.Subs[sub.Key] = true })
}

// refresh answers a SUBSCRIBE in a subscription's dialog: a new interval,
// or its end (Expires: 0). One from another address than the
// subscription's must authenticate as its staff member again.
func (m *mwiSide) refresh(req *sipmsg.Request, tx sipmsg.ServerTransaction, r mwi.Request) {
	key := mwi.KeyOf(req)
	sub, ok := m.book.Get(key, time.Now())
	if !ok {
		m.respond(tx, rejectSubscribe(mwi.ErrNoDialog).response(req))
		return
	}
	if !sub.From(req) {
		staff, res := m.o.Registrar.Subscriber(req)
		if res != nil {
			m.respond(tx, res)
			return
		}
		if staff != sub.Staff {
			m.respond(tx, rejectForbidden("a refresh of another staff member's subscription").response(req))
			return
		}
	}
	sub, err := m.book.Refresh(key, req, r, time.Now())
	if err != nil {
		m.respond(tx, rejectSubscribe(err).response(req))
		return
	}
	local, _, err := m.from(sub.Transport, sub.Dest)
	if err != nil {
		m.respond(tx, rejectInternal(err).response(req))
		return
	}
	if r.Expires == 0 {
		ended, seq, ok := m.book.End(key)
		m.respond(tx, sub.OK(req, local.Contact, 0))
		if ok {
			m.log.Info("unsubscribed from message-waiting", "staff", sub.Staff)
			m.rounds.Add(sub.Staff, func(w *mwi.Round) { w.Final = append(w.Final, mwi.Ended{Subscription: ended, Seq: seq}) })
		}
		return
	}
	m.respond(tx, sub.OK(req, local.Contact, r.Expires))
	m.rounds.Add(sub.Staff, func(w *mwi.Round) { w.Subs[sub.Key] = true })
}

// round asks for the staff member's counts once and sends what w owes,
// side by side; it returns when every NOTIFY has its answer or gave up.
func (m *mwiSide) round(ctx context.Context, staff string, w *mwi.Round) {
	sum, err := m.summary(ctx, staff)
	known := err == nil
	if !known && w.Changed {
		m.log.Warn("message counts unknown: the lights keep their state", "staff", staff, "error", err)
	}
	body := func(account string) []byte {
		if !known {
			return nil
		}
		return sum.Body(account)
	}
	var wg sync.WaitGroup
	send := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	now := time.Now()
	live := m.book.Of(staff, now)
	for _, sub := range live {
		if !(w.Changed && known) && !w.Subs[sub.Key] {
			continue
		}
		seq, ok := m.book.Seq(sub.Key)
		if !ok {
			continue
		}
		send(func() { m.notify(ctx, sub, seq, mwi.Active(sub.Expires.Sub(now)), body(sub.Account), true) })
	}
	for _, e := range w.Final {
		send(func() { m.notify(ctx, e.Subscription, e.Seq, mwi.Terminated, body(e.Account), false) })
	}
	if w.Changed && known && m.o.UnsolicitedMWI(staff) {
		m.unsolicited(ctx, staff, sum, live, send)
	}
	wg.Wait()
}

// summary asks Options.Mailbox for a staff member's counts.
func (m *mwiSide) summary(ctx context.Context, staff string) (mwi.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, mailboxTimeout)
	defer cancel()
	n, urgent, err := m.o.Mailbox(ctx, staff)
	if err != nil {
		return mwi.Summary{}, err
	}
	return mwi.Summary{New: n, NewUrgent: urgent}, nil
}

// notify sends one NOTIFY in a subscription's dialog. When live, a 481 or
// no answer ends the subscription (RFC 6665 §4.2.2).
func (m *mwiSide) notify(ctx context.Context, sub *mwi.Subscription, seq uint32, state string, body []byte, live bool) {
	local, l, err := m.from(sub.Transport, sub.Dest)
	if err != nil {
		m.log.Warn("message-waiting NOTIFY not sent", "staff", sub.Staff, "error", err)
		return
	}
	req := sub.Notify(local, seq, state, body)
	res, err := m.send(ctx, req, l)
	switch {
	case ctx.Err() != nil:
		return // shutting down
	case err != nil || res.StatusCode == sipmsg.StatusCallTransactionDoesNotExists:
		why := "no answer"
		if err == nil {
			why = "481"
		}
		if live && m.book.Drop(sub.Key) {
			m.log.Info("message-waiting subscription ended: its NOTIFY failed", "staff", sub.Staff, "why", why, "error", err)
		}
	case !res.IsSuccess():
		m.log.Info("message-waiting NOTIFY refused", "staff", sub.Staff, "status", res.StatusCode)
	}
}

// unsolicited queues, through send, an out-of-dialog NOTIFY to each
// registered contact of the staff member that no live subscription of
// theirs (subs) comes from.
func (m *mwiSide) unsolicited(ctx context.Context, staff string, sum mwi.Summary, subs []*mwi.Subscription, send func(func())) {
	ext, _ := m.o.Registrar.Extension(staff)
	for _, reg := range m.o.Registrar.Bindings(staff) {
		if slices.ContainsFunc(subs, func(s *mwi.Subscription) bool { return strings.EqualFold(s.Received(), reg.Received) }) {
			continue
		}
		send(func() {
			hop := registrar.NextHop(reg) // Received, or the first proxy of its Path
			transport, addr, _ := strings.Cut(hop, ":")
			dest, err := netip.ParseAddrPort(addr)
			if err != nil {
				return
			}
			local, l, err := m.from(transport, unmapAP(dest))
			if err != nil {
				m.log.Debug("unsolicited message-waiting NOTIFY not sent", "staff", staff, "error", err)
				return
			}
			account := (&sipmsg.Uri{Scheme: "sip", User: ext, Host: local.Host}).String()
			req, err := mwi.Unsolicited(local, reg.Contact, hop, account, sum.Body(account))
			if err != nil {
				m.log.Debug("unsolicited message-waiting NOTIFY not sent", "staff", staff, "error", err)
				return
			}
			for _, p := range reg.Path {
				req.AppendHeader(sipmsg.NewHeader("Route", p))
			}
			if res, err := m.send(ctx, req, l); err != nil || !res.IsSuccess() {
				m.log.Debug("unsolicited message-waiting NOTIFY unanswered or refused", "staff", staff, "error", err)
			}
		})
	}
}

// send sends a request to an authenticated phone from listener l and
// waits at most notifyTimeout for its final answer.
func (m *mwiSide) send(ctx context.Context, req *sipmsg.Request, l *listener) (*sipmsg.Response, error) {
	if l.udpAddr != nil {
		req.Laddr = sipmsg.Addr{IP: l.udpAddr.IP, Port: l.udpAddr.Port}
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	tx, err := m.client.TransactionRequest(edge.AllowDial(ctx), req, asIs) // to where an authenticated request came from (reach.go)
	if err != nil {
		return nil, fmt.Errorf("send NOTIFY: %w", err)
	}
	return finalResponse(ctx, req, tx)
}

// from is where requests over transport to dest say they come from, and
// the listener they leave by.
func (m *mwiSide) from(transport string, dest netip.AddrPort) (mwi.Local, *listener, error) {
	l := m.listenerFor(transport)
	if l == nil {
		return mwi.Local{}, nil, fmt.Errorf("no listener for transport %q", transport)
	}
	host := uriHost(l.sentBy(m.public(), dest))
	contact := sipmsg.Uri{Scheme: "sip", User: userAgent, Host: host, Port: int(l.addr.Port())}
	if l.network != "udp" {
		contact.UriParams = sipmsg.NewParams()
		contact.UriParams.Add("transport", l.network)
	}
	return mwi.Local{Host: host, Port: int(l.addr.Port()), Contact: contact}, l, nil
}

// run ends the subscriptions that expire, each with its last NOTIFY,
// until the server stops; Close waits for it.
func (m *mwiSide) run() {
	if !m.on() || !m.enter() {
		return
	}
	go func() {
		defer m.wg.Done()
		m.book.Expiring(m.stop, func(e mwi.Ended) {
			m.log.Info("message-waiting subscription expired", "staff", e.Staff)
			m.rounds.Add(e.Staff, func(r *mwi.Round) { r.Final = append(r.Final, e) })
		})
	}()
}
