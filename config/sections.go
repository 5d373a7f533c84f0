package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"go.yaml.in/yaml/v3"
)

var languages = []string{"fr", "en"}

// canadianZones are offered when a time zone is misspelled.
var canadianZones = []string{
	"America/Toronto", "America/Montreal", "America/Halifax", "America/Moncton", "America/St_Johns",
	"America/Winnipeg", "America/Regina", "America/Edmonton", "America/Vancouver", "America/Blanc-Sablon",
}

func (d *decoder) club(n *yaml.Node, c *Club, x *crossRefs) {
	d.fields(n, "club", "club", func(key string, k, v *yaml.Node) {
		p := "club." + key
		switch key {
		case "name":
			x.nameLine = k.Line
			if s, ok := d.required(v, p, "write the club's name, e.g. \"name: Club de Soccer Roussillon\""); ok {
				c.Name = strings.TrimSpace(s)
			}
		case "timezone":
			s, ok := d.required(v, p, "write America/Toronto for Quebec")
			if !ok {
				return
			}
			loc, err := time.LoadLocation(s)
			if err != nil || s == "Local" {
				fix := "write a time zone name from the tz database, e.g. America/Toronto (Quebec)"
				if z, near := closest(s, canadianZones); near {
					fix = "did you mean " + z + "?"
				}
				d.add(v, p, fmt.Sprintf("unknown time zone %q", s), fix)
				return
			}
			c.Timezone, c.Location = s, loc
		case "languages":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			if len(vals) == 0 {
				d.add(v, p, "no language", "write [fr, en]: the first is the default")
				return
			}
			for i, s := range vals {
				switch {
				case !slices.Contains(languages, s):
					d.add(nodes[i], item(p, i), fmt.Sprintf("unknown language %q", s), "clubline speaks fr and en: write [fr, en], [en, fr], [fr] or [en]")
					ok = false
				case slices.Index(vals, s) < i:
					d.add(nodes[i], item(p, i), s+" is listed twice", "list each language once")
					ok = false
				}
			}
			if ok {
				c.Languages = vals
			}
		case "article":
			if s, ok := d.oneOf(v, "club.article", Articles); ok {
				c.Article = s
			}
		case "language_key":
			x.languageKey = resolve(v)
			s, ok := d.scalar(v, p)
			if !ok {
				return
			}
			if s != "" && !validKey(s) {
				d.add(v, p, fmt.Sprintf("%q is not one phone key", s), "write one of 0-9, * or # in quotes, e.g. \"8\"")
				return
			}
			c.LanguageKey = s
		}
	})
	x.multiLanguages = len(c.Languages) > 1
}

func validKey(s string) bool { return len(s) == 1 && strings.Contains("0123456789*#", s) }

var (
	numberPattern  = regexp.MustCompile(`^\+?[0-9]+$`)
	sipUserPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
	portsPattern   = regexp.MustCompile(`^(\d+)\s*-\s*(\d+)$`)
	realmPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// defaultRealm is sip.realm when the file gives none.
const defaultRealm = "clubline"

func (d *decoder) sip(n *yaml.Node, s *SIP, x *crossRefs) {
	var tlsListener, tlsNode *yaml.Node // the first tls:// listener; the tls section
	var tlsListenerKey string
	d.fields(n, "sip", "sip", func(key string, k, v *yaml.Node) {
		p := "sip." + key
		switch key {
		case "listen":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			if len(vals) == 0 {
				d.add(v, p, "no address to listen on", "write [udp://0.0.0.0:5060, tcp://0.0.0.0:5060]")
				return
			}
			var ls []Listener
			for i, raw := range vals {
				l, msg, fix := parseListener(raw)
				if msg != "" {
					d.add(nodes[i], item(p, i), msg, fix)
					continue
				}
				if l.Transport == "tls" && tlsListener == nil {
					tlsListener, tlsListenerKey = nodes[i], item(p, i)
				}
				ls = append(ls, l)
			}
			s.Listen = ls
		case "public_address":
			a, ok := d.scalar(v, p)
			if !ok {
				return
			}
			a = strings.TrimSpace(a)
			if msg, fix := checkHost(a); msg != "" {
				d.add(v, p, msg, fix)
				return
			}
			s.PublicAddress = a
		case "rtp_ports":
			raw, ok := d.required(v, p, "write 10000-10999")
			if !ok {
				return
			}
			pr, msg, fix := parsePorts(raw)
			if msg != "" {
				d.add(v, p, msg, fix)
				return
			}
			s.RTPPorts = pr
		case "rtp_timeout":
			d.duration(v, p, false, &s.RTPTimeout)
		case "numbers":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			if len(vals) == 0 {
				// Valid when a trunk brings the numbers: checked once
				// the trunks are read.
				x.emptyNumbers = resolve(v)
				s.Numbers = []string{}
				return
			}
			for i, num := range vals {
				switch {
				case num == "":
					d.add(nodes[i], item(p, i), "is empty", "write the number, e.g. \"+14505550100\"")
					ok = false
				case !numberPattern.MatchString(num) && !sipUserPattern.MatchString(num):
					digits := strings.Map(func(r rune) rune {
						if r == '+' || (r >= '0' && r <= '9') {
							return r
						}
						return -1
					}, num)
					d.add(nodes[i], item(p, i), fmt.Sprintf("%q is neither a phone number nor a SIP user", num),
						fmt.Sprintf("write \"%s\": digits only, no spaces or dashes", digits))
					ok = false
				case slices.Index(vals, num) < i:
					d.add(nodes[i], item(p, i), num+" is listed twice", "list each number once")
					ok = false
				}
			}
			if ok {
				s.Numbers = vals
			}
		case "max_calls":
			if d.integer(v, p, &s.MaxCalls) && s.MaxCalls <= 0 {
				d.add(v, p, "must be at least 1", "write how many calls may be up at once, e.g. 200")
			}
		case "drain_timeout":
			d.duration(v, p, true, &s.DrainTimeout)
		case "realm":
			r, ok := d.scalar(v, p)
			if !ok {
				return
			}
			if !realmPattern.MatchString(r) {
				d.add(v, p, fmt.Sprintf("%q is not a realm", r), "write letters, digits, dots and dashes, e.g. clubline or sip.example.org")
				return
			}
			s.Realm = r
		case "digest_algorithms":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			if len(vals) == 0 {
				d.add(v, p, "no algorithm", "write [MD5], or [SHA-256, MD5] for phones that know SHA-256")
				return
			}
			var algs []string
			for i, a := range vals {
				var alg string
				switch {
				case strings.EqualFold(a, DigestMD5):
					alg = DigestMD5
				case strings.EqualFold(a, DigestSHA256), strings.EqualFold(a, "SHA256"):
					alg = DigestSHA256
				default:
					d.add(nodes[i], item(p, i), fmt.Sprintf("%q is not a digest algorithm", a), "write MD5 or SHA-256")
					continue
				}
				if slices.Contains(algs, alg) {
					d.add(nodes[i], item(p, i), alg+" is listed twice", "list each algorithm once")
					continue
				}
				algs = append(algs, alg)
			}
			s.DigestAlgorithms = algs
		case "limits":
			d.limits(v, &s.Limits)
		case "allow_from":
			x.allowFrom = resolve(v)
			if vals := d.sources(v, p); vals != nil {
				s.AllowFrom = vals
			}
		case "tls":
			tlsNode = resolve(v)
			d.fields(v, "sip.tls", p, func(key string, k, v *yaml.Node) {
				f, ok := d.scalar(v, p+"."+key)
				if !ok {
					return
				}
				f = strings.TrimSpace(f)
				switch key {
				case "cert_file":
					s.TLS.CertFile = f
				case "key_file":
					s.TLS.KeyFile = f
				}
				if f != "" {
					d.files = append(d.files, fileRef{path: f, key: p + "." + key, line: resolve(v).Line})
				}
			})
		case "stun":
			a, ok := d.scalar(v, p)
			if !ok {
				return
			}
			if a, msg, fix := parseSTUN(strings.TrimSpace(a)); msg != "" {
				d.add(v, p, msg, fix)
			} else {
				s.STUN = a
			}
		}
	})
	d.checkTLS(s, tlsListener, tlsListenerKey, tlsNode)
}

// checkTLS checks that sip.tls gives both files, and that a tls://
// listener has them.
func (d *decoder) checkTLS(s *SIP, listener *yaml.Node, listenerKey string, section *yaml.Node) {
	const pem = "the certificate (then its chain) and its private key, PEM files, e.g. from Let's Encrypt: fullchain.pem and privkey.pem"
	switch cert, key := s.TLS.CertFile != "", s.TLS.KeyFile != ""; {
	case cert && !key:
		d.add(section, "sip.tls.key_file", "missing: a certificate is no use without its private key", "add key_file: "+pem)
	case key && !cert:
		d.add(section, "sip.tls.cert_file", "missing: a private key is no use without its certificate", "add cert_file: "+pem)
	case !cert && listener != nil:
		d.add(listener, listenerKey, "tls:// needs sip.tls.cert_file and key_file",
			"add under sip: tls: { cert_file: /etc/clubline/fullchain.pem, key_file: /etc/clubline/privkey.pem }, "+pem+"; or listen on tcp:// instead")
	}
}

// defaultSTUNPort is the port of a STUN server written without one
// (RFC 8489).
const defaultSTUNPort = "3478"

// parseSTUN reads sip.stun, "host[:port]", and gives it its port.
func parseSTUN(a string) (addr, msg, fix string) {
	if a == "" {
		return "", "", ""
	}
	const example = "write the STUN server as host:port, e.g. stun.example.org:3478"
	if l := strings.ToLower(a); strings.HasPrefix(l, "stun:") || strings.HasPrefix(l, "stuns:") || strings.Contains(l, "://") {
		rest := a[strings.Index(a, ":")+1:]
		rest = strings.TrimPrefix(rest, "//")
		if checkHostPort(rest) == "" {
			return "", fmt.Sprintf("%q has a scheme in front", a), fmt.Sprintf("write %s: host:port alone", rest)
		}
		return "", fmt.Sprintf("%q is not host:port", a), example
	}
	if m := checkHostPort(a); m != "" {
		return "", fmt.Sprintf("%q is not host:port: %s", a, m), example
	}
	host, port, _ := splitHostPort(a)
	if port == "" {
		port = defaultSTUNPort
	}
	return net.JoinHostPort(host, port), "", ""
}

// limits reads sip.limits.
func (d *decoder) limits(n *yaml.Node, l *Limits) {
	d.fields(n, "sip.limits", "sip.limits", func(key string, k, v *yaml.Node) {
		p := "sip.limits." + key
		count := func(dst *int) {
			if d.integer(v, p, dst) && *dst <= 0 {
				d.add(v, p, "must be at least 1", "write how many, e.g. 10; leave the key out for the default")
			}
		}
		switch key {
		case "window":
			d.duration(v, p, false, &l.Window)
		case "block_for":
			d.duration(v, p, false, &l.BlockFor)
		case "wrong_password_every":
			d.duration(v, p, false, &l.WrongPasswordEvery)
		case "tcp_idle_timeout":
			d.duration(v, p, false, &l.TCPIdleTimeout)
		case "tcp_per_source":
			count(&l.TCPPerSource)
		case "awaiting_ack":
			count(&l.AwaitingAck)
		case "awaiting_ack_per_source":
			count(&l.AwaitingAckPerSource)
		case "invites":
			count(&l.Invites)
		case "options":
			count(&l.Options)
		case "other":
			count(&l.Other)
		case "registers":
			count(&l.Registers)
		case "wrong_passwords":
			count(&l.WrongPasswords)
		case "trusted":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			out := []netip.Prefix{}
			for i, raw := range vals {
				raw = strings.TrimSpace(raw)
				pre, err := netip.ParsePrefix(raw)
				if err != nil {
					a, aerr := netip.ParseAddr(raw)
					if aerr != nil {
						d.add(nodes[i], item(p, i), fmt.Sprintf("%q is not an IP address or a network", raw),
							"write an address (203.0.113.5) or a network (203.0.113.0/24); host names are not looked up here")
						continue
					}
					pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
				}
				out = append(out, pre.Masked())
			}
			l.Trusted = out
		}
	})
}

// parseListener reads "udp://0.0.0.0:5060"; msg is empty when valid.
func parseListener(raw string) (l Listener, msg, fix string) {
	const example = "write transport://host:port, e.g. udp://0.0.0.0:5060"
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		if !strings.Contains(raw, "://") {
			return l, fmt.Sprintf("%q lacks a transport", raw), "write udp://" + raw + " or tcp://" + raw
		}
		return l, fmt.Sprintf("%q is not an address to listen on", raw), example
	}
	transport := strings.ToLower(u.Scheme)
	defaultPort := "5060"
	switch transport {
	case "udp", "tcp", "ws":
	case "tls":
		defaultPort = "5061" // sip.tls is checked once the whole section is read
	case "wss":
		return l, "wss (WebSocket over TLS) is not supported", "use tls:// for SIP over TLS, or ws:// behind a proxy that handles TLS"
	default:
		return l, fmt.Sprintf("unknown transport %q", u.Scheme), "write udp, tcp, tls or ws, e.g. udp://0.0.0.0:5060"
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return l, fmt.Sprintf("%q has more than a transport, a host and a port", raw), example
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return l, fmt.Sprintf("%q has no port", raw), "add one: " + transport + "://" + u.Host + ":" + defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return l, fmt.Sprintf("port %q is not a number from 0 to 65535", port), example
	}
	return Listener{Transport: transport, Addr: u.Host}, "", ""
}

var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// checkHost accepts an IP address or a host name, or nothing.
func checkHost(a string) (msg, fix string) {
	if a == "" || net.ParseIP(a) != nil {
		return "", ""
	}
	if strings.Contains(a, "://") || strings.Contains(a, ":") {
		return fmt.Sprintf("%q is more than a host or an IP", a), "write the host or IP alone, e.g. 203.0.113.7: ports come from listen and rtp_ports"
	}
	if !hostnamePattern.MatchString(a) {
		return fmt.Sprintf("%q is not a host name or an IP address", a), "write e.g. 203.0.113.7 or sip.example.org"
	}
	return "", ""
}

// parsePorts reads "10000-10999": an even first port, an odd last port.
func parsePorts(raw string) (pr PortRange, msg, fix string) {
	m := portsPattern.FindStringSubmatch(strings.TrimSpace(raw))
	if m == nil {
		return pr, fmt.Sprintf("%q is not a range of ports", raw), "write first-last, e.g. 10000-10999"
	}
	pr.Min, _ = strconv.Atoi(m[1])
	pr.Max, _ = strconv.Atoi(m[2])
	lo, hi := pr.Min&^1, pr.Max
	if hi%2 == 0 {
		hi--
	}
	even := fmt.Sprintf("write %d-%d", lo, hi)
	switch {
	case pr.Min < 1024 || pr.Max > 65535:
		return pr, "ports must lie between 1024 and 65535", "write e.g. 10000-10999"
	case pr.Min >= pr.Max:
		return pr, "the first port must be lower than the last", fmt.Sprintf("write %d-%d", pr.Max, pr.Min)
	case pr.Min%2 != 0:
		return pr, "the first port must be even (RTP uses even ports, RTCP the odd one above)", even
	case pr.Max%2 == 0:
		return pr, "the last port must be odd, so the last RTP port has its RTCP port", even
	}
	return pr, "", ""
}

func (d *decoder) voicemail(n *yaml.Node, vm *Voicemail, x *crossRefs) {
	var minNode, maxNode *yaml.Node
	d.fields(n, "voicemail", "voicemail", func(key string, k, v *yaml.Node) {
		p := "voicemail." + key
		switch key {
		case "dir":
			if s, ok := d.required(v, p, "write a folder, e.g. data/voicemail"); ok {
				vm.Dir = s
			}
		case "max_length":
			maxNode = v
			d.duration(v, p, false, &vm.MaxLength)
		case "silence_timeout":
			d.duration(v, p, false, &vm.SilenceTimeout)
		case "min_length":
			minNode = v
			d.duration(v, p, true, &vm.MinLength)
		case "follow_up_within":
			x.followUpWithin = resolve(v)
			d.duration(v, p, false, &vm.FollowUpWithin)
		case "urgent_follow_up_within":
			x.urgentFollowUpWithin = resolve(v)
			d.duration(v, p, false, &vm.UrgentFollowUpWithin)
		case "notify":
			d.recipients(v, p, &vm.Notify)
		case "attach":
			if b, ok := d.boolean(v, p); ok {
				vm.Attach = b
			}
		}
	})
	switch {
	case vm.MinLength < vm.MaxLength:
	case minNode != nil:
		d.add(minNode, "voicemail.min_length", fmt.Sprintf("%s is not shorter than max_length %s", vm.MinLength, vm.MaxLength),
			"write a min_length of a few seconds, e.g. 1s")
	default:
		d.add(maxNode, "voicemail.max_length", fmt.Sprintf("%s is not longer than min_length %s", vm.MaxLength, vm.MinLength),
			"write a few minutes, e.g. 3m")
	}
}

func (d *decoder) store(n *yaml.Node, s *Store) {
	d.fields(n, "store", "store", func(key string, k, v *yaml.Node) {
		p := "store." + key
		switch key {
		case "redis_url":
			u, ok := d.scalar(v, p)
			if !ok {
				return
			}
			u = strings.TrimSpace(u)
			if msg := checkRedisURL(u); msg != "" {
				d.add(v, p, msg, "write redis://host:6379/0, or \"\" for the embedded store")
				return
			}
			s.RedisURL = u
		case "key_prefix":
			d.str(v, p, &s.KeyPrefix)
		case "data_dir":
			if dir, ok := d.required(v, p, "write a folder, e.g. data"); ok {
				s.DataDir = dir
			}
		}
	})
}

// checkRedisURL accepts "", redis://[user:pass@]host[:port][/db],
// rediss://… and unix:///path.
func checkRedisURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "unix":
		if u.Path == "" {
			return "a unix URL needs the socket path: unix:///run/redis.sock"
		}
		return ""
	case "":
		return fmt.Sprintf("%q has no scheme", s)
	default:
		return fmt.Sprintf("unknown scheme %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return "no host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return fmt.Sprintf("port %q is not a number from 1 to 65535", p)
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Sprintf("database %q is not a number", db)
		}
	}
	return ""
}

var groupPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (d *decoder) groups(n *yaml.Node) []Group {
	var out []Group
	seen := map[string]int{}
	d.list(n, "groups", func(i int, v *yaml.Node) {
		p := item("groups", i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { id: … }, found "+kindName(v), "write - { id: office }")
			return
		}
		g := DefaultGroup("")
		g.Line = v.Line
		d.fields(v, "groups[]", p, func(key string, k, v *yaml.Node) {
			if key != "id" {
				d.groupField(key, v, p, &g)
				return
			}
			id, ok := d.required(v, p+".id", "write an id such as office")
			switch {
			case !ok:
			case !groupPattern.MatchString(id):
				d.add(v, p+".id", fmt.Sprintf("%q: an id may use only lowercase letters, digits, _ and -", id), "write "+suggestName(id))
			case id == clubline.RouteVoicemail || id == clubline.RouteUrgency:
				d.add(v, p+".id", id+" is a route of its own", "give the group another id")
			case seen[id] > 0:
				d.add(v, p+".id", fmt.Sprintf("group %s is already defined on line %d", id, seen[id]), "give each group its own id")
			default:
				seen[id] = v.Line
				g.ID = id
			}
		})
		if g.ID == "" && !hasKey(v, "id") {
			d.add(v, p+".id", "missing", "write - { id: office }")
		}
		if g.ID != "" {
			out = append(out, g)
		}
	})
	return out
}

// hasKey reports whether a mapping node has a key.
func hasKey(n *yaml.Node, key string) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// validHostPort checks "host:port" with a numeric port.
func validHostPort(s string) (string, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "write host:port, e.g. 127.0.0.1:9468", false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "the port must be a number from 0 to 65535", false
	}
	if strings.ContainsAny(host, " /") {
		return "write host:port, e.g. 127.0.0.1:9468", false
	}
	return "", true
}
