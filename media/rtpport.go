package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
)

// ErrNoPorts is wrapped by ListenRTP when every even port of the range is taken.
var ErrNoPorts = errors.New("media: no free RTP port")

// ListenRTP opens a UDP socket for RTP on ip at an even port in
// [minPort, maxPort] (RTP uses even ports, RFC 3550 section 11). It starts
// at a random even port and tries each one once. minPort = maxPort = 0 lets
// the system pick any free port, which may be odd (for tests).
//
// The socket is of ip's family only: for 0.0.0.0 Go would otherwise open
// a dual-stack [::] socket, and the session would be able to send to IPv6
// peers that could never reach the IPv4 address clubline writes in its
// SDP (see sdp_addr.go).
func ListenRTP(ip netip.Addr, minPort, maxPort int) (*net.UDPConn, error) {
	ip = ip.Unmap()
	network := "udp6"
	if ip.Is4() {
		network = "udp4"
	}
	if minPort == 0 && maxPort == 0 {
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	first := minPort + minPort%2
	if minPort < 1 || maxPort > 65535 || first > maxPort {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no even port; use a range such as 10000-20000",
			minPort, maxPort)
	}
	count := (maxPort-first)/2 + 1
	start := rand.IntN(count)
	for i := range count {
		port := first + 2*((start+i)%count)
		conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("media: listen for RTP on %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
		}
	}
	return nil, fmt.Errorf("%w: all %d even ports in %d-%d on %s are in use; widen the range or end stale calls",
		ErrNoPorts, count, minPort, maxPort, ip)
}
