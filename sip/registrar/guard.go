package registrar

import (
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// The guard in front of the digest check: how many REGISTERs, and how many
// wrong passwords, clubline takes from where.
//
// Decisions (issue 7, finding 7):
//
//   - Every limit is a token bucket: a burst, then one more every so often.
//     Nothing is ever locked for good: an address or a staff member under
//     attack is slowed to the refill rate, and recovers by itself.
//   - A place a staff member registered from before (the pair of their id
//     and the IP address, known for KnownFor after their last success) has
//     buckets of its own. Behind one NAT, a neighbour's guessing or flood
//     then never refuses marie's phone, and an attack on marie from
//     elsewhere never refuses her phone at the office.
//   - Requests (RegisterBurst per RegisterWindow) are counted per address,
//     or per known pair.
//   - Wrong passwords (and unknown users) are counted per address (or known
//     pair): AuthFailBurst, then one more each AuthFailEvery; and per staff
//     member from addresses they never registered from: the same budget,
//     shared by all those addresses, so guessing from a thousand addresses
//     goes no faster than from one.
//   - Past a limit the REGISTER gets 503 with Retry-After (when a try is
//     next allowed) without its credentials being checked: a guess there
//     teaches nothing. Each refusal is counted (OnBlocked, which cmd turns
//     into clubline_sip_blocked_total{reason}), with one log line per
//     address and window.
//   - With the digest's one guess per nonce (digest.go), a guess costs a
//     401 round trip and a request token as well.

// Guard defaults.
const (
	DefaultAuthFailBurst = 10
	DefaultAuthFailEvery = 30 * time.Second
	DefaultKnownFor      = 7 * 24 * time.Hour
	maxTracked           = 20000 // buckets or known pairs kept; beyond, the idle ones are forgotten
)

// Reasons a REGISTER is refused by the guard, for OnBlocked.
const (
	BlockedRate       = "register_rate"        // too many REGISTERs from one address
	BlockedAuthSource = "register_auth_source" // too many wrong passwords from one address
	BlockedAuthUser   = "register_auth_user"   // too many wrong passwords for one staff member
	BlockedReplay     = "register_replay"      // a nonce count used before
)

// buckets are token buckets by key: burst tokens, one more every every.
type buckets struct {
	burst float64
	every time.Duration
	mu    sync.Mutex
	by    map[string]*bucket
}

type bucket struct {
	tokens   float64
	last     time.Time
	loggedAt time.Time // of the last refusal that was logged
}

func newBuckets(burst int, every time.Duration) *buckets {
	return &buckets{burst: float64(burst), every: every, by: make(map[string]*bucket)}
}

// get returns the key's bucket, refilled to now; the caller holds mu.
func (l *buckets) get(key string, now time.Time) *bucket {
	if len(l.by) >= maxTracked {
		for k, b := range l.by { // forget the full ones
			if b.tokens+float64(now.Sub(b.last))/float64(l.every) >= l.burst {
				delete(l.by, k)
			}
		}
	}
	b := l.by[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.by[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
	return b
}

// allow takes a token if there is one. When there is none, wait is how
// long until there is, and log is true once per key and every.
func (l *buckets) allow(key string, now time.Time) (ok bool, wait time.Duration, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, false
	}
	return false, l.waitFor(b), l.logOnce(b, now)
}

// check says whether the key has a token left, without taking it.
func (l *buckets) check(key string, now time.Time) (ok bool, wait time.Duration, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		return true, 0, false
	}
	return false, l.waitFor(b), l.logOnce(b, now)
}

// take spends a token (it may go below zero: more failures than the
// budget, already in flight, push the next try further away).
func (l *buckets) take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key, now).tokens--
}

func (l *buckets) waitFor(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) * float64(l.every))
}

func (l *buckets) logOnce(b *bucket, now time.Time) bool {
	if now.Sub(b.loggedAt) >= l.every {
		b.loggedAt = now
		return true
	}
	return false
}

// guard holds the registrar's limits.
type guard struct {
	requests *buckets // by address or known pair
	fails    *buckets // by address or known pair
	userFail *buckets // by staff id, from addresses they never registered from
	knownFor time.Duration

	mu    sync.Mutex
	known map[string]time.Time // staff id + "|" + IP → last successful REGISTER
}

func newGuard(o Options) *guard {
	return &guard{
		requests: newBuckets(o.RegisterBurst, o.RegisterWindow/time.Duration(o.RegisterBurst)),
		fails:    newBuckets(o.AuthFailBurst, o.AuthFailEvery),
		userFail: newBuckets(o.AuthFailBurst, o.AuthFailEvery),
		knownFor: o.KnownFor,
		known:    make(map[string]time.Time),
	}
}

// key is where a request counts: the known pair of staff and ip, or ip.
func (g *guard) key(staff, ip string, now time.Time) (key string, known bool) {
	if staff == "" {
		return ip, false
	}
	pair := staff + "|" + ip
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.known[pair]; ok && now.Sub(at) < g.knownFor {
		return "k:" + pair, true
	}
	return ip, false
}

// succeeded records that staff registered from ip.
func (g *guard) succeeded(staff, ip string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.known) >= maxTracked {
		for k, at := range g.known {
			if now.Sub(at) >= g.knownFor {
				delete(g.known, k)
			}
		}
	}
	if len(g.known) < maxTracked {
		g.known[staff+"|"+ip] = now
	}
}

// refusal is the guard's answer to a request it refuses.
type refusal struct {
	reason string
	wait   time.Duration
	log    bool
}

// admit says whether a REGISTER claiming staff (may be "") from ip may be
// checked at all.
func (g *guard) admit(staff, ip string, now time.Time) *refusal {
	key, known := g.key(staff, ip, now)
	if ok, wait, log := g.requests.allow(key, now); !ok {
		return &refusal{BlockedRate, wait, log}
	}
	if ok, wait, log := g.fails.check(key, now); !ok {
		return &refusal{BlockedAuthSource, wait, log}
	}
	if staff != "" && !known {
		if ok, wait, log := g.userFail.check(staff, now); !ok {
			return &refusal{BlockedAuthUser, wait, log}
		}
	}
	return nil
}

// failed counts a wrong password (or unknown user) claiming staff from ip.
func (g *guard) failed(staff, ip string, now time.Time) {
	key, known := g.key(staff, ip, now)
	g.fails.take(key, now)
	if staff != "" && !known {
		g.userFail.take(staff, now)
	}
}

// claimedStaff is the staff member a REGISTER says it is for, before any
// check: the digest user name of its credentials, else its To user (id or
// extension); "" when it names nobody on the staff.
func (r *Registrar) claimedStaff(req *sipmsg.Request, authz string) string {
	if p, err := parseAuthParams(authzParams(authz)); err == nil {
		if st := r.byUser[p["username"]]; st != nil {
			return st.ID
		}
	}
	if to := req.To(); to != nil {
		if st := r.staffByID[to.Address.User]; st != nil {
			return st.ID
		}
		if st := r.byUser[to.Address.User]; st != nil {
			return st.ID
		}
	}
	return ""
}
