package sip_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/sip/registrar"
	sipmsg "github.com/emiago/sipgo/sip"
)

// blockedCounts counts the registrar's OnBlocked reasons.
type blockedCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (b *blockedCounts) add(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == nil {
		b.n = make(map[string]int)
	}
	b.n[reason]++
}

func (b *blockedCounts) get(reason string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n[reason]
}

// answerChallenge builds the Authorization for the first challenge of a
// 401, as a phone with this user name (extension) and password would.
func answerChallenge(t *testing.T, res *sipmsg.Response, uri, user, password string, nc int) string {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("got %d %s, want a 401 challenge", res.StatusCode, res.Reason)
	}
	c := headerValue(res, "WWW-Authenticate")
	alg := registrar.AlgorithmMD5
	if strings.Contains(c, "algorithm=SHA-256") {
		alg = registrar.AlgorithmSHA256
	}
	nonce := regNonce(t, c)
	ha1 := registrar.HA1(alg, user, regRealm, password)
	cnonce := fmt.Sprintf("c%d", nc)
	ncs := fmt.Sprintf("%08x", nc)
	resp := registrar.DigestResponse(alg, ha1, nonce, ncs, cnonce, "auth", "REGISTER", uri)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="%s"`,
		user, regRealm, nonce, uri, resp, alg, ncs, cnonce)
}

// registerAs registers ext from rc with a fresh challenge and returns the
// final answer's status.
func registerAs(t *testing.T, rc *rawClient, uri, ext, password string) int {
	t.Helper()
	res := rawRegister(t, rc, uri, "")
	if res.StatusCode != 401 {
		return res.StatusCode
	}
	return rawRegister(t, rc, uri, answerChallenge(t, res, uri, ext, password, 1)).StatusCode
}

// A REGISTER captured on the wire and sent again — from the same address
// with a new Call-ID and another Contact, or from elsewhere — is refused
// with a stale challenge, counted, and binds nothing (issue 7, finding 6:
// the attacker's phone was rung with a caller's number).
func TestRegisterReplayRefused(t *testing.T) {
	var blocked blockedCounts
	rh := newRegHarness(t, func(o *registrar.Options) { o.OnBlocked = blocked.add })
	uri := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	phone := newRawClient(t)
	challenge := rawRegister(t, phone, uri, "")
	authz := answerChallenge(t, challenge, uri, "201", "secret-marie", 1)
	if res := rawRegister(t, phone, uri, authz); res.StatusCode != 200 {
		t.Fatalf("marie's REGISTER: %d, want 200", res.StatusCode)
	}

	attacker := newRawClient(t) // another socket: another Contact, a new Call-ID
	res := rawRegister(t, attacker, uri, authz)
	if res.StatusCode != 401 || !strings.Contains(headerValue(res, "WWW-Authenticate"), "stale=true") {
		t.Fatalf("replayed REGISTER: %d %q, want 401 stale", res.StatusCode, headerValue(res, "WWW-Authenticate"))
	}
	elsewhere := newRawClientFrom(t, "127.0.0.2")
	if res := rawRegister(t, elsewhere, uri, authz); res.StatusCode != 401 {
		t.Fatalf("REGISTER replayed from another address: %d, want 401", res.StatusCode)
	}
	regs := rh.bound()
	if len(regs) != 1 || !strings.Contains(regs[0].Contact, fmt.Sprint(phone.port)) {
		t.Fatalf("bindings after the replays: %+v, want marie's phone only", regs)
	}
	if n := blocked.get(registrar.BlockedReplay); n != 1 {
		t.Errorf("replays counted: %d, want 1 (the one from elsewhere is a foreign nonce)", n)
	}
	// Marie's phone goes on with the next nonce count on the same nonce,
	// as phones do: the replays did not burn it.
	if res := rawRegister(t, phone, uri, answerChallenge(t, challenge, uri, "201", "secret-marie", 2)); res.StatusCode != 200 {
		t.Fatalf("marie's next REGISTER on the nonce (nc=2): %d, want 200", res.StatusCode)
	}
}

// One challenge serves one guess: a wrong password burns the nonce, and
// the right one on it then only gets a new challenge.
func TestRegisterOneGuessPerChallenge(t *testing.T) {
	rh := newRegHarness(t)
	uri := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	rc := newRawClient(t)
	challenge := rawRegister(t, rc, uri, "")
	if res := rawRegister(t, rc, uri, answerChallenge(t, challenge, uri, "201", "guess-1", 1)); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d, want 403", res.StatusCode)
	}
	res := rawRegister(t, rc, uri, answerChallenge(t, challenge, uri, "201", "secret-marie", 2))
	if res.StatusCode != 401 {
		t.Fatalf("the right password on a nonce a wrong one burned: %d, want 401 (a new challenge)", res.StatusCode)
	}
	if got := rawRegister(t, rc, uri, answerChallenge(t, res, uri, "201", "secret-marie", 1)).StatusCode; got != 200 {
		t.Fatalf("the right password on the new challenge: %d, want 200", got)
	}
}

// Guessing is slowed per address and per staff member, never for good, and
// never refuses a staff member from an address they registered from
// (issue 7, finding 7).
func TestRegisterBruteForceSlowed(t *testing.T) {
	var blocked blockedCounts
	rh := newRegHarness(t, func(o *registrar.Options) {
		o.AuthFailBurst, o.AuthFailEvery, o.OnBlocked = 3, 30*time.Second, blocked.add
	})
	marieURI := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	lucURI := strings.Replace(rh.uri, "sip:", "sip:202@", 1)

	// Marie's phone is registered at the office (127.0.0.1); luc's is
	// behind the same NAT as the attacker (127.0.0.2).
	marie := newRawClient(t)
	if got := registerAs(t, marie, marieURI, "201", "secret-marie"); got != 200 {
		t.Fatalf("marie: %d, want 200", got)
	}
	luc := newRawClientFrom(t, "127.0.0.2")
	if got := registerAs(t, luc, lucURI, "202", "secret-luc"); got != 200 {
		t.Fatalf("luc: %d, want 200", got)
	}
	attacker := newRawClientFrom(t, "127.0.0.2")
	for i := range 3 {
		if got := registerAs(t, attacker, marieURI, "201", fmt.Sprintf("guess-%d", i)); got != 403 {
			t.Fatalf("guess %d: %d, want 403", i, got)
		}
	}
	res := rawRegister(t, attacker, marieURI, "")
	if res.StatusCode != 503 || headerValue(res, "Retry-After") == "" {
		t.Fatalf("after 3 wrong guesses from one address: %d (Retry-After %q), want 503 with Retry-After",
			res.StatusCode, headerValue(res, "Retry-After"))
	}
	// Luc, at that address but known there, is not refused.
	if got := registerAs(t, luc, lucURI, "202", "secret-luc"); got != 200 {
		t.Fatalf("luc refreshing behind the attacker's NAT: %d, want 200", got)
	}
	// Marie's own phone, at the office, refreshes.
	if got := registerAs(t, marie, marieURI, "201", "secret-marie"); got != 200 {
		t.Fatalf("marie refreshing at the office: %d, want 200", got)
	}

	// Guessing marie from many addresses shares one budget (3 already
	// spent on her from 127.0.0.2).
	for i, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		if got := registerAs(t, newRawClientFrom(t, ip), marieURI, "201", fmt.Sprintf("other-%d", i)); got != 503 {
			t.Fatalf("guessing marie from %s after her budget is spent: %d, want 503", ip, got)
		}
	}
	if got := registerAs(t, marie, marieURI, "201", "secret-marie"); got != 200 {
		t.Fatalf("marie refreshing during the attack: %d, want 200", got)
	}
	// A phone of hers at a new address is slowed like the guesses: it is
	// told when to try again.
	if got := registerAs(t, newRawClientFrom(t, "127.0.0.5"), marieURI, "201", "secret-marie"); got != 503 {
		t.Fatalf("marie from a new address during the attack: %d, want 503", got)
	}
	if blocked.get(registrar.BlockedAuthSource) == 0 || blocked.get(registrar.BlockedAuthUser) == 0 {
		t.Errorf("blocked counts %v, want both reasons", blocked.n)
	}

	// Slowed, not locked: once the budget refills, a guess is checked again.
	rh.clock.Advance(31 * time.Second)
	if got := registerAs(t, attacker, marieURI, "201", "guess-again"); got != 403 {
		t.Fatalf("a guess after the refill: %d, want 403 (checked, and wrong)", got)
	}
}
