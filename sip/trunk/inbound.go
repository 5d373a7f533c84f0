package trunk

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Calls the provider delivers: which source addresses are the
// provider's, and which of the club's numbers a call is for.
//
// The addresses are the registrar's and outbound proxy's, resolved, and
// allow_from. Host names are resolved by Resolve, at start and then every
// ResolveEvery: a provider moves its servers rarely, and a lookup per
// INVITE would let a flood drive DNS traffic.

// ResolveEvery is how often the provider's host names are looked up again.
const ResolveEvery = 10 * time.Minute

// Resolve looks up the addresses the provider sends from: the registrar,
// the outbound proxy and allow_from. A name that does not resolve keeps
// the addresses it had; the error names it.
func (t *Trunk) Resolve(ctx context.Context, r *net.Resolver) error {
	var names []string
	if t.a.Registrar != "" {
		var u sipmsg.Uri
		if parseTarget(t.a.Registrar, &u) == nil {
			names = append(names, strings.Trim(u.Host, "[]"))
		}
	}
	host, _, _ := t.NextHop()
	names = append(names, host)
	names = append(names, t.a.AllowFrom...)

	var prefixes []netip.Prefix
	var failed []string
	for _, n := range names {
		ps, err := sipx.ResolvePrefix(ctx, r, n)
		if err != nil {
			failed = append(failed, n)
			continue
		}
		prefixes = append(prefixes, ps...)
	}
	t.mu.Lock()
	if len(failed) == 0 || len(t.sources) == 0 {
		t.sources = prefixes
	} else {
		t.sources = append(t.sources, prefixes...) // keep the old addresses of the names that failed
	}
	t.resolvedAt = time.Now()
	t.mu.Unlock()
	if len(failed) > 0 {
		return fmt.Errorf("trunk %s: cannot resolve %s", t.a.Name, strings.Join(failed, ", "))
	}
	return nil
}

// StaleSources reports whether the addresses were resolved longer than
// ResolveEvery ago (or never).
func (t *Trunk) StaleSources(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return now.Sub(t.resolvedAt) >= ResolveEvery
}

// From reports whether ip is one of the provider's addresses.
func (t *Trunk) From(ip netip.Addr) bool {
	ip = ip.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.sources {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Called says which of the trunk's numbers a call it delivered is for.
// Providers write the dialled number in different places: the To header
// (voip.ms, most), P-Called-Party-ID (RFC 3455; IMS operators), a
// Diversion header when the number forwards to the trunk (RFC 5806), or
// the request-URI itself (sip:+14505550100@…); the request-URI user is
// otherwise the account's username. The first of those that is one of the
// trunk's numbers wins. A trunk with a single number takes any call it
// delivers as a call to that number.
func (t *Trunk) Called(req *sipmsg.Request) (string, bool) {
	var candidates []string
	if h := req.GetHeader("P-Called-Party-ID"); h != nil {
		candidates = append(candidates, uriUsers(h.Value())...)
	}
	if to := req.To(); to != nil {
		candidates = append(candidates, to.Address.User)
	}
	candidates = append(candidates, req.Recipient.User)
	for _, h := range req.GetHeaders("Diversion") {
		candidates = append(candidates, uriUsers(h.Value())...)
	}
	for _, c := range candidates {
		if n, ok := t.Owns(c); ok {
			return n, true
		}
	}
	if len(t.a.Numbers) == 1 {
		return t.a.Numbers[0], true
	}
	return "", false
}

// uriUsers reads the user parts of the URIs in a header value such as
// `"Club" <sip:+14505550100@example.org>;reason=unconditional, <tel:+1…>`.
func uriUsers(v string) []string {
	var out []string
	for len(v) > 0 {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		uri := v[i+1 : i+j]
		v = v[i+j+1:]
		scheme, rest, ok := strings.Cut(uri, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(scheme) {
		case "tel":
			user, _, _ := strings.Cut(rest, ";")
			out = append(out, user)
		case "sip", "sips":
			user, _, ok := strings.Cut(rest, "@")
			if ok {
				user, _, _ = strings.Cut(user, ";")
				out = append(out, user)
			}
		}
	}
	return out
}
