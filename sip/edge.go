package sip

import (
	"context"
	"net"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The server's defences against the network are package edge's
// (sip/internal/edge: what each refuses and why, in its Decisions). This
// file is where they meet what only the Server knows: its calls (a TCP
// connection that carries one is never closed for silence), its dialogs
// (which may open a connection), its listeners (the socket a refused
// datagram is answered from), and its one table of refusals (reject.go:
// edge says what is wrong, rejectProblem how SIP answers it).

// Limits are the per-source request limits (Options.Limits): edge.Limits,
// whose fields name their defaults.
type Limits = edge.Limits

// Reasons of Limits.OnBlocked.
const (
	BlockedInviteRate  = edge.BlockedInviteRate
	BlockedOptionsRate = edge.BlockedOptionsRate
	BlockedRequestRate = edge.BlockedRequestRate
	BlockedSource      = edge.BlockedSource
)

// limited applies the per-source limits to a request: true when it was
// refused (503 with Retry-After) or dropped, and the handler must not run.
func (s *Server) limited(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	switch s.limits.Check(req) {
	case edge.Refuse:
		s.respond(tx, rejectOverLimit(s.limits.BlockFor()).response(req))
		return true
	case edge.Drop:
		if tx != nil {
			tx.Terminate()
		}
		return true
	}
	return false
}

// refuseMalformed answers a request edge.Validate refuses and reports
// whether it did; the handler then has nothing to do.
func (s *Server) refuseMalformed(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	p := edge.Validate(req)
	if p == nil {
		return false
	}
	res := answerProblem(req, p)
	s.log.Debug("malformed request refused", "method", sipx.Printable(string(req.Method), 16),
		"status", res.StatusCode, "why", sipx.MaskDigits(p.Why), "source", sipx.MaskAddr(sipx.SourceIP(req.Source())))
	s.respond(tx, res)
	return true
}

// answerProblem is the answer to a request with a problem edge found.
func answerProblem(req *sipmsg.Request, p *edge.Problem) *sipmsg.Response {
	res := rejectProblem(p).response(req)
	res.SipVersion = "SIP/2.0" // a 505 must not answer in the version it refuses
	return res
}

// readFilter is sipgo's transport read filter (edge.ReadFilter), made
// once: nothing is read once Close has begun (deaf), and a refused
// datagram is answered from the server's UDP socket that read it.
func (s *Server) readFilter() sipmsg.TransportReadFilter {
	f := &edge.ReadFilter{Closed: s.deaf.Load, Limits: s.limits, Socket: s.udpListenerAt, Answer: answerProblem, Log: s.log}
	return f.Read
}

// udpListenerAt returns the server's UDP socket bound at addr, nil if none
// (sipgo reads from sockets of its own too).
func (s *Server) udpListenerAt(addr net.Addr) net.PacketConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.network == "udp" && l.udpAddr != nil && l.udpAddr.String() == addr.String() {
			if pc, ok := l.closer.(net.PacketConn); ok {
				return pc
			}
		}
	}
	return nil
}

// limitTCP wraps a TCP listener (TLS ones too) in the idle timeout and
// the per-source cap of Options (edge.LimitListener).
func (s *Server) limitTCP(ln net.Listener) net.Listener {
	return edge.LimitListener(ln, edge.TCPOptions{
		IdleTimeout: s.o.TCPIdleTimeout, MaxPerSource: s.o.TCPMaxPerSource,
		Busy: s.carriesCall, Log: s.log.With("transport", "tcp"),
	})
}

// carriesCall reports whether a call or a staff leg that is up sends its
// requests on the TCP connection from remote.
func (s *Server) carriesCall(remote string) bool {
	s.mu.Lock()
	dlgs := make([]*dialog, 0, len(s.calls)+len(s.legs))
	for _, c := range s.calls {
		dlgs = append(dlgs, c.dlg)
	}
	for _, l := range s.legs {
		dlgs = append(dlgs, l.dlg)
	}
	s.mu.Unlock()
	for _, d := range dlgs {
		d.mu.Lock()
		on := d.dest == remote
		d.mu.Unlock()
		if on && (d.transport == "TCP" || d.transport == "TLS") {
			return true
		}
	}
	return false
}

// dialCtx lets the requests of a dialog clubline placed (a staff leg)
// open a connection; a caller's dialog never does (edge.AllowDial).
func (d *dialog) dialCtx(ctx context.Context) context.Context {
	if d.placed {
		return edge.AllowDial(ctx)
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
// from (edge.NamedHop). "" leaves it to the next hop.
func (d *dialog) sourceFor(target sipmsg.Uri) string {
	if d.src == "" || !edge.NamedHop(target, d.routes) {
		return ""
	}
	return d.src
}
