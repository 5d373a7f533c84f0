package sipx

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Digest authentication as both sides compute it (RFC 2617 with qop=auth,
// RFC 8760 for SHA-256): the registrar checks staff phones with it, the
// trunk answers its provider's challenges with it.

// Digest algorithms.
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// KnownDigest reports whether alg is an algorithm clubline computes.
func KnownDigest(alg string) bool { return newHash(alg) != nil }

// HA1 is H(user:realm:password) in lowercase hex, H being MD5 or SHA-256
// as alg says ("" if alg is neither).
func HA1(alg, user, realm, password string) string {
	h := newHash(alg)
	if h == nil {
		return ""
	}
	return hexHash(h, user+":"+realm+":"+password)
}

// DigestResponse is the response parameter a phone computes (RFC 2617
// §3.2.2.1). With qop "auth" it is H(HA1:nonce:nc:cnonce:auth:HA2); with no
// qop, RFC 2069's H(HA1:nonce:HA2). HA2 is H(method:uri). "" if alg is
// unknown.
func DigestResponse(alg, ha1, nonce, nc, cnonce, qop, method, uri string) string {
	h := newHash(alg)
	if h == nil {
		return ""
	}
	ha2 := hexHash(h, method+":"+uri)
	if qop == "" {
		return hexHash(h, ha1+":"+nonce+":"+ha2)
	}
	return hexHash(h, ha1+":"+nonce+":"+nc+":"+cnonce+":"+qop+":"+ha2)
}

func newHash(alg string) hash.Hash {
	switch {
	case strings.EqualFold(alg, DigestMD5):
		return md5.New()
	case strings.EqualFold(alg, DigestSHA256):
		return sha256.New()
	}
	return nil
}

func hexHash(h hash.Hash, s string) string {
	h.Reset()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// maxAuthParams bounds the work on a hostile header.
const maxAuthParams = 32

// ParseAuthParams reads the auth-params of a credentials value (RFC 3261
// §25.1, RFC 2617 §1.2): name=token or name="quoted string", separated by
// commas and whitespace. Names are lowercased; a name twice is an error.
func ParseAuthParams(s string) (map[string]string, error) {
	p := make(map[string]string)
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := strings.ToLower(s[start:i])
		if name == "" {
			return nil, fmt.Errorf("at byte %d: want a parameter name", i)
		}
		skipSpace()
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("parameter %.32q has no value", name)
		}
		i++
		skipSpace()
		var val string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("parameter %.32q: unterminated quoted string", name)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			val = s[start:i]
			if val == "" {
				return nil, fmt.Errorf("parameter %.32q has no value", name)
			}
		}
		if _, dup := p[name]; dup {
			return nil, fmt.Errorf("parameter %.32q given twice", name)
		}
		if len(p) == maxAuthParams {
			return nil, errors.New("too many parameters")
		}
		p[name] = val
		skipSpace()
		if i == len(s) {
			break
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("at byte %d: want a comma between parameters", i)
		}
		i++
	}
	return p, nil
}

// isTokenChar: RFC 3261 §25.1 token characters.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// Quote makes a quoted-string of s.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
