package registrar

import (
	"sync"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
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
	maxKnown             = 20000 // known pairs kept; beyond, the stale ones are forgotten
)

// Reasons a REGISTER is refused by the guard, for OnBlocked.
const (
	BlockedRate       = "register_rate"        // too many REGISTERs from one address
	BlockedAuthSource = "register_auth_source" // too many wrong passwords from one address
	BlockedAuthUser   = "register_auth_user"   // too many wrong passwords for one staff member
	BlockedReplay     = "register_replay"      // a nonce count used before
)

// guard holds the registrar's limits.
type guard struct {
	requests *sipx.Buckets // by address or known pair
	fails    *sipx.Buckets // by address or known pair
	userFail *sipx.Buckets // by staff id, from addresses they never registered from
	knownFor time.Duration

	mu    sync.Mutex
	known map[string]time.Time // staff id + "|" + IP → last successful REGISTER
}

func newGuard(o Options) *guard {
	return &guard{
		requests: sipx.NewBuckets(o.RegisterBurst, o.RegisterWindow/time.Duration(o.RegisterBurst)),
		fails:    sipx.NewBuckets(o.AuthFailBurst, o.AuthFailEvery),
		userFail: sipx.NewBuckets(o.AuthFailBurst, o.AuthFailEvery),
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
	if len(g.known) >= maxKnown {
		for k, at := range g.known {
			if now.Sub(at) >= g.knownFor {
				delete(g.known, k)
			}
		}
	}
	if len(g.known) < maxKnown {
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
	if ok, wait, log := g.requests.Allow(key, now); !ok {
		return &refusal{BlockedRate, wait, log}
	}
	if ok, wait, log := g.fails.Check(key, now); !ok {
		return &refusal{BlockedAuthSource, wait, log}
	}
	if staff != "" && !known {
		if ok, wait, log := g.userFail.Check(staff, now); !ok {
			return &refusal{BlockedAuthUser, wait, log}
		}
	}
	return nil
}

// failed counts a wrong password (or unknown user) claiming staff from ip.
func (g *guard) failed(staff, ip string, now time.Time) {
	key, known := g.key(staff, ip, now)
	g.fails.Take(key, now)
	if staff != "" && !known {
		g.userFail.Take(staff, now)
	}
}

// claimedStaff is the staff member a REGISTER says it is for, before any
// check: the digest user name of its credentials, else its To user (id or
// extension); "" when it names nobody on the staff.
func (r *Registrar) claimedStaff(req *sipmsg.Request, authz string) string {
	if p, err := sipx.ParseAuthParams(authzParams(authz)); err == nil {
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
