package sip

import (
	"crypto/subtle"
	"net/netip"

	"github.com/clubline/clubline"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The line's own mystery call (cmd's probe: section).
//
// Decisions
//
//   - A probe is known by the header clubline.ProbeHeader carrying
//     Options.ProbeToken, a secret clubline draws at each start and only
//     its own probe knows. Only from a loopback source: from anywhere else
//     the header is ignored, so that no caller can keep their call out of
//     the answer rate, and a token seen on the wire is worth nothing.
//   - A probe is otherwise an ordinary call: the same limits, numbers and
//     script. Only its record says so (clubline.Call.Probe).

// isProbe reports whether an INVITE from src is the line's own probe.
func (s *Server) isProbe(req *sipmsg.Request, src string) bool {
	if s.o.ProbeToken == "" {
		return false
	}
	ip, err := netip.ParseAddr(src)
	if err != nil || !ip.Unmap().IsLoopback() {
		return false
	}
	h := req.GetHeader(clubline.ProbeHeader)
	if h == nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h.Value()), []byte(s.o.ProbeToken)) == 1
}
