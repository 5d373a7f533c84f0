package registrar

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Path (RFC 3327): a phone that registers through a proxy (the front
// Kamailio of a cluster, deploy/kamailio) is reached through that proxy.
//
// Decisions:
//
//   - The Path headers are kept with the binding (clubline.Registration
//     .Path) and every request clubline sends the phone outside a dialog
//     (the INVITE that rings it, the keep-alive OPTIONS, the unsolicited
//     message-waiting NOTIFY) carries them as Route headers and goes to
//     the first hop (NextHop), never to the phone's Contact or Received.
//   - A Path is taken only when its first hop names, by IP address, the
//     source of the REGISTER: the proxy that added it is the one that
//     handed clubline the request. A phone that writes a Path of its own
//     naming another host gains nothing (the Path is ignored, with one log
//     line, and the binding is a direct one): clubline never sends to an
//     address a request merely named (sip/internal/edge, reach.go). Hops
//     past the first are the proxy's business.
//   - The 200 echoes the Path when the REGISTER said Supported: path, as
//     RFC 3327 §5.3 requires; without it the Path is still used (Kamailio
//     adds Path whatever the phone supports, and RFC 3327 lets a registrar
//     that knows the proxy accept it).
//   - Digest stays clubline's: the proxy forwards the REGISTER as it came.
//     The REGISTER's limits and the nonce are bound to the phone's own
//     address when the first hop says it (received=, as Kamailio's
//     add_path_received writes it), so that every phone behind one proxy
//     does not share one budget of REGISTERs and wrong passwords. A phone
//     that writes its own Path (first hop: itself) and a made-up
//     received= only moves itself to another key of these per-address
//     limits: the edge's per-source limits still see its real address,
//     and the wrong passwords for one staff member are bounded whatever
//     the address (guard.go).
//   - The proxy's address is not a staff phone's (IsPhoneAddress): a
//     binding through a Path does not make everything from the proxy count
//     as coming from a staff phone (exempt from the per-source limits,
//     allowed to try a staff INVITE's digest). The admin trusts the proxy
//     explicitly (sip.limits.trusted, allow_from), as deploy/kamailio's
//     README says.

// pathOf reads the Path header values of a REGISTER, nearest hop first,
// and checks them against its source: it returns nil for no Path, and
// nil with the reason for one it ignores (see the Decisions), which the
// caller logs once the REGISTER is authenticated.
func pathOf(req *sipmsg.Request) (path []string, ignored string) {
	for _, v := range sipx.Values(req, "Path") {
		path = append(path, splitList(v)...)
	}
	if len(path) == 0 {
		return nil, ""
	}
	hop, err := parseHop(path[0])
	if err != nil {
		return nil, "unreadable first hop"
	}
	host, err := netip.ParseAddr(strings.Trim(hop.Host, "[]"))
	src, serr := netip.ParseAddr(sipx.SourceIP(req.Source()))
	if err != nil || serr != nil || host.Unmap() != src.Unmap() {
		return nil, "its first hop is not the address the REGISTER came from"
	}
	return path, ""
}

// phoneIP is the address of the phone behind a Path, from the first hop's
// received parameter; "" when it does not say.
func phoneIP(path []string) string {
	if len(path) == 0 {
		return ""
	}
	hop, err := parseHop(path[0])
	if err != nil || hop.UriParams == nil {
		return ""
	}
	rcv, ok := hop.UriParams.Get("received")
	if !ok {
		return ""
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(strings.Trim(rcv, `"`), &u); err != nil {
		return ""
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
}

// NextHop is where requests to a registered phone go, "transport:ip:port"
// as a Registration's Received: the first hop of its Path (its transport
// parameter, else the REGISTER's transport; its port, else the
// transport's default), or Received for a phone that registered directly.
func NextHop(reg *clubline.Registration) string {
	if len(reg.Path) == 0 {
		return reg.Received
	}
	hop, err := parseHop(reg.Path[0])
	if err != nil {
		return reg.Received
	}
	ip, err := netip.ParseAddr(strings.Trim(hop.Host, "[]"))
	if err != nil {
		return reg.Received
	}
	transport, _, _ := strings.Cut(reg.Received, ":")
	if hop.UriParams != nil {
		if t, ok := hop.UriParams.Get("transport"); ok && t != "" {
			transport = strings.ToLower(t)
		}
	}
	if transport == "" {
		transport = "udp"
	}
	port := hop.Port
	if port == 0 {
		port = sipx.DefaultPort(transport)
	}
	return transport + ":" + netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
}

// parseHop reads the URI of one Path (or Route) value, "<sip:…;lr>;p=v".
func parseHop(v string) (sipmsg.Uri, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return sipmsg.Uri{}, fmt.Errorf("path %.40q: no closing >", v)
		}
		v = v[i+1 : i+j]
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(v, &u); err != nil {
		return sipmsg.Uri{}, fmt.Errorf("path %.40q: %w", v, err)
	}
	return u, nil
}

// splitList splits a header value at the commas that separate its
// entries, not those inside <…> or a quoted string.
func splitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}
