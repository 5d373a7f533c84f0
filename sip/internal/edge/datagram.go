package edge

import (
	"bytes"
	"fmt"
	"log/slog"
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
//     headers are refused by Validate (validate.go), for TCP too.
//   - A UDP request without Content-Length runs to the end of the datagram
//     (RFC 3261 §18.3 allows it), as sipgo reads it.

// A ReadFilter is sipgo's transport read filter
// (sipmsg.WithTransportLayerReadFilter: pass it Read): it drops whatever
// is read once the server is closing or from an address the limits block
// (limits.go), and refuses UDP requests whose Content-Length the datagram
// belies.
type ReadFilter struct {
	// Closed reports whether the server's Close has begun: everything read
	// is then dropped (sipgo would open a socket of its own to answer).
	Closed func() bool
	// Limits drop, unread, the datagrams of a blocked source.
	Limits *Limiter
	// Socket returns the server's UDP socket bound at a local address,
	// which a refused request is answered from; nil when none is (sipgo
	// reads from sockets of its own too): the request is then dropped.
	Socket func(local net.Addr) net.PacketConn
	// Answer builds the response to a request with a Problem, sent as it
	// is: package sip's table of refusals.
	Answer func(req *sipmsg.Request, p *Problem) *sipmsg.Response
	// Log gets a debug line for each request refused or dropped here.
	Log *slog.Logger
}

// Read filters what a transport read: it returns the bytes sipgo is to
// parse, nil to drop them, and never an error.
func (f *ReadFilter) Read(p sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if f.Closed() || f.Limits.DropDatagram(p.RemoteAddr) {
		return nil, nil
	}
	if p.Transport != "UDP" {
		return data, nil
	}
	if why := badLength(data); why != "" {
		f.refuse(p, data, why)
		return nil, nil
	}
	return data, nil
}

// badLength says what is wrong with the Content-Length of a request in a
// datagram, "" when nothing is, or when it is not a request sipgo could
// otherwise parse (that is sipgo's to drop).
func badLength(data []byte) string {
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
	// sipgo frames by the last one; more than one is Validate's to refuse.
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

// refuse sends a stateless 400 for a request read from one of the
// server's UDP sockets. A request too broken to build an answer from is
// dropped.
func (f *ReadFilter) refuse(p sipmsg.TransportReadProps, data []byte, why string) {
	conn := f.Socket(p.LocalAddr)
	src, ok := p.RemoteAddr.(*net.UDPAddr)
	if conn == nil || !ok {
		return
	}
	req, dst := answerable(data, src)
	if req == nil {
		f.Log.Debug("malformed datagram dropped", "why", sipx.MaskDigits(why), "source", sipx.MaskAddr(src.IP.String()))
		return
	}
	res := f.Answer(req, malformed(why))
	f.Log.Debug("malformed request refused", "method", sipx.Printable(string(req.Method), 16),
		"status", res.StatusCode, "why", sipx.MaskDigits(why), "source", sipx.MaskAddr(src.IP.String()))
	if _, err := conn.WriteTo([]byte(res.String()), dst); err != nil {
		f.Log.Debug("response not sent", "status", res.StatusCode, "error", err)
	}
}

// answerable parses the request of a datagram without the Content-Length
// headers that broke sipgo's parse, and says where its answer goes: the
// source address, at the port of the top Via unless it asks for rport.
// It returns nil when there is nothing to answer (not a request, no Via,
// an ACK).
func answerable(data []byte, src *net.UDPAddr) (*sipmsg.Request, *net.UDPAddr) {
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
		return nil, nil
	}
	dst := &net.UDPAddr{IP: src.IP, Port: src.Port, Zone: src.Zone}
	if via := req.Via(); !via.Params.Has("rport") {
		dst.Port = via.Port
		if dst.Port == 0 {
			dst.Port = sipmsg.DefaultUdpPort
		}
	}
	return req, dst
}
