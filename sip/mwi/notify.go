package mwi

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Local is where clubline's requests say they come from: the sent-by of
// their Via and their Contact (package sip knows its listeners and its
// public address).
type Local struct {
	Host    string // a host or IP literal as written in a URI ("[2001:db8::1]")
	Port    int
	Contact sipmsg.Uri
}

// Terminated is the Subscription-State of a subscription's last NOTIFY
// (RFC 6665 §4.1.3): it ended by Expires: 0 or by expiry.
const Terminated = "terminated;reason=timeout"

// Active is the Subscription-State of a NOTIFY of a subscription with
// left to run.
func Active(left time.Duration) string {
	return "active;expires=" + strconv.Itoa(max(0, int(left.Round(time.Second)/time.Second)))
}

// OK is the 200 to a SUBSCRIBE that made or refreshed s (RFC 6665 says 200,
// not 202): our To tag, our Contact, the interval granted.
func (s *Subscription) OK(req *sipmsg.Request, contact sipmsg.Uri, expires time.Duration) *sipmsg.Response {
	res := sipx.Reply(req, sipmsg.StatusOK, "OK",
		&sipmsg.ContactHeader{Address: contact},
		sipmsg.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))),
		sipmsg.NewHeader("Allow-Events", Event))
	if to := res.To(); to != nil {
		to.Params.Add("tag", s.LocalTag)
	}
	return res
}

// Notify builds the NOTIFY of CSeq seq in the subscription's dialog
// (RFC 3261 §12.2.1.1), with state as its Subscription-State and body (nil
// when the counts are unknown: a NOTIFY without body is allowed, RFC 6665
// §4.2.2). It goes over the subscription's transport to Dest, whatever
// the Request-URI says.
func (s *Subscription) Notify(l Local, seq uint32, state string, body []byte) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.NOTIFY, *s.Target.Clone())
	appendVia(req, s.Transport, l)
	from := &sipmsg.FromHeader{Address: *s.Local.Clone(), Params: sipmsg.NewParams()}
	from.Params.Add("tag", s.LocalTag)
	req.AppendHeader(from)
	to := &sipmsg.ToHeader{Address: *s.Remote.Clone(), Params: sipmsg.NewParams()}
	to.Params.Add("tag", s.RemoteTag)
	req.AppendHeader(to)
	callID := sipmsg.CallIDHeader(s.CallID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: sipmsg.NOTIFY})
	for _, r := range s.Routes {
		req.AppendHeader(sipmsg.NewHeader("Route", r))
	}
	req.AppendHeader(&sipmsg.ContactHeader{Address: *l.Contact.Clone()})
	finish(req, s.Event, state, body)
	req.SetTransport(s.Transport)
	req.SetDestination(s.Dest.String())
	return req
}

// Unsolicited builds an out-of-dialog NOTIFY (no subscription: for phones
// that expect one and never subscribe) to a registered contact, sent to
// received, the address its REGISTER came from ("udp:192.0.2.7:5060").
// account is the mailbox's address in the body.
func Unsolicited(l Local, contact, received, account string, body []byte) (*sipmsg.Request, error) {
	transport, addr, ok := strings.Cut(received, ":")
	if !ok {
		return nil, fmt.Errorf("mwi: registration without a received address")
	}
	dest, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mwi: received address: %w", err)
	}
	dest = unmap(dest)
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(contact, &target); err != nil {
		return nil, fmt.Errorf("mwi: contact: %w", err)
	}
	transport = strings.ToUpper(transport)
	req := sipmsg.NewRequest(sipmsg.NOTIFY, target)
	appendVia(req, transport, l)
	var mailbox sipmsg.Uri
	if err := sipmsg.ParseUri(account, &mailbox); err != nil {
		mailbox = sipmsg.Uri{Scheme: "sip", User: sipx.UserAgent, Host: l.Host}
	}
	from := &sipmsg.FromHeader{Address: mailbox, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: *target.Clone(), Params: sipmsg.NewParams()})
	callID := sipmsg.CallIDHeader(sipmsg.GenerateTagN(24))
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.NOTIFY})
	req.AppendHeader(&sipmsg.ContactHeader{Address: *l.Contact.Clone()})
	// "active": there is no subscription to end, and a phone must not
	// read the light's news as a goodbye.
	finish(req, Event, "active", body)
	req.SetTransport(transport)
	req.SetDestination(dest.String())
	return req, nil
}

func appendVia(req *sipmsg.Request, transport string, l Local) {
	via := &sipmsg.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport,
		Host: l.Host, Port: l.Port, Params: sipmsg.NewParams(),
	}
	via.Params.Add("branch", sipmsg.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
}

func finish(req *sipmsg.Request, event, state string, body []byte) {
	req.AppendHeader(sipmsg.NewHeader("Event", event))
	req.AppendHeader(sipmsg.NewHeader("Subscription-State", state))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", sipx.UserAgent))
	if body != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", ContentType))
	}
	req.SetBody(body)
}
