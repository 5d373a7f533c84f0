package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The keep-alive of registered contacts: so that a phone that vanished
// (unplugged, out of Wi-Fi, crashed) stops being rung long before its
// registration would expire, the registrar sends an out-of-dialog OPTIONS
// to each live contact every PingEvery, to where the phone really is (the
// Received address of its REGISTER, over the same transport).
//
// Decisions:
//
//   - Any response, 4xx and 5xx included, means the phone is there; only
//     no response within PingTimeout (or a failure to send) is a failure.
//   - A contact that fails PingFailures pings in a row is deleted from the
//     Store, with one log line. A REGISTER refresh in between (a new
//     RegisteredAt or Received) starts the count again: the phone spoke.
//   - OnChange is called after every round, whether or not anything was
//     removed, so a count of registered staff also follows plain expiry.
//   - A round that cannot read the Store logs and waits for the next tick.

// Keep-alive defaults.
const (
	DefaultPingEvery    = 30 * time.Second
	DefaultPingTimeout  = 5 * time.Second
	DefaultPingFailures = 2
	pingConcurrency     = 32 // pings in flight at once
)

func (o *RegistrarOptions) keepaliveDefaults() {
	if o.PingEvery == 0 {
		o.PingEvery = DefaultPingEvery
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.PingFailures <= 0 {
		o.PingFailures = DefaultPingFailures
	}
}

// keepalive pings the registered contacts; it runs on one goroutine.
type keepalive struct {
	s        *Server
	r        *registrar
	failures map[string]*pingState // by staff id and contact
}

// pingState counts the failed pings in a row of one registration, as it
// was when pinged.
type pingState struct {
	received     string
	registeredAt time.Time
	failed       int
}

// startKeepalive starts the pinger when the registrar is on; it stops when
// the server stops (HangupAll, Close), and Close waits for it.
func (s *Server) startKeepalive() {
	if s.registrar == nil || s.registrar.o.PingEvery < 0 || !s.enter() {
		return
	}
	k := &keepalive{s: s, r: s.registrar, failures: make(map[string]*pingState)}
	go func() {
		defer s.wg.Done()
		k.run(s.stop)
	}()
}

func (k *keepalive) run(ctx context.Context) {
	t := time.NewTicker(k.r.o.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.round(ctx)
		}
	}
}

// round pings every live registration once and removes those that failed
// too often.
func (k *keepalive) round(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	regs, err := k.r.o.Store.Registrations(sctx, "", k.r.o.Now())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			k.r.log.Warn("keep-alive: cannot read the registrations", "error", err)
		}
		return
	}
	alive := make([]bool, len(regs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, pingConcurrency)
	for i, reg := range regs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			alive[i] = k.ping(ctx, reg) == nil
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: an interrupted ping proves nothing
	}

	seen := make(map[string]bool, len(regs))
	for i, reg := range regs {
		key := reg.StaffID + "\x00" + reg.Contact
		seen[key] = true
		st := k.failures[key]
		if st == nil || st.received != reg.Received || !st.registeredAt.Equal(reg.RegisteredAt) {
			st = &pingState{received: reg.Received, registeredAt: reg.RegisteredAt}
			k.failures[key] = st
		}
		if alive[i] {
			st.failed = 0
			continue
		}
		st.failed++
		if st.failed >= k.r.o.PingFailures {
			k.remove(ctx, reg, st.failed)
			delete(k.failures, key)
		}
	}
	for key := range k.failures {
		if !seen[key] {
			delete(k.failures, key) // expired or unregistered
		}
	}
	k.r.o.OnChange()
}

// remove deletes a registration that stopped answering, unless the phone
// refreshed it meanwhile.
func (k *keepalive) remove(ctx context.Context, reg *clubline.Registration, failed int) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	current, err := k.r.o.Store.Registrations(ctx, reg.StaffID, k.r.o.Now())
	if err != nil {
		k.r.log.Warn("keep-alive: cannot remove a silent contact: the store failed", "staff", reg.StaffID, "error", err)
		return
	}
	for _, c := range current {
		if c.Contact == reg.Contact && (c.Received != reg.Received || !c.RegisteredAt.Equal(reg.RegisteredAt)) {
			return // refreshed since the ping
		}
	}
	err = k.r.o.Store.DeleteRegistration(ctx, reg.StaffID, reg.Contact)
	if errors.Is(err, clubline.ErrNotFound) {
		return
	}
	if err != nil {
		k.r.log.Warn("keep-alive: cannot remove a silent contact: the store failed", "staff", reg.StaffID, "error", err)
		return
	}
	transport, addr, _ := strings.Cut(reg.Received, ":")
	k.r.log.Info("contact removed: no answer to OPTIONS", "staff", reg.StaffID, "transport", transport,
		"source", sipx.MaskAddr(sipx.SourceIP(addr)), "failed_pings", failed)
}

// ping sends one OPTIONS to where the phone registered from and waits for
// any response.
func (k *keepalive) ping(ctx context.Context, reg *clubline.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, k.r.o.PingTimeout)
	defer cancel()
	req, err := k.s.optionsRequest(reg)
	if err != nil {
		return err
	}
	tx, err := k.s.client.TransactionRequest(ctx, req, asIs)
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
// transport.
func (s *Server) optionsRequest(reg *clubline.Registration) (*sipmsg.Request, error) {
	transport, addr, ok := strings.Cut(reg.Received, ":")
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
	host := s.publicIP
	if !host.IsValid() {
		host = l.addr.Addr()
		if host.IsUnspecified() {
			if ip, ok := localIPFor(dest); ok {
				host = ip
			}
		}
	}
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
