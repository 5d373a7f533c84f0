package sip

import (
	"crypto/subtle"
	"net/netip"
	"slices"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/trunk"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The line's own mystery call (cmd's probe: section).
//
// Decisions
//
//   - A probe is known by the header clubline.ProbeHeader carrying
//     Options.ProbeToken, a secret clubline draws at each start and only
//     its own probe knows. Only from a loopback source (the probe calls
//     the line directly) or from a trunk's provider (the probe dialled the
//     club's number at the provider, which delivers the call back): from
//     anywhere else the header is ignored, so that no caller can keep
//     their call out of the answer rate. Through the provider the token
//     is believed for what it is, a 128-bit secret drawn at each start; a
//     caller on the PSTN cannot know it, and a provider that strips
//     unknown headers leaves the probe's call unmarked (it then counts as
//     a caller's), never a caller's call marked.
//   - A probe is otherwise an ordinary call: the same limits, numbers and
//     script. Only its record says so (clubline.Call.Probe).

// isProbe reports whether an INVITE from src is the line's own probe.
func (s *Server) isProbe(req *sipmsg.Request, src string) bool {
	if s.o.ProbeToken == "" {
		return false
	}
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return false
	}
	if ip = ip.Unmap(); !ip.IsLoopback() && !slices.ContainsFunc(s.o.Trunks, func(t *trunk.Trunk) bool { return t.From(ip) }) {
		return false
	}
	h := req.GetHeader(clubline.ProbeHeader)
	if h == nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h.Value()), []byte(s.o.ProbeToken)) == 1
}
