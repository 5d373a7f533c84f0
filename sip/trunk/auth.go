package trunk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Answering the provider's digest challenges (RFC 3261 §22.2, RFC 2617,
// RFC 8760): a REGISTER gets 401 with WWW-Authenticate, an INVITE 407
// with Proxy-Authenticate (or 401). The request is sent again with the
// credentials; a second challenge on it means the password is wrong,
// unless it says stale=true (the nonce expired), which earns one more try.

// ErrRejected is the error of a request whose credentials the provider
// refused: a second challenge that is not stale, or a 403.
var ErrRejected = errors.New("the provider refused the trunk's username or password")

// ErrNoChallenge: a 401 or 407 without a challenge clubline can answer
// (no Digest, or only algorithms it does not compute).
var ErrNoChallenge = errors.New("the provider's challenge uses no algorithm clubline knows (MD5, SHA-256)")

// challenge is one parsed WWW-Authenticate or Proxy-Authenticate.
type challenge struct {
	proxy                         bool // Proxy-Authenticate: answer with Proxy-Authorization
	realm, nonce, opaque, alg     string
	qopAuth, stale, algorithmSent bool
}

// challenges reads the digest challenges of a 401 or 407.
func challenges(res *sipmsg.Response) []challenge {
	var out []challenge
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, h := range res.GetHeaders(name) {
			v := strings.TrimSpace(h.Value())
			scheme, rest, _ := strings.Cut(v, " ")
			if !strings.EqualFold(scheme, "Digest") {
				continue
			}
			p, err := sipx.ParseAuthParams(rest)
			if err != nil || p["nonce"] == "" {
				continue
			}
			c := challenge{proxy: name == "Proxy-Authenticate", realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], alg: p["algorithm"]}
			c.algorithmSent = c.alg != ""
			if c.alg == "" {
				c.alg = sipx.DigestMD5 // RFC 2617 §3.2.1
			}
			for _, q := range strings.Split(p["qop"], ",") {
				if strings.EqualFold(strings.TrimSpace(q), "auth") {
					c.qopAuth = true
				}
			}
			c.stale = strings.EqualFold(p["stale"], "true")
			out = append(out, c)
		}
	}
	return out
}

// best picks the challenge to answer: SHA-256 before MD5 (RFC 8760 §2.4:
// the strongest the client knows), skipping algorithms clubline does not
// compute (MD5-sess, SHA-512-256).
func best(cs []challenge) (challenge, bool) {
	var pick challenge
	found := false
	for _, c := range cs {
		if !sipx.KnownDigest(c.alg) {
			continue
		}
		if !found || (strings.EqualFold(c.alg, sipx.DigestSHA256) && !strings.EqualFold(pick.alg, sipx.DigestSHA256)) {
			pick, found = c, true
		}
	}
	return pick, found
}

// authorization is the credentials header answering c for one request.
func authorization(c challenge, user, password, method, uri string, nc int) (name, value string) {
	ha1 := sipx.HA1(c.alg, user, c.realm, password)
	var b strings.Builder
	fmt.Fprintf(&b, "Digest username=%s, realm=%s, nonce=%s, uri=%s", sipx.Quote(user), sipx.Quote(c.realm), sipx.Quote(c.nonce), sipx.Quote(uri))
	if c.qopAuth {
		cnonce := newCnonce()
		ncs := fmt.Sprintf("%08x", nc)
		fmt.Fprintf(&b, ", response=%s, cnonce=%s, qop=auth, nc=%s",
			sipx.Quote(sipx.DigestResponse(c.alg, ha1, c.nonce, ncs, cnonce, "auth", method, uri)), sipx.Quote(cnonce), ncs)
	} else {
		fmt.Fprintf(&b, ", response=%s", sipx.Quote(sipx.DigestResponse(c.alg, ha1, c.nonce, "", "", "", method, uri)))
	}
	if c.algorithmSent {
		fmt.Fprintf(&b, ", algorithm=%s", c.alg)
	}
	if c.opaque != "" {
		fmt.Fprintf(&b, ", opaque=%s", sipx.Quote(c.opaque))
	}
	name = "Authorization"
	if c.proxy {
		name = "Proxy-Authorization"
	}
	return name, b.String()
}

func newCnonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Authorizer answers the challenges met by one request and the requests
// sent again for it: it remembers whether a challenge was answered
// already, so that a second one (not stale) ends the attempt.
type Authorizer struct {
	user, password string
	answered       int // challenges answered for this request
	nc             map[string]int
}

// maxChallenges bounds the tries of one request: the first challenge,
// then one stale one.
const maxChallenges = 2

// Authorizer returns a fresh Authorizer for one request (and its retries).
func (t *Trunk) Authorizer() *Authorizer {
	return &Authorizer{user: t.a.Username, password: t.a.Password, nc: make(map[string]int)}
}

// Authorize adds to req (a copy sent again: new branch, next CSeq, built
// by the caller) the credentials answering res (a 401 or 407 to the
// previous copy). It fails with ErrRejected when the provider challenged
// credentials already given (the password is wrong), and ErrNoChallenge
// when it cannot answer.
func (a *Authorizer) Authorize(req *sipmsg.Request, res *sipmsg.Response) error {
	c, ok := best(challenges(res))
	if !ok {
		return ErrNoChallenge
	}
	if a.answered > 0 && !c.stale {
		return fmt.Errorf("%w (%d %s)", ErrRejected, res.StatusCode, res.Reason)
	}
	if a.answered >= maxChallenges {
		return fmt.Errorf("%w (challenged %d times)", ErrRejected, a.answered+1)
	}
	a.answered++
	a.nc[c.nonce]++
	name, value := authorization(c, a.user, a.password, string(req.Method), req.Recipient.String(), a.nc[c.nonce])
	req.RemoveHeader("Authorization")
	req.RemoveHeader("Proxy-Authorization")
	req.AppendHeader(sipmsg.NewHeader(name, value))
	return nil
}
