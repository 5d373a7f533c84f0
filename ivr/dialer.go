package ivr

import (
	"context"
	"errors"
	"time"

	"github.com/clubline/clubline/media"
)

// Putting a caller through to a person: the script rings staff phones
// through a Dialer and gets back a StaffLeg, which it bridges to the
// caller's Leg. The sip package implements both over SIP; tests fake them.

// Target is one place a person can be rung: a registered phone (a SIP URI
// and where the phone really is) or an outside number, rung through the
// trunk.
type Target struct {
	// Staff is the staff member rung; "" for the urgency fallback.
	Staff string
	// URI is the SIP URI rung ("sip:201@192.0.2.7:5062"); "" for a number.
	URI string
	// Destination is where the INVITE goes, as a registration's Received
	// ("udp:203.0.113.5:5062"); empty: the host and port of URI.
	Destination string
	// Route is the route to the phone through the proxies it registered
	// through (its Path, RFC 3327), a Route header's value ("<sip:a;lr>,
	// <sip:b;lr>"); Destination is then the first of them. Empty for a
	// phone registered directly. (A string, so a Target stays comparable.)
	Route string
	// Number is an outside number ("+15145550102"), rung through the trunk;
	// "" for a SIP URI.
	Number string
	// Confirm asks the person who answers to press 1 before the caller is
	// put through (call_confirm), so that a mobile's own voicemail never
	// takes the call. Set for outside numbers.
	Confirm bool
}

func (t Target) String() string {
	who := t.Staff
	if who == "" {
		who = "fallback"
	}
	if t.Number != "" {
		return who + " (outside number)"
	}
	return who + " " + t.URI
}

// Phones says where staff members can be rung now: the phones they have
// registered and that still answer. The registrar (package sip/registrar)
// is one; the script adds outside numbers itself.
type Phones interface {
	// Where returns the registered phones of the staff members named, by
	// staff id; those with none are left out. An error means nobody can
	// say (the script then treats the group as unreachable for now).
	Where(ctx context.Context, staff []string) (map[string][]Target, error)
}

// noPhones is the Phones of a line without a registrar: nobody registered.
type noPhones struct{}

func (noPhones) Where(context.Context, []string) (map[string][]Target, error) { return nil, nil }

// DialRequest is one ring of one Target.
type DialRequest struct {
	Target Target
	// CallerID is the caller's number, shown by the staff phone.
	CallerID string
	// Display is the name shown with it: the category, as a person reads it.
	Display string
	// Headers carry the call's context to the phone: X-Clubline-Category,
	// X-Clubline-Call-Id, X-Clubline-Waited.
	Headers map[string]string
	// RingTimeout gives up on a phone that has not answered by then.
	RingTimeout time.Duration
}

// Dialer rings a phone and returns the answered leg. An error means nobody
// answered: refused (busy, declined), not answered within the ring
// timeout, unreachable, or ctx ended (then Dial has cancelled the ring).
type Dialer interface {
	Dial(ctx context.Context, r DialRequest) (StaffLeg, error)
}

// ErrNoTrunk is the error of a Dial to an outside number while clubline
// has no trunk to ring it through.
var ErrNoTrunk = errors.New("no trunk to ring an outside number")

// StaffLeg is an answered staff phone: a Leg like the caller's, plus what
// the phone asks for during the call.
type StaffLeg interface {
	Leg
	// Events delivers the staff phone's requests: hold, resume, transfer.
	Events() <-chan StaffEvent
}

// StaffEventKind is what a staff phone asked for.
type StaffEventKind int

const (
	// StaffHold: the phone put the call on hold (re-INVITE sendonly or
	// inactive); the caller hears hold music until StaffResume.
	StaffHold StaffEventKind = iota + 1
	// StaffResume: the phone took the call off hold.
	StaffResume
	// StaffTransfer: the phone asked for a blind transfer (REFER).
	StaffTransfer
)

// StaffEvent is one request of a staff phone.
type StaffEvent struct {
	Kind StaffEventKind
	// To is the transfer target as the phone wrote it (StaffTransfer):
	// the user part of the Refer-To URI ("203", "supervisor").
	To string
	// Progress tells the phone how the transfer goes (StaffTransfer): SIP
	// status codes as in a NOTIFY sipfrag (100 Trying, 200 OK, 486, 503…).
	// A final code (>= 200) ends the report; later calls do nothing.
	Progress func(code int, reason string)
}

// Bridgeable is a Leg whose audio can be relayed: it has an RTP session.
// The sip package's legs are; the default bridge needs both legs to be.
type Bridgeable interface {
	Session() *media.Session
}

// BridgeFunc relays audio and digits between the caller and a staff leg
// until ctx ends or one of them ends; it returns why (never nil).
type BridgeFunc func(ctx context.Context, caller, staff Leg) error

// WithDialer sets the Dialer that rings staff phones. Without one, staff
// groups and the on-call line go to voicemail.
func WithDialer(d Dialer) Option { return func(s *Script) { s.dialer = d } }

// WithPhones sets where staff phones are found (the registrar). Without
// it nobody is registered: groups go to voicemail unless a trunk rings
// outside numbers.
func WithPhones(p Phones) Option { return func(s *Script) { s.phones = p } }

// WithBridge replaces the bridge (media.Bridge on the legs' sessions);
// tests with fake legs use it.
func WithBridge(b BridgeFunc) Option { return func(s *Script) { s.bridge = b } }

// mediaBridge is the default BridgeFunc: media.Bridge over the sessions of
// two Bridgeable legs.
func mediaBridge(ctx context.Context, caller, staff Leg) error {
	a, ok1 := caller.(Bridgeable)
	b, ok2 := staff.(Bridgeable)
	if !ok1 || !ok2 || a.Session() == nil || b.Session() == nil {
		return errors.New("ivr: legs without RTP sessions cannot be bridged")
	}
	return media.Bridge(ctx, a.Session(), b.Session(), media.BridgeOptions{})
}
