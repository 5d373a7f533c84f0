package sip

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The transport read filter sees each UDP datagram whole, before sipgo
// parses it; over TCP it sees pieces of a stream, where Content-Length is
// the framing itself, so it lets them through.
//
// Decisions:
//
//   - A UDP request whose Content-Length is not a number (RFC 4475 ncl:
//     -999) or announces more body than the datagram carries (clerr) gets a
//     stateless 400 with a Warning, from here: sipgo would fail to parse it
//     and drop it, and RFC 3261 §18.3 says a request cut short SHOULD get a
//     400. It goes to the source address, at the port of the top Via unless
//     it asks for rport (RFC 3261 §18.2.2, RFC 3581), from the listener that
//     read it. Nothing else is done with the datagram; one too broken to
//     build an answer from (no Via, an ACK) is dropped. The filter never
//     returns an error: sipgo stops reading a socket whose filter fails.
//   - Bytes after the body announced are discarded (RFC 3261 §18.3); sipgo
//     does it, and RFC 4475 dblreq depends on it. Two Content-Length
//     headers are refused by validate.go, for TCP too.
//   - A UDP request without Content-Length runs to the end of the datagram
//     (RFC 3261 §18.3 allows it), as sipgo reads it.

// readFilter drops whatever is read once Close has begun or from an
// address the limits block (limits.go), and refuses UDP requests whose
// Content-Length the datagram belies.
func (s *Server) readFilter(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if s.deaf.Load() || s.limits.dropDatagram(p.RemoteAddr) {
		return nil, nil
	}
	if p.Transport != "UDP" {
		return data, nil
	}
	if why := datagramLength(data); why != "" {
		s.refuseDatagram(p, data, why)
		return nil, nil
	}
	return data, nil
}

// datagramLength says what is wrong with the Content-Length of a request
// in a datagram, "" when nothing is, or when it is not a request sipgo
// could otherwise parse (that is sipgo's to drop).
func datagramLength(data []byte) string {
	if bytes.HasPrefix(data, []byte("SIP/")) {
		return "" // a response: sipgo drops it if it is cut short (RFC 3261 §18.3)
	}
	head, body, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		return ""
	}
	values := contentLengths(head)
	if len(values) == 0 {
		return ""
	}
	for _, v := range values {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Sprintf("Content-Length %q is not a number of bytes", sipx.Printable(v, 24))
		}
	}
	// sipgo frames by the last one; more than one is validate.go's to refuse.
	n, _ := strconv.ParseUint(values[len(values)-1], 10, 32)
	if n > uint64(len(body)) {
		return fmt.Sprintf("Content-Length %d but %d bytes of body in the datagram", n, len(body))
	}
	return ""
}

// contentLengths returns the values of the Content-Length headers of a
// header block, long ("Content-Length : 0") or compact ("l:0") form.
func contentLengths(head []byte) []string {
	var out []string
	for _, line := range strings.Split(string(head), "\r\n")[1:] {
		if name, value, ok := strings.Cut(line, ":"); ok && isContentLength(name) {
			out = append(out, strings.TrimSpace(value))
		}
	}
	return out
}

// isContentLength reports whether a header line's name is Content-Length;
// a continuation line (leading space) never is.
func isContentLength(name string) bool {
	if strings.HasPrefix(name, " ") || strings.HasPrefix(name, "\t") {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "content-length", "l":
		return true
	}
	return false
}

// refuseDatagram sends a stateless 400 for a request read from one of the
// server's UDP listeners. A request too broken to build an answer from is
// dropped.
func (s *Server) refuseDatagram(p sipmsg.TransportReadProps, data []byte, why string) {
	conn := s.udpListenerAt(p.LocalAddr)
	src, ok := p.RemoteAddr.(*net.UDPAddr)
	if conn == nil || !ok {
		return
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	var kept []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if name, _, ok := strings.Cut(line, ":"); !ok || !isContentLength(name) {
			kept = append(kept, line) // the answer is built without the lengths that broke the parse
		}
	}
	msg, err := sipmsg.ParseMessage([]byte(strings.Join(kept, "\r\n") + "\r\n\r\n"))
	req, isReq := msg.(*sipmsg.Request)
	if err != nil || !isReq || req.Via() == nil || req.IsAck() {
		s.log.Debug("malformed datagram dropped", "why", maskDigits(why), "source", sipx.MaskAddr(src.IP.String()))
		return
	}
	res := rejectBadRequest(why).response(req)
	res.SipVersion = "SIP/2.0"
	dst := &net.UDPAddr{IP: src.IP, Port: src.Port, Zone: src.Zone}
	if via := req.Via(); !via.Params.Has("rport") {
		dst.Port = via.Port
		if dst.Port == 0 {
			dst.Port = sipmsg.DefaultUdpPort
		}
	}
	s.log.Debug("malformed request refused", "method", sipx.Printable(string(req.Method), 16),
		"status", sipmsg.StatusBadRequest, "why", maskDigits(why), "source", sipx.MaskAddr(src.IP.String()))
	if _, err := conn.WriteTo([]byte(res.String()), dst); err != nil {
		s.log.Debug("response not sent", "status", sipmsg.StatusBadRequest, "error", err)
	}
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
