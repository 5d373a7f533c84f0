package registrar_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/sip/registrar"
)

const (
	testRealm    = "clubline.example.org"
	testSource   = "192.0.2.7"
	testPassword = "hors-jeu 2026!"
)

// staffCredentials holds marie, with both hashes, and luc, with MD5 only.
func staffCredentials(realm string) func(string) (registrar.Credential, bool) {
	creds := map[string]registrar.Credential{
		"marie": {
			User:      "marie",
			HA1MD5:    registrar.HA1(registrar.AlgorithmMD5, "marie", realm, testPassword),
			HA1SHA256: registrar.HA1(registrar.AlgorithmSHA256, "marie", realm, testPassword),
		},
		"luc": {User: "luc", HA1MD5: registrar.HA1(registrar.AlgorithmMD5, "luc", realm, testPassword)},
	}
	return func(user string) (registrar.Credential, bool) {
		c, ok := creds[user]
		return c, ok
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestDigest() (*registrar.Digest, *clock) {
	clk := &clock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	d := registrar.NewDigest(testRealm, staffCredentials(testRealm))
	d.Now = clk.Now
	return d, clk
}

var challengeNonce = regexp.MustCompile(`nonce="([^"]*)"`)

func nonceOf(t testing.TB, challenge string) string {
	t.Helper()
	m := challengeNonce.FindStringSubmatch(challenge)
	if m == nil {
		t.Fatalf("no nonce in challenge %q", challenge)
	}
	return m[1]
}

// digestClient answers a challenge as a softphone would.
type digestClient struct {
	user, password, realm, alg, qop string
	uri                             string
	nc                              int // the nonce count sent (default 1)
}

func (p digestClient) authorize(nonce string) string {
	ha1 := registrar.HA1(p.alg, p.user, p.realm, p.password)
	const cnonce = "0a4f113b"
	nc := fmt.Sprintf("%08x", max(1, p.nc))
	resp := registrar.DigestResponse(p.alg, ha1, nonce, nc, cnonce, p.qop, "REGISTER", p.uri)
	h := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
		p.user, p.realm, nonce, p.uri, resp, p.alg)
	if p.qop != "" {
		h += fmt.Sprintf(`, qop=%s, nc=%s, cnonce="%s"`, p.qop, nc, cnonce)
	}
	return h
}

func marie(alg string) digestClient {
	return digestClient{user: "marie", password: testPassword, realm: testRealm, alg: alg, qop: "auth", uri: "sip:" + testRealm}
}

func TestDigestRFC2617Example(t *testing.T) {
	// RFC 2617 §3.5 (the response of the errata: qop=auth, GET).
	const realm = "testrealm@host.com"
	ha1 := registrar.HA1(registrar.AlgorithmMD5, "Mufasa", realm, "Circle Of Life")
	if want := "939e7578ed9e3c518a452acee763bce9"; ha1 != want {
		t.Errorf("HA1 = %s, want %s", ha1, want)
	}
	got := registrar.DigestResponse(registrar.AlgorithmMD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "GET", "/dir/index.html")
	if want := "6629fae49393a05397450978507c4ef1"; got != want {
		t.Errorf("response = %s, want %s", got, want)
	}

	// Through Verify: the nonce is not one of ours, so the answer is a
	// stale challenge (retry with our nonce), never success, and the
	// response is not even checked: right or wrong, the same answer.
	d := registrar.NewDigest(realm, func(u string) (registrar.Credential, bool) {
		return registrar.Credential{User: u, HA1MD5: ha1}, u == "Mufasa"
	})
	h := `Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41"`
	user, err := d.Verify("GET", h, testSource)
	if user != "Mufasa" || !errors.Is(err, registrar.ErrStale) {
		t.Errorf("Verify(RFC 2617 example) = %q, %v; want Mufasa, ErrStale", user, err)
	}
	if _, err := d.Verify("GET", strings.Replace(h, "6629fae4", "6629fae5", 1), testSource); !errors.Is(err, registrar.ErrStale) {
		t.Errorf("Verify(RFC 2617 example, response changed) = %v, want ErrStale", err)
	}
}

func TestDigestRFC7616Example(t *testing.T) {
	// RFC 7616 §3.9.1: the same request answered with SHA-256 and MD5.
	const (
		realm  = "http-auth@example.org"
		nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	for _, tc := range []struct{ alg, want string }{
		{registrar.AlgorithmSHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{registrar.AlgorithmMD5, "8ca523f5e9506fed4657c9700eebdbec"},
	} {
		ha1 := registrar.HA1(tc.alg, "Mufasa", realm, "Circle of Life")
		got := registrar.DigestResponse(tc.alg, ha1, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html")
		if got != tc.want {
			t.Errorf("%s response = %s, want %s", tc.alg, got, tc.want)
		}
	}
}

func TestDigestChallenges(t *testing.T) {
	d, _ := newTestDigest()
	cs := d.Challenges(false, testSource)
	if len(cs) != 2 {
		t.Fatalf("Challenges = %q, want two", cs)
	}
	for i, alg := range []string{"SHA-256", "MD5"} {
		want := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, testRealm, nonceOf(t, cs[i]), alg)
		if cs[i] != want {
			t.Errorf("challenge %d = %q, want %q", i, cs[i], want)
		}
	}
	if nonceOf(t, cs[0]) == nonceOf(t, d.Challenges(false, testSource)[0]) {
		t.Error("two challenges share a nonce")
	}
	for _, c := range d.Challenges(true, testSource) {
		if !strings.HasSuffix(c, ", stale=true") {
			t.Errorf("stale challenge %q does not say stale=true", c)
		}
	}
	// A realm with a quote is escaped.
	q := registrar.NewDigest(`club "A"`, staffCredentials("x"))
	if c := q.Challenges(false, testSource)[0]; !strings.HasPrefix(c, `Digest realm="club \"A\"", `) {
		t.Errorf("challenge = %q, want the realm escaped", c)
	}
}

func TestDigestAccepts(t *testing.T) {
	for _, alg := range []string{registrar.AlgorithmSHA256, registrar.AlgorithmMD5, "sha-256"} {
		t.Run(alg, func(t *testing.T) {
			d, clk := newTestDigest()
			cs := d.Challenges(false, testSource)
			clk.Add(NonceAlmostOld)
			user, err := d.Verify("REGISTER", marie(alg).authorize(nonceOf(t, cs[0])), testSource)
			if err != nil || user != "marie" {
				t.Errorf("Verify = %q, %v; want marie, nil", user, err)
			}
		})
	}
	// RFC 2069 (no qop), which RFC 3261 §22.4 asks a server to accept: MD5 only.
	d, _ := newTestDigest()
	fresh := func() string { return nonceOf(t, d.Challenges(false, testSource)[0]) }
	old := marie(registrar.AlgorithmMD5)
	old.qop = ""
	if user, err := d.Verify("REGISTER", old.authorize(fresh()), testSource); err != nil || user != "marie" {
		t.Errorf("Verify(RFC 2069, MD5) = %q, %v; want marie, nil", user, err)
	}
	old.alg = registrar.AlgorithmSHA256
	if _, err := d.Verify("REGISTER", old.authorize(fresh()), testSource); !errors.Is(err, registrar.ErrMalformed) {
		t.Errorf("Verify(SHA-256 without qop) = %v, want ErrMalformed", err)
	}
	// No algorithm parameter means MD5.
	h := strings.Replace(marie(registrar.AlgorithmMD5).authorize(fresh()), ", algorithm=MD5", "", 1)
	if _, err := d.Verify("REGISTER", h, testSource); err != nil {
		t.Errorf("Verify(no algorithm) = %v, want MD5 and nil", err)
	}
	// The method is part of the response.
	if _, err := d.Verify("INVITE", marie(registrar.AlgorithmMD5).authorize(fresh()), testSource); !errors.Is(err, registrar.ErrBadCredentials) {
		t.Errorf("Verify(other method) = %v, want ErrBadCredentials", err)
	}
}

// NonceAlmostOld is just inside the nonce lifetime.
const NonceAlmostOld = registrar.NonceLifetime - time.Second

func TestDigestRefuses(t *testing.T) {
	d, _ := newTestDigest()
	// Each case answers a challenge of its own: a wrong answer burns its nonce.
	fresh := func() string { return nonceOf(t, d.Challenges(false, testSource)[0]) }
	nonce := fresh()
	wrongPassword := marie(registrar.AlgorithmSHA256)
	wrongPassword.password = "offside"
	wrongRealm := marie(registrar.AlgorithmSHA256)
	wrongRealm.realm = "other.example.org"
	unknown := marie(registrar.AlgorithmSHA256)
	unknown.user = "mallory"
	lucSHA := marie(registrar.AlgorithmSHA256)
	lucSHA.user = "luc"

	// The HA1 computed with another realm, the header claiming ours.
	wrongRealmHA1 := strings.Replace(wrongRealm.authorize(fresh()), `realm="other.example.org"`, `realm="`+testRealm+`"`, 1)

	for _, tc := range []struct {
		name, header string
		want         error
	}{
		{"no header", "", registrar.ErrNoCredentials},
		{"blank header", "   ", registrar.ErrNoCredentials},
		{"basic auth", "Basic bWFyaWU6c2VjcmV0", registrar.ErrNoCredentials},
		{"wrong password", wrongPassword.authorize(fresh()), registrar.ErrBadCredentials},
		{"wrong realm parameter", wrongRealm.authorize(nonce), registrar.ErrNoCredentials},
		{"HA1 of the wrong realm", wrongRealmHA1, registrar.ErrBadCredentials},
		{"unknown user", unknown.authorize(fresh()), registrar.ErrUnknownUser},
		{"no SHA-256 credential", lucSHA.authorize(fresh()), registrar.ErrBadCredentials},
		{"unsupported algorithm", strings.Replace(marie(registrar.AlgorithmMD5).authorize(nonce), "algorithm=MD5", "algorithm=MD5-sess", 1), registrar.ErrNoCredentials},
		{"qop auth-int", strings.Replace(marie(registrar.AlgorithmMD5).authorize(nonce), "qop=auth", "qop=auth-int", 1), registrar.ErrMalformed},
		{"garbage", "Digest \x00\xff garbage", registrar.ErrMalformed},
		{"unterminated quote", `Digest username="marie`, registrar.ErrMalformed},
		{"parameter twice", marie(registrar.AlgorithmMD5).authorize(nonce) + `, username="luc"`, registrar.ErrMalformed},
		{"no comma", `Digest username="marie" realm="x"`, registrar.ErrMalformed},
		{"value missing", `Digest username=, realm="x"`, registrar.ErrMalformed},
		{"bad nc", strings.Replace(marie(registrar.AlgorithmMD5).authorize(nonce), "nc=00000001", "nc=1", 1), registrar.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, err := d.Verify("REGISTER", tc.header, testSource)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %q, %v; want %v", user, err, tc.want)
			}
		})
	}

	// Each required field missing.
	full := marie(registrar.AlgorithmMD5).authorize(nonce)
	for _, field := range []string{"username", "realm", "nonce", "uri", "response", "cnonce", "nc"} {
		re := regexp.MustCompile(`(, )?\b` + field + `=("[^"]*"|[^,]*)`)
		h := re.ReplaceAllString(full, "")
		h = strings.Replace(h, "Digest , ", "Digest ", 1)
		if _, err := d.Verify("REGISTER", h, testSource); !errors.Is(err, registrar.ErrMalformed) {
			t.Errorf("Verify without %s (%q) = %v, want ErrMalformed", field, h, err)
		}
	}
}

func TestDigestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	d, _ := newTestDigest()
	wrong := marie(registrar.AlgorithmMD5)
	wrong.password = "nope"
	unknown := marie(registrar.AlgorithmMD5)
	unknown.user = "mallory"
	_, errWrong := d.Verify("REGISTER", wrong.authorize(nonceOf(t, d.Challenges(false, testSource)[0])), testSource)
	_, errUnknown := d.Verify("REGISTER", unknown.authorize(nonceOf(t, d.Challenges(false, testSource)[0])), testSource)
	// A handler that maps errors with errors.Is answers both alike.
	for _, target := range []error{registrar.ErrNoCredentials, registrar.ErrStale, registrar.ErrBadCredentials, registrar.ErrMalformed} {
		if errors.Is(errWrong, target) != errors.Is(errUnknown, target) {
			t.Errorf("errors.Is(_, %v): wrong password %t, unknown user %t", target, errors.Is(errWrong, target), errors.Is(errUnknown, target))
		}
	}
	if !errors.Is(errUnknown, registrar.ErrUnknownUser) || errors.Is(errWrong, registrar.ErrUnknownUser) {
		t.Errorf("the log cannot tell them apart: %v / %v", errWrong, errUnknown)
	}
}

func TestDigestNonces(t *testing.T) {
	d, clk := newTestDigest()
	nonce := nonceOf(t, d.Challenges(false, testSource)[0])
	p := marie(registrar.AlgorithmSHA256)

	// Expired: stale, whether the password is right or not (a right guess
	// must not look different from a wrong one on a nonce anyone can keep).
	clk.Add(registrar.NonceLifetime)
	if _, err := d.Verify("REGISTER", p.authorize(nonce), testSource); !errors.Is(err, registrar.ErrStale) {
		t.Errorf("Verify(expired nonce) = %v, want ErrStale", err)
	}
	bad := p
	bad.password = "nope"
	if _, err := d.Verify("REGISTER", bad.authorize(nonce), testSource); !errors.Is(err, registrar.ErrStale) {
		t.Errorf("Verify(expired nonce, wrong password) = %v, want ErrStale", err)
	}
	// A fresh challenge works again.
	nonce = nonceOf(t, d.Challenges(true, testSource)[0])
	if _, err := d.Verify("REGISTER", p.authorize(nonce), testSource); err != nil {
		t.Errorf("Verify(after the stale challenge) = %v", err)
	}

	// Tampered: never accepted, and not ours (stale, retry with a real
	// one), whether the phone signed it or not.
	for i := range nonce {
		c := byte('A')
		if nonce[i] == 'A' {
			c = 'B'
		}
		tampered := nonce[:i] + string(c) + nonce[i+1:]
		if _, err := d.Verify("REGISTER", p.authorize(tampered), testSource); !errors.Is(err, registrar.ErrStale) {
			t.Fatalf("Verify(nonce with byte %d changed) = %v, want ErrStale", i, err)
		}
		h := strings.Replace(p.authorize(nonce), nonce, tampered, 1)
		if _, err := d.Verify("REGISTER", h, testSource); !errors.Is(err, registrar.ErrStale) {
			t.Fatalf("Verify(nonce with byte %d changed after signing) = %v, want ErrStale", i, err)
		}
	}
	for _, n := range []string{"", "x", "not base64 !", strings.Repeat("A", 43)} {
		if _, err := d.Verify("REGISTER", p.authorize(n), testSource); !errors.Is(err, registrar.ErrStale) {
			t.Errorf("Verify(nonce %q) = %v, want ErrStale", n, err)
		}
	}

	// Another realm's nonce is not this realm's.
	other := registrar.NewDigest("other.example.org", staffCredentials(testRealm))
	other.Now = clk.Now
	if _, err := d.Verify("REGISTER", p.authorize(nonceOf(t, other.Challenges(false, testSource)[0])), testSource); !errors.Is(err, registrar.ErrStale) {
		t.Errorf("Verify(nonce of another realm) = %v, want ErrStale", err)
	}

	// A Digest rebuilt (config reload) accepts the nonces of the old one,
	// and knows what the old one accepted.
	again := registrar.NewDigest(testRealm, staffCredentials(testRealm))
	again.Now = clk.Now
	if _, err := again.Verify("REGISTER", p.authorize(nonce), testSource); !errors.Is(err, registrar.ErrReplay) {
		t.Errorf("Verify by a new Digest of a request the old one accepted = %v, want ErrReplay", err)
	}
	p.nc = 2
	if _, err := again.Verify("REGISTER", p.authorize(nonce), testSource); err != nil {
		t.Errorf("Verify by a new Digest of the same realm = %v, want nil", err)
	}
}

func TestDigestConcurrent(t *testing.T) {
	d, _ := newTestDigest()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				nonce := nonceOf(t, d.Challenges(false, testSource)[1])
				if _, err := d.Verify("REGISTER", marie(registrar.AlgorithmMD5).authorize(nonce), testSource); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzDigestVerify(f *testing.F) {
	d, _ := newTestDigest()
	nonce := nonceOf(f, d.Challenges(false, testSource)[0])
	f.Add(marie(registrar.AlgorithmSHA256).authorize(nonce))
	f.Add(marie(registrar.AlgorithmMD5).authorize(nonce))
	f.Add(`Digest username="a\"b", realm="` + testRealm + `", nonce="", uri="", response=""`)
	f.Add(`Digest a=b,,c=d`)
	f.Add(`Digest username="\`)
	f.Add("Digest")
	f.Fuzz(func(t *testing.T, h string) {
		user, err := d.Verify("REGISTER", h, testSource)
		if err == nil && user != "marie" {
			t.Fatalf("Verify(%q) authenticated %q", h, user)
		}
		if err != nil && !errors.Is(err, registrar.ErrNoCredentials) && !errors.Is(err, registrar.ErrStale) &&
			!errors.Is(err, registrar.ErrBadCredentials) && !errors.Is(err, registrar.ErrMalformed) {
			t.Fatalf("Verify(%q) = %v: not one of the documented errors", h, err)
		}
	})
}
