package edge

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Per-source request limits, on the model of Kamailio's pike: a SIP port
// on the internet is scanned within minutes, and one address sending
// INVITEs or OPTIONS as fast as it can must neither take the line nor
// drown the log.
//
// Decisions (issue 7, finding 1):
//
//   - Out-of-dialog INVITEs, OPTIONS and other out-of-dialog requests are
//     counted per source IP address in token buckets (Limits.Invites,
//     Options, Other per Window). REGISTER has the registrar's own limits
//     (sip/registrar/guard.go); requests inside a dialog, ACK and CANCEL
//     are never counted here: they belong to a call already let in.
//   - SUBSCRIBE counts as an other request, inside a dialog too: a
//     subscription is no call, a phone refreshes it once in minutes, and
//     a To tag is no proof of anything (its credentials go through the
//     registrar's limits as well). A staff phone's address is spared
//     like any other (Exempt).
//   - The request that goes over a limit gets 503 with Retry-After, and the
//     address is blocked for BlockFor: everything it sends is then dropped
//     unanswered (read and discarded over UDP before it is even parsed),
//     so a flood costs clubline nothing and gets no answer to reflect.
//     The block does not grow while the flood goes on; when it ends, the
//     address starts over with a full bucket.
//   - Some addresses are never limited: Trusted prefixes (by default the
//     machine itself: a local proxy, the mystery call, a benchmark; the
//     office's network or a provider's trunk when listed), and the
//     addresses staff phones are registered from (Exempt, asked of the
//     registrar), so a provider delivering many calls, or the office's
//     NAT, is never blocked.
//   - Each refusal and each dropped request counts in
//     clubline_sip_blocked_total{reason}; a block is logged once.

// Limits are the per-source request limits (sip.Options.Limits). The zero
// value of each field picks the default named beside it; a negative
// count turns that limit off.
type Limits struct {
	// Window (10s) is the time in which Invites, Options and Other
	// requests are taken from one address.
	Window time.Duration
	// Invites (10), Options (20) and Other (20) requests per Window from
	// one address; beyond, 503 and a block.
	Invites, Options, Other int
	// BlockFor (1m) is how long an address over a limit is ignored.
	BlockFor time.Duration
	// Trusted addresses are never limited. Nil: loopback (127.0.0.0/8 and
	// ::1); a list replaces it.
	Trusted []netip.Prefix
	// Exempt, when set, names more addresses never limited: those of
	// registered staff phones. It must be fast and safe for concurrent use.
	Exempt func(netip.Addr) bool
	// OnBlocked is called for each request refused or dropped, with the
	// reason: invite_rate, options_rate, request_rate (the request over a
	// limit), blocked (dropped while its address is blocked).
	OnBlocked func(reason string)
}

// Limit defaults.
const (
	DefaultLimitWindow   = 10 * time.Second
	DefaultLimitInvites  = 10
	DefaultLimitOptions  = 20
	DefaultLimitOther    = 20
	DefaultLimitBlockFor = time.Minute
)

// Reasons of Limits.OnBlocked.
const (
	BlockedInviteRate  = "invite_rate"
	BlockedOptionsRate = "options_rate"
	BlockedRequestRate = "request_rate"
	BlockedSource      = "blocked"
)

func (l *Limits) withDefaults() {
	if l.Window <= 0 {
		l.Window = DefaultLimitWindow
	}
	if l.Invites == 0 {
		l.Invites = DefaultLimitInvites
	}
	if l.Options == 0 {
		l.Options = DefaultLimitOptions
	}
	if l.Other == 0 {
		l.Other = DefaultLimitOther
	}
	if l.BlockFor <= 0 {
		l.BlockFor = DefaultLimitBlockFor
	}
	if l.Trusted == nil {
		l.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if l.Exempt == nil {
		l.Exempt = func(netip.Addr) bool { return false }
	}
	if l.OnBlocked == nil {
		l.OnBlocked = func(string) {}
	}
}

// A Limiter applies Limits: it counts the requests of each source, blocks
// a source over a limit, and counts (OnBlocked) and logs what it refuses.
// It is safe for concurrent use.
type Limiter struct {
	o                       Limits
	log                     *slog.Logger
	now                     func() time.Time
	invites, options, other *sipx.Buckets // nil: that limit is off

	mu      sync.Mutex
	blocked map[netip.Addr]time.Time // until when
}

// NewLimiter applies o, with its defaults; a block is logged to log.
func NewLimiter(o Limits, log *slog.Logger) *Limiter {
	o.withDefaults()
	l := &Limiter{o: o, log: log, now: time.Now, blocked: make(map[netip.Addr]time.Time)}
	bucket := func(n int) *sipx.Buckets {
		if n < 0 {
			return nil
		}
		return sipx.NewBuckets(n, o.Window/time.Duration(n))
	}
	l.invites, l.options, l.other = bucket(o.Invites), bucket(o.Options), bucket(o.Other)
	return l
}

// BlockFor is how long a source over a limit is ignored: the Retry-After
// of the refusal that tells it so.
func (l *Limiter) BlockFor() time.Duration { return l.o.BlockFor }

// A Verdict is what the limits say of a request before its handler sees it.
type Verdict int

const (
	// Pass: the handler may run.
	Pass Verdict = iota
	// Refuse: the request just took its source over a limit, which is now
	// blocked; answer it 503 with Retry-After BlockFor.
	Refuse
	// Drop: its source is blocked; answer nothing.
	Drop
)

// Check counts a request and says whether it may go on. A refusal and a
// drop are counted (OnBlocked); a refusal, which starts a block, is logged.
func (l *Limiter) Check(req *sipmsg.Request) Verdict {
	v, reason := l.check(req)
	switch v {
	case Refuse:
		l.o.OnBlocked(reason)
		l.log.Warn("request limit reached: the address is ignored for a while", "reason", reason,
			"source", sipx.MaskAddr(sourceAddr(req).String()), "for", l.o.BlockFor)
	case Drop:
		l.o.OnBlocked(reason)
	}
	return v
}

func (l *Limiter) check(req *sipmsg.Request) (Verdict, string) {
	ip := sourceAddr(req)
	if l.exempt(ip) {
		return Pass, ""
	}
	now := l.now()
	if l.isBlocked(ip, now) {
		return Drop, BlockedSource
	}
	inDialog := sipx.ToTag(req) != "" && req.Method != sipmsg.SUBSCRIBE
	if inDialog || req.IsAck() || req.IsCancel() || req.Method == sipmsg.REGISTER {
		return Pass, ""
	}
	b, reason := l.other, BlockedRequestRate
	switch req.Method {
	case sipmsg.INVITE:
		b, reason = l.invites, BlockedInviteRate
	case sipmsg.OPTIONS:
		b, reason = l.options, BlockedOptionsRate
	}
	if b == nil {
		return Pass, ""
	}
	if ok, _, _ := b.Allow(ip.String(), now); ok {
		return Pass, ""
	}
	l.block(ip, now)
	return Refuse, reason
}

// DropDatagram is the UDP read filter's question: drop this datagram
// unread, because its source is blocked? A drop is counted (OnBlocked).
func (l *Limiter) DropDatagram(remote net.Addr) bool {
	ua, ok := remote.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip := ua.AddrPort().Addr().Unmap()
	if l.exempt(ip) || !l.isBlocked(ip, l.now()) {
		return false
	}
	l.o.OnBlocked(BlockedSource)
	return true
}

// exempt reports whether an address is never limited.
func (l *Limiter) exempt(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true // not an IP source: nothing to count it by
	}
	for _, p := range l.o.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return l.o.Exempt(ip)
}

// isBlocked reports whether ip is blocked now, forgetting expired blocks.
func (l *Limiter) isBlocked(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.blocked[ip]
	if !ok {
		return false
	}
	if now.Before(until) {
		return true
	}
	delete(l.blocked, ip)
	return false
}

func (l *Limiter) block(ip netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.blocked) >= 20000 {
		for a, until := range l.blocked {
			if !now.Before(until) {
				delete(l.blocked, a)
			}
		}
	}
	l.blocked[ip] = now.Add(l.o.BlockFor)
}

// sourceAddr is the IP address a request came from.
func sourceAddr(req *sipmsg.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
