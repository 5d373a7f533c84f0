package sip_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/internal/rawsip"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
)

// udpHostPort is the host:port of the harness's UDP listener.
func (h *harness) udpHostPort() string {
	return strings.TrimPrefix(h.srv.Addrs()[0], "udp://")
}

// An INVITE from a forged source names a victim's address in its SDP and
// Contact. Until the ACK confirms the dialog, the victim receives nothing:
// no RTP, no BYE, not even when the call ends for want of an ACK. Only the
// address the INVITE came from (its Via) gets the 200 OK, retransmitted.
func TestUnconfirmedCallSendsNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		forgedAck bool // an ACK reusing the INVITE's branch, without our To tag
	}{
		{name: "no ACK"},
		{name: "ACK without our To tag", forgedAck: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(playTone)
			h := newHarness(t, s.handle, func(o *sip.Options) { o.AckTimeout = time.Second })
			victimRTP, victimSIP := rawsip.NewSink(t), rawsip.NewSink(t)
			spoofer := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())

			inv := spoofer.Invite(clubNumber, victimSIP.Addr(), victimRTP.Addr())
			ok := spoofer.Final(inv.CallID, 2*time.Second)
			if ok == nil || ok.StatusCode != 200 {
				t.Fatalf("answer to the INVITE: %v, want 200 OK", ok)
			}
			if tc.forgedAck {
				spoofer.ForgedACK(inv)
			}
			// The ACK timeout (1s), then the 2*T1 a BYE would wait for a
			// late ACK, and some more.
			oks := 1
			for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); {
				if res := spoofer.Read(time.Until(deadline)); res != nil && res.StatusCode == 200 {
					oks++
				}
			}
			if n := len(victimRTP.RTP()); n != 0 {
				t.Errorf("the address in the SDP received %d RTP packets before any ACK, want 0", n)
			}
			if reqs := victimSIP.Requests(); len(reqs) != 0 {
				t.Errorf("the Contact received %q, want nothing", reqs)
			}
			if oks < 2 {
				t.Errorf("the INVITE's source received %d 200 OKs, want the retransmissions too", oks)
			}
			select {
			case in := <-s.calls:
				t.Errorf("the script started for %s without an ACK", in.ID)
			default:
			}
			if n := h.srv.Active(); n != 0 {
				t.Errorf("%d calls still active after the ACK timeout, want 0", n)
			}
		})
	}
}

// The complement: once the caller ACKs with our To tag, RTP flows to the
// address of its SDP and the greeting (here a tone) is heard there.
func TestConfirmedCallHearsGreeting(t *testing.T) {
	s := newScript(playTone)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.AckTimeout = time.Second })
	rtp, contact := rawsip.NewSink(t), rawsip.NewSink(t)
	caller := rawsip.NewSender(t, "127.0.0.1", h.udpHostPort())

	inv := caller.Invite(clubNumber, contact.Addr(), rtp.Addr())
	ok := caller.Final(inv.CallID, 2*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		t.Fatalf("answer to the INVITE: %v, want 200 OK", ok)
	}
	caller.ACK(inv, ok)
	s.nextCall(t)
	time.Sleep(1200 * time.Millisecond) // the 600 ms tone, and margin

	var heard []int16
	for _, p := range rtp.RTP() {
		if p[1]&0x7f != 0 { // PCMU only: not a telephone-event
			continue
		}
		for _, b := range p[12:] {
			heard = append(heard, media.DecodeULaw(b))
		}
	}
	if loud, found := toneHeard(heard, toneHz); !found || loud < 300*time.Millisecond {
		t.Errorf("heard %s of the %d Hz greeting at the SDP's address (detected %v), want most of 600ms",
			loud, toneHz, found)
	}
	caller.BYE(inv, ok)
	s.waitEnded(t)
	h.waitIdle()
}
