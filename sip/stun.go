package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Learning the public address from a STUN server (RFC 8489 Binding), for
// a clubline behind NAT whose config gives no public_address: the address
// goes in Contact and SDP, so that the provider and phones outside answer
// to the router, which forwards (or, with symmetric RTP, the provider
// answers to where the media comes from anyway).
//
// Only the address is used, not the port: a NAT maps each socket to its
// own port, and the SIP socket's mapping is learnt from the provider's
// answers to the trunk's REGISTER (Via received and rport) instead. A
// STUN server is asked at start and then every stunEvery; a failure keeps
// the address learnt before.

const (
	stunMagicCookie  = 0x2112A442
	stunBindingReq   = 0x0001
	stunBindingResp  = 0x0101
	stunXORMapped    = 0x0020
	stunMapped       = 0x0001
	stunHeaderLength = 20
	stunEvery        = 5 * time.Minute
	stunTimeout      = 3 * time.Second
)

// stunAddress asks server ("host:port", already resolved) for the address
// this machine is seen at.
func stunAddress(ctx context.Context, server netip.AddrPort) (netip.Addr, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return netip.Addr{}, err
	}
	defer conn.Close()
	var req [stunHeaderLength]byte
	binary.BigEndian.PutUint16(req[0:], stunBindingReq)
	binary.BigEndian.PutUint32(req[4:], stunMagicCookie)
	_, _ = rand.Read(req[8:20])
	deadline := time.Now().Add(stunTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	buf := make([]byte, 1500)
	// RFC 8489 §6.2.1: retransmit over UDP; three tries within the timeout.
	for try := range 3 {
		if _, err := conn.WriteToUDPAddrPort(req[:], server); err != nil {
			return netip.Addr{}, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(stunTimeout / 3))
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if try == 2 {
					return netip.Addr{}, fmt.Errorf("no answer from STUN server %s", server)
				}
				break
			}
			if from.Addr().Unmap() != server.Addr().Unmap() {
				continue // not the server we asked
			}
			if ip, err := parseStunResponse(buf[:n], req[8:20]); err == nil {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("no answer from STUN server %s", server)
}

// parseStunResponse reads the mapped address of a Binding success response
// to the transaction id.
func parseStunResponse(b []byte, id []byte) (netip.Addr, error) {
	if len(b) < stunHeaderLength || binary.BigEndian.Uint16(b[0:]) != stunBindingResp ||
		binary.BigEndian.Uint32(b[4:]) != stunMagicCookie || string(b[8:20]) != string(id) {
		return netip.Addr{}, errors.New("not a Binding success response to our request")
	}
	length := int(binary.BigEndian.Uint16(b[2:]))
	if length+stunHeaderLength > len(b) {
		return netip.Addr{}, errors.New("truncated STUN response")
	}
	attrs := b[stunHeaderLength : stunHeaderLength+length]
	var plain netip.Addr
	for len(attrs) >= 4 {
		typ, n := binary.BigEndian.Uint16(attrs[0:]), int(binary.BigEndian.Uint16(attrs[2:]))
		if 4+n > len(attrs) {
			break
		}
		v := attrs[4 : 4+n]
		switch typ {
		case stunXORMapped:
			if ip, ok := stunAddr(v, b[4:20], true); ok {
				return ip, nil
			}
		case stunMapped:
			if ip, ok := stunAddr(v, nil, false); ok {
				plain = ip
			}
		}
		padded := 4 + (n+3)&^3 // values are padded to 4 bytes
		if padded > len(attrs) {
			break
		}
		attrs = attrs[padded:]
	}
	if plain.IsValid() {
		return plain, nil
	}
	return netip.Addr{}, errors.New("STUN response without a mapped address")
}

// stunAddr reads a (XOR-)MAPPED-ADDRESS value; xor is the cookie and
// transaction id.
func stunAddr(v, xor []byte, xored bool) (netip.Addr, bool) {
	if len(v) < 8 {
		return netip.Addr{}, false
	}
	var raw []byte
	switch v[1] {
	case 0x01:
		raw = append([]byte(nil), v[4:8]...)
	case 0x02:
		if len(v) < 20 {
			return netip.Addr{}, false
		}
		raw = append([]byte(nil), v[4:20]...)
	default:
		return netip.Addr{}, false
	}
	if xored {
		for i := range raw {
			raw[i] ^= xor[i]
		}
	}
	ip, ok := netip.AddrFromSlice(raw)
	return ip.Unmap(), ok
}

// learnPublic asks the STUN server now and then every stunEvery until the
// server stops, and keeps the answer as the public address (used only
// when no PublicAddress is configured).
func (s *Server) learnPublic(ctx context.Context) {
	server, err := s.stunServer(ctx)
	if err != nil {
		s.log.Warn("STUN server", "error", err)
		return
	}
	ask := func() {
		ip, err := stunAddress(ctx, server)
		if err != nil {
			s.log.Warn("STUN: public address not learnt", "error", err)
			return
		}
		old := s.stunIP.Swap(&ip)
		changed := old == nil || *old != ip
		if changed {
			s.log.Info("STUN: public address", "ip", ip.String())
		}
	}
	ask()
	t := time.NewTicker(stunEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ask()
		}
	}
}

// public is the address written in Contact and SDP when it is not the
// listener's: PublicAddress, else the one STUN learnt; invalid if neither.
func (s *Server) public() netip.Addr {
	if s.publicIP.IsValid() {
		return s.publicIP
	}
	if ip := s.stunIP.Load(); ip != nil {
		return *ip
	}
	return netip.Addr{}
}

// stunServer resolves Options.STUN ("host:port", port 3478 by default).
func (s *Server) stunServer(ctx context.Context) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s.o.STUN)
	if err != nil {
		host, port = s.o.STUN, "3478"
	}
	if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err == nil {
		return ap, nil
	}
	ctx, cancel := context.WithTimeout(ctx, stunTimeout)
	defer cancel()
	ips, err := s.o.Resolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	p, err := net.LookupPort("udp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}
