// Package mwi is message-waiting indication for staff phones: the light
// on a phone that says its owner's groups have open messages (RFC 3842,
// the message-summary event package of RFC 6665 SUBSCRIBE/NOTIFY).
//
// It holds the subscriptions (Book: dialog identifiers, sequence numbers,
// expiry, where their NOTIFYs go) and the rules a SUBSCRIBE must pass
// (Check: event, Accept, Expires bounds), and it builds the answers and
// the NOTIFY requests with their bodies (Summary). It sends nothing and
// authenticates nothing: package sip's Server answers SUBSCRIBE, has the
// registrar check the phone's credentials, and sends the NOTIFYs, as it
// does for the registrar and the trunk.
package mwi

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Decisions:
//
//   - Only the message-summary event is served. A SUBSCRIBE for another
//     (presence, dialog: a phone's busy-lamp keys) gets 489 Bad Event with
//     Allow-Events (RFC 6665 §4.2.1.1) before its credentials are looked
//     at: a phone that subscribes to five packages spends no attempt of
//     the registrar's limits on four refusals, and a stranger learns only
//     what Allow-Events tells everyone.
//   - Who may subscribe is the registrar's business (its digest, nonces,
//     replay protection and limits): the digest user is the extension,
//     and the Request-URI and To users must each be the authenticated
//     staff member's id or extension, as the To of a REGISTER (403
//     otherwise: someone else's mailbox). The counts tell how busy the
//     club is; nobody else reads them.
//   - NOTIFYs go to the transport and source address of the SUBSCRIBE
//     that was authenticated, never to the host of its Contact, which is
//     only the Request-URI they carry (as the registrar keeps Received):
//     a SUBSCRIBE naming someone else in its Contact makes clubline send
//     nothing there. A refresh from another address must authenticate
//     again before the NOTIFYs follow it there.
//   - A refresh (a SUBSCRIBE in the dialog) from the subscription's own
//     address is taken without a new challenge: its Call-ID and tags went
//     only to that address, in the 200. Its CSeq must not go down (RFC
//     3261 §12.2.2: 500 otherwise).
//   - Intervals: below MinExpires (60 s) 423 with Min-Expires, above
//     MaxExpires (600 s) cut to it, none given means DefaultExpires
//     (600 s). RFC 3842 suggests an hour; ten minutes means a phone finds
//     out within ten minutes that clubline restarted (subscriptions live
//     in memory; its refresh gets 481 and it subscribes again), and ten
//     phones refreshing every ten minutes cost nothing.
//   - Expires: 0 ends a subscription: 200, then one last NOTIFY with the
//     state and Subscription-State: terminated;reason=timeout (RFC 6665
//     §4.2.1.4); on a new SUBSCRIBE it is a one-time fetch of the state.
//     A subscription that expires gets the same last NOTIFY. One whose
//     NOTIFY is answered 481, or not at all, is dropped with nothing more
//     sent (RFC 6665 §4.2.2).
//   - At most MaxPerStaff (8) subscriptions per staff member: a ninth
//     replaces the oldest (a phone that rebooted without unsubscribing).
//     Only authenticated subscriptions are kept, so memory is bounded by
//     the staff list.
//   - The body (RFC 3842 §5.2) says Messages-Waiting, Message-Account
//     (sip:extension@the host the phone addressed) and Voice-Message
//     new/old (urgent new/urgent old). clubline has no old messages: a
//     message marked done no longer waits.

// Event is the event package served, ContentType its body's type.
const (
	Event       = "message-summary"
	ContentType = "application/simple-message-summary"
)

// Interval defaults.
const (
	DefaultMinExpires = 60 * time.Second
	DefaultMaxExpires = 600 * time.Second
	DefaultExpires    = 600 * time.Second
)

// MaxPerStaff is how many subscriptions a staff member keeps at once.
const MaxPerStaff = 8

// Expiry bounds the interval of a subscription (sip.Options.MWIExpires).
// The zero value of each field picks the default named beside it.
type Expiry struct {
	// Min (60s): a shorter interval gets 423 Interval Too Brief.
	// Max (600s): a longer one is cut to it. Default (600s): the interval
	// of a SUBSCRIBE without Expires.
	Min, Max, Default time.Duration
}

// WithDefaults fills the zero fields and keeps Default within Min and Max.
func (e Expiry) WithDefaults() Expiry {
	if e.Min <= 0 {
		e.Min = DefaultMinExpires
	}
	if e.Max <= 0 {
		e.Max = DefaultMaxExpires
	}
	if e.Max < e.Min {
		e.Max = e.Min
	}
	if e.Default <= 0 {
		e.Default = DefaultExpires
	}
	e.Default = min(max(e.Default, e.Min), e.Max)
	return e
}

// Why a SUBSCRIBE is refused before anyone is authenticated (Check). Package
// sip answers each with its status (sip/reject.go).
var (
	// ErrBadEvent: no Event, or one other than message-summary (489).
	ErrBadEvent = errors.New("mwi: event package not served")
	// ErrNotAcceptable: an Accept that leaves out the message summary (406).
	ErrNotAcceptable = errors.New("mwi: Accept leaves out " + ContentType)
	// ErrTooBrief: an interval below the minimum (423, with Min-Expires).
	ErrTooBrief = errors.New("mwi: interval too brief")
	// ErrBadExpires: an Expires that is not a number of seconds (400).
	ErrBadExpires = errors.New("mwi: Expires is not a number of seconds")
)

// Request is what Check read in a SUBSCRIBE.
type Request struct {
	// Event is the Event header to echo in the NOTIFYs: message-summary,
	// with its id parameter if the phone gave one (RFC 6665 §8.2.1).
	Event string
	// Expires is the interval granted: 0 ends the subscription.
	Expires time.Duration
}

// Check reads the Event, Accept and Expires of a SUBSCRIBE under the
// bounds e (with their defaults) and says why it is refused, if it is:
// ErrBadEvent, ErrNotAcceptable, ErrBadExpires, or an error wrapping
// ErrTooBrief.
func Check(req *sipmsg.Request, e Expiry) (Request, error) {
	e = e.WithDefaults()
	ev, ok := sipx.Header(req, "Event")
	if !ok {
		return Request{}, ErrBadEvent
	}
	typ, params, _ := strings.Cut(ev, ";")
	if !strings.EqualFold(strings.TrimSpace(typ), Event) {
		return Request{}, ErrBadEvent
	}
	out := Request{Event: Event}
	if id := eventID(params); id != "" {
		out.Event += ";id=" + id
	}
	if !accepts(req) {
		return Request{}, ErrNotAcceptable
	}
	out.Expires = e.Default
	if v, ok := sipx.Header(req, "Expires"); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Request{}, ErrBadExpires
		}
		out.Expires = time.Duration(n) * time.Second
	}
	switch {
	case out.Expires == 0:
	case out.Expires < e.Min:
		return Request{}, &TooBriefError{Min: e.Min}
	case out.Expires > e.Max:
		out.Expires = e.Max
	}
	return out, nil
}

// TooBriefError is an interval below the minimum; Min goes in the
// Min-Expires of the 423.
type TooBriefError struct{ Min time.Duration }

func (e *TooBriefError) Error() string { return ErrTooBrief.Error() + " (min " + e.Min.String() + ")" }
func (e *TooBriefError) Unwrap() error { return ErrTooBrief }

// eventID is the id parameter of an Event header's parameters, kept only
// if it is a short token.
func eventID(params string) string {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "id") {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 64 || strings.ContainsFunc(v, func(r rune) bool { return !isToken(r) }) {
			return ""
		}
		return v
	}
	return ""
}

func isToken(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)
}

// accepts reports whether the Accept headers, if any, take the message
// summary (or application/* or */*). No Accept, or an empty one, means
// the event's default type (RFC 6665 §8.2.1), as edge lets an empty
// Accept through for INVITE.
func accepts(req *sipmsg.Request) bool {
	listed := false
	for _, v := range sipx.Values(req, "Accept") {
		for _, t := range strings.Split(v, ",") {
			t, _, _ = strings.Cut(t, ";")
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "":
			case ContentType, "application/*", "*/*":
				return true
			default:
				listed = true
			}
		}
	}
	return !listed
}
