package sipx

import (
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// compactNames maps long header names to their compact form (RFC 3261 §7.3.3,
// RFC 4028 for Session-Expires, RFC 6665 for Event and Allow-Events).
// sipgo resolves the compact forms of the headers it parses; the others
// arrive under whichever name the peer used.
var compactNames = map[string]string{
	"supported":       "k",
	"session-expires": "x",
	"content-type":    "c",
	"refer-to":        "r",
	"event":           "o",
	"allow-events":    "u",
}

// knownMethods are the methods RFC 3261 and its extensions define.
var knownMethods = map[sipmsg.RequestMethod]bool{
	sipmsg.INVITE: true, sipmsg.ACK: true, sipmsg.CANCEL: true, sipmsg.BYE: true,
	sipmsg.REGISTER: true, sipmsg.OPTIONS: true, sipmsg.SUBSCRIBE: true,
	sipmsg.NOTIFY: true, sipmsg.REFER: true, sipmsg.INFO: true, sipmsg.MESSAGE: true,
	sipmsg.PRACK: true, sipmsg.UPDATE: true, sipmsg.PUBLISH: true,
}

// KnownMethod reports whether m is a method RFC 3261 and its extensions
// define. A request with one of these that clubline does not serve gets
// 405; any other method gets 501 (RFC 3261 §21.5.2).
func KnownMethod(m sipmsg.RequestMethod) bool { return knownMethods[m] }

// Values returns the values of every instance of the named header, the
// long form's first, then the compact form's.
func Values(m sipmsg.Message, name string) []string {
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

// Header returns the first value of the named header, whichever form the
// peer used, and whether it was present.
func Header(m sipmsg.Message, name string) (string, bool) {
	if vs := Values(m, name); len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// Tokens returns the comma-separated option tags of every instance of a
// header such as Supported or Require, lower-cased.
func Tokens(m sipmsg.Message, name string) []string {
	var out []string
	for _, v := range Values(m, name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// HasToken reports whether a header such as Supported lists the tag.
func HasToken(m sipmsg.Message, name, tag string) bool {
	for _, t := range Tokens(m, name) {
		if t == tag {
			return true
		}
	}
	return false
}

// MediaType returns the lower-case media type of the body, without
// parameters ("application/sdp").
func MediaType(m sipmsg.Message) string {
	v, _ := Header(m, "Content-Type")
	v, _, _ = strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// ToTag returns the To tag of a request; a request with one belongs to an
// existing dialog.
func ToTag(req *sipmsg.Request) string {
	if to := req.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}

// MissingHeader names the first mandatory header (RFC 3261 §8.1.1) a request
// lacks, or returns "" when it has them all. sipgo needs Via and CSeq to make
// a transaction, so only the others can be missing here.
func MissingHeader(req *sipmsg.Request) string {
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
