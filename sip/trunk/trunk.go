// Package trunk is clubline's side of a SIP trunk: the account at the
// club's provider that carries the club's real numbers. It registers to
// the provider and keeps the registration up (register.go), answers the
// provider's digest challenges (auth.go), says which source addresses are
// the provider's and which of the trunk's numbers a delivered call is for
// (inbound.go), writes numbers the way the provider wants them dialled
// (numbers.go) and keeps count of the channels and outbound minutes in
// use (channels.go).
//
// It builds SIP requests but sends none itself: package sip sends them
// from its own listeners (Sender), so the provider sees one address for
// registrations, calls and keep-alives, which is what keeps a NAT mapping
// open and what the provider's replies teach clubline about its public
// address.
package trunk

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Account is one trunk as the config describes it (trunks[] in
// docs/config.md). cmd fills it; the password comes from the environment.
type Account struct {
	Name string
	// Registrar is where to register ("sip:montreal.voip.ms"); empty for
	// an IP-authenticated trunk, which never registers.
	Registrar string
	// OutboundProxy is where requests go ("sip:proxy.example:5060" or
	// "host:port"); empty: the registrar.
	OutboundProxy string
	// Transport is "udp", "tcp" or "tls" (default udp).
	Transport          string
	Username, Password string
	// PasswordEnv names the environment variable the password came from,
	// for the message when it is empty.
	PasswordEnv string
	// Numbers are the club's numbers the trunk delivers, in E.164.
	Numbers []string
	// AllowFrom are other addresses the provider sends calls from: IPs,
	// CIDRs or host names. The registrar's and proxy's addresses always
	// count.
	AllowFrom []string
	// CallerID is the number shown on calls placed through the trunk, in
	// E.164 (default Numbers[0]).
	CallerID string
	// DialFormat is how numbers are written to the provider: FormatE164,
	// FormatNational or FormatLocal (default E.164).
	DialFormat string
	// CountryCode is the trunk's country calling code ("1"), for the
	// national and local formats.
	CountryCode string
	// MaxChannels is how many calls may use the trunk at once, in and out
	// (default 4).
	MaxChannels int
	// MaxOutboundPerHour bounds the minutes of calls placed through the
	// trunk in any hour (default 60 min): a loop or an abuse stops there.
	MaxOutboundPerHour time.Duration
	// RegisterExpires is the registration lifetime asked (default 5 min).
	RegisterExpires time.Duration
	// KeepAlive is the interval of OPTIONS pings to the provider (default
	// 25 s; negative: none).
	KeepAlive time.Duration
	// SRTP is "required", "optional" (the default) or "off": whether the
	// audio of the trunk's calls is encrypted (SDES keys, RFC 4568).
	SRTP string
}

// Dial formats.
const (
	FormatE164     = "e164"
	FormatNational = "national"
	FormatLocal    = "local"
)

// Defaults: the line's (clubline/policy.go), which config applies too.
const (
	DefaultMaxChannels        = clubline.DefaultTrunkMaxChannels
	DefaultMaxOutboundPerHour = clubline.DefaultTrunkMaxOutboundPerHour
	DefaultRegisterExpires    = clubline.DefaultTrunkRegisterExpires
	DefaultKeepAlive          = clubline.DefaultTrunkKeepAlive
)

// Trunk is one account at run time: its registration state, the channels
// in use, the minutes placed. Safe for concurrent use.
type Trunk struct {
	a        Account
	domain   string     // the provider's domain: From/To host of REGISTER, host of dialled URIs
	next     sipmsg.Uri // where requests go: the outbound proxy, else the registrar
	register bool       // a registrar is configured

	mu         sync.Mutex
	sources    []netip.Prefix // resolved addresses the provider sends from (inbound.go)
	state      State
	inUse      int
	placed     []span // outbound calls of the last hour (channels.go)
	onChange   func(State)
	resolvedAt time.Time
	seen       netip.AddrPort // clubline's address as the provider sees it (register.go)
}

// State is where the registration stands.
type State struct {
	Trunk string
	// Registered: the provider accepted the last REGISTER and it has not
	// expired. Always false for an IP-authenticated trunk.
	Registered bool
	// Reason says why not, in words ("provider did not answer",
	// "403 Forbidden: wrong username or password"), or "" when registered.
	Reason string
	// Contact is the address the provider rings ("sip:club@203.0.113.5:5060").
	Contact string
	// Expires is when the registration lapses unless refreshed.
	Expires time.Time
	// Since is when Registered last changed.
	Since time.Time
}

// New checks an Account and fills its defaults.
func New(a Account) (*Trunk, error) {
	var errs []error
	if a.Name == "" {
		errs = append(errs, errors.New("a trunk needs a name"))
	}
	a.Transport = strings.ToLower(a.Transport)
	switch a.Transport {
	case "":
		a.Transport = "udp"
	case "udp", "tcp", "tls":
	default:
		errs = append(errs, fmt.Errorf("transport %q: want udp, tcp or tls", a.Transport))
	}
	t := &Trunk{}
	var reg, proxy sipmsg.Uri
	if a.Registrar != "" {
		if err := parseTarget(a.Registrar, &reg); err != nil {
			errs = append(errs, fmt.Errorf("registrar: %w", err))
		}
		t.register = true
		if a.Username == "" {
			errs = append(errs, errors.New("a trunk that registers needs a username"))
		}
	}
	if a.OutboundProxy != "" {
		if err := parseTarget(a.OutboundProxy, &proxy); err != nil {
			errs = append(errs, fmt.Errorf("outbound proxy: %w", err))
		}
	} else {
		proxy = reg
	}
	if proxy.Host == "" && a.Registrar == "" && a.OutboundProxy == "" {
		errs = append(errs, errors.New("an IP-authenticated trunk needs an outbound proxy"))
	}
	if len(a.Numbers) == 0 {
		errs = append(errs, errors.New("a trunk needs the club's numbers it delivers"))
	}
	if a.CallerID == "" && len(a.Numbers) > 0 {
		a.CallerID = a.Numbers[0]
	}
	switch a.DialFormat {
	case "":
		a.DialFormat = FormatE164
	case FormatE164, FormatNational, FormatLocal:
	default:
		errs = append(errs, fmt.Errorf("dial format %q: want e164, national or local", a.DialFormat))
	}
	if a.CountryCode == "" {
		a.CountryCode = clubline.DefaultCountryCode
	}
	if a.MaxChannels <= 0 {
		a.MaxChannels = DefaultMaxChannels
	}
	if a.MaxOutboundPerHour <= 0 {
		a.MaxOutboundPerHour = DefaultMaxOutboundPerHour
	}
	if a.RegisterExpires <= 0 {
		a.RegisterExpires = DefaultRegisterExpires
	}
	if a.KeepAlive == 0 {
		a.KeepAlive = DefaultKeepAlive
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("trunk %s: %w", a.Name, errors.Join(errs...))
	}
	t.a = a
	t.next = proxy
	t.domain = reg.Host
	if t.domain == "" {
		t.domain = proxy.Host
	}
	t.state = State{Trunk: a.Name, Reason: "not registered yet"}
	if !t.register {
		t.state.Reason = "IP-authenticated: no registration"
	}
	return t, nil
}

// parseTarget reads "sip:host[:port][;transport=x]" or "host[:port]".
func parseTarget(s string, u *sipmsg.Uri) error {
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		s = "sip:" + s
	}
	if err := sipmsg.ParseUri(s, u); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// Name is the trunk's name, as in the config and the metrics.
func (t *Trunk) Name() string { return t.a.Name }

// Account is the trunk's account, defaults filled. Its Password must not
// be logged.
func (t *Trunk) Account() Account { return t.a }

// Registers reports whether the trunk registers (false: IP-authenticated).
func (t *Trunk) Registers() bool { return t.register }

// Domain is the provider's domain, the host of the URIs clubline dials.
func (t *Trunk) Domain() string { return t.domain }

// Transport is "udp", "tcp" or "tls".
func (t *Trunk) Transport() string { return t.a.Transport }

// NextHop is where requests to the provider go: the host, port (0: SRV
// or the transport's default) and transport of the outbound proxy, else
// of the registrar.
func (t *Trunk) NextHop() (host string, port int, transport string) {
	transport = t.a.Transport
	if t.next.UriParams != nil {
		if tp, ok := t.next.UriParams.Get("transport"); ok && tp != "" {
			transport = strings.ToLower(tp)
		}
	}
	return strings.Trim(t.next.Host, "[]"), t.next.Port, transport
}

// State is the registration's state now.
func (t *Trunk) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// OnChange is told every change of Registered (and the first state), for
// the metric and the log. Set it before Run.
func (t *Trunk) OnChange(f func(State)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onChange = f
}

// setState records a new state and tells OnChange when Registered changed
// or the reason did.
func (t *Trunk) setState(now time.Time, registered bool, reason, contact string, expires time.Time) {
	t.mu.Lock()
	old := t.state
	s := State{Trunk: t.a.Name, Registered: registered, Reason: reason, Contact: contact, Expires: expires, Since: old.Since}
	if registered != old.Registered || old.Since.IsZero() {
		s.Since = now
	}
	t.state = s
	f := t.onChange
	t.mu.Unlock()
	if f != nil && (registered != old.Registered || reason != old.Reason || old.Since.IsZero()) {
		f(s)
	}
}

// Seen is clubline's address as the provider sees it, learnt from its
// answers (Via received and rport); invalid until learnt, and never set
// when the public address is configured.
func (t *Trunk) Seen() netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen
}
