package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/config"
)

// trunks is the example, a registered trunk with every key, and
// an IP-authenticated one with the defaults: lines 3-28 after head.
const trunks = head + `trunks:
  - name: voipms
    registrar: "sip:montreal.voip.ms"
    outbound_proxy: ""
    transport: udp
    username: "123456_club"
    password_env: CLUBLINE_TRUNK_PASSWORD
    numbers: ["+14505550100"]
    allow_from: []
    caller_id: "+14505550100"
    dial_format: e164
    max_channels: 4
    max_outbound_per_hour: 60m
    srtp: optional
    ca_file: ""
    country_code: "1"
    register_expires: 5m
    keepalive: 25s
  - name: carrier-b
    outbound_proxy: sip.carrier.example.net:5060
    allow_from: [203.0.113.0/24, 198.51.100.7, sip.carrier.example.net]
    numbers: [4505550101, "14505550102"]
    dial_format: national
    max_channels: 10
    max_outbound_per_hour: 90
    keepalive: off
`

func TestTrunks(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(trunks))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Trunks) != 2 {
		t.Fatalf("%d trunks, want 2: %+v", len(c.Trunks), c.Trunks)
	}
	want := config.Trunk{
		Name: "voipms", Registrar: "sip:montreal.voip.ms", Transport: config.TransportUDP, Username: "123456_club",
		PasswordEnv: "CLUBLINE_TRUNK_PASSWORD", Numbers: []string{"+14505550100"}, AllowFrom: []string{}, CallerID: "+14505550100",
		DialFormat: config.DialE164, MaxChannels: 4, MaxOutboundPerHour: time.Hour, SRTP: config.SRTPOptional, CountryCode: "1",
		RegisterExpires: 5 * time.Minute, KeepAlive: 25 * time.Second, Line: 4,
	}
	if got := c.Trunks[0]; !equalTrunks(got, want) {
		t.Errorf("voipms:\n got %+v\nwant %+v", got, want)
	}
	// The defaults, ten digits and 1 + ten digits read as North American,
	// minutes as a bare number, keepalive off.
	want = config.DefaultTrunk("carrier-b")
	want.OutboundProxy = "sip.carrier.example.net:5060"
	want.AllowFrom = []string{"203.0.113.0/24", "198.51.100.7", "sip.carrier.example.net"}
	want.Numbers = []string{"+14505550101", "+14505550102"}
	want.CallerID = "+14505550101"
	want.DialFormat, want.MaxChannels, want.MaxOutboundPerHour, want.KeepAlive = config.DialNational, 10, 90*time.Minute, 0
	want.Line = 21
	if got := c.Trunks[1]; !equalTrunks(got, want) {
		t.Errorf("carrier-b:\n got %+v\nwant %+v", got, want)
	}
	if d := config.DefaultTrunk(""); d.Transport != "udp" || d.DialFormat != "e164" || d.MaxChannels != 4 || d.MaxOutboundPerHour != time.Hour ||
		d.SRTP != "optional" || d.CountryCode != "1" || d.RegisterExpires != 5*time.Minute || d.KeepAlive != 25*time.Second {
		t.Errorf("DefaultTrunk: %+v", d)
	}
	// With a trunk: the machine itself may still call in (the mystery
	// call), the callback is on, and sip.numbers keeps its default.
	if !slices.Equal(c.SIP.AllowFrom, []string{"127.0.0.1/8", "::1/128"}) {
		t.Errorf("sip.allow_from = %q", c.SIP.AllowFrom)
	}
	if !slices.Equal(c.AnsweredNumbers(), []string{"club", "+14505550100", "+14505550101", "+14505550102"}) {
		t.Errorf("answered numbers = %q", c.AnsweredNumbers())
	}
	if !c.Callback.Enabled || !slices.Equal(c.Callback.Allowed, []string{config.NANPPattern}) {
		t.Errorf("callback: %+v", c.Callback)
	}
	if errs := c.CheckFiles(); len(errs) != 0 {
		t.Errorf("CheckFiles: %v", errs)
	}
}

// equalTrunks compares trunks, an empty allow_from apart from none.
func equalTrunks(a, b config.Trunk) bool {
	return reflect.DeepEqual(a, b)
}

// trunk is a valid registered trunk on lines 3-8 after head, with keys
// replaced in place or added from line 9 (pairs of key and value); an
// empty value removes a key.
func trunk(kv ...string) string {
	keys := []string{"name", "registrar", "username", "password_env", "numbers"}
	vals := map[string]string{"name": "voipms", "registrar": `"sip:montreal.voip.ms"`, "username": `"123456_club"`,
		"password_env": "CLUBLINE_TRUNK_PASSWORD", "numbers": `["+14505550100"]`}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := vals[kv[i]]; !ok {
			keys = append(keys, kv[i])
		}
		vals[kv[i]] = kv[i+1]
	}
	var b strings.Builder
	b.WriteString(head + "trunks:\n")
	first := true
	for _, k := range keys {
		if vals[k] == "" {
			continue
		}
		if first {
			b.WriteString("  - ")
			first = false
		} else {
			b.WriteString("    ")
		}
		b.WriteString(k + ": " + vals[k] + "\n")
	}
	return b.String()
}

func TestTrunkErrors(t *testing.T) {
	ipTrunk := func(kv ...string) string {
		return trunk(append([]string{"registrar", "", "username", "", "password_env", ""}, kv...)...)
	}
	tests := []struct {
		name string
		yaml string
		want string // "line: key"
		msg  string // fragment of message and fix
	}{
		{"trunk as text", head + "trunks:\n  - voipms\n", "4: trunks[1]", `expected { name: …, registrar: …, … }, found "voipms" (write - { name: voipms`},
		{"unknown key", trunk("registar", `"sip:x.example.net"`), "9: trunks[1].registar", "did you mean registrar?"},
		{"key of another section", trunk("public_address", "203.0.113.7"), "9: trunks[1].public_address", "public_address belongs under sip"},
		{"name missing", trunk("name", ""), "4: trunks[1].name", "missing (write name: voipms"},
		{"name with spaces", trunk("name", "VoIP ms"), "4: trunks[1].name", `"VoIP ms": a trunk name may use only letters, digits, _ and - (write voip_ms)`},
		{"name twice", trunk() + "  - { name: voipms, outbound_proxy: sip.example.net, numbers: [\"+14505550101\"] }\n",
			"9: trunks[2].name", "trunk voipms is already defined on line 4 (give each trunk its own name)"},
		{"registrar without sip:", trunk("registrar", "montreal.voip.ms"), "5: trunks[1].registrar", `"montreal.voip.ms" has no sip: in front (write "sip:montreal.voip.ms")`},
		{"registrar as a URL", trunk("registrar", "https://voip.ms"), "5: trunks[1].registrar", `is not a SIP URI (write "sip:voip.ms")`},
		{"registrar without host", trunk("registrar", `"sip:"`), "5: trunks[1].registrar", `"sip:" has no valid host`},
		{"registrar bad port", trunk("registrar", `"sip:montreal.voip.ms:99999"`), "5: trunks[1].registrar", `port "99999" is not a number from 1 to 65535`},
		{"registrar with a user", trunk("registrar", `"sip:123456@montreal.voip.ms"`), "5: trunks[1].registrar", `names a user: a server's URI has none (write "sip:montreal.voip.ms")`},
		{"sips registrar over udp", trunk("registrar", `"sips:montreal.voip.ms"`), "5: trunks[1].registrar", "reached over TLS only, and transport is udp (add transport: tls"},
		{"outbound proxy as a URL", trunk("outbound_proxy", "http://proxy.example.net"), "9: trunks[1].outbound_proxy", `(write "sip:proxy.example.net")`},
		{"outbound proxy bad host", trunk("outbound_proxy", `"proxy example net"`), "9: trunks[1].outbound_proxy", "neither a SIP URI nor host:port"},
		{"username missing", trunk("username", ""), "4: trunks[1].username", "missing: a trunk with a registrar signs in with a user name and a password"},
		{"username with a space", trunk("username", `"123456 club"`), "6: trunks[1].username", "has spaces in it"},
		{"password_env missing", trunk("password_env", ""), "4: trunks[1].password_env", "write password_env: CLUBLINE_TRUNK_VOIPMS and set that environment variable"},
		{"password_env not a name", trunk("password_env", `"trunk password"`), "7: trunks[1].password_env", `"trunk password" is not an environment variable name (write letters, digits and _, e.g. CLUBLINE_TRUNK_VOIPMS)`},
		{"plain password", trunk("password_env", "", "password", "hunter2"), "8: trunks[1].password",
			"a password is never written in this file (remove it; write password_env: CLUBLINE_TRUNK_VOIPMS and set that environment variable where clubline runs)"},
		{"IP trunk with nowhere to go", ipTrunk(), "4: trunks[1].registrar", "no registrar and no outbound_proxy: clubline would not know where to send"},
		{"IP trunk with an empty registrar", ipTrunk("registrar", `""`), "5: trunks[1].registrar", "write outbound_proxy: its SIP server (and allow_from"},
		{"IP trunk with a user and no password", ipTrunk("outbound_proxy", "sip.example.net", "username", "club"), "4: trunks[1].password_env",
			"answered with a user name and a password together (write password_env: CLUBLINE_TRUNK_VOIPMS, or remove username)"},
		{"numbers missing", trunk("numbers", ""), "4: trunks[1].numbers", `missing (list the club's numbers this trunk delivers, e.g. numbers: ["+14505550100"])`},
		{"numbers empty", trunk("numbers", "[]"), "8: trunks[1].numbers", "no number"},
		{"number with dashes", trunk("numbers", `["450-555-0100"]`), "8: trunks[1].numbers[1]", `"450-555-0100" is not a phone number (write "+14505550100": digits only, no spaces or dashes)`},
		{"number too short", trunk("numbers", `["5550100"]`), "8: trunks[1].numbers[1]", `the area code is missing (write it with + and the area code, e.g. "+15145550100" if the area code is 514)`},
		{"number twice", trunk("numbers", `["+14505550100", "4505550100"]`), "8: trunks[1].numbers[2]", "+14505550100 is listed twice"},
		{"number in two trunks", trunk() + "  - { name: other, outbound_proxy: sip.example.net, numbers: [\"14505550100\"] }\n",
			"9: trunks[2].numbers[1]", "+14505550100 is already a number of trunk voipms (line 8) (give each number to the one trunk that delivers it)"},
		{"number of another country", trunk("country_code", "33", "numbers", `["0123456789"]`), "8: trunks[1].numbers[1]", `lacks its country code: this trunk's numbers are written in international form (write "+33123456789"`},
		{"caller id not a number", trunk("caller_id", `"club"`), "9: trunks[1].caller_id", `"club" is not a phone number (write digits only`},
		{"caller id with spaces", trunk("caller_id", `"450 555 0100"`), "9: trunks[1].caller_id", `write "+14505550100": digits only`},
		{"transport typo", trunk("transport", "tpc"), "9: trunks[1].transport", "did you mean tcp? write udp, tcp or tls"},
		{"dial format typo", trunk("dial_format", "E.164"), "9: trunks[1].dial_format", "did you mean e164? write e164, national or local"},
		{"srtp typo", trunk("srtp", "requried"), "9: trunks[1].srtp", "did you mean required?"},
		{"srtp required without tls", trunk("srtp", "required"), "9: trunks[1].srtp",
			"the SRTP keys (SDES) cross the network in clear in the call setup, and anyone who reads it can decrypt the audio (add transport: tls if the provider offers it, or write srtp: optional)"},
		{"tls without a tls listener", trunk("transport", "tls"), "4: trunks[1].transport",
			"tls needs a tls:// listener: the provider sends the club's calls back to clubline over TLS (add tls://0.0.0.0:5061 to sip.listen"},
		{"allow_from is not where calls go", ipTrunk("allow_from", "[203.0.113.7]"), "4: trunks[1].registrar", "no registrar and no outbound_proxy"},
		{"ca_file without tls", trunk("ca_file", "/etc/clubline/ca.pem"), "9: trunks[1].ca_file", "a CA file is used only with transport: tls, and transport is udp (add transport: tls, or remove ca_file)"},
		{"max channels zero", trunk("max_channels", "0"), "9: trunks[1].max_channels", "must be at least 1"},
		{"max channels words", trunk("max_channels", "four"), "9: trunks[1].max_channels", "not a whole number"},
		{"outbound minutes zero", trunk("max_outbound_per_hour", "0"), "9: trunks[1].max_outbound_per_hour", "must be more than zero (write the minutes of calls out an hour may use, e.g. 60m)"},
		{"outbound minutes words", trunk("max_outbound_per_hour", "1 hour"), "9: trunks[1].max_outbound_per_hour", `"1 hour" is not a duration (write 1h)`},
		{"register expires short", trunk("register_expires", "30s"), "9: trunks[1].register_expires", "30s is shorter than a minute"},
		{"register expires unit", trunk("register_expires", "300"), "9: trunks[1].register_expires", "has no unit"},
		{"keepalive too often", trunk("keepalive", "2s"), "9: trunks[1].keepalive", "2s is shorter than 10s"},
		{"keepalive words", trunk("keepalive", "never"), "9: trunks[1].keepalive", `"never" is not a duration`},
		{"country code with +", trunk("country_code", `"+1"`), "9: trunks[1].country_code", `"+1" is not a country calling code (write "1": digits only)`},
		{"allow_from bad network", trunk("allow_from", "[10.0.0.0/33]"), "9: trunks[1].allow_from[1]", `"10.0.0.0/33" is not a network`},
		{"allow_from bad IP", trunk("allow_from", "[203.0.113.256]"), "9: trunks[1].allow_from[1]", `"203.0.113.256" is not an IP address`},
		{"allow_from with a port", trunk("allow_from", `["sip.voip.ms:5060"]`), "9: trunks[1].allow_from[1]", "is more than an address or a host (write sip.voip.ms alone: no sip:, no port)"},
		{"allow_from twice", trunk("allow_from", "[203.0.113.5, 203.0.113.5]"), "9: trunks[1].allow_from[2]", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.yaml)
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %d:\n%v", len(errs), errs)
			}
			if got := errs[0].Error(); !strings.HasPrefix(got, "clubline.yaml:"+tt.want+": ") || !strings.Contains(got, tt.msg) {
				t.Errorf("want clubline.yaml:%s: …%s…\ngot:  %s", tt.want, tt.msg, got)
			}
		})
	}
}

func TestTrunkErrorsAtOnce(t *testing.T) {
	errs := parseErrors(t, head+`trunks:
  - name: voipms
    registrar: montreal.voip.ms
    password: hunter2
    numbers: ["450-555-0100"]
    srtp: required
  - name: voipms
    outbound_proxy: sip.example.net
    numbers: ["+14505550101"]
    dial_format: international
sip:
  listen: [udp://0.0.0.0:5060, tls://0.0.0.0:5061]
callback:
  key: "#"
staff:
  - { id: marie, name: Marie, extension: "201", password_env: PW, phone: "+14505550101" }
`)
	want := []string{
		`clubline.yaml:5: trunks[1].registrar: "montreal.voip.ms" has no sip: in front`,
		"clubline.yaml:6: trunks[1].password: a password is never written in this file",
		`clubline.yaml:7: trunks[1].numbers[1]: "450-555-0100" is not a phone number`,
		"clubline.yaml:8: trunks[1].srtp: required needs transport: tls",
		"clubline.yaml:9: trunks[2].name: trunk voipms is already defined on line 4",
		`clubline.yaml:12: trunks[2].dial_format: "international" is not a choice here`,
		"clubline.yaml:14: sip.listen[2]: tls:// needs sip.tls.cert_file and key_file",
		`clubline.yaml:16: callback.key: "#" is not a key from 1 to 9`,
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got %d:\n%v", len(want), len(errs), errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, errs[i], w)
		}
	}
}

func TestSIPAndPeopleErrors(t *testing.T) {
	staff := func(phone string) string {
		return "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, phone: " + phone + " }\n"
	}
	tests := []struct {
		name string
		yaml string
		want string // "line: key"
		msg  string
	}{
		{"tls listener without certificate", head + "sip:\n  listen: [tls://0.0.0.0:5061]\n", "4: sip.listen[1]",
			"tls:// needs sip.tls.cert_file and key_file (add under sip: tls: { cert_file: /etc/clubline/fullchain.pem, key_file: /etc/clubline/privkey.pem }"},
		{"tls listener without port", head + "sip:\n  listen: [tls://0.0.0.0]\n  tls: { cert_file: c.pem, key_file: k.pem }\n", "4: sip.listen[1]", "add one: tls://0.0.0.0:5061"},
		{"certificate without key", head + "sip:\n  tls:\n    cert_file: c.pem\n", "5: sip.tls.key_file", "missing: a certificate is no use without its private key"},
		{"key without certificate", head + "sip:\n  tls: { key_file: k.pem }\n", "4: sip.tls.cert_file", "missing: a private key is no use without its certificate"},
		{"tls unknown key", head + "sip:\n  tls: { certfile: c.pem }\n", "4: sip.tls.certfile", "did you mean cert_file?"},
		{"wss", head + "sip:\n  listen: [wss://0.0.0.0:443]\n", "4: sip.listen[1]", "wss (WebSocket over TLS) is not supported"},
		{"stun with scheme", head + "sip:\n  stun: stun:stun.example.org\n", "4: sip.stun", `"stun:stun.example.org" has a scheme in front (write stun.example.org: host:port alone)`},
		{"stun bad port", head + "sip:\n  stun: stun.example.org:abc\n", "4: sip.stun", "is not host:port"},
		{"sip allow_from bad", head + "sip:\n  allow_from: [192.168.1.0/24, \" 10.0.0.0/8 \", 10.1.2.3.4]\n", "4: sip.allow_from[3]", `"10.1.2.3.4" is not an IP address`},
		{"no sip numbers and no trunk", head + "sip:\n  numbers: []\n", "4: sip.numbers", "no number to answer (list the numbers callers dial, e.g. [\"+14505550100\"], or add a trunk"},
		{"staff phone with dashes", head + staff("514-555-0102"), "4: staff[1].phone", `"514-555-0102" is not a phone number (write "+15145550102": digits only, no spaces or dashes)`},
		{"staff phone abroad", head + staff(`"011441234567890"`), "4: staff[1].phone", `starts with 011, the prefix for calling abroad from North America (write "+441234567890")`},
		{"staff phone is the club's", trunk() + staff(`"4505550100"`), "10: staff[1].phone", "+14505550100 is the club's own number (trunk voipms): ringing it would call clubline itself"},
		{"fallback an extension", head + "urgency:\n  fallback: \"201\"\n", "4: urgency.fallback", `"201" is not a whole phone number (an extension is not rung this way)`},
		{"fallback is the club's", head + "sip:\n  numbers: [\"+14505550100\"]\nurgency:\n  fallback: \"+14505550100\"\n", "6: urgency.fallback", "the club's own number (sip.numbers)"},

		{"callback without trunk", head + "callback:\n  enabled: true\n", "4: callback.enabled", "no trunk to call back through (add the club's SIP account under trunks, or write enabled: false)"},
		{"callback enabled yes", trunk() + "callback:\n  enabled: yes\n", "10: callback.enabled", `"yes" is neither true nor false (write true or false)`},
		{"callback key 0", head + "callback:\n  key: \"0\"\n", "4: callback.key", "0 already leaves the queue to leave a message"},
		{"callback key star", head + "callback:\n  key: \"*\"\n", "4: callback.key", `"*" is not a key from 1 to 9 (write a digit from 1 to 9 in quotes, e.g. "2")`},
		{"callback attempts", head + "callback:\n  attempts: 0\n", "4: callback.attempts", "0 is not between 1 and 10"},
		{"callback retry zero", head + "callback:\n  retry_after: 0s\n", "4: callback.retry_after", "cannot be zero"},
		{"callback pattern without +", head + "callback:\n  allowed: [\"1NXXNXXXXXX\"]\n", "4: callback.allowed[1]", `does not start with +: numbers are matched in international form (write "+1NXXNXXXXXX")`},
		{"callback pattern letters", head + "callback:\n  denied: [\"+1900XXXXXXX\", \"+1-900-X\"]\n", "4: callback.denied[2]", `"+1-900-X" is not a dial pattern (write + then digits, X (any digit)`},
		{"callback pattern dot inside", head + "callback:\n  allowed: [\"+1.5\"]\n", "4: callback.allowed[1]", "is not a dial pattern"},
		{"callback pattern too long", head + "callback:\n  allowed: [\"+1234567890123456\"]\n", "4: callback.allowed[1]", "longer than any phone number"},
		{"callback allows nothing", trunk() + "callback:\n  allowed: []\n", "10: callback.allowed", "no number may be called back"},
		{"callback unknown key", head + "callback:\n  keys: \"2\"\n", "4: callback.keys", "did you mean key?"},
		{"trunks under sip", head + "sip:\n  trunks: []\n", "4: sip.trunks", "trunks is a section of its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.yaml)
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %d:\n%v", len(errs), errs)
			}
			if got := errs[0].Error(); !strings.HasPrefix(got, "clubline.yaml:"+tt.want+": ") || !strings.Contains(got, tt.msg) {
				t.Errorf("want clubline.yaml:%s: …%s…\ngot:  %s", tt.want, tt.msg, got)
			}
		})
	}
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct {
		in, want string // want "" for an error
		fix      string // fragment of the message and fix of an error
	}{
		{"+15145550199", "+15145550199", ""},
		{"+33123456789", "+33123456789", ""},
		{"+4912345678", "+4912345678", ""},           // 8 digits after +: the shortest
		{"+123456789012345", "+123456789012345", ""}, // 15: the longest
		{"5145550199", "+15145550199", ""},
		{"15145550199", "+15145550199", ""},
		{" 5145550199 ", "+15145550199", ""},
		{"514-555-0199", "", `write "+15145550199": digits only, no spaces or dashes`},
		{"(514) 555-0199", "", `write "+15145550199"`},
		{"+1 514 555 0199", "", `write "+15145550199"`},
		{"1.514.555.0199", "", `write "+15145550199"`},
		{"+33 1 23 45 67 89", "", `write "+33123456789"`},
		{"5550199", "", `"+15145550199" if the area code is 514`},
		{"201", "", "an outside number with its area code"},
		{"0123456789", "", `e.g. "+33123456789" for France`},
		{"11234567890", "", "area codes do not start with 0 or 1"}, // 1 + an area code starting with 1
		{"01133123456789", "", `write "+33123456789"`},
		{"0033123456789", "", `write "+33123456789"`},
		{"+1234567", "", "8 to 15 digits"},
		{"+1234567890123456", "", "8 to 15 digits"},
		{"+0123456789", "", "no country code starts with 0"},
		{"123456789012", "", "+ then the country code"},
		{"club", "", "digits only"},
		{"514-CLUB-SOCCER", "", "digits only"},
		{"", "", "with its country code"},
		{"--", "", "digits only"},
	}
	for _, tt := range tests {
		got, msg, fix := config.NormalizeNumber(tt.in)
		switch {
		case tt.want != "" && (got != tt.want || msg != ""):
			t.Errorf("NormalizeNumber(%q) = %q, %q, %q; want %q", tt.in, got, msg, fix, tt.want)
		case tt.want == "" && (got != "" || msg == "" || !strings.Contains(msg+" ("+fix+")", tt.fix)):
			t.Errorf("NormalizeNumber(%q) = %q, %q, %q; want an error that says …%s…", tt.in, got, msg, fix, tt.fix)
		}
	}
}

func TestAnsweredNumbers(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no trunk", head, []string{"club"}},
		{"sip.numbers only", head + "sip:\n  numbers: [\"+14505550100\", office]\n", []string{"+14505550100", "office"}},
		// A trunk's number already in sip.numbers, in E.164 or as ten
		// digits, is not repeated.
		{"both", trunk("numbers", `["+14505550100", "+14505550101"]`) + "sip:\n  numbers: [\"4505550100\", club]\n",
			[]string{"4505550100", "club", "+14505550101"}},
		{"only the trunks", trunk() + "sip:\n  numbers: []\n", []string{"+14505550100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("a.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.AnsweredNumbers(); !slices.Equal(got, tt.want) {
				t.Errorf("AnsweredNumbers() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSIPAdditions(t *testing.T) {
	c, err := config.Parse("s.yaml", []byte(head+`sip:
  listen: [udp://0.0.0.0:5060, tls://0.0.0.0:5061]
  tls: { cert_file: /etc/clubline/fullchain.pem, key_file: /etc/clubline/privkey.pem }
  stun: stun.example.org
  allow_from: [192.168.1.0/24, pbx.club.example.org, "2001:db8::1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SIP
	if len(s.Listen) != 2 || s.Listen[1] != (config.Listener{Transport: "tls", Addr: "0.0.0.0:5061"}) {
		t.Errorf("listen: %v", s.Listen)
	}
	if s.TLS != (config.TLS{CertFile: "/etc/clubline/fullchain.pem", KeyFile: "/etc/clubline/privkey.pem"}) || s.STUN != "stun.example.org:3478" {
		t.Errorf("tls %+v, stun %q", s.TLS, s.STUN)
	}
	// Without trunks, allow_from is what the file says, and the callback
	// is off with the North American defaults.
	if !slices.Equal(s.AllowFrom, []string{"192.168.1.0/24", "pbx.club.example.org", "2001:db8::1"}) {
		t.Errorf("allow_from: %q", s.AllowFrom)
	}
	for stun, want := range map[string]string{"203.0.113.9:3479": "203.0.113.9:3479", "\"2001:db8::9\"": "[2001:db8::9]:3478", "\"[2001:db8::9]:19302\"": "[2001:db8::9]:19302", "\"\"": ""} {
		c, err := config.Parse("s.yaml", []byte(head+"sip:\n  stun: "+stun+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.SIP.STUN != want {
			t.Errorf("stun %s: %q, want %q", stun, c.SIP.STUN, want)
		}
	}
	// Without trunks and allow_from, calls come from anywhere.
	c, err = config.Parse("s.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.AllowFrom != nil || c.SIP.STUN != "" || c.SIP.TLS != (config.TLS{}) || len(c.Trunks) != 0 {
		t.Errorf("defaults: %+v, trunks %v", c.SIP, c.Trunks)
	}
	// With a trunk, an empty allow_from leaves only the trunks and staff.
	c, err = config.Parse("s.yaml", []byte(trunk()+"sip:\n  allow_from: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.AllowFrom == nil || len(c.SIP.AllowFrom) != 0 {
		t.Errorf("allow_from: %#v, want empty", c.SIP.AllowFrom)
	}
}

func TestPhonesNormalized(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(head+`staff:
  - { id: marie, name: Marie, extension: "201", password_env: PW, phone: "5145550102" }
  - { id: luc, name: Luc, extension: "202", password_env: PW, phone: 15145550103 }
  - { id: anne, name: Anne, extension: "203", password_env: PW }
urgency:
  fallback: "5145550199"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Staff[0].Phone != "+15145550102" || c.Staff[1].Phone != "+15145550103" || c.Staff[2].Phone != "" || c.Urgency.Fallback != "+15145550199" {
		t.Errorf("staff %+v, fallback %q", c.Staff, c.Urgency.Fallback)
	}
	c, err = config.Parse("p.yaml", []byte(head+"urgency:\n  fallback: \"sips:urgence@example.org;transport=tls\"\n"))
	if err != nil || c.Urgency.Fallback != "sips:urgence@example.org;transport=tls" {
		t.Errorf("SIP fallback: %v %+v", err, c)
	}
}

func TestCallbackDefaults(t *testing.T) {
	// Without a trunk: off, with the North American patterns.
	c, err := config.Parse("c.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	cb := c.Callback
	if cb.Enabled || cb.Key != "2" || cb.Attempts != 3 || cb.RetryAfter != 2*time.Minute {
		t.Errorf("no trunk: %+v", cb)
	}
	if !slices.Equal(cb.Allowed, []string{"+1NXXNXXXXXX"}) || !slices.Equal(cb.Denied, config.DefaultCallbackDenied()) ||
		len(cb.Denied) != 23 || cb.Denied[0] != "+1900XXXXXXX" || cb.Denied[1] != "+1976XXXXXXX" || cb.Denied[22] != "+1876XXXXXXX" {
		t.Errorf("no trunk: allowed %q, denied %q", cb.Allowed, cb.Denied)
	}
	// enabled: false without a trunk is fine; with one, it turns it off.
	for _, y := range []string{head + "callback:\n  enabled: false\n", trunk() + "callback:\n  enabled: false\n"} {
		if c, err := config.Parse("c.yaml", []byte(y)); err != nil || c.Callback.Enabled {
			t.Errorf("enabled: false: %v %+v", err, c)
		}
	}
	// With a trunk: on.
	c, err = config.Parse("c.yaml", []byte(trunk()))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Callback.Enabled || !slices.Equal(c.Callback.Allowed, []string{config.NANPPattern}) {
		t.Errorf("trunk: %+v", c.Callback)
	}
	// The first trunk's country decides what is allowed.
	c, err = config.Parse("c.yaml", []byte(trunk("country_code", `"33"`, "numbers", `["+33123456789"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Callback.Allowed, []string{"+33."}) || !c.Callback.Allows("+33612345678") || c.Callback.Allows("+15145550199") {
		t.Errorf("france: %+v", c.Callback)
	}
	// What the file says, patterns uppercased.
	c, err = config.Parse("c.yaml", []byte(trunk()+`callback:
  key: 3
  attempts: 5
  retry_after: 90s
  allowed: ["+1514nxxxxxx", "+1450."]
  denied: []
`))
	if err != nil {
		t.Fatal(err)
	}
	cb = c.Callback
	if !cb.Enabled || cb.Key != "3" || cb.Attempts != 5 || cb.RetryAfter != 90*time.Second ||
		!slices.Equal(cb.Allowed, []string{"+1514NXXXXXX", "+1450."}) || cb.Denied == nil || len(cb.Denied) != 0 {
		t.Errorf("written: %+v", cb)
	}
}

func TestCallbackAllows(t *testing.T) {
	def := config.Default().Callback
	custom := config.Callback{Allowed: []string{"+1514NXXXXXX", "+1450Z.", "+33."}, Denied: []string{"+1514555XXXX", "+336."}}
	tests := []struct {
		cb     config.Callback
		number string
		want   bool
	}{
		{def, "+15145550199", true},
		{def, "+14505550100", true},
		{def, "+19005550199", false},  // premium rate
		{def, "+19765550199", false},  // premium rate
		{def, "+18765550199", false},  // Jamaica
		{def, "+18095550199", false},  // Dominican Republic
		{def, "+12425550199", false},  // Bahamas
		{def, "+33123456789", false},  // abroad
		{def, "+1514555019", false},   // a digit short
		{def, "+151455501990", false}, // a digit long
		{def, "+11145550199", false},  // area code starting with 1
		{def, "+15141550199", false},  // exchange starting with 1
		{def, "15145550199", false},   // not E.164
		{def, "", false},
		{custom, "+15142220199", true},
		{custom, "+15145550199", false}, // denied
		{custom, "+14501", true},        // Z then any number of digits
		{custom, "+1450", false},        // Z needs a digit
		{custom, "+14500", false},       // Z is 1-9
		{custom, "+33", true},           // "." takes no digit too
		{custom, "+33123456789", true},
		{custom, "+33612345678", false},
		{custom, "+3312a", false},
		{custom, "+16135550199", false},
		{config.Callback{}, "+15145550199", false}, // nothing allowed
	}
	for _, tt := range tests {
		if got := tt.cb.Allows(tt.number); got != tt.want {
			t.Errorf("%q allowed %q denied %q: Allows(%q) = %t, want %t", tt.cb.Allowed, tt.cb.Allowed, tt.cb.Denied, tt.number, got, tt.want)
		}
	}
	if got := config.DefaultCallbackAllowed(""); !slices.Equal(got, []string{"+1NXXNXXXXXX"}) {
		t.Errorf("DefaultCallbackAllowed(\"\") = %q", got)
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("-----BEGIN-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := trunk("transport", "tls", "ca_file", filepath.Join(dir, "ca.pem")) + "sip:\n  listen: [tls://0.0.0.0:5061]\n  tls:\n    cert_file: " + cert + "\n    key_file: " + dir + "\n"
	c, err := config.Parse("f.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Trunks[0].CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("ca_file: %q", c.Trunks[0].CAFile)
	}
	errs := c.CheckFiles()
	want := []string{
		"f.yaml:10: trunks[1].ca_file: cannot read " + filepath.Join(dir, "ca.pem") + ": no such file or directory (put the PEM file there, or correct the path",
		"f.yaml:15: sip.tls.key_file: " + dir + " is a folder, not a file (write the path of the PEM file in it)",
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got %d:\n%v", len(want), len(errs), errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, errs[i], w)
		}
	}
}
