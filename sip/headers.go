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

// knownMethods are the methods RFC 3261 and its extensions define. A request
// with one of these that clubline does not serve gets 405; any other method
// gets 501 (RFC 3261 §21.5.2).
var knownMethods = map[sipmsg.RequestMethod]bool{
	sipmsg.INVITE: true, sipmsg.ACK: true, sipmsg.CANCEL: true, sipmsg.BYE: true,
	sipmsg.REGISTER: true, sipmsg.OPTIONS: true, sipmsg.SUBSCRIBE: true,
	sipmsg.NOTIFY: true, sipmsg.REFER: true, sipmsg.INFO: true, sipmsg.MESSAGE: true,
	sipmsg.PRACK: true, sipmsg.UPDATE: true, sipmsg.PUBLISH: true,
}

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
