package sip

import (
	"strings"

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
	userAgent        = "clubline"
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

// compactNames maps long header names to their compact form (RFC 3261 §7.3.3,
// RFC 4028 for Session-Expires). sipgo resolves the compact forms of the
// headers it parses; the others arrive under whichever name the peer used.
var compactNames = map[string]string{
	"supported":       "k",
	"session-expires": "x",
	"content-type":    "c",
	"refer-to":        "r",
}

// values returns the values of every instance of the named header, the
// long form's first, then the compact form's.
func values(m sipmsg.Message, name string) []string {
	hs := m.GetHeaders(name)
	if short, ok := compactNames[strings.ToLower(name)]; ok {
		hs = append(hs, m.GetHeaders(short)...)
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = strings.TrimSpace(h.Value())
	}
	return out
}

// header returns the first value of the named header, whichever form the
// peer used, and whether it was present.
func header(m sipmsg.Message, name string) (string, bool) {
	if vs := values(m, name); len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// tokens returns the comma-separated option tags of every instance of a
// header such as Supported or Require, lower-cased.
func tokens(m sipmsg.Message, name string) []string {
	var out []string
	for _, v := range values(m, name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// hasToken reports whether a header such as Supported lists the tag.
func hasToken(m sipmsg.Message, name, tag string) bool {
	for _, t := range tokens(m, name) {
		if t == tag {
			return true
		}
	}
	return false
}

// mediaType returns the lower-case media type of the body, without
// parameters ("application/sdp").
func mediaType(m sipmsg.Message) string {
	v, _ := header(m, "Content-Type")
	v, _, _ = strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// allow is the Allow header value of this server: REGISTER is served only
// when the registrar is on.
func (s *Server) allow() string {
	if s.registrar != nil {
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

// toTag returns the To tag of a request; a request with one belongs to an
// existing dialog.
func toTag(req *sipmsg.Request) string {
	if to := req.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}

// missingHeader names the first mandatory header (RFC 3261 §8.1.1) a request
// lacks, or returns "" when it has them all. sipgo needs Via and CSeq to make
// a transaction, so only the others can be missing here.
func missingHeader(req *sipmsg.Request) string {
	switch {
	case req.From() == nil:
		return "From"
	case req.To() == nil:
		return "To"
	case req.CallID() == nil:
		return "Call-ID"
	case req.CSeq() == nil:
		return "CSeq"
	}
	if req.IsInvite() && req.Contact() == nil {
		return "Contact"
	}
	return ""
}
