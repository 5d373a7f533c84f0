package edge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Validation of what arrives, before any handler runs: RFC 4475's torture
// messages are the test (sip/testdata/torture, sip/torture_test.go).
//
// Decisions:
//
//   - Every request but ACK passes Validate before its handler, from
//     sip's tracked: one place, whatever the method. A refusal is answered
//     by the transaction sipgo opened and makes no call record: what fails
//     here is a broken peer or a scanner, not a caller, and its From may be
//     garbage. It is logged at debug level (method, status, why, masked
//     source), as sipgo's parse failures are: a scanner's flood must not
//     flood the log, and the peer reads the cause in the Warning. An ACK
//     has no response in SIP, so it is never checked.
//   - A refusal names the problem: 400 carries "Warning: 399 clubline
//     <why>" (sip's rejectBadRequest), so a carrier's engineer reads the
//     cause in their own trace.
//   - Version other than SIP/2.0: 505, sent as SIP/2.0 (RFC 4475 badvers).
//   - From, To, Call-ID or CSeq missing, or any of those, Max-Forwards,
//     Content-Length or Content-Type more than once: 400 (insuf, multi01,
//     mcl01); an INVITE without Contact too (RFC 3261 §8.1.1.8). A missing
//     Max-Forwards is let through: RFC 2543 phones never sent one and
//     clubline forwards nothing. Over TCP, sipgo frames a message with two
//     Content-Length by the last; if what follows is garbage it closes the
//     connection, often before the 400 is out.
//   - CSeq method other than the request's: 400 (mismatch01). sipgo
//     upper-cases the request line's method, so the two compare ignoring
//     case (RFC 4475 intmeth stays valid). A method clubline does not know
//     is left to its 501, which RFC 4475 prefers for mismatch02.
//   - Request-URI: a scheme other than sip, sips or tel gets 416 (unkscm);
//     headers in it ("?Route=…") get 400 (escruri, RFC 3261 §19.1.5).
//   - Numbers out of range: Max-Forwards above 255 (RFC 3261 §20.22),
//     Expires or a Contact's expires beyond 2**32-1 or not a number: 400.
//     RFC 3261 lets a registrar read a bad Expires as 3600, and RFC 4475
//     scalar02 lets Max-Forwards be ignored; clubline refuses instead: no
//     carrier or phone sends these, scanners do, and a refusal says so.
//   - Require (RFC 3261 §8.2.2.3): an option tag other than timer gets 420
//     with Unsupported, for every method but ACK and CANCEL, which the RFC
//     exempts, and INVITE, which sip's prepare and modify check so that a
//     refused call keeps its record (bext01). Proxy-Require is for
//     proxies: ignored.
//   - An INVITE whose Accept lists types but not application/sdp gets 406
//     with a Warning: its 200 OK would carry SDP (sdp01). An empty Accept
//     is let through, though RFC 3261 §20.1 reads it as "no body".
//   - A Date in a time zone other than GMT (baddate) is accepted: clubline
//     never reads Date. So is a branch that is only the magic cookie
//     (badbranch): sipgo's transaction keys still work.
//   - edge says what is wrong (a Problem of some Kind) and sip answers it
//     from its one table of refusals (sip/reject.go: status, reason
//     phrase, Warning): the statuses named here are that table's.
//
// What sipgo refuses itself, before any of this (RFC 4475 allows dropping
// what cannot be parsed into a transaction; over TCP sipgo then closes the
// connection, there being no message boundary left to resync on):
//
//   - Dropped, no answer: a malformed Via (badinv01), To or From (quotbal,
//     badaspec), request line (ltgtruri, lwsruri, lwsstart, trws, spaces in
//     the Request-URI), a URI scheme it cannot parse (novelsc), a CSeq
//     beyond 2**31-1 (scalar02), a Content-Length that is not a number or
//     is larger than what is left (ncl, clerr) — over UDP those two get a
//     400 from the read filter instead (datagram.go) — and responses
//     nobody asked for (scalarlg, bigcode, bcast, noreason, unreason).
//   - Answered 400 by sipgo, without Warning: a request it cannot make a
//     transaction key for, such as wsinv, whose "tag = 98asjd8" (LWS
//     around "=", valid) it reads as a parameter named "tag ".
//   - Accepted as if valid: an unquoted display name with a comma (baddn)
//     and a Contact URI with headers outside <> (regbadct): sipgo keeps no
//     trace of the original form.

// A Problem is what is wrong with a request refused before any handler
// sees it. It says what is wrong, not how SIP answers it: package sip maps
// each Kind to a status, a reason phrase and the headers that go with it.
type Problem struct {
	Kind Kind
	// Why names the problem, for the peer's trace and the log. It quotes
	// what the peer sent, cut short and printable; a log masks its digits.
	Why string
	// Tags are the option tags a Require named that clubline does not
	// support (Kind UnsupportedExtension).
	Tags []string
}

// A Kind is a class of Problem; each calls for its own answer (the status
// sip gives it is named beside each).
type Kind int

const (
	// Malformed: a header missing, repeated, out of range or contradicting
	// another, headers in the Request-URI, a Content-Length the datagram
	// belies (400 with a Warning).
	Malformed Kind = iota
	// BadVersion: a SIP version other than 2.0 (505).
	BadVersion
	// UnknownScheme: a Request-URI scheme other than sip, sips or tel (416).
	UnknownScheme
	// UnsupportedExtension: a Require option tag clubline lacks (420, with
	// Unsupported).
	UnsupportedExtension
	// SDPNotAccepted: an INVITE whose Accept leaves out application/sdp (406).
	SDPNotAccepted
)

// supportedTags are the option tags clubline implements (Require, Supported).
var supportedTags = map[string]bool{"timer": true}

// uriSchemes are the Request-URI schemes clubline answers.
var uriSchemes = map[string]bool{"sip": true, "sips": true, "tel": true}

// singleValued are the headers a request may carry once at most.
var singleValued = []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

const (
	maxMaxForwards = 255
	maxDeltaSecs   = 1<<32 - 1
	contentTypeSDP = "application/sdp"
)

// Validate returns what is wrong with a request before any handler sees
// it, nil when it may go on.
func Validate(req *sipmsg.Request) *Problem {
	if req.IsAck() {
		return nil
	}
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return &Problem{Kind: BadVersion, Why: fmt.Sprintf("version %s", sipx.Printable(req.SipVersion, 16))}
	}
	for _, check := range []func(*sipmsg.Request) *Problem{
		badHeaderCount, badCSeqMethod, badRequestURI, badNumbers, badRequire, badAccept,
	} {
		if p := check(req); p != nil {
			return p
		}
	}
	return nil
}

// malformed is a Problem of Kind Malformed.
func malformed(why string) *Problem { return &Problem{Kind: Malformed, Why: why} }

func badHeaderCount(req *sipmsg.Request) *Problem {
	if h := sipx.MissingHeader(req); h != "" && h != "Contact" {
		return malformed("missing " + h + " header")
	}
	for _, name := range singleValued {
		if n := len(sipx.Values(req, name)); n > 1 {
			return malformed(fmt.Sprintf("%d %s headers", n, name))
		}
	}
	if req.IsInvite() && req.Contact() == nil {
		return malformed("missing Contact header")
	}
	return nil
}

func badCSeqMethod(req *sipmsg.Request) *Problem {
	m := req.CSeq().MethodName
	if !sipx.KnownMethod(req.Method) || strings.EqualFold(string(m), string(req.Method)) {
		return nil
	}
	return malformed(fmt.Sprintf("CSeq method %s, request method %s",
		sipx.Printable(string(m), 16), req.Method))
}

func badRequestURI(req *sipmsg.Request) *Problem {
	u := req.Recipient
	if !uriSchemes[strings.ToLower(u.Scheme)] {
		return &Problem{Kind: UnknownScheme, Why: fmt.Sprintf("Request-URI scheme %q", sipx.Printable(u.Scheme, 16))}
	}
	if u.Headers != nil && u.Headers.Length() > 0 {
		return malformed("headers in the Request-URI")
	}
	return nil
}

// badNumbers checks the scalar fields sipgo leaves unchecked; it refuses
// CSeq and Content-Length beyond 32 bits itself.
func badNumbers(req *sipmsg.Request) *Problem {
	if mf := req.MaxForwards(); mf != nil && mf.Val() > maxMaxForwards {
		return malformed(fmt.Sprintf("Max-Forwards %d above %d", mf.Val(), maxMaxForwards))
	}
	for _, v := range sipx.Values(req, "Expires") {
		if !deltaSeconds(v) {
			return malformed(fmt.Sprintf("Expires %q is not 0 to 2**32-1 seconds", sipx.Printable(v, 24)))
		}
	}
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sipmsg.ContactHeader)
		if !ok || c.Params == nil {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok && !deltaSeconds(v) {
			return malformed(fmt.Sprintf("Contact expires %q is not 0 to 2**32-1 seconds", sipx.Printable(v, 24)))
		}
	}
	return nil
}

// deltaSeconds reports whether v is a delta-seconds of RFC 3261 §25 that
// fits the 32 bits §20.19 allows.
func deltaSeconds(v string) bool {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	return err == nil && n <= maxDeltaSecs
}

func badRequire(req *sipmsg.Request) *Problem {
	if req.IsAck() || req.IsCancel() || req.IsInvite() {
		return nil
	}
	var unknown []string
	for _, t := range sipx.Tokens(req, "Require") {
		if !supportedTags[t] {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		return &Problem{Kind: UnsupportedExtension, Why: "unsupported extension " + strings.Join(unknown, ", "), Tags: unknown}
	}
	return nil
}

func badAccept(req *sipmsg.Request) *Problem {
	if !req.IsInvite() {
		return nil
	}
	types := sipx.Tokens(req, "Accept")
	if len(types) == 0 {
		return nil
	}
	for _, t := range types {
		t, _, _ = strings.Cut(t, ";")
		switch strings.TrimSpace(t) {
		case contentTypeSDP, "application/*", "*/*":
			return nil
		}
	}
	return &Problem{Kind: SDPNotAccepted, Why: "Accept without application/sdp"}
}
