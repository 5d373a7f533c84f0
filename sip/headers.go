package sip

import (
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// What clubline tells peers it can do. Allow lists the methods the server
// answers; everything else gets 405 (a method SIP defines) or 501.
const (
	allowMethods     = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER"
	allowRegistrar   = allowMethods + ", REGISTER" // with the registrar on
	supportedOptions = "timer"
	acceptSDP        = "application/sdp"
	acceptInfo       = "application/dtmf-relay, application/dtmf"
	userAgent        = sipx.UserAgent
	contentTypeSDP   = "application/sdp"
	contentSipfrag   = "message/sipfrag;version=2.0"
)

// allow is the Allow header value of this server: REGISTER is served only
// when the registrar is on.
func (s *Server) allow() string {
	if s.o.Registrar != nil {
		return allowRegistrar
	}
	return allowMethods
}

// capabilityHeaders are the headers that tell a peer what clubline can do,
// added to 200 OK for INVITE and OPTIONS and to 405/501/415 answers.
func (s *Server) capabilityHeaders() []sipmsg.Header {
	return []sipmsg.Header{
		sipmsg.NewHeader("Allow", s.allow()),
		sipmsg.NewHeader("Supported", supportedOptions),
	}
}
