package sipx

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// UserAgent is clubline's name in User-Agent, Server and Warning headers.
const UserAgent = "clubline"

// Reply builds a response to req with clubline's Server header and the
// given headers.
func Reply(req *sipmsg.Request, code int, reason string, hs ...sipmsg.Header) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hs {
		res.AppendHeader(h)
	}
	res.AppendHeader(sipmsg.NewHeader("Server", UserAgent))
	return res
}

// RetryAfter is a Retry-After header of whole seconds, at least one.
func RetryAfter(d time.Duration) sipmsg.Header {
	return sipmsg.NewHeader("Retry-After", strconv.Itoa(max(1, int(d/time.Second))))
}

// Warning is a Warning header (RFC 3261 §20.43) with clubline as the agent.
func Warning(code int, text string) sipmsg.Header {
	return sipmsg.NewHeader("Warning", fmt.Sprintf("%d %s %q", code, UserAgent, text))
}

// maxRetryAfter bounds a peer's Retry-After: a provider asking for a day
// is not obeyed beyond an hour.
const maxRetryAfter = time.Hour

// RetryAfterOf reads the Retry-After of a response (RFC 3261 §20.33:
// seconds, maybe followed by a comment); 0 when absent or unreadable.
func RetryAfterOf(res *sipmsg.Response) time.Duration {
	h := res.GetHeader("Retry-After")
	if h == nil {
		return 0
	}
	v := strings.TrimSpace(h.Value())
	if i := strings.IndexAny(v, " ;("); i >= 0 {
		v = v[:i]
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}
