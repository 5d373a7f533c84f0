package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"go.yaml.in/yaml/v3"
)

// Decisions
//
//   - A trunk never holds its password: like staff, it names the
//     environment variable (password_env), read when clubline starts, so
//     `clubline check` on an admin's laptop needs no secret.
//   - A trunk's numbers are answered without being repeated in
//     sip.numbers (AnsweredNumbers), and a number belongs to one trunk
//     only: a call out from the club shows a number the trunk owns.
//   - Numbers clubline dials are kept in E.164 (numbers.go); numbers it
//     answers (sip.numbers) stay as written, since they are whatever user
//     part the provider sends.
//   - srtp: required without tls is refused: with SDES the keys travel in
//     the SDP, so over udp or tcp anyone who reads the signalling can
//     decrypt the audio, and "required" would promise what it cannot keep.
//   - Files the config names (ca_file, sip.tls) are not opened by Parse,
//     which stays a pure function of the bytes and the file's name (the
//     fuzz target, reloads in tests): a relative path is joined to the
//     file's folder, nothing more; CheckFiles looks at them, as `clubline
//     check` and start-up look at the prompts the file names.

// Trunk is an account at a SIP provider (an item of trunks): the club's
// numbers arrive through it, and calls out (staff phones, the urgency
// fallback, callbacks) leave through it.
type Trunk struct {
	Name string // "voipms": letters, digits, _ and -, unique; in logs and metrics
	// Registrar is the sip: or sips: URI clubline registers at; "" for a
	// trunk that knows clubline by its IP address (no REGISTER).
	Registrar string
	// OutboundProxy is where requests to the provider are sent: a sip:
	// or sips: URI, or host[:port]; "" means the registrar.
	OutboundProxy string
	Transport     string // TransportUDP, TransportTCP or TransportTLS
	// Username is the account's user: it registers, and answers the
	// provider's challenges. Set with PasswordEnv, or neither (an IP
	// trunk that never challenges).
	Username string
	// PasswordEnv names the environment variable that holds the
	// account's password; it is read when clubline starts, not at check
	// time.
	PasswordEnv string
	Numbers     []string // the club's numbers (DIDs) this trunk delivers, E.164: "+14505550100"
	// AllowFrom are the addresses the provider sends calls from, besides
	// the registrar's and the outbound proxy's, as written: IP addresses,
	// networks ("203.0.113.0/24") and host names, to be looked up.
	AllowFrom   []string
	CallerID    string // E.164, the number calls out show; default Numbers[0]
	DialFormat  string // DialE164, DialNational or DialLocal: how a number dialled out is written
	MaxChannels int    // calls at once through this trunk, in and out
	// MaxOutboundPerHour is how many minutes of calls out the trunk may
	// carry in any hour: a bound on the bill when something dials in a
	// loop.
	MaxOutboundPerHour time.Duration
	SRTP               string // SRTPRequired, SRTPOptional or SRTPOff
	// CAFile is a PEM file of the CAs the provider's certificate is
	// checked against; "": the system's roots. Only with TransportTLS.
	// Relative: from the config file's folder.
	CAFile string
	// CountryCode is the trunk's country calling code, digits ("1"): what
	// DialNational and DialLocal add or remove, and the country of the
	// numbers written without "+".
	CountryCode     string
	RegisterExpires time.Duration // the registration lifetime asked for
	KeepAlive       time.Duration // an OPTIONS to the provider this often; 0: off
	Line            int
}

// Transports of a trunk (trunks[].transport).
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// How a trunk writes the numbers it dials (trunks[].dial_format), shown
// for +15145550199 on a trunk of country_code 1. A number of another
// country than the trunk's is always sent in E.164.
const (
	DialE164     = "e164"     // "+15145550199"
	DialNational = "national" // "15145550199": the country code and the number, no "+"
	DialLocal    = "local"    // "5145550199": the number without its country code
)

// Whether a trunk's audio is encrypted (trunks[].srtp).
const (
	SRTPRequired = "required" // calls without SRTP fail
	SRTPOptional = "optional" // SRTP when the provider takes it
	SRTPOff      = "off"      // plain RTP
)

// A trunk's defaults, for the keys the file leaves out: the line's
// (clubline/policy.go), which package sip/trunk applies too.
const (
	DefaultTrunkTransport     = TransportUDP
	DefaultDialFormat         = DialE164
	DefaultMaxChannels        = clubline.DefaultTrunkMaxChannels
	DefaultMaxOutboundPerHour = clubline.DefaultTrunkMaxOutboundPerHour
	DefaultSRTP               = SRTPOptional
	DefaultCountryCode        = clubline.DefaultCountryCode
	DefaultRegisterExpires    = clubline.DefaultTrunkRegisterExpires
	DefaultKeepAlive          = clubline.DefaultTrunkKeepAlive
)

// The shortest registration and keep-alive intervals: shorter ones load
// the provider, which may block the club for it.
const (
	minRegisterExpires = time.Minute
	minKeepAlive       = 10 * time.Second
)

// defaultAllowFrom is sip.allow_from when there is a trunk and the file
// says nothing: the machine itself, so the mystery call (`clubline call`)
// still gets in.
var defaultAllowFrom = []string{"127.0.0.1/8", "::1/128"}

// DefaultTrunk is a trunk with every key but name, the account and the
// numbers at its default.
func DefaultTrunk(name string) Trunk {
	return Trunk{Name: name, Transport: DefaultTrunkTransport, DialFormat: DefaultDialFormat, MaxChannels: DefaultMaxChannels,
		MaxOutboundPerHour: DefaultMaxOutboundPerHour, SRTP: DefaultSRTP, CountryCode: DefaultCountryCode,
		RegisterExpires: DefaultRegisterExpires, KeepAlive: DefaultKeepAlive}
}

// AnsweredNumbers are the numbers the club answers: sip.numbers, then
// each trunk's numbers, each once (a trunk number also written in
// sip.numbers, in E.164 or as ten digits, is not repeated).
func (c *Config) AnsweredNumbers() []string {
	out := slices.Clone(c.SIP.Numbers)
	seen := map[string]bool{}
	for _, n := range c.SIP.Numbers {
		seen[n] = true
		if e, msg, _ := NormalizeNumber(n); msg == "" {
			seen[e] = true
		}
	}
	for _, t := range c.Trunks {
		for _, n := range t.Numbers {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// ownNumbers maps the club's numbers that read as phone numbers, in
// E.164, to where the file gives them: a staff phone or a fallback
// ringing one would call clubline itself.
func (c *Config) ownNumbers() map[string]string {
	own := map[string]string{}
	for _, n := range c.SIP.Numbers {
		if e, msg, _ := NormalizeNumber(n); msg == "" {
			own[e] = "sip.numbers"
		}
	}
	for _, t := range c.Trunks {
		for _, n := range t.Numbers {
			own[n] = "trunk " + t.Name
		}
	}
	return own
}

var (
	trunkNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	countryPattern   = regexp.MustCompile(`^[1-9][0-9]{0,2}$`)
	ipLikePattern    = regexp.MustCompile(`^[0-9.]+$`)
)

// The keys of the sections this file reads (see schema).
func init() {
	schema["trunks[]"] = []string{"name", "registrar", "outbound_proxy", "transport", "username", "password_env", "password",
		"numbers", "allow_from", "caller_id", "dial_format", "max_channels", "max_outbound_per_hour", "srtp", "ca_file",
		"country_code", "register_expires", "keepalive"}
}

// trunkRefs are what the checks after the trunks need: how many the file
// lists, valid or not, and the first one's country.
type trunkRefs struct {
	written   int    // items of trunks, valid or not
	firstCode string // country_code of the first trunk, as decoded
}

// numberOwner is the trunk a number belongs to, to report a number given
// to two trunks.
type numberOwner struct {
	trunk string
	line  int
}

func (d *decoder) trunks(n *yaml.Node, x *crossRefs) []Trunk {
	var out []Trunk
	names := map[string]int{}
	owners := map[string]numberOwner{}
	const example = `write - { name: voipms, registrar: "sip:montreal.voip.ms", username: "123456_club", password_env: CLUBLINE_TRUNK_PASSWORD, numbers: ["+14505550100"] }`
	d.list(n, "trunks", func(i int, v *yaml.Node) {
		p := item("trunks", i)
		v = resolve(v)
		x.trunks.written++
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { name: …, registrar: …, … }, found "+kindName(v), example)
			return
		}
		before := len(d.errs)
		t := DefaultTrunk("")
		t.Line = v.Line
		tr := &trunkNodes{bad: map[string]bool{}}
		d.trunk(v, p, &t, tr, names)
		if i == 0 {
			x.trunks.firstCode = t.CountryCode
		}
		d.checkTrunk(v, p, &t, tr)
		d.trunkNumbers(v, p, &t, tr, owners)
		if len(d.errs) == before {
			out = append(out, t)
		}
	})
	return out
}

// trunkNodes are the nodes of one trunk's keys that are checked once
// every key is read, and the keys already reported.
type trunkNodes struct {
	bad                               map[string]bool // keys reported, so that the checks across keys do not repeat them
	registrar, srtp, caFile, callerID *yaml.Node
	numbersNode                       *yaml.Node
	numbers                           []string // as written
	numberNodes                       []*yaml.Node
}

// report adds an error about a key of the trunk at p.
func (d *decoder) report(tr *trunkNodes, n *yaml.Node, p, key, msg, fix string) {
	d.add(n, p+"."+key, msg, fix)
	tr.bad[key] = true
}

// trunk reads the keys of one trunk; the numbers, which need the country
// code, are left to trunkNumbers.
func (d *decoder) trunk(v *yaml.Node, p string, t *Trunk, tr *trunkNodes, names map[string]int) {
	env := trunkEnv(scalarOf(v, "name")) // the name may come after the password
	d.fields(v, "trunks[]", p, func(key string, k, v *yaml.Node) {
		path := p + "." + key
		bad := func(msg, fix string) { d.report(tr, v, p, key, msg, fix) }
		before := len(d.errs)
		defer func() {
			if len(d.errs) > before {
				tr.bad[key] = true
			}
		}()
		switch key {
		case "numbers":
			tr.numbersNode = resolve(v)
			tr.numbers, tr.numberNodes, _ = d.strings(v, path)
			return
		case "allow_from":
			t.AllowFrom = d.sources(v, path)
			return
		case "transport":
			if s, ok := d.oneOf(v, path, []string{TransportUDP, TransportTCP, TransportTLS}); ok {
				t.Transport = s
			}
			return
		case "dial_format":
			if s, ok := d.oneOf(v, path, []string{DialE164, DialNational, DialLocal}); ok {
				t.DialFormat = s
			}
			return
		case "srtp":
			tr.srtp = resolve(v)
			if s, ok := d.oneOf(v, path, []string{SRTPRequired, SRTPOptional, SRTPOff}); ok {
				t.SRTP = s
			}
			return
		case "max_channels":
			if d.integer(v, path, &t.MaxChannels) && t.MaxChannels < 1 {
				bad("must be at least 1", fmt.Sprintf("write how many calls the account may carry at once, e.g. %d", DefaultMaxChannels))
			}
			return
		case "max_outbound_per_hour":
			d.minutes(v, path, &t.MaxOutboundPerHour)
			return
		case "register_expires":
			if d.duration(v, path, false, &t.RegisterExpires) && t.RegisterExpires < minRegisterExpires {
				bad(FormatDuration(t.RegisterExpires)+" is shorter than a minute: providers refuse registrations that short, or block the club for them",
					"write at least 1m; 5m is usual")
			}
			return
		case "keepalive":
			d.keepAlive(v, path, &t.KeepAlive)
			return
		}
		val, ok := d.scalar(v, path)
		if !ok {
			return
		}
		val = strings.TrimSpace(val)
		switch key {
		case "name":
			switch {
			case val == "":
				bad("is empty", "write a name such as voipms")
			case !trunkNamePattern.MatchString(val):
				bad(fmt.Sprintf("%q: a trunk name may use only letters, digits, _ and -", val), "write "+suggestName(val))
			case names[val] > 0:
				bad(fmt.Sprintf("trunk %s is already defined on line %d", val, names[val]), "give each trunk its own name")
			default:
				names[val] = v.Line
				t.Name = val
			}
		case "registrar":
			tr.registrar = resolve(v)
			if val == "" {
				return // an IP-authenticated trunk
			}
			if msg, fix := checkSIPServer(val, false); msg != "" {
				bad(msg, fix)
				return
			}
			t.Registrar = val
		case "outbound_proxy":
			if val == "" {
				return // the registrar
			}
			if msg, fix := checkSIPServer(val, true); msg != "" {
				bad(msg, fix)
				return
			}
			t.OutboundProxy = val
		case "username":
			if strings.ContainsFunc(val, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				bad(fmt.Sprintf("%q has spaces in it", val), "write the user name exactly as the provider gave it, e.g. \"123456_club\"")
				return
			}
			t.Username = val
		case "password":
			d.report(tr, k, p, key, "a password is never written in this file",
				"remove it; write password_env: "+env+" and set that environment variable where clubline runs")
		case "password_env":
			if !envPattern.MatchString(val) {
				bad(fmt.Sprintf("%q is not an environment variable name", val), "write letters, digits and _, e.g. "+env)
				return
			}
			t.PasswordEnv = val
		case "caller_id":
			if val != "" { // "": the first number
				tr.callerID = resolve(v)
			}
		case "ca_file":
			tr.caFile = resolve(v)
			t.CAFile = val
		case "country_code":
			if !countryPattern.MatchString(val) {
				fix := "write the country's calling code, digits only, e.g. \"1\" for Canada and the United States"
				if c := strings.TrimLeft(val, "+0 "); countryPattern.MatchString(c) {
					fix = fmt.Sprintf("write %q: digits only", c)
				}
				bad(fmt.Sprintf("%q is not a country calling code", val), fix)
				return
			}
			t.CountryCode = val
		}
	})
}

// checkTrunk checks what one trunk's keys say about each other.
func (d *decoder) checkTrunk(v *yaml.Node, p string, t *Trunk, tr *trunkNodes) {
	bad := func(n *yaml.Node, key, msg, fix string) { d.report(tr, n, p, key, msg, fix) }
	if !hasKey(v, "name") {
		bad(v, "name", "missing", "write name: voipms (a name of your choice: it shows in logs)")
	}
	tls := t.Transport == TransportTLS
	if !tls && !tr.bad["transport"] {
		if strings.HasPrefix(strings.ToLower(t.Registrar), "sips:") {
			bad(tr.registrar, "registrar", "a sips: registrar is reached over TLS only, and transport is "+t.Transport,
				"add transport: tls, or write the registrar with sip:")
		}
		if t.SRTP == SRTPRequired {
			bad(tr.srtp, "srtp", "required needs transport: tls: without it the SRTP keys (SDES) cross the network in clear in the call setup, and anyone who reads it can decrypt the audio",
				"add transport: tls if the provider offers it, or write srtp: optional")
		}
		if t.CAFile != "" {
			bad(tr.caFile, "ca_file", "a CA file is used only with transport: tls, and transport is "+t.Transport,
				"add transport: tls, or remove ca_file")
		}
	}
	if t.CAFile != "" && tls {
		d.files = append(d.files, fileRef{path: t.CAFile, key: p + ".ca_file", line: tr.caFile.Line})
	}
	creds := !tr.bad["username"] && !tr.bad["password_env"] && !tr.bad["password"] && !hasKey(v, "password")
	switch {
	case !creds:
		// reported: asking for the rest too would say it twice
	case t.Registrar != "":
		why := "missing: a trunk with a registrar signs in with a user name and a password"
		if t.Username == "" {
			bad(v, "username", why, "write the user name the provider gave you, e.g. username: \"123456_club\"")
		}
		if t.PasswordEnv == "" {
			bad(v, "password_env", why, "write password_env: "+trunkEnv(t.Name)+" and set that environment variable where clubline runs (never the password itself)")
		}
	case t.Username != "" && t.PasswordEnv == "":
		bad(v, "password_env", "missing: the provider's challenges are answered with a user name and a password together",
			"write password_env: "+trunkEnv(t.Name)+", or remove username")
	case t.Username == "" && t.PasswordEnv != "":
		bad(v, "username", "missing: the provider's challenges are answered with a user name and a password together",
			"write the user name the provider gave you, or remove password_env")
	}
	if t.Registrar == "" && t.OutboundProxy == "" &&
		!tr.bad["registrar"] && !tr.bad["outbound_proxy"] && !tr.bad["allow_from"] {
		node := tr.registrar
		if node == nil {
			node = v
		}
		bad(node, "registrar", "no registrar and no outbound_proxy: clubline would not know where to send this trunk's calls",
			"write registrar: \"sip:…\" if the provider gave you a user name and a password; if it recognises clubline by its IP address, write outbound_proxy: its SIP server (and allow_from: the other addresses it sends calls from)")
	}
}

// trunkNumbers normalises a trunk's numbers and caller id with its
// country code, and checks that no other trunk has them.
func (d *decoder) trunkNumbers(v *yaml.Node, p string, t *Trunk, tr *trunkNodes, owners map[string]numberOwner) {
	path := p + ".numbers"
	switch {
	case !hasKey(v, "numbers"):
		d.report(tr, v, p, "numbers", "missing", `list the club's numbers this trunk delivers, e.g. numbers: ["+14505550100"]`)
		return
	case tr.bad["numbers"]:
		return
	case len(tr.numbers) == 0:
		d.report(tr, tr.numbersNode, p, "numbers", "no number", `list the club's numbers this trunk delivers, e.g. ["+14505550100"]`)
		return
	}
	owner := t.Name
	if owner == "" {
		owner = p
	}
	var nums []string
	for i, raw := range tr.numbers {
		e, msg, fix := normalizeIn(raw, t.CountryCode)
		at := tr.numberNodes[i]
		switch o := owners[e]; {
		case msg != "":
			d.add(at, item(path, i), msg, fix)
			tr.bad["numbers"] = true
		case slices.Contains(nums, e):
			d.add(at, item(path, i), e+" is listed twice", "list each number once")
			tr.bad["numbers"] = true
		case o.line > 0:
			d.add(at, item(path, i), fmt.Sprintf("%s is already a number of trunk %s (line %d)", e, o.trunk, o.line),
				"give each number to the one trunk that delivers it")
			tr.bad["numbers"] = true
		default:
			nums = append(nums, e)
			owners[e] = numberOwner{trunk: owner, line: at.Line}
		}
	}
	t.Numbers = nums
	switch {
	case tr.callerID != nil:
		e, msg, fix := normalizeIn(tr.callerID.Value, t.CountryCode)
		if msg != "" {
			d.report(tr, tr.callerID, p, "caller_id", msg, fix)
			return
		}
		t.CallerID = e
	case len(nums) > 0:
		t.CallerID = nums[0]
	}
}

// trunkEnv suggests an environment variable for a trunk's password.
func trunkEnv(name string) string {
	v := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v == "" || !envPattern.MatchString(v) {
		return "CLUBLINE_TRUNK_PASSWORD"
	}
	return "CLUBLINE_TRUNK_" + v
}

// scalarOf is the text of a key of a mapping, "" when absent or not a
// single value.
func scalarOf(m *yaml.Node, key string) string {
	m = resolve(m)
	for i := 0; m != nil && m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
		if v := resolve(m.Content[i+1]); m.Content[i].Value == key && v != nil && v.Kind == yaml.ScalarNode {
			return strings.TrimSpace(v.Value)
		}
	}
	return ""
}

// minutes reads max_outbound_per_hour: a length of time ("90m", "2h"), or
// a whole number of minutes.
func (d *decoder) minutes(n *yaml.Node, path string, dst *time.Duration) bool {
	s, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	var v time.Duration
	if digitsPattern.MatchString(s) {
		m, err := strconv.Atoi(s)
		if err != nil || m > 60*24 {
			d.add(n, path, fmt.Sprintf("%q minutes is more than a day", s), "write the minutes of calls out an hour may use, e.g. 60m")
			return false
		}
		v = time.Duration(m) * time.Minute
	} else if !d.duration(n, path, true, &v) {
		return false
	}
	if v <= 0 {
		d.add(n, path, "must be more than zero", "write the minutes of calls out an hour may use, e.g. 60m")
		return false
	}
	*dst = v
	return true
}

// keepAlive reads trunks[].keepalive: a length of time, or 0 or off for
// none.
func (d *decoder) keepAlive(n *yaml.Node, path string, dst *time.Duration) bool {
	s, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		*dst = 0
		return true
	}
	var v time.Duration
	if !d.duration(n, path, true, &v) {
		return false
	}
	if v > 0 && v < minKeepAlive {
		d.add(n, path, FormatDuration(v)+" is shorter than 10s: the provider may take it for a flood",
			"write 25s, under the 30 s after which some routers forget a quiet UDP mapping, or off")
		return false
	}
	*dst = v
	return true
}

// sources reads a list of addresses calls may come from (allow_from): IP
// addresses, networks and host names, as written. A list with an error
// is reported and read as nil.
func (d *decoder) sources(n *yaml.Node, path string) []string {
	before := len(d.errs)
	vals, nodes, _ := d.strings(n, path)
	out := []string{}
	for i, raw := range vals {
		s := strings.TrimSpace(raw)
		switch msg, fix := checkSource(s); {
		case msg != "":
			d.add(nodes[i], item(path, i), msg, fix)
		case slices.Contains(out, s):
			d.add(nodes[i], item(path, i), s+" is listed twice", "list each address once")
		default:
			out = append(out, s)
		}
	}
	if len(d.errs) > before {
		return nil
	}
	return out
}

// checkSource accepts an IP address, a network (CIDR) or a host name.
func checkSource(s string) (msg, fix string) {
	const forms = "write an address (203.0.113.5), a network (203.0.113.0/24) or a host name (montreal.voip.ms)"
	if s == "" {
		return "is empty", forms
	}
	if strings.Contains(s, "/") && !strings.Contains(s, "://") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Sprintf("%q is not a network", s), "write an address, a slash and the length of the prefix, e.g. 203.0.113.0/24 or 2001:db8::/32"
		}
		return "", ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", ""
	}
	if strings.Contains(s, ":") {
		if host := hostOf(s); host != "" {
			return fmt.Sprintf("%q is more than an address or a host", s), fmt.Sprintf("write %s alone: no sip:, no port", host)
		}
		return fmt.Sprintf("%q is more than an address or a host", s), forms
	}
	if ipLikePattern.MatchString(s) {
		return fmt.Sprintf("%q is not an IP address", s), "write four numbers from 0 to 255, e.g. 203.0.113.5"
	}
	if !hostnamePattern.MatchString(s) {
		return fmt.Sprintf("%q is not an address, a network or a host name", s), forms
	}
	return "", ""
}

// hostOf is the host in "sip:host:5060", "udp://host" or "host:5060", or
// "" when there is none to read.
func hostOf(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else if l := strings.ToLower(s); strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:") {
		s = s[strings.Index(s, ":")+1:]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, ";")
	s, _, _ = strings.Cut(s, "/")
	host, _, ok := splitHostPort(s)
	if !ok || checkHostOnly(host) != "" {
		return ""
	}
	return host
}

// checkSIPServer accepts a sip: or sips: URI naming a server
// ("sip:montreal.voip.ms", "sips:sip.example.net:5061;transport=tls");
// with bareOK, host[:port] as well (an outbound proxy).
func checkSIPServer(s string, bareOK bool) (msg, fix string) {
	const example = `write sip: and the provider's server, e.g. "sip:montreal.voip.ms"`
	lower := strings.ToLower(s)
	var scheme, rest string
	switch {
	case strings.HasPrefix(lower, "sip:"):
		scheme, rest = "sip", s[len("sip:"):]
	case strings.HasPrefix(lower, "sips:"):
		scheme, rest = "sips", s[len("sips:"):]
	case strings.Contains(s, "://"):
		if h := hostOf(s); h != "" {
			return fmt.Sprintf("%q is not a SIP URI", s), fmt.Sprintf("write %q", "sip:"+h)
		}
		return fmt.Sprintf("%q is not a SIP URI", s), example
	case bareOK:
		if m := checkHostPort(s); m != "" {
			return fmt.Sprintf("%q is neither a SIP URI nor host:port: %s", s, m), `write e.g. "sip:montreal.voip.ms" or montreal.voip.ms:5060`
		}
		return "", ""
	case checkHostPort(s) == "":
		return fmt.Sprintf("%q has no sip: in front", s), fmt.Sprintf("write %q", "sip:"+s)
	default:
		return fmt.Sprintf("%q is not a SIP URI", s), example
	}
	hostport, _, _ := strings.Cut(rest, ";")
	hostport, _, _ = strings.Cut(hostport, "?")
	if i := strings.LastIndex(hostport, "@"); i >= 0 {
		return fmt.Sprintf("%q names a user: a server's URI has none", s), fmt.Sprintf("write %q", scheme+":"+hostport[i+1:])
	}
	if m := checkHostPort(hostport); m != "" {
		return fmt.Sprintf("%q has no valid host: %s", s, m), `write e.g. "sip:montreal.voip.ms" or "sip:203.0.113.7:5060"`
	}
	return "", ""
}

// checkHostPort accepts host or host:port (an IPv6 address in brackets
// when a port follows); it returns what is wrong, or "".
func checkHostPort(s string) string {
	host, port, ok := splitHostPort(s)
	if !ok || host == "" {
		return "no host"
	}
	if m := checkHostOnly(host); m != "" {
		return m
	}
	if port != "" {
		if n, err := strconv.Atoi(port); !digitsPattern.MatchString(port) || err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %q is not a number from 1 to 65535", port)
		}
	}
	return ""
}

// checkHostOnly accepts an IP address or a host name.
func checkHostOnly(host string) string {
	if host == "" {
		return "no host"
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	if ipLikePattern.MatchString(host) {
		return fmt.Sprintf("%q is not an IP address", host)
	}
	if msg, _ := checkHost(host); msg != "" {
		return fmt.Sprintf("%q is not a host name or an IP address", host)
	}
	return ""
}

// splitHostPort splits host[:port]; a bare IPv6 address is a host.
func splitHostPort(s string) (host, port string, ok bool) {
	switch {
	case strings.HasPrefix(s, "["):
		if h, p, err := net.SplitHostPort(s); err == nil {
			return h, p, true
		}
		if strings.HasSuffix(s, "]") {
			return s[1 : len(s)-1], "", net.ParseIP(s[1:len(s)-1]) != nil
		}
		return "", "", false
	case net.ParseIP(s) != nil:
		return s, "", true
	case strings.Count(s, ":") == 1:
		h, p, _ := strings.Cut(s, ":")
		return h, p, p != ""
	case strings.Contains(s, ":"):
		return "", "", false
	}
	return s, "", true
}

// finishTrunks sets and checks what depends on whether there are
// trunks: sip.allow_from's default, an empty sip.numbers, the callback.
func (d *decoder) finishTrunks(c *Config, x *crossRefs) {
	if x.trunks.written > 0 && x.allowFrom == nil {
		c.SIP.AllowFrom = slices.Clone(defaultAllowFrom)
	}
	if x.emptyNumbers != nil && x.trunks.written == 0 {
		d.add(x.emptyNumbers, "sip.numbers", "no number to answer",
			`list the numbers callers dial, e.g. ["+14505550100"], or add a trunk with its numbers under trunks`)
	}
	d.finishCallback(c, x)
	// A trunk over TLS registers a tls: contact, where the provider sends
	// the club's calls: clubline must listen for TLS.
	hasTLS := slices.ContainsFunc(c.SIP.Listen, func(l Listener) bool { return l.Transport == TransportTLS })
	for i, t := range c.Trunks {
		if t.Transport == TransportTLS && !hasTLS && len(c.SIP.Listen) > 0 {
			d.errs = append(d.errs, &Error{File: d.file, Line: t.Line, Key: item("trunks", i) + ".transport",
				Msg: "tls needs a tls:// listener: the provider sends the club's calls back to clubline over TLS",
				Fix: "add tls://0.0.0.0:5061 to sip.listen, with sip.tls.cert_file and key_file"})
		}
	}
}

// fileRef is a file the config names, for CheckFiles.
type fileRef struct {
	path, key string
	line      int
}
