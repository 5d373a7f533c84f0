package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
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
	res := sipmsg.NewResponseFromRequest(req, r.code, r.reason, nil)
	for _, h := range r.headers {
		res.AppendHeader(h)
	}
	res.AppendHeader(sipmsg.NewHeader("Server", userAgent))
	return res
}

func rejected(code int, reason, why string, hs ...sipmsg.Header) *rejection {
	return &rejection{code: code, reason: reason, why: why, outcome: clubline.OutcomeRejected, headers: hs}
}

func retryAfter(d time.Duration) sipmsg.Header {
	return sipmsg.NewHeader("Retry-After", strconv.Itoa(max(1, int(d/time.Second))))
}

// warning is a Warning header (RFC 3261 §20.43) with clubline as the agent.
func warning(code int, text string) sipmsg.Header {
	return sipmsg.NewHeader("Warning", fmt.Sprintf("%d %s %q", code, userAgent, text))
}

// The user part of an unknown request-URI is the number dialled: a club
// number, not the caller's, so the trace may keep it. It is quoted and cut
// short so garbage cannot flood the record.
func rejectUnknownNumber(user string) *rejection {
	return rejected(sipmsg.StatusNotFound, "Not Found", fmt.Sprintf("unknown number '%s'", printable(user, 32)))
}

// printable keeps at most n runes of s, with anything unprintable as '?'.
func printable(s string, n int) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func rejectOverCapacity(maxCalls int, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		fmt.Sprintf("over capacity (%d calls)", maxCalls), retryAfter(after))
}

func rejectDraining(after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		"draining for shutdown", retryAfter(after))
}

func rejectNoRTPPort(err error, after time.Duration) *rejection {
	return rejected(sipmsg.StatusServiceUnavailable, "Service Unavailable",
		"no RTP port: "+err.Error(), retryAfter(after))
}

// rejectSDP refuses an offer that media.Answer did not accept: 488 with
// a Warning code that says why (RFC 3261 §20.43).
func rejectSDP(err error) *rejection {
	switch {
	case errors.Is(err, media.ErrNoCommonCodec):
		return rejectNoCommonCodec()
	case errors.Is(err, media.ErrMulticast):
		return rejectMediaAddress(err, warning(330, "Multicast not available"))
	case errors.Is(err, media.ErrBroadcast):
		return rejectMediaAddress(err, warning(399, "Broadcast media address refused"))
	case errors.Is(err, media.ErrAddressFamily):
		return rejectMediaAddress(err, warning(301, "Incompatible network address formats"))
	}
	return rejectBadSDP(err)
}

func rejectNoCommonCodec() *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
		"no common codec (PCMU or PCMA needed)", warning(305, "Incompatible media format: PCMU or PCMA needed"))
}

// rejectMediaAddress: the offer's c= is one clubline will not send RTP to
// (media/sdp_addr.go says which and why).
func rejectMediaAddress(err error, w sipmsg.Header) *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", "media address refused: "+err.Error(), w)
}

func rejectBadSDP(err error) *rejection {
	return rejected(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
		"bad SDP: "+err.Error(), warning(399, "Malformed SDP"))
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

func rejectBadRequest(why string) *rejection {
	return rejected(sipmsg.StatusBadRequest, "Bad Request", why)
}

// rejectCallerRefer refuses a REFER from a caller: only staff phones
// transfer.
func rejectCallerRefer() *rejection {
	return rejected(sipmsg.StatusForbidden, "Forbidden", "callers cannot transfer",
		warning(399, "Callers cannot transfer calls"))
}

// rejectAttendedTransfer refuses a REFER whose Refer-To carries Replaces
// (RFC 3891): clubline does blind transfers only.
func rejectAttendedTransfer() *rejection {
	return rejected(sipmsg.StatusNotImplemented, "Attended Transfer Not Supported",
		"attended transfer (Refer-To with Replaces)", warning(399, "Only blind transfers are supported"))
}

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
