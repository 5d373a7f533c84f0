package sip_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

const toneHz = 1000

// playTone is a script body that plays a 600 ms tone, then waits for the
// end of the call.
func playTone(ctx context.Context, in ivr.Inbound) {
	if err := in.Leg.Play(ctx, media.Tone(toneHz, 600*time.Millisecond, 8000)); err != nil {
		in.Log.Info("play", "error", err)
	}
	<-ctx.Done()
}

// waitHeard waits until the phone has heard at least d of audio.
func waitHeard(t *testing.T, c *softphone.Call, d time.Duration) []int16 {
	t.Helper()
	deadline := time.Now().Add(d + 5*time.Second)
	for time.Now().Before(deadline) {
		if time.Duration(c.HeardFrames())*media.FrameDuration >= d {
			return c.Heard()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("heard %d frames, want %s", c.HeardFrames(), d)
	return nil
}

func TestCallToneAndDigits(t *testing.T) {
	s := newScript(playTone)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	in := s.nextCall(t)
	if in.From != "+15145550101" || in.To != clubNumber || in.ID == "" {
		t.Errorf("inbound = %+v, want From +15145550101, To %s and an id", in, clubNumber)
	}
	if c.SetupTime() <= 0 || c.SetupTime() > 2*time.Second {
		t.Errorf("setup time %s", c.SetupTime())
	}

	heard := waitHeard(t, c, time.Second)
	if segs := hearing.Segments(heard); len(segs) == 0 {
		t.Error("no sound heard")
	}
	if loud, ok := toneHeard(heard, toneHz); !ok || loud < 300*time.Millisecond {
		t.Errorf("heard %s of %d Hz tone (detected %v), want most of 600ms", loud, toneHz, ok)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SendDigit(ctx, '5'); err != nil {
		t.Fatalf("SendDigit: %v", err)
	}
	if err := c.SendDigitInfo(ctx, '7'); err != nil {
		t.Fatalf("SendDigitInfo: %v", err)
	}
	got := collectDigits(s.digits, 2, 3*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate would come now
	got += collectDigits(s.digits, 1, 0)
	if got != "57" {
		t.Errorf("script saw digits %q, want \"57\" (each exactly once)", got)
	}

	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	s.waitEnded(t)
	if c.EndedBy() != softphone.EndedLocalBye {
		t.Errorf("EndedBy = %q", c.EndedBy())
	}
	h.waitIdle()
}

// toneHeard reports whether the sound in samples (silence left out) is a
// tone at freq, and how long the sound lasts. Under heavy load the
// sender's clock skips frames rather than drift, so a test asks for most
// of a tone, not all of it.
func toneHeard(samples []int16, freq float64) (time.Duration, bool) {
	var loud []int16
	for _, seg := range hearing.Segments(samples) {
		loud = append(loud, seg.Samples(samples)...)
	}
	var sound []int16
	for i := 0; i+media.FrameSamples <= len(loud); i += media.FrameSamples {
		f := loud[i : i+media.FrameSamples]
		if frameLoud(f) {
			sound = append(sound, f...)
		}
	}
	d := time.Duration(len(sound)/media.FrameSamples) * media.FrameDuration
	return d, len(sound) > 0 && hearing.DetectTone(sound, freq)
}

func frameLoud(f []int16) bool {
	var sq float64
	for _, x := range f {
		v := float64(x) / 32768
		sq += v * v
	}
	return sq/float64(len(f)) > 3e-5 // -45 dBFS
}

// collectDigits reads up to n digits, waiting at most within for them.
func collectDigits(ch <-chan rune, n int, within time.Duration) string {
	var out []rune
	timeout := time.After(within)
	for len(out) < n {
		select {
		case d := <-ch:
			out = append(out, d)
		case <-timeout:
			return string(out)
		}
	}
	return string(out)
}

func TestCallerByeEndsScript(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	in := s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitEnded(t)
	select {
	case <-in.Leg.Done():
	default:
		t.Error("Leg.Done not closed after the caller's BYE")
	}
	if err := in.Leg.Hangup(ctx); err != nil {
		t.Errorf("Hangup after the caller's BYE: %v, want nil", err)
	}
	h.waitIdle()
}

func TestServerHangup(t *testing.T) {
	hangups := make(chan error, 2)
	s := newScript(func(ctx context.Context, in ivr.Inbound) {
		_ = in.Leg.Play(ctx, media.Tone(toneHz, 200*time.Millisecond, 8000))
		hangups <- in.Leg.Hangup(ctx) // with the script's context, which ends with the call
		hangups <- in.Leg.Hangup(ctx) // a second one sends nothing
	})
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	waitDone(t, c, 5*time.Second)
	if c.EndedBy() != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q, want %q", c.EndedBy(), softphone.EndedRemoteBye)
	}
	s.waitEnded(t)
	for i := 0; i < 2; i++ {
		if err := <-hangups; err != nil {
			t.Errorf("Hangup %d: %v, want nil once the BYE is answered", i+1, err)
		}
	}
	h.waitIdle()
}

func TestScriptReturnHangsUp(t *testing.T) {
	h := newHarness(t, func(ctx context.Context, in ivr.Inbound) {})
	c := h.dial(softphone.Options{})
	waitDone(t, c, 5*time.Second)
	if c.EndedBy() != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q, want %q", c.EndedBy(), softphone.EndedRemoteBye)
	}
	h.waitIdle()
}

func TestCallOverTCP(t *testing.T) {
	s := newScript(playTone)
	h := newHarness(t, s.handle)
	c := h.dialURI(h.tcpURI, softphone.Options{})
	s.nextCall(t)
	if _, ok := toneHeard(waitHeard(t, c, time.Second), toneHz); !ok {
		t.Error("no tone heard over TCP signalling")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SendDigitInfo(ctx, '#'); err != nil {
		t.Fatal(err)
	}
	if got := collectDigits(s.digits, 1, 3*time.Second); got != "#" {
		t.Errorf("digits = %q, want #", got)
	}
}

func TestRTPTimeoutSendsBye(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.RTPTimeout = 700 * time.Millisecond })
	c := h.dial(softphone.Options{Silent: true})
	s.nextCall(t)
	s.waitEnded(t)
	waitDone(t, c, 5*time.Second)
	if c.EndedBy() != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q, want the server's BYE", c.EndedBy())
	}
	h.waitIdle()
}

func TestDelayedOffer(t *testing.T) {
	s := newScript(playTone)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{DelayedOffer: true})
	s.nextCall(t)
	if _, ok := toneHeard(waitHeard(t, c, time.Second), toneHz); !ok {
		t.Error("no tone heard after an offer in 200 OK and an answer in ACK")
	}
}

func TestRingBeforeAnswer(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.RingFor = 300 * time.Millisecond })
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	// sipgo's client passes responses up on goroutines of their own, so
	// their order as seen by the phone is not the order on the wire.
	if got := c.Provisional(); !slices.Contains(got, 100) || !slices.Contains(got, 180) {
		t.Errorf("provisional responses %v, want 100 and 180", got)
	}
	if c.SetupTime() < 300*time.Millisecond {
		t.Errorf("answered after %s, want after the 300ms ring", c.SetupTime())
	}
}

// TestWildcardListener listens on 0.0.0.0: Contact and SDP must carry an
// address the caller can reach, here PublicAddress given as a host name.
func TestWildcardListener(t *testing.T) {
	for _, public := range []string{"", "localhost"} {
		t.Run("public="+public, func(t *testing.T) {
			s := newScript(playTone)
			h := newHarness(t, s.handle, func(o *sip.Options) {
				o.Listen = []string{"udp://0.0.0.0:0"}
				o.PublicAddress = public
			})
			_, port, _ := strings.Cut(strings.TrimPrefix(h.srv.Addrs()[0], "udp://"), ":")
			c := h.dialURI("sip:"+clubNumber+"@127.0.0.1:"+port, softphone.Options{})
			s.nextCall(t)
			if got := headerValue(c.Response(), "Contact"); !strings.Contains(got, "@127.0.0.1:"+port) {
				t.Errorf("Contact = %q, want 127.0.0.1:%s", got, port)
			}
			if !strings.Contains(string(c.Response().Body()), "c=IN IP4 127.0.0.1") {
				t.Errorf("SDP = %q, want c=IN IP4 127.0.0.1", c.Response().Body())
			}
			if _, ok := toneHeard(waitHeard(t, c, time.Second), toneHz); !ok {
				t.Error("no tone heard")
			}
		})
	}
}
