package edge

import (
	"context"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// How big a message UDP carries.
//
// Decisions:
//
//   - Responses go over the transport of their request, whatever their size
//     (RFC 3261 §18.2.2): a 200 OK echoing a carrier's eight Record-Routes
//     is sent over UDP and IP fragments it. sipgo refuses to write any UDP
//     message over UDPMTUSize-200 bytes (1,300), and a refused answer
//     vanished: the caller got 100 Trying and the call record said 500.
//     The limit is raised, once for the process (init, before any
//     goroutine: package sip imports this one), to what a datagram can
//     carry, 65,507 bytes; sipgo has no per-user-agent option for it and
//     its UDP transport cannot be wrapped.
//   - clubline's own requests over 1,300 bytes bound for UDP go over TCP to
//     the same next hop (RFC 3261 §18.1.1), with the top Via changed to TCP
//     and the port of clubline's TCP listener, when clubline may connect
//     there at all (reach.go: a staff phone or the configured fallback,
//     never an address a caller's request named) and a TCP connection to
//     that hop opens within tcpTryTimeout. Otherwise (a caller's route;
//     nothing listens: a reset; a phone behind NAT: silence; no TCP
//     listener) the request goes over UDP, big (RFC 3261 §18.1.1 says to
//     retry over UDP after a reset). This holds inside a dialog too: a UDP
//     peer with no TCP, such as the carrier proxy first on a route set,
//     still gets its big BYE. Contact is left as it was: the peer keeps
//     sending to clubline over UDP.
//   - Every request clubline sends passes through sip's asIs
//     (sip/dialog.go), which applies FitTransport; the CANCEL of a moved
//     INVITE copies its Via and transport, so it follows it.

const (
	// maxDatagram is the largest UDP payload over IPv4 (65,535 less the IP
	// and UDP headers).
	maxDatagram = 65507
	// udpRequestMax is RFC 3261 §18.1.1's limit for a request over UDP
	// when the path MTU is unknown.
	udpRequestMax = 1300
	// tcpTryTimeout bounds the wait for a TCP connection before a big
	// request falls back to UDP: twice T1 (500 ms, RFC 3261's estimate of
	// a round trip), enough for a SYN and its answer.
	tcpTryTimeout = time.Second
)

func init() {
	sipmsg.UDPMTUSize = maxDatagram + 200 // sipgo writes up to UDPMTUSize-200
}

// FitTransport moves a request too big for UDP to TCP when its next hop
// takes a TCP connection; otherwise it leaves the request as it is. It is
// a sipgo.ClientRequestOption, and never fails.
func FitTransport(c *sipgo.Client, req *sipmsg.Request) error {
	via := req.Via()
	if via == nil || !strings.EqualFold(req.Transport(), "UDP") || len(req.String()) <= udpRequestMax {
		return nil
	}
	tp := c.TransportLayer()
	ports := tp.ListenPorts("tcp") // GetListenPort reads without sipgo's lock
	if len(ports) == 0 {
		return nil
	}
	port := ports[0]
	network, viaTransport, viaPort, laddr := req.Transport(), via.Transport, via.Port, req.Laddr
	via.Transport, via.Port = "TCP", port
	req.SetTransport("TCP")
	req.Laddr = sipmsg.Addr{} // a UDP listener's address; TCP dials from any port
	ctx, cancel := context.WithTimeout(context.Background(), tcpTryTimeout)
	defer cancel()
	conn, err := tp.ClientRequestConnection(ctx, req)
	if err != nil {
		via.Transport, via.Port = viaTransport, viaPort
		req.SetTransport(network)
		req.Laddr = laddr
		return nil
	}
	// The transaction finds this connection again in sipgo's pool and takes
	// its own reference; this one only opened the way.
	_, _ = conn.TryClose()
	return nil
}
