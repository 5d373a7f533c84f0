package sip_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip/registrar"
	"github.com/clubline/clubline/softphone"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// pingPhone is a staff phone that stays up after registering and answers
// OPTIONS with 200, until silent: then it reads nothing at all.
type pingPhone struct {
	*rawClient
	pings  atomic.Int32
	silent atomic.Bool
}

func newPingPhone(t *testing.T) *pingPhone {
	t.Helper()
	p := &pingPhone{}
	silence := func(data []byte) []byte {
		if p.silent.Load() {
			return nil
		}
		return data
	}
	p.rawClient = newRawClientWith(t, silence, func(srv *sipgo.Server) {
		srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
			p.pings.Add(1)
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil))
		})
	})
	return p
}

// register registers the phone's own address for the staff member with
// extension ext, answering the MD5 challenge.
func (p *pingPhone) register(t *testing.T, rh *regHarness, ext, password string) {
	t.Helper()
	uri := strings.Replace(rh.uri, "sip:", "sip:"+ext+"@", 1)
	send := func(authz string) *sipmsg.Response {
		hs := []sipmsg.Header{
			sipmsg.NewHeader("Contact", fmt.Sprintf("<sip:%s@127.0.0.1:%d>", ext, p.port)),
			sipmsg.NewHeader("Expires", "3600"),
		}
		if authz != "" {
			hs = append(hs, sipmsg.NewHeader("Authorization", authz))
		}
		return p.do(t, sipmsg.REGISTER, uri, hs...)
	}
	res := send("")
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials: %d, want 401", res.StatusCode)
	}
	var nonce string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		if strings.Contains(h.Value(), "algorithm=MD5") {
			nonce = regNonce(t, h.Value())
		}
	}
	ha1 := registrar.HA1(registrar.AlgorithmMD5, ext, regRealm, password)
	resp := registrar.DigestResponse(registrar.AlgorithmMD5, ha1, nonce, "00000001", "c0ffee", "auth", "REGISTER", uri)
	authz := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`,
		ext, regRealm, nonce, uri, resp)
	if res = send(authz); res.StatusCode != 200 {
		t.Fatalf("REGISTER %s: %d, want 200", ext, res.StatusCode)
	}
}

// eventually polls cond every 20 ms until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastPings(o *registrar.Options) {
	o.PingEvery = 50 * time.Millisecond
	o.PingTimeout = 300 * time.Millisecond
	o.PingFailures = 2
}

func (rh *regHarness) registered(t *testing.T, staff string) bool {
	t.Helper()
	for _, r := range rh.bound() {
		if r.StaffID == staff {
			return true
		}
	}
	return false
}

func TestKeepaliveRemovesSilentContact(t *testing.T) {
	rh := newRegHarness(t, fastPings)
	desk, mobile := newPingPhone(t), newPingPhone(t)
	desk.register(t, rh, "201", "secret-marie")
	mobile.register(t, rh, "202", "secret-luc")
	if !rh.registered(t, "marie") || !rh.registered(t, "luc") {
		t.Fatalf("store: %+v", rh.bound())
	}

	// Both answer: both stay, over several rounds.
	eventually(t, 10*time.Second, "the phones were not pinged 4 times each", func() bool {
		return desk.pings.Load() >= 4 && mobile.pings.Load() >= 4
	})
	if !rh.registered(t, "marie") || !rh.registered(t, "luc") {
		t.Fatalf("a phone that answers was removed: %+v", rh.bound())
	}

	// The mobile goes silent: it is removed after PingFailures pings, and
	// OnChange fires; the desk stays.
	before := rh.changes.Load()
	mobile.silent.Store(true)
	eventually(t, 10*time.Second, "the silent phone is still registered", func() bool {
		return !rh.registered(t, "luc")
	})
	eventually(t, 5*time.Second, "OnChange not called after the removal", func() bool {
		return rh.changes.Load() > before
	})
	pinged := desk.pings.Load()
	eventually(t, 10*time.Second, "the desk is no longer pinged", func() bool {
		return desk.pings.Load() >= pinged+2
	})
	if !rh.registered(t, "marie") {
		t.Fatal("the phone that answers was removed")
	}
}

// A phone whose socket is gone (softphone.Register closes its own when it
// returns) is removed too.
func TestKeepaliveRemovesVanishedPhone(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			rh := newRegHarness(t, fastPings)
			for _, a := range rh.srv.Addrs() {
				if hp, ok := strings.CutPrefix(a, transport+"://"); ok {
					rh.uri = "sip:" + hp
				}
			}
			rh.mustRegister(t, asMarie(softphone.RegisterOptions{Transport: transport}))
			regs := rh.bound()
			if len(regs) != 1 || !strings.HasPrefix(regs[0].Received, transport+":") {
				t.Fatalf("store: %+v", regs)
			}
			eventually(t, 10*time.Second, "the vanished phone is still registered", func() bool {
				return !rh.registered(t, "marie")
			})
		})
	}
}

// OnChange follows each round, so a count of registered staff drops on
// plain expiry, with no REGISTER.
func TestKeepaliveOnChangeEachRound(t *testing.T) {
	rh := newRegHarness(t, fastPings)
	before := rh.changes.Load()
	eventually(t, 10*time.Second, "OnChange not called by the rounds", func() bool {
		return rh.changes.Load() >= before+3
	})
}

func TestAllowWithRegistrar(t *testing.T) {
	check := func(t *testing.T, uri string, wantRegister bool) {
		t.Helper()
		rc := newRawClient(t)
		for _, m := range []sipmsg.RequestMethod{sipmsg.MESSAGE, sipmsg.OPTIONS} {
			res := rc.do(t, m, uri)
			allow := headerValue(res, "Allow")
			if allow == "" || strings.Contains(allow, "REGISTER") != wantRegister {
				t.Errorf("%s: %d with Allow %q, want REGISTER listed: %v", m, res.StatusCode, allow, wantRegister)
			}
			if m == sipmsg.MESSAGE && res.StatusCode != 405 {
				t.Errorf("MESSAGE: %d, want 405", res.StatusCode)
			}
		}
	}
	t.Run("on", func(t *testing.T) {
		rh := newRegHarness(t)
		check(t, rh.uri, true)
	})
	t.Run("off", func(t *testing.T) {
		h := newHarness(t, func(ctx context.Context, _ ivr.Inbound) { <-ctx.Done() })
		check(t, h.udpURI, false)
		rc := newRawClient(t)
		res := rawRegister(t, rc, h.udpURI, "")
		if res.StatusCode != 405 || strings.Contains(headerValue(res, "Allow"), "REGISTER") {
			t.Errorf("REGISTER without a registrar: %d Allow %q, want 405 without REGISTER",
				res.StatusCode, headerValue(res, "Allow"))
		}
	})
}
