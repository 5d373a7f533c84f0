package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	"github.com/clubline/clubline/sip/trunk"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The trunks, as package sip serves them: who may call in once a trunk
// is configured (the gate), the calls a trunk delivers, the calls placed
// through one, and the requests a trunk sends on its own (trunk.Sender).
//
// Decisions (issue 8, toll fraud):
//
//   - With a trunk or sip.allow_from configured, the line takes calls only
//     from the trunks' addresses, from sip.allow_from, and from the
//     addresses of registered staff phones, which must then authenticate
//     the INVITE with their SIP password. Anything else gets 403 before
//     clubline looks at the number dialled, with no challenge: a scanner
//     learns neither which numbers nor which users exist. A SUBSCRIBE to
//     a message-waiting light (mwi.go) is let in the same way: only from
//     a staff phone's address, then on its credentials.
//   - Nothing in a request chooses where clubline dials: an outbound call
//     goes only to a number the script took from the config (staff phones,
//     the on-call roster, the urgency fallback) or a callback number the
//     config's patterns allow, and only through a configured trunk.

// trunkSide is the server as its trunks and the gate see it: who may
// call, the calls in and out through a trunk. Its methods are the
// server's, apart so that Server keeps only what every call needs.
type trunkSide struct {
	*Server
	allowMu   sync.Mutex
	allowFrom []netip.Prefix // resolved Options.AllowFrom
}

// seen is the address the provider of the named trunk sees clubline at
// (trunk.Trunk.Seen); invalid for another call.
func (s *trunkSide) seen(name string) netip.AddrPort {
	for _, t := range s.o.Trunks {
		if name != "" && t.Name() == name {
			return t.Seen()
		}
	}
	return netip.AddrPort{}
}

// gated reports whether the line takes calls only from known addresses.
func (s *trunkSide) gated() bool { return len(s.o.Trunks) > 0 || len(s.o.AllowFrom) > 0 }

// resolveAllowFrom looks up sip.allow_from at start.
func (s *trunkSide) resolveAllowFrom(ctx context.Context) error {
	var out []netip.Prefix
	for _, a := range s.o.AllowFrom {
		ps, err := sipx.ResolvePrefix(ctx, s.o.Resolver, a)
		if err != nil {
			return fmt.Errorf("sip: allow_from %q: %w", a, err)
		}
		out = append(out, ps...)
	}
	s.allowMu.Lock()
	s.allowFrom = out
	s.allowMu.Unlock()
	return nil
}

// local reports whether a request's source is this machine or in
// sip.allow_from: someone the club set up (`clubline call`, a test phone,
// the office's PBX), who may be told which numbers the line answers.
func (s *trunkSide) local(src string) bool {
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	s.allowMu.Lock()
	defer s.allowMu.Unlock()
	for _, p := range s.allowFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit decides whether an INVITE's source may call: it returns the
// trunk that delivered it (nil for a caller from sip.allow_from or a staff
// phone), or the refusal. A staff phone answered with a challenge gets it
// through challenge, already sent.
func (s *trunkSide) admit(a *attempt) (tr *trunk.Trunk, r *rejection, challenged bool) {
	if !s.gated() {
		return nil, nil, false
	}
	ip, err := netip.ParseAddr(a.src)
	if err != nil {
		return nil, rejectForbidden("no source address"), false
	}
	ip = ip.Unmap()
	for _, t := range s.o.Trunks {
		if t.From(ip) {
			return t, nil, false
		}
	}
	s.allowMu.Lock()
	allow := s.allowFrom
	s.allowMu.Unlock()
	for _, p := range allow {
		if p.Contains(ip) {
			return nil, nil, false
		}
	}
	if reg := s.o.Registrar; reg != nil && reg.IsPhoneAddress(ip) {
		staff, res := reg.Authenticate(a.req)
		if res != nil {
			if res.StatusCode == sipmsg.StatusForbidden {
				return nil, rejectForbidden("wrong credentials from a staff phone's address"), false
			}
			s.respond(a.tx, res)
			return nil, nil, true
		}
		a.log = a.log.With("staff", staff)
		a.staff = staff
		return nil, nil, false
	}
	return nil, rejectForbidden("not from a trunk, allow_from or a staff phone"), false
}

// staffOnly admits a call to a staff code (Options.StaffCodes) only from
// a staff phone whose INVITE answers a digest challenge; to anyone else
// the code is an unknown number, so a stranger learns nothing of it.
func (s *trunkSide) staffOnly(a *attempt) (r *rejection, challenged bool) {
	if a.staff != "" {
		return nil, false
	}
	reg := s.o.Registrar
	ip, err := netip.ParseAddr(a.src)
	if reg == nil || err != nil || !reg.IsPhoneAddress(ip.Unmap()) {
		return rejectUnknownNumber(a.to), false
	}
	staff, res := reg.Authenticate(a.req)
	if res != nil {
		if res.StatusCode == sipmsg.StatusForbidden {
			return rejectUnknownNumber(a.to), false
		}
		s.respond(a.tx, res)
		return nil, true
	}
	a.log = a.log.With("staff", staff)
	a.staff = staff
	return nil, false
}

// admitSubscriber decides whether a new SUBSCRIBE's source may even try
// its credentials (mwi.go): with the gate on, only the address of a
// registered staff phone may; anything else gets 403 without a
// challenge, as an INVITE from a stranger.
func (s *trunkSide) admitSubscriber(req *sipmsg.Request) *rejection {
	if !s.gated() {
		return nil
	}
	ip, err := netip.ParseAddr(sipx.SourceIP(req.Source()))
	if err == nil && s.o.Registrar != nil && s.o.Registrar.IsPhoneAddress(ip.Unmap()) {
		return nil
	}
	return rejectForbidden("SUBSCRIBE not from a staff phone")
}

// take reads which number a trunk's call is for and takes one of
// the trunk's channels; release gives it back when the call ends.
func (s *trunkSide) take(a *attempt, t *trunk.Trunk) (release func(), r *rejection) {
	did, ok := t.Called(a.req)
	if !ok {
		return nil, rejectUnknownNumber(a.to)
	}
	a.to, a.trunk = did, t.Name()
	release, err := t.Acquire()
	if err != nil {
		return nil, rejected(sipmsg.StatusBusyHere, "Busy Here", err.Error())
	}
	return release, nil
}

// Local implements trunk.Sender: the address written in Via and Contact.
func (s *Server) Local(transport string, dest netip.AddrPort) (netip.AddrPort, bool, error) {
	l := s.listenerFor(listenerTransport(transport))
	if l == nil {
		return netip.AddrPort{}, false, fmt.Errorf("no %s listener (sip.listen)", transport)
	}
	if s.publicIP.IsValid() {
		return netip.AddrPortFrom(s.publicIP, l.addr.Port()), true, nil
	}
	ip := l.addr.Addr()
	if stun := s.public(); stun.IsValid() {
		ip = stun // the port the NAT maps is learnt from the provider's answers
	}
	if ip.IsUnspecified() {
		if local, ok := localIPFor(dest); ok {
			ip = local
		}
	}
	return netip.AddrPortFrom(ip, l.addr.Port()), false, nil
}

// listenerTransport is the listener a trunk's transport leaves from.
func listenerTransport(transport string) string { return strings.ToLower(transport) }

// Do implements trunk.Sender: one request out of dialog, to the provider,
// from the listener of its transport; its final response.
func (s *Server) Do(ctx context.Context, req *sipmsg.Request, transport string, dest netip.AddrPort) (*sipmsg.Response, error) {
	l := s.listenerFor(listenerTransport(transport))
	if l == nil {
		return nil, fmt.Errorf("no %s listener", transport)
	}
	req.SetTransport(strings.ToUpper(transport))
	req.SetDestination(dest.String())
	if l.udpAddr != nil {
		req.Laddr = sipmsg.Addr{IP: l.udpAddr.IP, Port: l.udpAddr.Port}
	}
	tx, err := s.client.TransactionRequest(edge.AllowDial(ctx), req, asIs) // to the provider the config names (edge.GuardedTCP)
	if err != nil {
		return nil, err
	}
	return finalResponse(ctx, req, tx)
}

// run registers the trunks and keeps them up until the server
// stops; Close waits for them (they remove their registrations first).
func (s *trunkSide) run() {
	for _, t := range s.o.Trunks {
		if !s.enter() {
			return
		}
		go func() {
			defer s.wg.Done()
			t.Run(s.stop, s.Server, s.o.Resolver, s.o.TrunkTiming, s.o.Logger.With("component", "trunk"))
		}()
	}
}

// dial rings an outside number through the first trunk that can
// carry the call: registered (or IP-authenticated), a channel free, and
// outbound minutes left this hour.
func (s *trunkSide) dial(ctx context.Context, r ivr.DialRequest) (ivr.StaffLeg, error) {
	var why []string
	for _, t := range s.o.Trunks {
		if t.Registers() && !t.State().Registered {
			s.o.OnTrunkRefused(t.Name(), "not_registered")
			why = append(why, t.Name()+": not registered")
			continue
		}
		release, err := t.AcquireOutbound(time.Now())
		if err != nil {
			reason := "channels"
			if errors.Is(err, trunk.ErrMinutes) {
				reason = "minutes"
			}
			s.o.OnTrunkRefused(t.Name(), reason)
			why = append(why, err.Error())
			continue
		}
		leg, err := s.dialThrough(ctx, t, r)
		if err != nil {
			release()
			return nil, err
		}
		go func() {
			<-leg.Done()
			release()
		}()
		return leg, nil
	}
	if len(why) == 0 {
		return nil, fmt.Errorf("sip: dial %s: %w", r.Target, ivr.ErrNoTrunk)
	}
	return nil, fmt.Errorf("sip: dial %s: %w (%s)", r.Target, ivr.ErrNoTrunk, strings.Join(why, "; "))
}

// dialThrough places the call on trunk t: the request-URI is the number
// in the trunk's dial format at the provider's domain, From and
// P-Asserted-Identity the club's caller id, the provider's challenges
// answered with the trunk's account. The call's context headers
// (X-Clubline-*) stay home: they are for the club's own phones, not for a
// carrier.
func (s *trunkSide) dialThrough(ctx context.Context, t *trunk.Trunk, r ivr.DialRequest) (*OutboundLeg, error) {
	host, port, transport := t.NextHop()
	target := sipmsg.Uri{Scheme: "sip", User: t.DialString(r.Target.Number), Host: t.Domain()}
	dest, err := s.destination(ctx, host, port, transport)
	if err != nil {
		return nil, fmt.Errorf("sip: trunk %s: %w", t.Name(), err)
	}
	caller := t.CallerID()
	pai := fmt.Sprintf("<sip:%s@%s>", caller, t.Domain())
	return s.Dial(ctx, DialRequest{
		Target:      target.String(),
		Destination: transport + ":" + dest.String(),
		CallerID:    caller,
		FromHost:    t.Domain(),
		Display:     r.Display,
		Headers:     map[string]string{"P-Asserted-Identity": pai},
		RingTimeout: r.RingTimeout,
		Auth:        t.Authorizer(),
		Advertise:   t.Seen(),
		Trunk:       t.Name(),
		SRTP:        srtpPolicy(t.Account().SRTP),
	})
}

// srtpPolicy reads a trunk's srtp ("required", "optional", "off").
func srtpPolicy(s string) media.SRTPPolicy {
	switch s {
	case "required":
		return media.SRTPRequired
	case "off":
		return media.SRTPOff
	}
	return media.SRTPOptional
}

// answerSRTP is the policy of the answer to a caller's offer: the
// trunk's srtp for a call it delivered, else optional: encrypted media
// when the caller offers it, plain otherwise.
func (s *trunkSide) answerSRTP(trunkName string) media.SRTPPolicy {
	for _, t := range s.o.Trunks {
		if t.Name() == trunkName && trunkName != "" {
			return srtpPolicy(t.Account().SRTP)
		}
	}
	return media.SRTPOptional
}

// destination resolves the trunk's next hop.
func (s *trunkSide) destination(ctx context.Context, host string, port int, transport string) (netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if port == 0 {
			port = sipx.DefaultPort(transport)
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	return sipx.Resolve(ctx, s.o.Resolver, transport, host, port)
}

// Trunks are the server's trunks, for their state (readyz, check, metrics).
func (s *Server) Trunks() []*trunk.Trunk { return s.o.Trunks }
