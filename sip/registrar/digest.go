package registrar

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
)

// Digest authentication of staff phones (RFC 3261 §22, RFC 2617 with
// qop=auth, RFC 8760 for SHA-256).
//
// What the REGISTER handler does with Verify's error:
//
//	nil                  the request is authenticated as user
//	ErrNoCredentials     401 with Challenges(false)
//	ErrStale             401 with Challenges(true): the phone retries at once
//	                     with the same password and a new nonce
//	(ErrReplay)          a nonce count used before: an ErrStale, counted
//	ErrBadCredentials    403 Forbidden, and a log line; ErrUnknownUser is an
//	(ErrUnknownUser)     ErrBadCredentials, so it gets the same answer
//	ErrMalformed         400 Bad Request
//
// A wrong password gets 403, not another 401: phones answer a 401 with the
// same password again, and the loop only fills the logs; a 403 shows the
// user "registration failed" at once. A flood of them is for the limits in
// front of Verify (guard.go).
//
// Decisions (issue 7, findings 6 and 7):
//
//   - A nonce is bound to the address it was issued to: its MAC covers the
//     source IP, and a nonce presented from elsewhere is not ours (stale).
//   - A nonce lives NonceLifetime (32 s, as Asterisk's PJSIP): long enough
//     for the 401 round trip, short enough that a captured one is soon
//     useless.
//   - The nonce count is tracked (nonces.go): with qop=auth, each request on
//     a nonce must carry a higher nc than the last accepted one; without
//     qop (RFC 2069) a nonce serves once. A replay gets a stale challenge,
//     so a phone that reused its nc by mistake retries at once, and an
//     attacker who captured a REGISTER gets nothing.
//   - One guess per challenge: a nonce that came with a wrong response is
//     burned, and anything on a burned, expired or foreign nonce gets a
//     stale challenge without the response being checked. Checking it
//     would tell a right guess (stale) from a wrong one (403) on a nonce
//     the attacker could reuse forever (Kamailio checks the nonce first
//     too).

// Algorithms clubline offers, per RFC 8760.
const (
	AlgorithmSHA256 = sipx.DigestSHA256
	AlgorithmMD5    = sipx.DigestMD5
)

// NonceLifetime is how long a nonce is accepted. An older one, or one this
// process did not make (clubline restarted), gets a stale challenge.
const NonceLifetime = 32 * time.Second

// Errors of Verify.
var (
	ErrNoCredentials  = errors.New("sip digest: no credentials for this realm")
	ErrStale          = errors.New("sip digest: stale nonce")
	ErrBadCredentials = errors.New("sip digest: wrong credentials")
	// ErrUnknownUser wraps ErrBadCredentials: errors.Is(err,
	// ErrBadCredentials) holds for both, so a handler answers both alike
	// and a phone cannot tell an unknown user from a wrong password. Only
	// the log may tell them apart.
	ErrUnknownUser = fmt.Errorf("%w (unknown user)", ErrBadCredentials)
	ErrMalformed   = errors.New("sip digest: malformed Authorization header")
	// ErrReplay wraps ErrStale: a request whose nonce count was used before
	// (a captured request sent again) gets a stale challenge like any
	// other unusable nonce; only the log and the metric tell them apart.
	ErrReplay = fmt.Errorf("%w (nonce count reused)", ErrStale)
)

// Credential is what clubline keeps of a staff member's password: the HA1
// of each algorithm, H(user:realm:password) in lowercase hex. Either may
// be empty; a phone that answers with that algorithm is then refused.
type Credential struct {
	User      string
	HA1MD5    string
	HA1SHA256 string
}

// HA1 is H(user:realm:password) in lowercase hex (sipx.HA1).
func HA1(alg, user, realm, password string) string { return sipx.HA1(alg, user, realm, password) }

// DigestResponse is the response parameter a phone computes
// (sipx.DigestResponse).
func DigestResponse(alg, ha1, nonce, nc, cnonce, qop, method, uri string) string {
	return sipx.DigestResponse(alg, ha1, nonce, nc, cnonce, qop, method, uri)
}

// nonceKey signs nonces. One per process, so that a Digest rebuilt on a
// config reload still accepts the nonces of the previous one. Nonces of
// another process (a restart, another instance) are not recognised: a phone
// with the right password gets a stale challenge and retries.
var nonceKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (Go 1.24+: it crashes the process instead)
	return k
})

// usedNonces is the nonce book of the process.
var usedNonces = sync.OnceValue(func() *nonceBook { return newNonceBook(maxTrackedNonces) })

// Digest checks the Authorization headers of one realm. It is safe for
// concurrent use once set up.
type Digest struct {
	realm  string
	lookup func(user string) (Credential, bool)
	// Algorithms are offered in this order, one challenge each (default:
	// SHA-256 then MD5, RFC 8760 §2.4). A phone that reads only the first
	// challenge and knows only MD5 needs MD5 first, or alone. Set before use.
	Algorithms []string
	// Now is the clock of the nonces (default time.Now). Set before use.
	Now func() time.Time

	used *nonceBook // the process's, like nonceKey: a rebuilt Digest knows what the old one accepted
}

// NewDigest returns a Digest for realm that finds credentials with lookup.
func NewDigest(realm string, lookup func(user string) (Credential, bool)) *Digest {
	return &Digest{
		realm:      realm,
		lookup:     lookup,
		Algorithms: []string{AlgorithmSHA256, AlgorithmMD5},
		Now:        time.Now,
		used:       usedNonces(),
	}
}

// Realm is the realm the Digest challenges for.
func (d *Digest) Realm() string { return d.realm }

// Challenges returns the WWW-Authenticate values to send with a 401 to a
// request from the IP address source, one per algorithm in preference
// order, all with one fresh nonce bound to source. stale says the phone's
// nonce could not be used (too old, burned, replayed): it may retry at
// once with the new one.
func (d *Digest) Challenges(stale bool, source string) []string {
	nonce := d.nonce(d.Now(), source)
	out := make([]string, 0, len(d.Algorithms))
	for _, alg := range d.Algorithms {
		c := fmt.Sprintf(`Digest realm=%s, nonce="%s", algorithm=%s, qop="auth"`, sipx.Quote(d.realm), nonce, alg)
		if stale {
			c += ", stale=true"
		}
		out = append(out, c)
	}
	return out
}

// Nonces are base64url(8-byte Unix ms, 8 random bytes, first 16 bytes of
// HMAC-SHA-256(key, realm, source IP, the 16 bytes before)): unforgeable,
// dated and bound to where they were sent; what was done with them is in
// the nonce book.
const (
	nonceRaw = 8 + 8 + 16
)

func (d *Digest) nonce(now time.Time, source string) string {
	b := make([]byte, 16, nonceRaw)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMilli()))
	rand.Read(b[8:16])
	b = append(b, d.mac(b, source)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (d *Digest) mac(b []byte, source string) []byte {
	m := hmac.New(sha256.New, nonceKey())
	m.Write([]byte(d.realm))
	m.Write([]byte{0})
	m.Write([]byte(source))
	m.Write([]byte{0})
	m.Write(b[:16])
	return m.Sum(nil)[:16]
}

// nonceIssued returns when this process made the nonce for this realm and
// source, and whether it did and it is less than NonceLifetime old (or
// ahead, if the clock stepped back).
func (d *Digest) nonceIssued(nonce, source string, now time.Time) (time.Time, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(b) != nonceRaw {
		return time.Time{}, false
	}
	if !hmac.Equal(b[16:], d.mac(b, source)) {
		return time.Time{}, false
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	age := now.Sub(issued)
	return issued, age < NonceLifetime && age > -NonceLifetime
}

// dummyHA1 stands in for the HA1 of an unknown user, so that Verify spends
// the same work on one as on a wrong password.
const dummyHA1 = "0000000000000000000000000000000000000000000000000000000000000000"

// Verify checks the Authorization header value of a request of the given
// method (REGISTER) from the IP address source, and returns the
// authenticated user. On an error, user is the username the header claims,
// when it could be read, for the log only. The uri parameter is taken as
// the phone sent it: the handler should check it names the request's
// Request-URI.
//
// A response without qop (RFC 2069, which RFC 3261 §22.4 asks servers to
// accept) is accepted for MD5 only, once per nonce; SHA-256 (RFC 7616)
// requires qop=auth.
func (d *Digest) Verify(method, authorization, source string) (user string, err error) {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return "", ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return "", fmt.Errorf("%w: scheme %.20q, not Digest", ErrNoCredentials, scheme)
	}
	p, err := sipx.ParseAuthParams(rest)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	user = p["username"]
	for _, k := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := p[k]; !ok {
			return user, fmt.Errorf("%w: no %s", ErrMalformed, k)
		}
	}
	if p["realm"] != d.realm {
		return user, fmt.Errorf("%w: credentials for realm %.64q", ErrNoCredentials, p["realm"])
	}
	alg := p["algorithm"]
	if alg == "" {
		alg = AlgorithmMD5 // RFC 2617 §3.2.2
	}
	if !sipx.KnownDigest(alg) {
		return user, fmt.Errorf("%w: algorithm %.20q", ErrNoCredentials, alg)
	}
	qop, nc, cnonce := p["qop"], p["nc"], p["cnonce"]
	switch {
	case qop == "" && strings.EqualFold(alg, AlgorithmMD5):
		// RFC 2069
	case qop == "":
		return user, fmt.Errorf("%w: %s without qop", ErrMalformed, alg)
	case qop != "auth":
		return user, fmt.Errorf("%w: qop %.20q, only auth is offered", ErrMalformed, qop)
	case cnonce == "":
		return user, fmt.Errorf("%w: qop=auth without cnonce", ErrMalformed)
	case !validNC(nc):
		return user, fmt.Errorf("%w: nc %.20q, want 8 hex digits", ErrMalformed, nc)
	}

	now := d.Now()
	issued, fresh := d.nonceIssued(p["nonce"], source, now)
	if !fresh || d.used.burned(p["nonce"], issued) {
		return user, ErrStale // the response is not even looked at
	}
	count, _ := strconv.ParseUint(nc, 16, 32)

	cred, known := d.lookup(user)
	ha1 := ""
	if known {
		if strings.EqualFold(alg, AlgorithmSHA256) {
			ha1 = cred.HA1SHA256
		} else {
			ha1 = cred.HA1MD5
		}
	}
	have := ha1 != ""
	if !have {
		ha1 = dummyHA1
	}
	want := DigestResponse(alg, strings.ToLower(ha1), p["nonce"], nc, cnonce, qop, method, p["uri"])
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) == 1
	if !known || !have || !match {
		d.used.burn(p["nonce"], issued, now)
	}
	switch {
	case !known:
		return user, ErrUnknownUser
	case !have:
		return user, fmt.Errorf("%w: no %s credential for this user", ErrBadCredentials, alg)
	case !match:
		return user, ErrBadCredentials
	}
	if err := d.used.use(p["nonce"], issued, qop != "", count, now); err != nil {
		return user, err
	}
	return user, nil
}

func validNC(nc string) bool {
	if len(nc) != 8 {
		return false
	}
	_, err := hex.DecodeString(nc)
	return err == nil
}
