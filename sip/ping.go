package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/registrar"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Ping sends one OPTIONS to where a staff phone registered from and waits
// for any response, until ctx ends: the registrar's keep-alive
// (registrar.Pinger).
func (s *Server) Ping(ctx context.Context, reg *clubline.Registration) error {
	req, err := s.optionsRequest(reg)
	if err != nil {
		return err
	}
	tx, err := s.client.TransactionRequest(edge.AllowDial(ctx), req, asIs) // to a registration's address (reach.go)
	if err != nil {
		return fmt.Errorf("send OPTIONS: %w", err)
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
		return nil // any answer, even an error, means the phone is there
	case <-tx.Done():
		if err := tx.Err(); err != nil {
			return fmt.Errorf("OPTIONS: %w", err)
		}
		return errors.New("OPTIONS: transaction ended without a response")
	case <-ctx.Done():
		return fmt.Errorf("OPTIONS: %w", ctx.Err())
	}
}

// optionsRequest builds the out-of-dialog OPTIONS for a registration: to
// its Contact, sent to its Received address from our listener of that
// transport; for a phone registered through a proxy, with its Path as
// Route headers, to the first of them (registrar.NextHop).
func (s *Server) optionsRequest(reg *clubline.Registration) (*sipmsg.Request, error) {
	transport, addr, ok := strings.Cut(registrar.NextHop(reg), ":")
	if !ok {
		return nil, fmt.Errorf("registration without a received address")
	}
	dest, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("received address: %w", err)
	}
	dest = unmapAP(dest)
	l := s.listenerFor(transport)
	if l == nil {
		return nil, fmt.Errorf("no listener for transport %q", transport)
	}
	host := l.sentBy(s.public(), dest)
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(reg.Contact, &target); err != nil {
		target = sipmsg.Uri{Scheme: "sip", Host: uriHost(dest.Addr()), Port: int(dest.Port())}
	}

	req := sipmsg.NewRequest(sipmsg.OPTIONS, target)
	via := &sipmsg.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(transport),
		Host: uriHost(host), Port: int(l.addr.Port()), Params: sipmsg.NewParams(),
	}
	via.Params.Add("branch", sipmsg.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: userAgent, Host: uriHost(host)},
		Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: *target.Clone(), Params: sipmsg.NewParams()})
	callID := sipmsg.CallIDHeader(sipmsg.GenerateTagN(24))
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.OPTIONS})
	for _, p := range reg.Path {
		req.AppendHeader(sipmsg.NewHeader("Route", p))
	}
	req.AppendHeader(sipmsg.NewHeader("Accept", acceptSDP))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", userAgent))
	req.SetTransport(strings.ToUpper(transport))
	req.SetDestination(dest.String())
	if l.udpAddr != nil {
		req.Laddr = sipmsg.Addr{IP: l.udpAddr.IP, Port: l.udpAddr.Port}
	}
	req.SetBody(nil)
	return req, nil
}

// sentBy is the address a request from the listener to dest names in its
// Via and Contact: the public address when one is known (public), else
// the listener's, else for a wildcard listener the local address that
// routes to dest.
func (l *listener) sentBy(public netip.Addr, dest netip.AddrPort) netip.Addr {
	if public.IsValid() {
		return public
	}
	host := l.addr.Addr()
	if host.IsUnspecified() {
		if ip, ok := localIPFor(dest); ok {
			host = ip
		}
	}
	return host
}
