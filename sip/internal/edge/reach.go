package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// What clubline connects to and looks up, and on whose word (issue 7,
// finding 8). A request from the network is not authenticated (only a
// REGISTER is): the addresses and names it carries (Via, Contact,
// Record-Route) are the sender's say-so.
//
// Decisions:
//
//   - An answer goes back on the connection its request came on, or
//     nowhere. When a TCP request's connection is gone by the time sipgo
//     makes its transaction, sipgo connects to the Via's host and port
//     (RFC 3261 §18.2.2 allows it); a Via can name anything, a Redis on
//     the same host included. clubline gives sipgo its own TCP transport
//     (GuardedTCP) whose dialer refuses every connection clubline did not
//     ask for: such an answer is dropped, and the peer retransmits on a
//     new connection or gives up. The refusals are logged at debug
//     (sip/logging.go, IsRefused): a flood of such requests is no flood
//     of warnings.
//   - clubline asks for connections (AllowDial) only for requests to an
//     address from its configuration or from an authenticated
//     registration: the keep-alive OPTIONS (sip/ping.go), the INVITE and
//     CANCEL to a staff phone or the urgency fallback (sip/dialer.go), the
//     requests to a trunk's provider (sip/trunks.go), and the requests
//     within such a leg. A caller's call never opens one: over TCP its
//     requests go on the caller's connection, whatever its Record-Route
//     says; if that connection is gone they are dropped (the caller's own
//     requests would come on a new one).
//   - sipgo gets a resolver that refuses every lookup (RefusingResolver).
//     clubline resolves the names its configuration gives
//     (sip.Options.Resolver: PublicAddress, a dial target with a host
//     name) itself and hands sipgo addresses. Go's resolver still answers
//     a name in /etc/hosts (localhost) from the file: no query leaves, and
//     the dialer above refuses the connection.
//   - Within a caller's call over UDP, a next hop (the top Route, else
//     the Contact) given as a host name is replaced by the address the
//     INVITE came from (NamedHop): the name is never looked up. A next hop
//     given as an IP address is used as RFC 3261 §12.2.1.1 says: one
//     datagram, as from any SIP server.
//   - sipgo logs its TCP transport (clubline's, above: its logger field
//     is unexported) through its package default logger. Package sip
//     points that at its redacting handler (sip/logging.go), over
//     slog.Default() as it is at start: garbage read over TCP is masked
//     and demoted as over UDP.

// dialAllowedKey marks a context under which sipgo may open a connection.
type dialAllowedKey struct{}

// AllowDial lets sipgo open a connection for a request sent under ctx:
// only for an address clubline's configuration or an authenticated
// registration gave.
func AllowDial(ctx context.Context) context.Context {
	return context.WithValue(ctx, dialAllowedKey{}, true)
}

var (
	errDialRefused   = errors.New("sip: no connection to an address a request named")
	errLookupRefused = errors.New("sip: no lookup of a name a request gave")
)

// IsRefused reports whether err is a connection or a lookup refused on
// purpose (GuardedTCP, RefusingResolver): a request's doing, not a fault.
// Go's resolver keeps only the text of the error its Dial returned.
func IsRefused(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, errDialRefused) ||
		errors.As(err, &dnsErr) && dnsErr.Err == errLookupRefused.Error()
}

// GuardedTCP is sipgo's TCP transport with a dialer that connects only
// when clubline asked for it (AllowDial). The refusal comes after the
// socket is made and before it connects: nothing is sent.
func GuardedTCP(log *slog.Logger) *sipmsg.TransportTCP {
	refuse := func(ctx context.Context, _, address string, _ syscall.RawConn) error {
		if ctx.Value(dialAllowedKey{}) != nil {
			return nil
		}
		log.Debug("no connection opened: clubline did not ask for it (an answer whose connection is gone, or a request in a caller's call)",
			"addr", address)
		return errDialRefused
	}
	return &sipmsg.TransportTCP{
		DialerCreate: func(laddr net.Addr) net.Dialer {
			return net.Dialer{Timeout: time.Minute /* sipgo's */, LocalAddr: laddr, ControlContext: refuse}
		},
	}
}

// RefusingResolver is sipgo's: it never asks a DNS server.
func RefusingResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errLookupRefused
	}}
}

// NamedHop reports whether the next hop of a request in a caller's
// dialog, the top of routes, else target, is named by a host name (or
// cannot be read): its requests then go where the INVITE came from.
func NamedHop(target sipmsg.Uri, routes []sipmsg.Header) bool {
	host := target.Host
	if len(routes) > 0 {
		var u sipmsg.Uri
		params := sipmsg.NewParams()
		if _, err := sipmsg.ParseAddressValue(routes[0].Value(), &u, &params); err != nil {
			return true
		}
		host = u.Host
	}
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err != nil
}
