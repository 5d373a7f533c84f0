package softphone

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The message-waiting light of a test staff phone (RFC 3842 over RFC 6665):
// an Answerer subscribes to its mailbox's message-summary from its own
// socket, with digest authentication as its REGISTER, answers the
// NOTIFYs with 200 (481 for a subscription it does not know), and keeps
// what they said for the test: Summaries, WaitSummary, LastSummary.
// Unsolicited NOTIFYs (out of any dialog) are taken too.

// EventMessageSummary is the event package of the light.
const EventMessageSummary = "message-summary"

// MessageSummary is what one message-summary NOTIFY said.
type MessageSummary struct {
	// Waiting is Messages-Waiting: yes; Account the Message-Account.
	Waiting bool
	Account string
	// New, Old, NewUrgent and OldUrgent are the Voice-Message counts,
	// "new/old (urgent new/urgent old)".
	New, Old, NewUrgent, OldUrgent int
	// Body is false for a NOTIFY without body (the counts unknown).
	Body bool
	// State is the Subscription-State ("active;expires=600",
	// "terminated;reason=timeout").
	State string
	// Unsolicited is true for a NOTIFY out of any dialog.
	Unsolicited bool
	CallID      string
}

// Terminated reports whether the NOTIFY ended its subscription.
func (m MessageSummary) Terminated() bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(m.State)), "terminated")
}

// SubscribeOptions describe a SUBSCRIBE to a mailbox.
type SubscribeOptions struct {
	// User and Password answer the digest challenge (User: the extension,
	// the From user too).
	User, Password string
	// Mailbox is the Request-URI and To user (default User).
	Mailbox string
	// Event is the event package (default message-summary).
	Event string
	// Expires goes in the Expires header; NoExpires leaves it out (the
	// server's default then applies).
	Expires   time.Duration
	NoExpires bool
	// Contact is the Contact header value as written; default the
	// answerer's own address.
	Contact string
	// Algorithm, when set, answers only a challenge of that algorithm.
	Algorithm string
}

// Subscription is an Answerer's subscription to a mailbox.
type Subscription struct {
	a        *Answerer
	o        SubscribeOptions
	ruri     sipmsg.Uri // of the first SUBSCRIBE
	callID   string
	localTag string

	mu        sync.Mutex
	remoteTag string
	target    sipmsg.Uri // the server's Contact: Request-URI of a refresh
	cseq      uint32
	expires   time.Duration
	res       *sipmsg.Response
}

// Subscribe sends a SUBSCRIBE for a mailbox to server
// ("sip:127.0.0.1:5060") from the answerer's socket and answers the
// digest challenge, once more if the nonce was stale. A final non-2xx
// answer is a *StatusError (Method SUBSCRIBE). The NOTIFYs that follow
// arrive on Summaries.
func (a *Answerer) Subscribe(ctx context.Context, server string, o SubscribeOptions) (*Subscription, error) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(server, &target); err != nil {
		return nil, fmt.Errorf("phone: bad server URI %q: %w", server, err)
	}
	if o.Mailbox == "" {
		o.Mailbox = o.User
	}
	if o.Event == "" {
		o.Event = EventMessageSummary
	}
	target.User = o.Mailbox
	s := &Subscription{a: a, o: o, ruri: target, callID: randomHex(16), localTag: randomHex(8),
		target: target}
	a.mu.Lock()
	a.subs[s.callID] = s // first: the NOTIFY may come before the 200
	a.mu.Unlock()
	expires := o.Expires
	if o.NoExpires {
		expires = -1
	}
	if err := s.send(ctx, expires); err != nil {
		s.Forget()
		return nil, err
	}
	return s, nil
}

// Expires is the interval the server granted in its last 200.
func (s *Subscription) Expires() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expires
}

// Response is the server's last 200.
func (s *Subscription) Response() *sipmsg.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res
}

// Refresh sends a SUBSCRIBE in the subscription's dialog asking for
// expires more.
func (s *Subscription) Refresh(ctx context.Context, expires time.Duration) error {
	return s.send(ctx, expires)
}

// Unsubscribe sends a SUBSCRIBE in the dialog with Expires: 0; the last
// NOTIFY (terminated) follows on Summaries.
func (s *Subscription) Unsubscribe(ctx context.Context) error { return s.send(ctx, 0) }

// Forget makes the phone forget the subscription without telling the
// server: its next NOTIFY gets 481.
func (s *Subscription) Forget() {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.a.subs[s.callID] == s {
		delete(s.a.subs, s.callID)
	}
}

// send sends one SUBSCRIBE (the first, or one in the dialog) asking for
// expires (negative: no Expires header), answers a challenge, and takes
// the dialog from the 200.
func (s *Subscription) send(ctx context.Context, expires time.Duration) error {
	req := s.request(expires)
	res, err := s.a.client.Do(ctx, req)
	for tries := 0; err == nil && res.StatusCode == sipmsg.StatusUnauthorized && tries < 2; tries++ {
		if tries == 1 && !staleChallenge(res) {
			break
		}
		authz, aerr := answerChallenge(res, credentials{s.o.User, s.o.Password, s.o.Algorithm}, "SUBSCRIBE", req.Recipient.String())
		if aerr != nil {
			return aerr
		}
		req.RemoveHeader("Authorization")
		req.AppendHeader(sipmsg.NewHeader("Authorization", authz))
		s.mu.Lock()
		s.cseq++
		req.CSeq().SeqNo = s.cseq
		s.mu.Unlock()
		req.RemoveHeader("Via")
		res, err = s.a.client.Do(ctx, req, sipgo.ClientRequestAddVia)
	}
	if err != nil {
		return fmt.Errorf("phone: SUBSCRIBE: %w", err)
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason, Method: "SUBSCRIBE", Response: res}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res = res
	if s.remoteTag == "" {
		s.remoteTag, _ = res.To().Params.Get("tag")
		if c := res.Contact(); c != nil {
			s.target = *c.Address.Clone()
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		n, _ := strconv.Atoi(strings.TrimSpace(h.Value()))
		s.expires = time.Duration(n) * time.Second
	}
	return nil
}

// request builds the next SUBSCRIBE: in the dialog once the server
// answered one.
func (s *Subscription) request(expires time.Duration) *sipmsg.Request {
	s.mu.Lock()
	s.cseq++
	seq, remoteTag, target := s.cseq, s.remoteTag, s.target
	s.mu.Unlock()
	req := sipmsg.NewRequest(sipmsg.SUBSCRIBE, *target.Clone())
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: s.o.Mailbox, Host: s.ruri.Host}, Params: sipmsg.NewParams()}
	if remoteTag != "" {
		to.Params.Add("tag", remoteTag)
	}
	req.AppendHeader(to)
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: s.o.User, Host: s.ruri.Host}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", s.localTag)
	req.AppendHeader(from)
	cid := sipmsg.CallIDHeader(s.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: sipmsg.SUBSCRIBE})
	if s.o.Contact != "" {
		req.AppendHeader(sipmsg.NewHeader("Contact", s.o.Contact))
	} else {
		self := s.a.contact
		self.User = s.o.User
		req.AppendHeader(&sipmsg.ContactHeader{Address: self})
	}
	req.AppendHeader(sipmsg.NewHeader("Event", s.o.Event))
	req.AppendHeader(sipmsg.NewHeader("Accept", "application/simple-message-summary"))
	if expires >= 0 {
		req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	}
	req.AppendHeader(sipmsg.NewHeader("User-Agent", "clubline-phone"))
	return req
}

// Summaries delivers what each message-summary NOTIFY the phone accepted
// said, in order. It holds 32 that nobody read; beyond, new ones are
// dropped (LastSummary still has the latest).
func (a *Answerer) Summaries() <-chan MessageSummary { return a.summaries }

// WaitSummary reads Summaries until one satisfies ok and returns it; an
// error when ctx ends first.
func (a *Answerer) WaitSummary(ctx context.Context, ok func(MessageSummary) bool) (MessageSummary, error) {
	for {
		select {
		case m := <-a.summaries:
			if ok == nil || ok(m) {
				return m, nil
			}
		case <-ctx.Done():
			last, _ := a.LastSummary()
			return MessageSummary{}, fmt.Errorf("phone: no such message summary (last: %+v): %w", last, ctx.Err())
		}
	}
}

// LastSummary is what the last message-summary NOTIFY accepted said;
// false before any.
func (a *Answerer) LastSummary() (MessageSummary, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastSummary, a.summarised
}

// Notifies counts the message-summary NOTIFYs received, those answered
// 481 included.
func (a *Answerer) Notifies() int { return int(a.notifies.Load()) }

// isSummary reports whether a NOTIFY is of the message-summary event.
func isSummary(req *sipmsg.Request) bool {
	for _, name := range []string{"Event", "o"} {
		if h := req.GetHeader(name); h != nil {
			ev, _, _ := strings.Cut(h.Value(), ";")
			return strings.EqualFold(strings.TrimSpace(ev), EventMessageSummary)
		}
	}
	return false
}

// onSummary answers a message-summary NOTIFY: 481 in a dialog the phone
// does not know (or forgot), 200 otherwise, and keeps what it said.
func (a *Answerer) onSummary(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	a.notifies.Add(1)
	toTag, _ := req.To().Params.Get("tag")
	callID := ""
	if id := req.CallID(); id != nil {
		callID = id.Value()
	}
	var sub *Subscription
	if toTag != "" {
		a.mu.Lock()
		sub = a.subs[callID]
		a.mu.Unlock()
		if sub == nil || sub.localTag != toTag {
			respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
	}
	m := parseSummary(req.Body())
	m.Unsolicited, m.CallID = toTag == "", callID
	if h := req.GetHeader("Subscription-State"); h != nil {
		m.State = h.Value()
	}
	respond(tx, req, sipmsg.StatusOK, "OK")
	a.mu.Lock()
	if sub != nil && m.Terminated() && a.subs[callID] == sub {
		delete(a.subs, callID)
	}
	a.lastSummary, a.summarised = m, true
	a.mu.Unlock()
	select {
	case a.summaries <- m:
	default:
		a.log.Warn("message summary not read: Summaries() is full")
	}
}

// parseSummary reads an application/simple-message-summary body (RFC 3842
// §5.2) as loosely as a phone does.
func parseSummary(body []byte) MessageSummary {
	var m MessageSummary
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "messages-waiting":
			m.Body = true
			m.Waiting = strings.EqualFold(value, "yes")
		case "message-account":
			m.Account = value
		case "voice-message":
			// "new/old (urgent new/urgent old)", the part in brackets optional.
			counts, urgent, _ := strings.Cut(value, "(")
			m.New, m.Old = pair(counts)
			m.NewUrgent, m.OldUrgent = pair(strings.TrimSuffix(strings.TrimSpace(urgent), ")"))
		}
	}
	return m
}

func pair(s string) (int, int) {
	a, b, _ := strings.Cut(strings.TrimSpace(s), "/")
	x, _ := strconv.Atoi(strings.TrimSpace(a))
	y, _ := strconv.Atoi(strings.TrimSpace(b))
	return x, y
}
