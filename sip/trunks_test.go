package sip_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/sip/trunk"
	"github.com/clubline/clubline/softphone"
)

// ipTrunk is an IP-authenticated trunk whose provider sends from ip.
func ipTrunk(t *testing.T, ip string) *trunk.Trunk {
	t.Helper()
	tr, err := trunk.New(trunk.Account{Name: "pstn", OutboundProxy: ip, Numbers: []string{"+14505550100"}, KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// With a trunk, a caller from an address that is neither the trunk's nor
// allow_from gets 403, before the number is looked at: a scanner learns
// nothing, and no script runs.
func TestGateRefusesStrangers(t *testing.T) {
	provider := loopbackAlias()
	sc := newScript(nil)
	h := newHarness(t, sc.handle, func(o *sip.Options) { o.Trunks = []*trunk.Trunk{ipTrunk(t, provider)} })
	for _, uri := range []string{h.udpURI, strings.Replace(h.udpURI, clubNumber, "+15145559999", 1), strings.Replace(h.udpURI, clubNumber, "201", 1)} {
		se := h.refused(uri, softphone.Options{LocalIP: netip.MustParseAddr("127.0.0.1")})
		if se.Code != 403 {
			t.Errorf("%s from a stranger: %d %s, want 403", uri, se.Code, se.Reason)
		}
		if got := se.Response.GetHeader("WWW-Authenticate"); got != nil {
			t.Errorf("403 with a challenge %q: it would tell which users exist", got.Value())
		}
		rec := h.nextRejected()
		if !strings.Contains(strings.Join(rec.Trace, "|"), "403") {
			t.Errorf("record trace %v: want the 403", rec.Trace)
		}
	}
	select {
	case in := <-sc.calls:
		t.Fatalf("the script ran for %+v", in)
	default:
	}
}

// A call the trunk delivers is answered as a call to the trunk's number,
// whatever user the provider put in the request-URI, and the record
// names the trunk.
func TestTrunkCallIsForItsNumber(t *testing.T) {
	provider := loopbackAlias()
	sc := newScript(func(ctx context.Context, in ivr.Inbound) { <-ctx.Done() })
	h := newHarness(t, sc.handle, func(o *sip.Options) { o.Trunks = []*trunk.Trunk{ipTrunk(t, provider)} })
	uri := strings.Replace(h.udpURI, clubNumber, "123456_club", 1)
	c := h.dialURI(uri, softphone.Options{LocalIP: netip.MustParseAddr(provider)})
	in := sc.nextCall(t)
	if in.To != "+14505550100" || in.Trunk != "pstn" {
		t.Errorf("inbound to %q trunk %q; want +14505550100 through pstn", in.To, in.Trunk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Hangup(ctx)
}

// sip.allow_from lets the LAN (or the mystery call on loopback) in.
func TestAllowFrom(t *testing.T) {
	sc := newScript(func(ctx context.Context, in ivr.Inbound) { <-ctx.Done() })
	h := newHarness(t, sc.handle, func(o *sip.Options) {
		o.Trunks = []*trunk.Trunk{ipTrunk(t, "192.0.2.10")}
		o.AllowFrom = []string{"127.0.0.0/8"}
	})
	c := h.dial(softphone.Options{LocalIP: netip.MustParseAddr("127.0.0.1")})
	in := sc.nextCall(t)
	if in.Trunk != "" || in.To != clubNumber {
		t.Errorf("inbound %+v: want a direct call to %s", in, clubNumber)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Hangup(ctx)
}
