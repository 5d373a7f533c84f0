package sip

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	"github.com/clubline/clubline/sip/mwi"
	sipmsg "github.com/emiago/sipgo/sip"
)

// rejection is a final non-2xx answer to a request and what the call record
// says about it. Every refusal clubline makes is built by one of the
// constructors below, so the mapping from failure to SIP status and to the
// record's outcome sits in one place.
type rejection struct {
	code    int
	reason  string // reason phrase on the status line
	why     string // for the trace and the log, never a caller's number
	outcome clubline.Outcome
	headers []sipmsg.Header
}

// trace is the line the call record keeps ("rejected: 404 unknown number 'xyz'").
func (r *rejection) trace() string {
	return fmt.Sprintf("%s: %d %s", r.outcome, r.code, r.why)
}

func (r *rejection) Error() string { return fmt.Sprintf("%d %s: %s", r.code, r.reason, r.why) }

// response builds the answer to req.
func (r *rejection) response(req *sipmsg.Request) *sipmsg.Response {
	return sipx.Reply(req, r.code, r.reason, r.headers...)
}

func rejected(code int, reason, why string, hs ...sipmsg.Header) *rejection {
	return &rejection{code: code, reason: reason, why: why, outcome: clubline.OutcomeRejected, headers: hs}
}

// The user part of an unknown request-URI is the number dialled: a club
// number, not the caller's, so the trace may keep it. It is quoted and cut
// short so garbage cannot flood the record.
func rejectUnknownNumber(user string) *rejection {
	return rejected(sipmsg.StatusNotFound, "Not Found", fmt.Sprintf("unknown number '%s'", sipx.Printable(user, 32)))
}

// rejectUnknownNumberLocal is the 404 to a caller on this machine or in
// sip.allow_from (`clubline call`, a softphone being set up): a Warning
// names the numbers the line answers. Never to anyone else, who gets
// rejectUnknownNumber: the internet must not learn the club's numbers by
// guessing one.
func rejectUnknownNumberLocal(user string, numbers []string) *rejection {
	r := rejectUnknownNumber(user)
	r.headers = append(r.headers, sipx.Warning(399, "this line answers "+strings.Join(numbers, ", ")))
	return r
}

func rejectOverCapacity(maxCalls int, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		fmt.Sprintf("over capacity (%d calls)", maxCalls), sipx.RetryAfter(after))
}

// rejectAwaitingAck refuses a call while too many answered calls wait for
// their ACK (awaiting.go): in all, or from the sender's address.
func rejectAwaitingAck(limit int, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		fmt.Sprintf("too many calls awaiting their ACK (%d)", limit), sipx.RetryAfter(after))
}

func rejectAwaitingAckFrom(limit int, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		fmt.Sprintf("too many calls awaiting their ACK from this address (%d)", limit), sipx.RetryAfter(after))
}

func rejectDraining(after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		"draining for shutdown", sipx.RetryAfter(after))
}

func rejectNoRTPPort(err error, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		"no RTP port: "+err.Error(), sipx.RetryAfter(after))
}

// rejectSDP refuses an offer that media.Answer did not accept: 488 with
// a Warning code that says why (RFC 3261 §20.43).
func rejectSDP(err error) *rejection {
	switch {
	// The SRTP errors also match ErrNoCommonCodec: they come first.
	case errors.Is(err, media.ErrSRTPNotEnabled):
		return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", "encrypted media (RTP/SAVP) offered, SRTP off for this peer",
			sipx.Warning(302, "Incompatible transport protocol"))
	case errors.Is(err, media.ErrNoUsableCrypto):
		return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", "SRTP required, and no usable a=crypto offered",
			sipx.Warning(399, "SRTP (a=crypto AES_CM_128_HMAC_SHA1_80) required"))
	case errors.Is(err, media.ErrNoCommonCodec):
		return rejectNoCommonCodec()
	case errors.Is(err, media.ErrMulticast):
		return rejectMediaAddress(err, sipx.Warning(330, "Multicast not available"))
	case errors.Is(err, media.ErrBroadcast):
		return rejectMediaAddress(err, sipx.Warning(399, "Broadcast media address refused"))
	case errors.Is(err, media.ErrAddressFamily):
		return rejectMediaAddress(err, sipx.Warning(301, "Incompatible network address formats"))
	}
	return rejectBadSDP(err)
}

func rejectNoCommonCodec() *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
		"no common codec (PCMU or PCMA needed)", sipx.Warning(305, "Incompatible media format: PCMU or PCMA needed"))
}

// rejectMediaAddress: the offer's c= is one clubline will not send RTP to
// (media/sdp_addr.go says which and why).
func rejectMediaAddress(err error, w sipmsg.Header) *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", "media address refused: "+err.Error(), w)
}

func rejectBadSDP(err error) *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
		"bad SDP: "+err.Error(), sipx.Warning(399, "Malformed SDP"))
}

func rejectUnsupportedBody(contentType string) *rejection {
	return rejected(sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type",
		fmt.Sprintf("body of type %q", contentType), sipmsg.NewHeader("Accept", acceptSDP))
}

func rejectBadExtension(tags []string) *rejection {
	return rejected(sipmsg.StatusBadExtension, "Bad Extension",
		"unsupported extension "+strings.Join(tags, ", "),
		sipmsg.NewHeader("Unsupported", strings.Join(tags, ", ")))
}

func rejectTooBrief(asked, minSE time.Duration) *rejection {
	return rejected(422, "Session Interval Too Small",
		fmt.Sprintf("session interval %s below %s", asked, minSE),
		sipmsg.NewHeader("Min-SE", seconds(minSE)))
}

// rejectBadRequest names the problem in a Warning too, for the peer's trace.
func rejectBadRequest(why string) *rejection {
	return rejected(sipmsg.StatusBadRequest, "Bad Request", why, sipx.Warning(399, sipx.Printable(why, 100)))
}

// rejectOverLimit refuses the request that took its source over a
// per-source limit (edge.Limiter): the source is ignored for after.
func rejectOverLimit(after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		"request limit reached", sipx.RetryAfter(after))
}

// statusUnsupportedURIScheme: sipgo names no constant for it.
const statusUnsupportedURIScheme = 416

// rejectProblem refuses a request edge found wrong before any handler saw
// it (edge.Validate, edge.ReadFilter): edge says what is wrong, this says
// how SIP answers it. Such a refusal makes no call record.
func rejectProblem(p *edge.Problem) *rejection {
	switch p.Kind {
	case edge.BadVersion:
		return rejected(sipmsg.StatusVersionNotSupported, "Version Not Supported", p.Why,
			sipx.Warning(399, "Only SIP/2.0 is supported"))
	case edge.UnknownScheme:
		return rejected(statusUnsupportedURIScheme, "Unsupported URI Scheme", p.Why)
	case edge.UnsupportedExtension:
		return rejectBadExtension(p.Tags)
	case edge.SDPNotAccepted:
		return rejected(sipmsg.StatusNotAcceptable, "Not Acceptable", p.Why,
			sipx.Warning(399, "The answer can only be application/sdp"))
	default: // edge.Malformed
		return rejectBadRequest(p.Why)
	}
}

// rejectForbidden refuses an INVITE from an address the line does not
// take calls from (trunks.go): 403, no challenge, nothing about why.
func rejectForbidden(why string) *rejection {
	return rejected(sipmsg.StatusForbidden, "Forbidden", why)
}

// rejectCallerRefer refuses a REFER from a caller: only staff phones
// transfer.
func rejectCallerRefer() *rejection {
	return rejected(sipmsg.StatusForbidden, "Forbidden", "callers cannot transfer",
		sipx.Warning(399, "Callers cannot transfer calls"))
}

// rejectAttendedTransfer refuses a REFER whose Refer-To carries Replaces
// (RFC 3891): clubline does blind transfers only.
func rejectAttendedTransfer() *rejection {
	return rejected(sipmsg.StatusNotImplemented, "Attended Transfer Not Supported",
		"attended transfer (Refer-To with Replaces)", sipx.Warning(399, "Only blind transfers are supported"))
}

// rejectSubscribe refuses a SUBSCRIBE (mwi.go) for what package mwi
// found wrong: 489 for an event package not served (with Allow-Events,
// RFC 6665 §4.2.1.1), 406 for an Accept without the message summary,
// 423 below the shortest interval (with Min-Expires), 481 in a dialog
// clubline does not know, 500 for a CSeq gone down (RFC 3261 §12.2.2),
// 400 for the rest.
func rejectSubscribe(err error) *rejection {
	var brief *mwi.TooBriefError
	switch {
	case errors.Is(err, mwi.ErrBadEvent):
		return rejected(statusBadEvent, "Bad Event", "event package not served",
			sipmsg.NewHeader("Allow-Events", mwi.Event))
	case errors.Is(err, mwi.ErrNotAcceptable):
		return rejected(sipmsg.StatusNotAcceptable, "Not Acceptable", err.Error(),
			sipmsg.NewHeader("Accept", mwi.ContentType))
	case errors.As(err, &brief):
		return rejected(statusIntervalTooBrief, "Interval Too Brief", err.Error(),
			sipmsg.NewHeader("Min-Expires", seconds(brief.Min)))
	case errors.Is(err, mwi.ErrNoDialog):
		return rejected(sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", "no such subscription")
	case errors.Is(err, mwi.ErrOutOfOrder):
		return rejected(sipmsg.StatusInternalServerError, "Out Of Order", err.Error())
	}
	return rejectBadRequest(err.Error())
}

// Statuses sipgo names no constant for.
const (
	statusIntervalTooBrief = 423
	statusBadEvent         = 489
)

func rejectShutdown() *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable", "server shutting down")
}

func rejectInternal(err error) *rejection {
	return rejected(sipmsg.StatusInternalServerError, "Server Internal Error", err.Error())
}

// rejectCancelled is the record of a caller who hung up before the answer;
// sipgo's transaction layer has already sent the 487 and the 200 for CANCEL.
func rejectCancelled() *rejection {
	return &rejection{
		code: sipmsg.StatusRequestTerminated, reason: "Request Terminated",
		why: "caller cancelled before answer", outcome: clubline.OutcomeAbandoned,
	}
}
