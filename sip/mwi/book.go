package mwi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Subscription is one phone's subscription to a staff member's mailbox:
// the dialog the SUBSCRIBE made (RFC 6665 §4.2.1, RFC 3261 §12.1.1, clubline
// the notifier, on the side that answered), and where its NOTIFYs go.
// The Book hands out copies.
type Subscription struct {
	// Key identifies the dialog: Call-ID, our tag, the phone's tag.
	Key   string
	Staff string // the staff member whose mailbox it is
	// Account is the mailbox's address in the body (Message-Account):
	// sip:extension@the host the SUBSCRIBE was addressed to.
	Account string
	Event   string // the Event header of the NOTIFYs (Request.Event)

	CallID    string
	LocalTag  string     // ours: the To tag of the 200
	RemoteTag string     // the phone's: the From tag of the SUBSCRIBE
	Local     sipmsg.Uri // the mailbox (To of the SUBSCRIBE): From of the NOTIFYs
	Remote    sipmsg.Uri // the phone's address of record (From of the SUBSCRIBE): To of the NOTIFYs
	Target    sipmsg.Uri // the phone's Contact: Request-URI of the NOTIFYs, never where they go
	Routes    []string   // the route set, from the SUBSCRIBE's Record-Route

	// Transport ("UDP", "TCP", "TLS") and Dest are those of the
	// authenticated SUBSCRIBE (or of the last refresh): where the NOTIFYs
	// go, whatever Target's host says.
	Transport string
	Dest      netip.AddrPort

	Created, Expires time.Time

	localSeq  uint32 // CSeq of our last NOTIFY
	remoteSeq uint32 // CSeq of the phone's last SUBSCRIBE
}

// Live reports whether the subscription is still on at now.
func (s *Subscription) Live(now time.Time) bool { return now.Before(s.Expires) }

// Received is where the NOTIFYs go in the form of a registration's
// Received ("udp:192.0.2.7:5060"): a registered contact there is the
// subscribed phone.
func (s *Subscription) Received() string { return strings.ToLower(s.Transport) + ":" + s.Dest.String() }

// From reports whether a request came from the subscription's address
// over its transport.
func (s *Subscription) From(req *sipmsg.Request) bool {
	src, err := netip.ParseAddrPort(req.Source())
	return err == nil && unmap(src) == s.Dest && strings.EqualFold(req.Transport(), s.Transport)
}

// Errors of New and Refresh.
var (
	ErrNoContact  = errors.New("mwi: SUBSCRIBE without a usable Contact")
	ErrNoSource   = errors.New("mwi: SUBSCRIBE without a source address")
	ErrOutOfOrder = errors.New("mwi: CSeq lower than the last SUBSCRIBE's")
	ErrNoDialog   = errors.New("mwi: no such subscription")
)

// New makes the subscription a SUBSCRIBE creates for the authenticated
// staff member, whose mailbox has the extension ext; it lasts expires
// from now. req must carry From, To, Call-ID and CSeq.
func New(req *sipmsg.Request, r Request, staff, ext string, now time.Time) (*Subscription, error) {
	c := req.Contact()
	if c == nil || c.Address.Wildcard || c.Address.Host == "" {
		return nil, ErrNoContact
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return nil, ErrNoSource
	}
	from, to := req.From(), req.To()
	remoteTag, _ := from.Params.Get("tag")
	s := &Subscription{
		Staff:     staff,
		Account:   (&sipmsg.Uri{Scheme: "sip", User: ext, Host: req.Recipient.Host}).String(),
		Event:     r.Event,
		CallID:    req.CallID().Value(),
		LocalTag:  sipmsg.GenerateTagN(16),
		RemoteTag: remoteTag,
		Local:     sipmsg.Uri{Scheme: to.Address.Scheme, User: to.Address.User, Host: to.Address.Host, Port: to.Address.Port},
		Remote:    *from.Address.Clone(),
		Target:    *c.Address.Clone(),
		Transport: strings.ToUpper(req.Transport()),
		Dest:      unmap(src),
		Created:   now,
		Expires:   now.Add(r.Expires),
		remoteSeq: req.CSeq().SeqNo,
	}
	if s.Local.Scheme == "" {
		s.Local.Scheme = "sip"
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		s.Routes = append(s.Routes, rr.Value())
	}
	s.Key = Key(s.CallID, s.LocalTag, s.RemoteTag)
	return s, nil
}

// Key is the key of a dialog: Call-ID and both tags.
func Key(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// KeyOf is the key of the subscription an in-dialog request names: its
// To tag is ours, its From tag the phone's.
func KeyOf(req *sipmsg.Request) string {
	var callID, local, remote string
	if id := req.CallID(); id != nil {
		callID = id.Value()
	}
	if to := req.To(); to != nil {
		local, _ = to.Params.Get("tag")
	}
	if from := req.From(); from != nil {
		remote, _ = from.Params.Get("tag")
	}
	return Key(callID, local, remote)
}

// Book holds the live subscriptions of the process. It is safe for
// concurrent use.
type Book struct {
	mu    sync.Mutex
	byKey map[string]*Subscription
	wake  chan struct{} // cap 1: a subscription was added or refreshed (Expiring)
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{byKey: make(map[string]*Subscription), wake: make(chan struct{}, 1)}
}

// idle is how long Expiring sleeps with nothing to expire.
const idle = time.Hour

// Expiring forgets each subscription as it expires and hands it to ended
// (for its last NOTIFY), until ctx ends.
func (b *Book) Expiring(ctx context.Context, ended func(Ended)) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		for _, e := range b.Expire(time.Now()) {
			ended(e)
		}
		wait := idle
		if next, ok := b.NextExpiry(); ok {
			wait = max(time.Until(next), time.Millisecond)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
	}
}

// kick wakes Expiring: a subscription may end sooner than it waits.
func (b *Book) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Add keeps a new subscription. When its staff member has MaxPerStaff
// already, the oldest is forgotten and returned.
func (b *Book) Add(s *Subscription) (dropped *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var same []*Subscription
	for _, o := range b.byKey {
		if o.Staff == s.Staff {
			same = append(same, o)
		}
	}
	if len(same) >= MaxPerStaff {
		oldest := slices.MinFunc(same, func(x, y *Subscription) int { return x.Created.Compare(y.Created) })
		delete(b.byKey, oldest.Key)
		dropped = oldest.copy()
	}
	b.byKey[s.Key] = s.copy()
	b.kick()
	return dropped
}

// Get returns a copy of the subscription with key, if it is live at now.
func (b *Book) Get(key string, now time.Time) (*Subscription, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.byKey[key]
	if !ok || !s.Live(now) {
		return nil, false
	}
	return s.copy(), true
}

// Refresh applies a SUBSCRIBE in the dialog of key (RFC 6665 §4.2.1.2):
// a new interval from now, the Contact if it carries one, and its source
// as where the NOTIFYs go (the caller has checked or authenticated it).
// It returns the updated copy; ErrOutOfOrder when its CSeq went down,
// ErrNoDialog when the subscription is gone.
func (b *Book) Refresh(key string, req *sipmsg.Request, r Request, now time.Time) (*Subscription, error) {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return nil, ErrNoSource
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.byKey[key]
	if !ok || !s.Live(now) {
		return nil, ErrNoDialog
	}
	seq := req.CSeq().SeqNo
	if seq < s.remoteSeq {
		return nil, fmt.Errorf("%w (%d < %d)", ErrOutOfOrder, seq, s.remoteSeq)
	}
	s.remoteSeq = seq
	if c := req.Contact(); c != nil && !c.Address.Wildcard && c.Address.Host != "" {
		s.Target = *c.Address.Clone()
	}
	s.Transport, s.Dest = strings.ToUpper(req.Transport()), unmap(src)
	s.Expires = now.Add(r.Expires)
	b.kick()
	return s.copy(), nil
}

// Seq takes the CSeq of the next NOTIFY of a subscription still kept; false
// when it is gone (ended, dropped).
func (b *Book) Seq(key string) (uint32, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.byKey[key]
	if !ok {
		return 0, false
	}
	s.localSeq++
	return s.localSeq, true
}

// End forgets a subscription and returns it with the CSeq of its last
// NOTIFY; false when it was gone already.
func (b *Book) End(key string) (*Subscription, uint32, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.byKey[key]
	if !ok {
		return nil, 0, false
	}
	delete(b.byKey, key)
	s.localSeq++
	return s.copy(), s.localSeq, true
}

// Drop forgets a subscription, if it is still kept (its NOTIFY got 481).
func (b *Book) Drop(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.byKey[key]
	delete(b.byKey, key)
	return ok
}

// Of returns copies of the live subscriptions of a staff member, oldest
// first.
func (b *Book) Of(staff string, now time.Time) []*Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Subscription
	for _, s := range b.byKey {
		if s.Staff == staff && s.Live(now) {
			out = append(out, s.copy())
		}
	}
	slices.SortFunc(out, func(x, y *Subscription) int { return x.Created.Compare(y.Created) })
	return out
}

// Ended is a subscription that expired, with the CSeq of its last NOTIFY.
type Ended struct {
	*Subscription
	Seq uint32
}

// Expire forgets the subscriptions that expired by now and returns them.
func (b *Book) Expire(now time.Time) []Ended {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Ended
	for k, s := range b.byKey {
		if !s.Live(now) {
			delete(b.byKey, k)
			s.localSeq++
			out = append(out, Ended{s.copy(), s.localSeq})
		}
	}
	slices.SortFunc(out, func(x, y Ended) int { return x.Expires.Compare(y.Expires) })
	return out
}

// NextExpiry is when the first subscription expires; false when there
// is none.
func (b *Book) NextExpiry() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next time.Time
	for _, s := range b.byKey {
		if next.IsZero() || s.Expires.Before(next) {
			next = s.Expires
		}
	}
	return next, !next.IsZero()
}

// Len is the number of subscriptions kept.
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byKey)
}

func (s *Subscription) copy() *Subscription {
	cp := *s
	cp.Routes = slices.Clone(s.Routes)
	cp.Local, cp.Remote, cp.Target = *s.Local.Clone(), *s.Remote.Clone(), *s.Target.Clone()
	return &cp
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
