package sip

import (
	"github.com/clubline/clubline/sip/internal/sipx"
	"github.com/clubline/clubline/sip/mwi"
	sipmsg "github.com/emiago/sipgo/sip"
)

// What clubline tells peers it can do. Allow lists the methods the server
// answers; everything else gets 405 (a method SIP defines) or 501.
const (
	allowMethods     = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER"
	allowRegistrar   = allowMethods + ", REGISTER"    // with the registrar on
	allowMWI         = allowRegistrar + ", SUBSCRIBE" // and message-waiting indication (mwi.go)
	supportedOptions = "timer"
	acceptSDP        = "application/sdp"
	acceptInfo       = "application/dtmf-relay, application/dtmf"
	userAgent        = sipx.UserAgent
	contentTypeSDP   = "application/sdp"
	contentSipfrag   = "message/sipfrag;version=2.0"
)

// allow is the Allow header value of this server: REGISTER is served only
// when the registrar is on, SUBSCRIBE only with message-waiting
// indication.
func (s *Server) allow() string {
	if s.mwi.on() {
		return allowMWI
	}
	if s.o.Registrar != nil {
		return allowRegistrar
	}
	return allowMethods
}

// capabilityHeaders are the headers that tell a peer what clubline can do,
// added to 200 OK for INVITE and OPTIONS and to 405/501/415 answers.
func (s *Server) capabilityHeaders() []sipmsg.Header {
	hs := []sipmsg.Header{
		sipmsg.NewHeader("Allow", s.allow()),
		sipmsg.NewHeader("Supported", supportedOptions),
	}
	if s.mwi.on() {
		hs = append(hs, sipmsg.NewHeader("Allow-Events", mwi.Event))
	}
	return hs
}
