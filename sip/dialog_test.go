package sip_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

func TestReinviteHoldAndResume(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, step := range []struct {
		name string
		dir  media.Direction
		want media.Direction // the server's direction in its answer
	}{
		{"hold", media.DirSendOnly, media.DirRecvOnly},
		{"inactive", media.DirInactive, media.DirInactive},
		{"resume", media.DirSendRecv, media.DirSendRecv},
	} {
		n, err := c.Reinvite(ctx, step.dir)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n.RemoteDirection != step.want {
			t.Errorf("%s: server answered %q, want %q", step.name, n.RemoteDirection, step.want)
		}
	}
	if o := c.Negotiated(); o.Codec.Name != "PCMU" {
		t.Errorf("codec after re-INVITEs = %v", o.Codec)
	}
	select {
	case <-c.Done():
		t.Fatalf("call ended after re-INVITEs: %s", c.EndedBy())
	default:
	}
}

func TestReinviteNewAddressIsFollowed(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	// A silent phone: RTP from its old port would pull the server back
	// there (symmetric RTP latches onto the source of what arrives).
	c := h.dial(softphone.Options{Silent: true})
	in := s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The caller moves its audio to a new port: a socket of the test's.
	moved, err := media.ListenRTP(netip.MustParseAddr("127.0.0.1"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	offer := media.Offer(media.Local{Addr: moved.LocalAddr().(*net.UDPAddr).AddrPort(), SessionID: 7, Version: 1})
	res, err := c.ReinviteSDP(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("re-INVITE answered %d %q", res.StatusCode, res.Body())
	}
	go func() { _ = in.Leg.Play(ctx, media.Tone(toneHz, 400*time.Millisecond, 8000)) }()
	_ = moved.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	n, err := moved.Read(buf)
	if err != nil || n < 12 {
		t.Fatalf("no RTP at the new address: %v", err)
	}
}

func TestReinviteVersionMovesOn(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := originOf(t, c.Response().Body())
	if _, err := c.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	local := media.Local{Addr: netip.MustParseAddrPort("127.0.0.1:40000"), SessionID: 9, Version: 9,
		Direction: media.DirSendOnly}
	res, err := c.ReinviteSDP(ctx, media.Offer(local))
	if err != nil {
		t.Fatal(err)
	}
	next := originOf(t, res.Body())
	if next[0] != first[0] || next[1] <= first[1] {
		t.Errorf("o= went from %v to %v: want the same session id and a higher version", first, next)
	}
}

// originOf returns the session id and version of an SDP's o= line.
func originOf(t *testing.T, sdp []byte) [2]string {
	t.Helper()
	for _, line := range strings.Split(string(sdp), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "o=")); strings.HasPrefix(line, "o=") && len(f) >= 3 {
			return [2]string{f[1], f[2]}
		}
	}
	t.Fatalf("no o= line in %q", sdp)
	return [2]string{}
}

func TestReinviteWithoutSDP(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReinviteWithoutOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.RemoteDirection != media.DirSendRecv || n.Direction != media.DirSendRecv {
		t.Errorf("after an offerless re-INVITE: server %q, phone %q; want sendrecv both", n.RemoteDirection, n.Direction)
	}
	select {
	case <-c.Done():
		t.Fatalf("call ended: %s", c.EndedBy())
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSessionTimerAnswer(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{SessionExpires: 1800 * time.Second})
	s.nextCall(t)
	res := c.Response()
	if got := headerValue(res, "Session-Expires"); got != "1800;refresher=uac" {
		t.Errorf("Session-Expires = %q, want 1800;refresher=uac", got)
	}
	if got := headerValue(res, "Require"); got != "timer" {
		t.Errorf("Require = %q, want timer", got)
	}
	if got := headerValue(res, "Supported"); !strings.Contains(got, "timer") {
		t.Errorf("Supported = %q, want timer", got)
	}
	if got := headerValue(res, "Allow"); !strings.Contains(got, "UPDATE") || !strings.Contains(got, "INFO") {
		t.Errorf("Allow = %q", got)
	}
	if got := headerValue(res, "Contact"); !strings.Contains(got, clubNumber+"@127.0.0.1:") {
		t.Errorf("Contact = %q", got)
	}
}

func TestSessionTimerRefreshedKeepsCall(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.MinSessionExpires = time.Second })
	c := h.dial(softphone.Options{SessionExpires: 2 * time.Second}) // the phone refreshes with UPDATE every 1s
	s.nextCall(t)
	select {
	case <-c.Done():
		t.Fatalf("refreshed call ended: %s", c.EndedBy())
	case <-time.After(3500 * time.Millisecond):
	}
}

func TestSessionTimerExpiryByes(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.MinSessionExpires = time.Second })
	start := time.Now()
	c := h.dial(softphone.Options{SessionExpires: 3 * time.Second, NoSessionRefresh: true})
	s.nextCall(t)
	waitDone(t, c, 6*time.Second)
	// RFC 4028 §10: BYE at the interval minus min(32s, a third of it) = 2s.
	if d := time.Since(start); d < 1800*time.Millisecond || d > 4*time.Second {
		t.Errorf("ended after %s, want about 2s", d)
	}
	if c.EndedBy() != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q, want the server's BYE", c.EndedBy())
	}
	s.waitEnded(t)
	h.waitIdle()
}

func TestSessionRefreshedByServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noUpdate bool
	}{{"UPDATE", false}, {"re-INVITE", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(nil)
			h := newHarness(t, s.handle, func(o *sip.Options) { o.MinSessionExpires = time.Second })
			c := h.dial(softphone.Options{SessionExpires: 2 * time.Second, SessionRefresher: "uas", NoUpdate: tc.noUpdate})
			s.nextCall(t)
			if got := headerValue(c.Response(), "Session-Expires"); got != "2;refresher=uas" {
				t.Errorf("Session-Expires = %q, want 2;refresher=uas", got)
			}
			time.Sleep(2700 * time.Millisecond) // refreshes at 1s and 2s
			// The phone's answer kept clubline the refresher: it goes on.
			if n := c.Refreshes(); n < 2 {
				t.Errorf("the phone got %d refreshes, want at least two by %s", n, tc.name)
			}
			// clubline sends the refresh, so it is that request's uac
			// (RFC 4028 §7.4).
			if got := c.LastRefresh(); got != "2;refresher=uac" {
				t.Errorf("refresh Session-Expires = %q, want 2;refresher=uac", got)
			}
			select {
			case <-c.Done():
				t.Fatalf("call ended: %s", c.EndedBy())
			default:
			}
		})
	}
}

func TestHangupAllAndClose(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c1 := h.dial(softphone.Options{})
	s.nextCall(t)
	c2 := h.dialURI(h.tcpURI, softphone.Options{})
	s.nextCall(t)
	if n := h.srv.Active(); n != 2 {
		t.Fatalf("Active = %d, want 2", n)
	}
	h.srv.HangupAll()
	waitDone(t, c1, 5*time.Second)
	waitDone(t, c2, 5*time.Second)
	for _, c := range []*softphone.Call{c1, c2} {
		if c.EndedBy() != softphone.EndedRemoteBye {
			t.Errorf("EndedBy = %q", c.EndedBy())
		}
	}
	s.waitEnded(t)
	s.waitEnded(t)
	h.waitIdle()
	se := h.refused(h.udpURI, softphone.Options{})
	if se.Code != 503 {
		t.Errorf("after HangupAll: %d, want 503", se.Code)
	}
}

func TestCloseEndsCalls(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c, 5*time.Second)
	if c.EndedBy() != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q", c.EndedBy())
	}
	s.waitEnded(t)
}
