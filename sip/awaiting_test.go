package sip_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/rawsip"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// One address sends 50 INVITEs and never ACKs, more than max_calls (48).
// It holds 10 calls at most, with the default limits; the rest, and its
// INVITEs from another port, get 503. A caller from another address is
// answered at once and hears the greeting. The gauge shows the 10 waiting
// for their ACK, and 0 once the ACK timeout has passed.
func TestUnackedFloodLeavesLineOpen(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	awaiting := func() float64 { return testutil.ToFloat64(m.CallsAwaitingAck) }
	s := newScript(playTone)
	h := newHarness(t, s.handle, func(o *sip.Options) {
		o.MaxCalls = 48 // MaxAwaitingAck: 12
		o.AckTimeout = 2 * time.Second
		o.OnAwaitingAck = func(d int) { m.CallsAwaitingAck.Add(float64(d)) }
		o.OnRejected = func(clubline.Call, int) {} // the harness keeps 16
	})
	victim := rawsip.NewSink(t)
	flood := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())
	var ids []string
	for range 50 {
		ids = append(ids, flood.Invite(clubNumber, victim.Addr(), victim.Addr()).CallID)
	}
	statuses := flood.Finals(ids, 3*time.Second)
	count := map[int]int{}
	for _, code := range statuses {
		count[code]++
	}
	if count[200] != 10 || count[503] != 40 {
		t.Errorf("50 INVITEs never ACKed from one address got %v, want 10 × 200 and 40 × 503", count)
	}
	if n := awaiting(); n != 10 {
		t.Errorf("clubline_calls_awaiting_ack = %v during the flood, want 10", n)
	}

	// The limit is the address's, whatever its port.
	otherPort := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())
	inv := otherPort.Invite(clubNumber, victim.Addr(), victim.Addr())
	if res := otherPort.Final(inv.CallID, 2*time.Second); res == nil || res.StatusCode != 503 {
		t.Errorf("an 11th INVITE from the same address, another port: %v, want 503", res)
	}

	start := time.Now()
	c := h.dial(softphone.Options{LocalIP: netip.MustParseAddr("127.0.0.2")})
	if d := time.Since(start); d > time.Second {
		t.Errorf("a caller from another address was answered after %s, want within 1s", d)
	}
	s.nextCall(t)
	if _, ok := toneHeard(waitHeard(t, c, time.Second), toneHz); !ok {
		t.Error("the caller from another address did not hear the greeting")
	}
	if n := awaiting(); n != 10 {
		t.Errorf("clubline_calls_awaiting_ack = %v with the caller's call ACKed, want the flood's 10", n)
	}

	deadline := time.Now().Add(3 * time.Second) // the 2s ACK timeout, and margin
	for awaiting() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := awaiting(); n != 0 {
		t.Errorf("clubline_calls_awaiting_ack = %v after the ACK timeout, want 0", n)
	}
	if n := h.srv.Active(); n != 1 {
		t.Errorf("%d calls active after the ACK timeout, want the caller's only", n)
	}
}
