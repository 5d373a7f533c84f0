package provider_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"testing"

	"github.com/clubline/clubline/interop/provider"
)

// TestRegisterDigest covers what SIPp cannot show: the challenge's
// parameters, a right password under another username, and SHA-256 (RFC
// 8760), which neither SIPp 3.6 nor baresip 1.0 can answer. The client is
// sipclient_test.go, its digest checked against RFC 7616's own examples
// (TestDigestExamples).
func TestRegisterDigest(t *testing.T) {
	provider.Require(t)
	t.Parallel()
	t.Run("MD5", func(t *testing.T) {
		p := provider.Start(t, provider.Options{})
		t.Parallel()
		c := dialSIP(t, "udp", p.Addr())
		ch := c.challenge(t)
		if ch["realm"] != "provider.test" || ch["qop"] != "auth" || (ch["algorithm"] != "" && ch["algorithm"] != "MD5") {
			t.Errorf("challenge %q, want realm provider.test, qop auth, MD5", ch)
		}
		if code := c.register(t, ch, "intruder", password); code != 403 {
			t.Errorf("the right password under another username: %d, want 403", code)
		}
		waitLine(t, p, "PROVIDER REGISTER user=intruder", "result=403 reason=wrong-user")
		if code := c.register(t, ch, account, password); code != 200 {
			t.Errorf("REGISTER with MD5 credentials: %d, want 200", code)
		}
	})
	t.Run("SHA-256", func(t *testing.T) {
		p := provider.Start(t, provider.Options{SHA256: true})
		t.Parallel()
		c := dialSIP(t, "udp", p.Addr())
		ch := c.challenge(t)
		if ch["algorithm"] != "SHA-256" {
			t.Fatalf("challenge %q, want algorithm=SHA-256", ch)
		}
		if code := c.register(t, ch, account, "not-"+password); code != 403 {
			t.Errorf("REGISTER with the wrong password: %d, want 403", code)
		}
		if code := c.register(t, ch, account, password); code != 200 {
			t.Errorf("REGISTER with SHA-256 credentials: %d, want 200", code)
		}
		waitLine(t, p, "PROVIDER REGISTER user=clubline", "result=200")
	})
}

// TestDigestExamples checks the test's digest against RFC 7616 section
// 3.9.1, so that a 200 from the provider means the provider is right too.
func TestDigestExamples(t *testing.T) {
	for _, c := range []struct{ alg, want string }{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		got := digest(c.alg, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "auth", "00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
		if got != c.want {
			t.Errorf("%s: response %s, want %s", c.alg, got, c.want)
		}
	}
}

// digest is the response of RFC 7616 section 3.4.1 (qop=auth, or none).
func digest(alg, user, realm, pass, method, uri, nonce, qop, nc, cnonce string) string {
	var h func() hash.Hash = md5.New
	if alg == "SHA-256" {
		h = sha256.New
	}
	sum := func(s string) string {
		d := h()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	ha1 := sum(user + ":" + realm + ":" + pass)
	ha2 := sum(method + ":" + uri)
	if qop == "" {
		return sum(ha1 + ":" + nonce + ":" + ha2)
	}
	return sum(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}
