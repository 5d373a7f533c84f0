package sipx

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// resolveTimeout bounds the DNS lookups of one Resolve.
const resolveTimeout = 3 * time.Second

// Resolve finds where to send to a host name: its SRV records when no port
// is given (lowest priority first), else or then its addresses, IPv4 first.
func Resolve(ctx context.Context, res *net.Resolver, transport, host string, port int) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	if port == 0 {
		if _, srvs, err := res.LookupSRV(ctx, "sip", transport, host); err == nil && len(srvs) > 0 {
			host, port = strings.TrimSuffix(srvs[0].Target, "."), int(srvs[0].Port)
		} else {
			port = DefaultPort(transport)
		}
	}
	ips, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %s", host)
	}
	best := ips[0].Unmap()
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			best = ip.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, uint16(port)), nil
}

// ResolvePrefix reads an IP, a CIDR or a host name (its addresses, and
// the targets of its SIP SRV records, where providers list the servers
// that send calls).
func ResolvePrefix(ctx context.Context, r *net.Resolver, s string) ([]netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return []netip.Prefix{p.Masked()}, nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		ip = ip.Unmap()
		return []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hosts := []string{s}
	for _, proto := range []string{"udp", "tcp"} {
		if _, srvs, err := r.LookupSRV(ctx, "sip", proto, s); err == nil {
			for _, srv := range srvs {
				hosts = append(hosts, strings.TrimSuffix(srv.Target, "."))
			}
		}
	}
	var out []netip.Prefix
	var lastErr error
	for _, h := range hosts {
		ips, err := r.LookupNetIP(ctx, "ip", h)
		if err != nil {
			lastErr = err
			continue
		}
		for _, ip := range ips {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("no address for %s", s)
		}
		return nil, lastErr
	}
	return out, nil
}

// DefaultPort is SIP's port for a transport when none is given: 5061 for
// TLS, 5060 otherwise (RFC 3261 §19.1.2).
func DefaultPort(transport string) int {
	if strings.EqualFold(transport, "tls") {
		return 5061
	}
	return 5060
}
