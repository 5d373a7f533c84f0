package sip

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
//     whose dialer refuses every connection clubline did not ask for:
//     such an answer is dropped, and the peer retransmits on a new
//     connection or gives up. The refusals are logged at debug
//     (logging.go): a flood of such requests is no flood of warnings.
//   - clubline asks for connections (allowDial) only for requests to an
//     address from its configuration or from an authenticated
//     registration: the keep-alive OPTIONS (ping.go), the INVITE and
//     CANCEL to a staff phone or the urgency fallback (dialer.go), and
//     the requests within such a leg. A caller's call never opens one:
//     over TCP its requests go on the caller's connection, whatever its
//     Record-Route says; if that connection is gone they are dropped (the
//     caller's own requests would come on a new one).
//   - sipgo gets a resolver that refuses every lookup. clubline resolves
//     the names its configuration gives (Options.Resolver: PublicAddress,
//     a dial target with a host name) itself and hands sipgo addresses.
//     Go's resolver still answers a name in /etc/hosts (localhost) from
//     the file: no query leaves, and the dialer above refuses the
//     connection.
//   - Within a caller's call over UDP, a next hop (the top Route, else
//     the Contact) given as a host name is replaced by the address the
//     INVITE came from: the name is never looked up. A next hop given as
//     an IP address is used as RFC 3261 §12.2.1.1 says: one datagram, as
//     from any SIP server.
//   - sipgo logs its TCP transport (clubline's, above: its logger field
//     is unexported) through its package default logger. Package sip
//     points that at the redacting handler of logging.go, over
//     slog.Default() as it is at start: garbage read over TCP is masked
//     and demoted as over UDP.

func init() {
	sipmsg.SetDefaultLogger(redactedLogger(slog.Default()))
}

// dialAllowedKey marks a context under which sipgo may open a connection.
type dialAllowedKey struct{}

// allowDial lets sipgo open a connection for a request sent under ctx.
func allowDial(ctx context.Context) context.Context {
	return context.WithValue(ctx, dialAllowedKey{}, true)
}

var (
	errDialRefused   = errors.New("sip: no connection to an address a request named")
	errLookupRefused = errors.New("sip: no lookup of a name a request gave")
)

// guardedTCP is sipgo's TCP transport with a dialer that connects only
// when clubline asked for it (allowDial). The refusal comes after the
// socket is made and before it connects: nothing is sent.
func guardedTCP(log *slog.Logger) *sipmsg.TransportTCP {
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

// refusingResolver is sipgo's: it never asks a DNS server.
func refusingResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errLookupRefused
	}}
}

// dialCtx lets the requests of a dialog clubline placed (a staff leg)
// open a connection; a caller's dialog never does.
func (d *dialog) dialCtx(ctx context.Context) context.Context {
	if d.placed {
		return allowDial(ctx)
	}
	return ctx
}

// write sends a request outside any transaction (an ACK to a 2xx). For a
// dialog clubline placed it does what sipgo's WriteRequest does, under
// dialCtx: WriteRequest takes no context.
func (d *dialog) write(req *sipmsg.Request) error {
	if !d.placed {
		return d.client.WriteRequest(req, asIs)
	}
	conn, err := d.client.TransportLayer().ClientRequestConnection(d.dialCtx(context.Background()), req)
	if err != nil {
		return err
	}
	defer func() { _, _ = conn.TryClose() }()
	return conn.WriteMsg(req)
}

// sourceFor says where a request of a caller's dialog goes when its next
// hop (the top Route, else target) is a host name: where the INVITE came
// from. "" leaves it to the next hop.
func (d *dialog) sourceFor(target sipmsg.Uri) string {
	if d.src == "" {
		return ""
	}
	host := target.Host
	if len(d.routes) > 0 {
		var u sipmsg.Uri
		params := sipmsg.NewParams()
		if _, err := sipmsg.ParseAddressValue(d.routes[0].Value(), &u, &params); err != nil {
			return d.src
		}
		host = u.Host
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ""
	}
	return d.src
}
