// Package registrar is clubline's registrar of staff phones: they
// REGISTER (RFC 3261 §10.3) with digest authentication (digest.go), their
// contacts go to the Store, an OPTIONS keep-alive drops the phones that
// vanished (keepalive.go), and the call script asks it where a staff
// member can be rung now (Where). Package sip hands it the REGISTER
// requests and sends its pings; it knows nothing of calls.
package registrar

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Decisions:
//
//   - The digest user name is the staff member's extension (the HA1 in the
//     config is H(extension:realm:password)); the To user (the address of
//     record) may be the extension or the staff id.
//   - A REGISTER with the same Call-ID as a stored contact and a CSeq not
//     above it is out of order: 500 with Retry-After (RFC 3261 §10.3 step 7).
//   - A flood of REGISTERs from one IP address (more than RegisterBurst in
//     RegisterWindow), or too many wrong passwords, gets 503 with
//     Retry-After, not 429 (SIP has none), and one log line per address and
//     window. Nothing past a limit is authenticated or stored (guard.go).
//   - A REGISTER that came through a proxy keeps its Path and is reached
//     through it (RFC 3327, path.go).
//   - The bindings live in memory and are written through to the Store in
//     the background (book.go): a REGISTER never waits on the Store, and
//     a Store that fails costs nothing but the copy a restart reads.

// Registrar defaults.
const (
	DefaultMinExpires     = 60 * time.Second
	DefaultMaxExpires     = 3600 * time.Second
	DefaultExpires        = 3600 * time.Second
	DefaultRegisterBurst  = 20
	DefaultRegisterWindow = 10 * time.Second
	storeTimeout          = 5 * time.Second
)

// Staff is one staff member who may register: Credential.User is the
// digest user name (the extension).
type Staff struct {
	ID, Extension string
	Credential
}

// Options configure a Registrar. The zero value of each optional field
// picks the default named beside it.
type Options struct {
	Realm string // required
	// Algorithms are the digest algorithms challenged with, in order
	// (AlgorithmMD5, AlgorithmSHA256); default: the Digest's.
	Algorithms []string
	Staff      []Staff
	Store      clubline.Store // required
	// MinExpires (60s), MaxExpires (3600s), DefaultExpires (3600s): an
	// interval below Min gets 423, above Max is cut to Max, none given
	// means Default.
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// RegisterBurst REGISTERs (20) per RegisterWindow (10s) are accepted
	// from one IP address; beyond, 503 with Retry-After.
	RegisterBurst  int
	RegisterWindow time.Duration
	// AuthFailBurst wrong passwords (10) from one address, or for one staff
	// member from addresses they never registered from, then one more
	// each AuthFailEvery (30s); beyond, 503 with Retry-After (guard.go).
	AuthFailBurst int
	AuthFailEvery time.Duration
	// KnownFor (7 days): an address a staff member registered from is
	// theirs for this long after their last success, with limits of its
	// own.
	KnownFor time.Duration
	// OnBlocked is called for each REGISTER the guard refuses, and each
	// replay, with the reason (Blocked…). It must not block.
	OnBlocked func(reason string)
	Now       func() time.Time // default time.Now
	// OnChange is called after a REGISTER changed the bindings (added,
	// refreshed or removed one), and after each keep-alive round (so a
	// count of registered staff follows plain expiry too). It must not
	// block for long.
	OnChange func()
	// PingEvery (30s): every registered contact gets an OPTIONS this often;
	// negative turns the keep-alive off. PingTimeout (5s) bounds each
	// ping; a contact that fails PingFailures (2) pings in a row is
	// removed (keepalive.go).
	PingEvery, PingTimeout time.Duration
	PingFailures           int
	// Logger receives the registrar's logs (default slog.Default()).
	Logger *slog.Logger
	// Shared makes Where, Registered and Bindings read the Store's live
	// registrations (every instance's, when several share one Redis),
	// kept for SharedFor (1s), with this instance's unwritten changes on
	// top; the in-memory book answers when the Store cannot (shared.go).
	// Set it when instances run side by side behind a proxy.
	Shared    bool
	SharedFor time.Duration
}

func (o *Options) withDefaults() error {
	var errs []error
	if o.Realm == "" {
		errs = append(errs, errors.New("registrar: Realm is empty"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("registrar: Store is nil"))
	}
	if o.MinExpires <= 0 {
		o.MinExpires = DefaultMinExpires
	}
	if o.MaxExpires <= 0 {
		o.MaxExpires = DefaultMaxExpires
	}
	if o.DefaultExpires <= 0 {
		o.DefaultExpires = DefaultExpires
	}
	if o.MinExpires > o.MaxExpires {
		errs = append(errs, fmt.Errorf("registrar: MinExpires %s is above MaxExpires %s", o.MinExpires, o.MaxExpires))
	}
	o.DefaultExpires = min(max(o.DefaultExpires, o.MinExpires), o.MaxExpires)
	if o.RegisterBurst <= 0 {
		o.RegisterBurst = DefaultRegisterBurst
	}
	if o.RegisterWindow <= 0 {
		o.RegisterWindow = DefaultRegisterWindow
	}
	if o.AuthFailBurst <= 0 {
		o.AuthFailBurst = DefaultAuthFailBurst
	}
	if o.AuthFailEvery <= 0 {
		o.AuthFailEvery = DefaultAuthFailEvery
	}
	if o.KnownFor <= 0 {
		o.KnownFor = DefaultKnownFor
	}
	if o.OnBlocked == nil {
		o.OnBlocked = func(string) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SharedFor <= 0 {
		o.SharedFor = DefaultSharedFor
	}
	o.keepaliveDefaults()
	return errors.Join(errs...)
}

// Registrar answers REGISTER, keeps the phones' contacts alive and says
// where staff can be rung. Create it with New.
type Registrar struct {
	o         Options
	digest    *Digest
	byUser    map[string]*Staff // digest user name → staff
	staffByID map[string]*Staff
	log       *slog.Logger
	guard     *guard
	book      *book
	writer    *writer
	mu        sync.Mutex // serialises REGISTERs' read-check-write of the book

	shared     *sharedView // nil without Options.Shared
	sharedMu   sync.Mutex
	sharedDown bool // the last read of the shared view failed (one log line per outage)
}

// New checks the options and prepares a registrar.
func New(o Options) (*Registrar, error) {
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	r := &Registrar{o: o, byUser: make(map[string]*Staff), staffByID: make(map[string]*Staff),
		log: o.Logger.With("component", "registrar"), book: newBook(),
		guard: newGuard(o)}
	for i := range o.Staff {
		st := &o.Staff[i]
		if st.User == "" {
			st.User = st.Extension
		}
		r.byUser[st.User] = st
		r.staffByID[st.ID] = st
	}
	r.writer = newWriter(o.Store, r.log)
	if o.Shared {
		r.shared = &sharedView{store: o.Store, every: o.SharedFor}
		r.writer.written = r.shared.invalidate
	}
	r.digest = NewDigest(o.Realm, func(user string) (Credential, bool) {
		st, ok := r.byUser[user]
		if !ok {
			return Credential{}, false
		}
		return st.Credential, true
	})
	r.digest.Now = o.Now
	if len(o.Algorithms) > 0 {
		r.digest.Algorithms = append([]string(nil), o.Algorithms...)
	}
	return r, nil
}

// binding is one Contact of a REGISTER.
type binding struct {
	uri     string
	expires time.Duration
}

// Handle answers one REGISTER. Every path that writes to the store comes
// after authentication.
func (r *Registrar) Handle(req *sipmsg.Request) *sipmsg.Response {
	ip := sipx.SourceIP(req.Source())
	path, pathIgnored := pathOf(req) // path.go
	if phone := phoneIP(path); phone != "" {
		ip = phone // the phone behind the proxy: its own limits and nonces
	}
	authz, _ := sipx.Header(req, "Authorization")
	claimed := r.claimedStaff(req, authz)
	now := r.o.Now()
	if no := r.guard.admit(claimed, ip, now); no != nil {
		r.o.OnBlocked(no.reason)
		if no.log {
			r.log.Warn("REGISTER refused with 503 until the limit refills", "reason", no.reason,
				"source", sipx.MaskAddr(ip), "staff", claimed, "retry_after", no.wait.Round(time.Second))
		}
		return r.reply(req, sipmsg.StatusServiceUnavailable, "Service Unavailable", sipx.RetryAfter(no.wait))
	}

	user, err := r.digest.Verify(string(sipmsg.REGISTER), authz, ip)
	switch {
	case errors.Is(err, ErrNoCredentials):
		return r.challenge(req, ip, false)
	case errors.Is(err, ErrReplay):
		r.o.OnBlocked(BlockedReplay)
		r.log.Warn("REGISTER refused: a nonce count used before (a replayed request?)", "staff", claimed,
			"source", sipx.MaskAddr(ip))
		return r.challenge(req, ip, true)
	case errors.Is(err, ErrStale):
		return r.challenge(req, ip, true)
	case errors.Is(err, ErrMalformed):
		r.log.Info("REGISTER refused: malformed credentials", "source", sipx.MaskAddr(ip), "error", err)
		return r.reply(req, sipmsg.StatusBadRequest, "Bad Request")
	case err != nil:
		r.guard.failed(claimed, ip, now)
		r.log.Warn("REGISTER refused: wrong credentials", "user", sipx.MaskNumber(user), "source", sipx.MaskAddr(ip),
			"unknown_user", errors.Is(err, ErrUnknownUser))
		return r.reply(req, sipmsg.StatusForbidden, "Forbidden")
	}
	st := r.byUser[user]
	r.guard.succeeded(st.ID, ip, now)
	if !uriMatches(authz, req.Recipient) {
		r.log.Info("REGISTER refused: digest uri is not the Request-URI", "user", user)
		return r.reply(req, sipmsg.StatusBadRequest, "Bad Request")
	}
	to := req.To()
	if to == nil || (to.Address.User != st.ID && to.Address.User != st.Extension) {
		r.log.Warn("REGISTER refused: To is not the authenticated staff member", "staff", st.ID, "source", sipx.MaskAddr(ip))
		return r.reply(req, sipmsg.StatusForbidden, "Forbidden")
	}

	if pathIgnored != "" {
		r.log.Info("REGISTER's Path ignored: "+pathIgnored, "staff", st.ID,
			"source", sipx.MaskAddr(sipx.SourceIP(req.Source())))
	}
	bindings, wildcard, err := r.bindings(req)
	if err != nil {
		return r.reply(req, sipmsg.StatusBadRequest, "Bad Request", sipx.Warning(399, err.Error()))
	}
	for _, b := range bindings {
		if b.expires > 0 && b.expires < r.o.MinExpires {
			return r.reply(req, 423, "Interval Too Brief",
				sipmsg.NewHeader("Min-Expires", strconv.Itoa(int(r.o.MinExpires/time.Second))))
		}
	}

	r.mu.Lock() // one REGISTER of a staff member at a time: read, check, write
	current := r.book.live(st.ID, now)
	changed, res := r.apply(req, st, bindings, wildcard, path, current, now)
	if len(bindings) > 0 || wildcard {
		current = r.book.live(st.ID, now)
	}
	r.mu.Unlock()
	if changed {
		r.o.OnChange()
	}
	if res != nil {
		return res
	}
	res = r.reply(req, sipmsg.StatusOK, "OK")
	for _, reg := range current {
		left := max(0, int(reg.Expires.Sub(now).Round(time.Second)/time.Second))
		res.AppendHeader(sipmsg.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", reg.Contact, left)))
	}
	if len(path) > 0 && sipx.HasToken(req, "Supported", "path") {
		for _, p := range path { // RFC 3327 §5.3: the Path as received, in order
			res.AppendHeader(sipmsg.NewHeader("Path", p))
		}
	}
	res.AppendHeader(sipmsg.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	return res
}

// apply writes the bindings of an authenticated REGISTER; a non-nil
// response is a failure to send instead of the 200.
func (r *Registrar) apply(req *sipmsg.Request, st *Staff, bindings []binding,
	wildcard bool, path []string, current []*clubline.Registration, now time.Time) (changed bool, res *sipmsg.Response) {
	callID := ""
	if id := req.CallID(); id != nil {
		callID = id.Value()
	}
	var cseq uint32
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}
	if wildcard {
		for _, reg := range current {
			if reg.CallID == callID && cseq <= reg.CSeq {
				return false, r.outOfOrder(req, st.ID)
			}
		}
		for _, reg := range current {
			r.book.remove(st.ID, reg.Contact, now)
			r.writer.delete(st.ID, reg.Contact)
			changed = true
		}
		r.log.Info("unregistered all contacts", "staff", st.ID, "count", len(current))
		return changed, nil
	}
	byContact := make(map[string]*clubline.Registration, len(current))
	for _, reg := range current {
		byContact[reg.Contact] = reg
	}
	for _, b := range bindings {
		if old, ok := byContact[b.uri]; ok && old.CallID == callID && cseq <= old.CSeq {
			return false, r.outOfOrder(req, st.ID)
		}
	}
	ua, _ := sipx.Header(req, "User-Agent")
	received := strings.ToLower(req.Transport()) + ":" + req.Source()
	for _, b := range bindings {
		if b.expires == 0 {
			if r.book.remove(st.ID, b.uri, now) {
				changed = true
			}
			r.writer.delete(st.ID, b.uri)
			r.log.Info("unregistered", "staff", st.ID)
			continue
		}
		reg := &clubline.Registration{
			StaffID: st.ID, Contact: b.uri, Received: received, Path: path, UserAgent: sipx.Printable(ua, 64),
			Expires: now.Add(min(b.expires, r.o.MaxExpires)), CallID: callID, CSeq: cseq, RegisteredAt: now,
		}
		r.book.put(reg)
		r.writer.save(reg)
		changed = true
		r.log.Info("registered", "staff", st.ID, "transport", strings.ToLower(req.Transport()),
			"source", sipx.MaskAddr(sipx.SourceIP(req.Source())), "expires", min(b.expires, r.o.MaxExpires),
			"through_proxy", len(path) > 0)
	}
	return changed, nil
}

// bindings reads the Contact headers: each URI with its interval (expires
// param, else the Expires header, else DefaultExpires). wildcard is
// "Contact: *", which must come alone and with Expires: 0.
func (r *Registrar) bindings(req *sipmsg.Request) (out []binding, wildcard bool, err error) {
	def := r.o.DefaultExpires
	if v, ok := sipx.Header(req, "Expires"); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("Expires %.20q is not a number of seconds", v)
		}
		def = time.Duration(n) * time.Second
	}
	var contacts []*sipmsg.ContactHeader
	for _, name := range []string{"Contact", "m"} {
		for _, h := range req.GetHeaders(name) {
			c, ok := h.(*sipmsg.ContactHeader)
			if !ok {
				return nil, false, errors.New("unreadable Contact")
			}
			contacts = append(contacts, c)
		}
	}
	for _, c := range contacts {
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		exp := def
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, false, fmt.Errorf("Contact expires %.20q is not a number of seconds", v)
			}
			exp = time.Duration(n) * time.Second
		}
		out = append(out, binding{uri: c.Address.String(), expires: exp})
	}
	if wildcard && (len(out) > 0 || def != 0) {
		return nil, false, errors.New("Contact: * must be alone and with Expires: 0")
	}
	return out, wildcard, nil
}

func (r *Registrar) challenge(req *sipmsg.Request, source string, stale bool) *sipmsg.Response {
	res := r.reply(req, sipmsg.StatusUnauthorized, "Unauthorized")
	for _, c := range r.digest.Challenges(stale, source) {
		res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", c))
	}
	return res
}

func (r *Registrar) outOfOrder(req *sipmsg.Request, staff string) *sipmsg.Response {
	r.log.Info("REGISTER out of order: CSeq not above the stored one for this Call-ID", "staff", staff)
	return r.reply(req, sipmsg.StatusInternalServerError, "Server Internal Error", sipx.RetryAfter(time.Second))
}

func (r *Registrar) reply(req *sipmsg.Request, code int, reason string, hs ...sipmsg.Header) *sipmsg.Response {
	return sipx.Reply(req, code, reason, hs...)
}

// uriMatches reports whether the uri parameter of the credentials names
// the Request-URI (user and host, ignoring case and parameters).
func uriMatches(authz string, ruri sipmsg.Uri) bool {
	p, err := sipx.ParseAuthParams(authzParams(authz))
	if err != nil {
		return false
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(p["uri"], &u); err != nil {
		return false
	}
	return strings.EqualFold(u.User, ruri.User) && strings.EqualFold(u.Host, ruri.Host)
}

// authzParams is the part of an Authorization value after its scheme.
func authzParams(authz string) string {
	_, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	return rest
}

// Authenticate checks the digest credentials of an INVITE from a staff
// phone (a call placed from a softphone while the line only takes calls
// from known addresses), or of a SUBSCRIBE (Subscriber). It returns the
// staff id, or the answer to send instead: a 401 challenge, 403 for
// wrong credentials, 503 past the limits. The same guard as REGISTER's
// limits the guesses.
func (r *Registrar) Authenticate(req *sipmsg.Request) (staff string, res *sipmsg.Response) {
	ip := sipx.SourceIP(req.Source())
	authz, _ := sipx.Header(req, "Authorization")
	claimed := r.claimedStaff(req, authz)
	now := r.o.Now()
	if no := r.guard.admit(claimed, ip, now); no != nil {
		r.o.OnBlocked(no.reason)
		return "", r.reply(req, sipmsg.StatusServiceUnavailable, "Service Unavailable", sipx.RetryAfter(no.wait))
	}
	user, err := r.digest.Verify(string(req.Method), authz, ip)
	switch {
	case errors.Is(err, ErrNoCredentials):
		return "", r.challenge(req, ip, false)
	case errors.Is(err, ErrReplay):
		r.o.OnBlocked(BlockedReplay)
		return "", r.challenge(req, ip, true)
	case errors.Is(err, ErrStale):
		return "", r.challenge(req, ip, true)
	case errors.Is(err, ErrMalformed):
		return "", r.reply(req, sipmsg.StatusBadRequest, "Bad Request")
	case err != nil:
		r.guard.failed(claimed, ip, now)
		r.log.Warn(string(req.Method)+" refused: wrong credentials", "user", sipx.MaskNumber(user), "source", sipx.MaskAddr(ip))
		return "", r.reply(req, sipmsg.StatusForbidden, "Forbidden")
	}
	st := r.byUser[user]
	r.guard.succeeded(st.ID, ip, now)
	return st.ID, nil
}

// Subscriber authenticates a SUBSCRIBE to a staff member's own mailbox
// (message-waiting indication, package sip/mwi) with the digest and the
// guard of REGISTER. It returns the staff id, or the answer to send
// instead: a 401 challenge, 403 for wrong credentials or for a mailbox
// that is not the authenticated staff member's (the Request-URI and To
// users must each be their id or extension, as a REGISTER's To), 400
// for credentials computed for another Request-URI, 503 past the limits.
func (r *Registrar) Subscriber(req *sipmsg.Request) (staff string, res *sipmsg.Response) {
	staff, res = r.Authenticate(req)
	if res != nil {
		return "", res
	}
	st := r.staffByID[staff]
	authz, _ := sipx.Header(req, "Authorization")
	if !uriMatches(authz, req.Recipient) {
		r.log.Info("SUBSCRIBE refused: digest uri is not the Request-URI", "staff", staff)
		return "", r.reply(req, sipmsg.StatusBadRequest, "Bad Request")
	}
	own := func(user string) bool { return user == st.ID || user == st.Extension }
	if to := req.To(); to == nil || !own(to.Address.User) || !own(req.Recipient.User) {
		r.log.Warn("SUBSCRIBE refused: not the authenticated staff member's mailbox", "staff", staff,
			"source", sipx.MaskAddr(sipx.SourceIP(req.Source())))
		return "", r.reply(req, sipmsg.StatusForbidden, "Forbidden")
	}
	return staff, nil
}

// Extension is the extension of a staff member: the user of their
// mailbox's address; false for an unknown id.
func (r *Registrar) Extension(staff string) (string, bool) {
	st, ok := r.staffByID[staff]
	if !ok {
		return "", false
	}
	return st.Extension, true
}
