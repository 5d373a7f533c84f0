package trunk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Keeping the registration up.
//
// Decisions:
//
//   - One goroutine per trunk sends everything the trunk sends on its own
//     (REGISTER, the keep-alive OPTIONS), one request at a time: there is
//     never more than one REGISTER in flight, which is what a provider
//     watching for storms wants to see.
//   - Refreshed at 80% of the lifetime the provider granted (Asterisk
//     refreshes a few seconds before expiry; a lost packet then costs the
//     registration). A failed refresh leaves the trunk registered until the
//     granted lifetime ends: the provider still rings the contact.
//   - Failures back off: RetryMin, doubled each time up to RetryMax, with
//     ±10% jitter so that clubline instances restarted together do not
//     retry together; a Retry-After from the provider is honoured when
//     longer. A wrong password is retried on the same schedule (the admin
//     may fix the environment and restart; the provider locks accounts that
//     hammer it).
//   - The keep-alive OPTIONS goes every KeepAlive even while backing off:
//     its answer keeps the NAT mapping open, shows that the network is back
//     (then clubline registers at once instead of waiting out the backoff)
//     and tells the address the provider sees (Via received and rport,
//     RFC 3581): when that changes, clubline registers the new contact at
//     once, unless public_address fixes it. Over UDP only: over TCP and
//     TLS the port the provider sees is the connection's, from which the
//     provider sends the calls back anyway; registering it would add a
//     second contact, and the provider would fork each call to both.
//   - On shutdown the contact is removed (Expires: 0), so the provider
//     stops ringing a clubline that is gone; the next start registers anew.

// Sender sends the trunk's requests from clubline's own listeners.
// Package sip's Server is one.
type Sender interface {
	// Local is the address written in Via and Contact for a request of
	// this transport to dest: the public address when one is configured
	// (fixed is then true), else the listener's address as the machine
	// sees it.
	Local(transport string, dest netip.AddrPort) (addr netip.AddrPort, fixed bool, err error)
	// Do sends req (out of any dialog) to dest over transport from the
	// listener of that transport, and returns its final response; an
	// error when none came before ctx ended or the transaction timed out.
	Do(ctx context.Context, req *sipmsg.Request, transport string, dest netip.AddrPort) (*sipmsg.Response, error)
}

// Timing of Run; the zero value of each is its default.
type Timing struct {
	RetryMin time.Duration // first pause after a failure (default 30 s)
	RetryMax time.Duration // longest pause (default 30 min)
	// RequestTimeout bounds one REGISTER or OPTIONS (default 16 s).
	RequestTimeout time.Duration
}

func (tm Timing) withDefaults() Timing {
	if tm.RetryMin <= 0 {
		tm.RetryMin = 30 * time.Second
	}
	if tm.RetryMax <= 0 {
		tm.RetryMax = 30 * time.Minute
	}
	if tm.RetryMax < tm.RetryMin {
		tm.RetryMax = tm.RetryMin
	}
	if tm.RequestTimeout <= 0 {
		tm.RequestTimeout = 16 * time.Second
	}
	return tm
}

// session is what Run keeps between requests.
type session struct {
	t       *Trunk
	s       Sender
	r       *net.Resolver
	log     *slog.Logger
	tm      Timing
	callID  string
	tag     string
	cseq    uint32
	learned netip.AddrPort // the address the provider sees, from Via received/rport
	stale   netip.AddrPort // a contact registered before, to remove
	contact netip.AddrPort // the address of the registered contact
	expires time.Time      // when the provider forgets the contact
	fails   int            // failures in a row
	network bool           // the last failure was the network's (no answer)
	pingBad int            // keep-alives unanswered in a row
}

// Run registers the trunk (unless IP-authenticated), keeps it registered
// and sends the keep-alives, until ctx ends; then it removes the
// registration. It reports every change through OnChange.
func (t *Trunk) Run(ctx context.Context, s Sender, r *net.Resolver, tm Timing, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ss := &session{t: t, s: s, r: r, log: log.With("trunk", t.a.Name), tm: tm.withDefaults(),
		callID: sipmsg.GenerateTagN(24), tag: sipmsg.GenerateTagN(16), cseq: uint32(rand.IntN(1 << 16))}
	if err := t.Resolve(ctx, r); err != nil {
		ss.log.Warn("provider address", "error", err)
	}
	if !t.register {
		t.setState(time.Now(), false, t.state.Reason, "", time.Time{})
	}

	var regAt time.Time // when to send the next REGISTER; zero: never
	if t.register {
		regAt = time.Now()
	}
	if t.register && t.a.Password == "" {
		// Never a REGISTER that cannot succeed: a provider counts the
		// failures against the account.
		reason := "no password: the environment variable " + t.a.PasswordEnv + " is not set"
		ss.log.Error("trunk cannot register", "reason", reason)
		t.setState(time.Now(), false, reason, "", time.Time{})
		<-ctx.Done()
		return
	}
	var pingC <-chan time.Time
	if t.a.KeepAlive > 0 {
		tick := time.NewTicker(t.a.KeepAlive)
		defer tick.Stop()
		pingC = tick.C
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if t.register {
			resetTimer(timer, time.Until(regAt))
		}
		select {
		case <-ctx.Done():
			ss.unregister()
			return
		case <-timer.C:
			if !t.register {
				continue
			}
			regAt = ss.register(ctx)
		case <-pingC:
			if t.StaleSources(time.Now()) {
				if err := t.Resolve(ctx, r); err != nil {
					ss.log.Warn("provider address", "error", err)
				}
			}
			switch ss.ping(ctx) {
			case pingRegister:
				if t.register {
					regAt = time.Now() // the network is back, or the address changed
				}
			case pingLost:
				if t.register {
					regAt = time.Now().Add(ss.backoff(0))
				}
			}
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	if d < 0 {
		d = 0
	}
	t.Reset(d)
}

// destination resolves the next hop (SRV, then addresses).
func (ss *session) destination(ctx context.Context) (string, netip.AddrPort, error) {
	host, port, transport := ss.t.NextHop()
	if ip, err := netip.ParseAddr(host); err == nil {
		if port == 0 {
			port = sipx.DefaultPort(transport)
		}
		return transport, netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	ap, err := sipx.Resolve(ctx, ss.r, transport, host, port)
	if err != nil {
		return transport, netip.AddrPort{}, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	return transport, ap, nil
}

// register sends one REGISTER (with its challenges) and returns when to
// send the next.
func (ss *session) register(ctx context.Context) time.Time {
	now := time.Now()
	expires, retryAfter, err := ss.registerOnce(ctx, ss.t.a.RegisterExpires)
	if ctx.Err() != nil {
		return time.Time{}
	}
	if err != nil {
		ss.fails++
		ss.network = errors.Is(err, errNoAnswer)
		wait := ss.backoff(retryAfter)
		stillValid := now.Before(ss.expires)
		reason := err.Error()
		if stillValid {
			ss.log.Warn("trunk registration not refreshed: the last one holds until it expires",
				"error", reason, "expires", ss.expires.Format(time.TimeOnly), "retry_in", wait.Round(time.Second))
			return now.Add(min(wait, time.Until(ss.expires)))
		}
		st := ss.t.State()
		if st.Registered || st.Reason != reason {
			ss.log.Warn("trunk not registered", "reason", reason, "retry_in", wait.Round(time.Second), "failures", ss.fails)
		}
		ss.t.setState(now, false, reason, "", time.Time{})
		return now.Add(wait)
	}
	ss.fails, ss.network = 0, false
	ss.expires = now.Add(expires)
	cu := ss.contactURI()
	contact := cu.String()
	if !ss.t.State().Registered {
		ss.log.Info("trunk registered", "contact", contact, "expires_in", expires)
	}
	ss.t.setState(now, true, "", contact, ss.expires)
	refresh := expires * 8 / 10
	if expires < time.Minute {
		refresh = expires / 2
	}
	return now.Add(refresh)
}

// errNoAnswer: the provider did not answer (or could not be reached).
var errNoAnswer = errors.New("the provider did not answer")

// backoff is the pause after the ss.fails-th failure in a row.
func (ss *session) backoff(retryAfter time.Duration) time.Duration {
	d := ss.tm.RetryMin
	for i := 1; i < ss.fails && d < ss.tm.RetryMax; i++ {
		d *= 2
	}
	d = min(d, ss.tm.RetryMax)
	d += time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return max(d, retryAfter)
}

// registerOnce sends REGISTER asking for lifetime and answers its
// challenges; it returns the lifetime granted. When the provider's answer
// shows clubline's address is not the one in Contact (NAT), it registers
// the address the provider sees, once.
func (ss *session) registerOnce(ctx context.Context, lifetime time.Duration) (granted, retryAfter time.Duration, err error) {
	for range 2 {
		transport, dest, err := ss.destination(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errNoAnswer, err)
		}
		local, fixed, err := ss.s.Local(transport, dest)
		if err != nil {
			return 0, 0, err
		}
		ss.contact = local
		if !fixed && ss.learned.IsValid() {
			ss.contact = ss.learned
		}
		res, err := ss.send(ctx, transport, dest, local, func() *sipmsg.Request { return ss.registerRequest(transport, local, lifetime) })
		if err != nil {
			return 0, 0, err
		}
		if !res.IsSuccess() {
			return 0, sipx.RetryAfterOf(res), refusal(res)
		}
		if lifetime == 0 {
			return 0, 0, nil
		}
		seen, ok := viaReceived(res)
		if !fixed && ok && seen != ss.contact && transport == "udp" {
			// Behind NAT: the provider sees another address. Register the
			// one it sees, which its calls can reach.
			ss.log.Info("trunk: the provider sees clubline at another address: registering that one",
				"local", ss.contact.String(), "seen", seen.String())
			ss.stale = ss.contact
			ss.learned = seen
			ss.t.setSeen(seen)
			continue
		}
		ss.stale = netip.AddrPort{}
		return grantedExpires(res, lifetime), 0, nil
	}
	return 0, 0, errors.New("the address the provider sees keeps changing")
}

// send sends a request built by build and answers up to two challenges.
func (ss *session) send(ctx context.Context, transport string, dest, local netip.AddrPort, build func() *sipmsg.Request) (*sipmsg.Response, error) {
	auth := ss.t.Authorizer()
	req := build()
	for {
		rctx, cancel := context.WithTimeout(ctx, ss.tm.RequestTimeout)
		res, err := ss.s.Do(rctx, req, transport, dest)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w (%s %s): %v", errNoAnswer, transport, dest, err)
		}
		if res.StatusCode != 401 && res.StatusCode != 407 {
			return res, nil
		}
		next := build()
		if err := auth.Authorize(next, res); err != nil {
			return nil, err
		}
		req = next
	}
}

// refusal says in words why the provider refused a REGISTER.
func refusal(res *sipmsg.Response) error {
	what := strconv.Itoa(res.StatusCode) + " " + res.Reason
	switch res.StatusCode {
	case 403:
		return fmt.Errorf("%s: %w", what, ErrRejected)
	case 404:
		return fmt.Errorf("%s: the provider does not know this username", what)
	}
	if res.StatusCode >= 500 {
		return fmt.Errorf("%w: %s", errNoAnswer, what)
	}
	return errors.New(what)
}

// registerRequest builds a REGISTER: request-URI the registrar's domain,
// To and From the account, Contact the address the provider should ring.
func (ss *session) registerRequest(transport string, local netip.AddrPort, lifetime time.Duration) *sipmsg.Request {
	ss.cseq++
	ruri := sipmsg.Uri{Scheme: "sip", Host: ss.t.domain}
	var reg sipmsg.Uri
	if parseTarget(ss.t.a.Registrar, &reg) == nil {
		ruri.Host, ruri.Port = reg.Host, reg.Port
	}
	req := sipmsg.NewRequest(sipmsg.REGISTER, ruri)
	ss.headers(req, transport, local, sipmsg.REGISTER)
	c := &sipmsg.ContactHeader{Address: ss.contactURI()}
	req.AppendHeader(c)
	if ss.stale.IsValid() && ss.stale != ss.contact && lifetime > 0 {
		old := sipmsg.Uri{Scheme: "sip", User: ss.t.a.Username, Host: hostOf(ss.stale.Addr()), Port: int(ss.stale.Port())}
		oc := &sipmsg.ContactHeader{Address: old, Params: sipmsg.NewParams()}
		oc.Params.Add("expires", "0")
		req.AppendHeader(oc)
	}
	exp := sipmsg.ExpiresHeader(uint32(lifetime / time.Second))
	req.AppendHeader(&exp)
	return req
}

// contactURI is the Contact of the registration.
func (ss *session) contactURI() sipmsg.Uri {
	u := sipmsg.Uri{Scheme: "sip", User: ss.t.a.Username, Host: hostOf(ss.contact.Addr()), Port: int(ss.contact.Port())}
	if tp := ss.t.a.Transport; tp != "udp" {
		u.UriParams = sipmsg.NewParams()
		u.UriParams.Add("transport", tp)
	}
	return u
}

// headers adds Via, Max-Forwards, From, To, Call-ID, CSeq and User-Agent.
func (ss *session) headers(req *sipmsg.Request, transport string, local netip.AddrPort, method sipmsg.RequestMethod) {
	via := &sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(transport),
		Host: hostOf(local.Addr()), Port: int(local.Port()), Params: sipmsg.NewParams()}
	via.Params.Add("branch", sipmsg.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	aor := sipmsg.Uri{Scheme: "sip", User: ss.t.a.Username, Host: ss.t.domain}
	from := &sipmsg.FromHeader{Address: aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", ss.tag)
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: *aor.Clone(), Params: sipmsg.NewParams()})
	id := sipmsg.CallIDHeader(ss.callID)
	req.AppendHeader(&id)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: ss.cseq, MethodName: method})
	req.AppendHeader(sipmsg.NewHeader("User-Agent", sipx.UserAgent))
	req.SetBody(nil)
}

func hostOf(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// viaReceived is the address the provider saw the request come from: the
// received and rport of the top Via of its answer (RFC 3581).
func viaReceived(res *sipmsg.Response) (netip.AddrPort, bool) {
	via := res.Via()
	if via == nil || via.Params == nil {
		return netip.AddrPort{}, false
	}
	host := strings.Trim(via.Host, "[]")
	if r, ok := via.Params.Get("received"); ok && r != "" {
		host = r
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := via.Port
	if p, ok := via.Params.Get("rport"); ok && p != "" {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
			port = n
		}
	}
	if port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}

// grantedExpires is the lifetime the registrar granted: the expires of
// our Contact in its answer, else its Expires header, else what was asked.
func grantedExpires(res *sipmsg.Response, asked time.Duration) time.Duration {
	var found time.Duration
	for _, h := range res.GetHeaders("Contact") {
		for _, part := range strings.Split(h.Value(), ",") {
			_, params, ok := strings.Cut(part, ">")
			if !ok {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "expires") {
					if n, err := strconv.Atoi(v); err == nil && n > 0 {
						d := time.Duration(n) * time.Second
						if found == 0 || d > found {
							found = d
						}
					}
				}
			}
		}
	}
	if found > 0 {
		return found
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// What a keep-alive says to do.
type pingResult int

const (
	pingNothing  pingResult = iota
	pingRegister            // register at once: the provider answers again, or sees a new address
	pingLost                // the provider stopped answering: the registration is lost
)

// lostAfter is how many keep-alives in a row go unanswered before the
// registration is taken as lost: a provider that does not answer cannot
// deliver calls either, and saying "registered" then would hide it.
const lostAfter = 2

// ping sends one keep-alive OPTIONS and says what its answer, or its
// silence, means for the registration.
func (ss *session) ping(ctx context.Context) pingResult {
	transport, dest, err := ss.destination(ctx)
	if err != nil {
		return ss.unanswered(err)
	}
	local, fixed, err := ss.s.Local(transport, dest)
	if err != nil {
		return pingNothing
	}
	req := sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: ss.t.domain})
	ss.cseq++
	ss.headers(req, transport, local, sipmsg.OPTIONS)
	rctx, cancel := context.WithTimeout(ctx, ss.tm.RequestTimeout)
	res, err := ss.s.Do(rctx, req, transport, dest)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return pingNothing
		}
		return ss.unanswered(err)
	}
	back := ss.pingBad >= 1 && (ss.network || !ss.t.State().Registered)
	if ss.pingBad >= lostAfter {
		ss.log.Info("trunk: the provider answers again")
	}
	ss.pingBad = 0
	if back {
		return pingRegister
	}
	if seen, ok := viaReceived(res); ok && !fixed && transport == "udp" && ss.learned.IsValid() && seen != ss.learned {
		ss.log.Info("trunk: clubline's public address changed: registering again", "was", ss.learned.String(), "now", seen.String())
		ss.stale = ss.contact
		ss.learned = seen
		ss.t.setSeen(seen)
		return pingRegister
	}
	if ss.network && ss.fails > 0 {
		return pingRegister // a REGISTER failed for want of an answer, and now there is one
	}
	return pingNothing
}

// unanswered counts a keep-alive without an answer; at lostAfter in a row
// the registration is lost.
func (ss *session) unanswered(err error) pingResult {
	ss.pingBad++
	if ss.pingBad != lostAfter {
		return pingNothing
	}
	reason := errNoAnswer.Error() + " (keep-alives unanswered)"
	ss.log.Warn("trunk not registered: the provider does not answer keep-alives", "error", err)
	ss.expires = time.Time{}
	ss.network = true
	ss.fails++
	if ss.t.register {
		ss.t.setState(time.Now(), false, reason, "", time.Time{})
	}
	return pingLost
}

// unregister removes the contact on shutdown, within a short time.
func (ss *session) unregister() {
	if !ss.t.register || !ss.t.State().Registered {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, _, err := ss.registerOnce(ctx, 0); err != nil {
		ss.log.Warn("trunk: registration not removed", "error", err)
	} else {
		ss.log.Info("trunk: registration removed")
	}
	ss.t.setState(time.Now(), false, "clubline stopped", "", time.Time{})
}

func (t *Trunk) setSeen(ap netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = ap
}
