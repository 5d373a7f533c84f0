package sipx

import (
	"fmt"
	"strconv"
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
