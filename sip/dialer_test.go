package sip_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// staffPhone starts a test staff phone that closes with the test.
func staffPhone(t *testing.T, o softphone.AnswerOptions) *softphone.Answerer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.User == "" {
		o.User = "201"
	}
	a, err := softphone.Listen(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func dialRequest(a *softphone.Answerer) sip.DialRequest {
	contact := a.Contact()
	return sip.DialRequest{
		Target:      contact,
		Destination: "udp:" + contact[strings.Index(contact, "@")+1:],
		CallerID:    "+15145550101",
		Display:     "Inscriptions",
		Headers: map[string]string{
			"X-Clubline-Category": "inscriptions",
			"X-Clubline-Call-Id":  "test-call-1",
			"X-Clubline-Waited":   "12",
		},
		RingTimeout: 10 * time.Second,
	}
}

// dialAnswered dials a staff phone that answers and returns both ends.
func dialAnswered(t *testing.T, h *harness, a *softphone.Answerer) (*sip.OutboundLeg, *softphone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := h.srv.Dial(ctx, dialRequest(a))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = leg.Hangup(ctx)
	})
	select {
	case c := <-a.Calls():
		return leg, c
	case <-time.After(5 * time.Second):
		t.Fatal("the staff phone did not report the call")
		return nil, nil
	}
}

type frameSink struct {
	mu      sync.Mutex
	samples []int16
}

func (s *frameSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, f[:]...)
	return nil
}

func (s *frameSink) heard() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.samples...)
}

func TestDialAnsweredCarriesContextAndAudio(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	leg, staff := dialAnswered(t, h, a)

	inv := staff.Invite()
	if inv == nil {
		t.Fatal("no INVITE recorded by the staff phone")
	}
	for k, want := range dialRequest(a).Headers {
		if got := headerValue(inv, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if from := inv.From(); from.Address.User != "+15145550101" || from.DisplayName != "Inscriptions" {
		t.Errorf("From = %q <%s>, want \"Inscriptions\" with user +15145550101", from.DisplayName, from.Address.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess := leg.Session()
	if sess == nil {
		t.Fatal("leg without a media session")
	}
	// clubline → staff.
	if err := sess.Play(ctx, media.Tone(toneHz, 600*time.Millisecond, 8000)); err != nil {
		t.Fatalf("Play: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if loud, ok := toneHeard(staff.Heard(), toneHz); !ok || loud < 300*time.Millisecond {
		t.Errorf("staff heard %s of the %d Hz tone (detected %v)", loud, toneHz, ok)
	}
	// staff → clubline.
	const backHz = 600
	sink := &frameSink{}
	recCtx, stopRec := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		_ = sess.Record(recCtx, sink)
	}()
	if err := staff.Play(ctx, media.Tone(backHz, 600*time.Millisecond, 8000)); err != nil {
		t.Fatalf("staff Play: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	stopRec()
	<-recDone
	if loud, ok := toneHeard(sink.heard(), backHz); !ok || loud < 300*time.Millisecond {
		t.Errorf("clubline heard %s of the %d Hz tone (detected %v)", loud, backHz, ok)
	}
}

func TestDialBusyIsDialError(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.RejectBusy})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := h.srv.Dial(ctx, dialRequest(a))
	var de *sip.DialError
	if !errors.As(err, &de) || de.Code != 486 {
		t.Fatalf("Dial = %v, %v; want a DialError 486", leg, err)
	}
}

func TestDialRingTimeoutCancels(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	r := dialRequest(a)
	r.RingTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := h.srv.Dial(ctx, r)
	if !errors.Is(err, sip.ErrNoAnswer) {
		t.Fatalf("Dial = %v, %v; want ErrNoAnswer", leg, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Cancelled() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.Cancelled() != 1 || a.Rang() != 1 {
		t.Errorf("staff phone rang %d, cancelled %d; want 1 and 1", a.Rang(), a.Cancelled())
	}
}

func TestDialContextCancelled(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := h.srv.Dial(ctx, dialRequest(a))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v; want the context's error", err)
	}
}

func TestDialStaffHangsUp(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	leg, staff := dialAnswered(t, h, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := staff.Hangup(ctx); err != nil {
		t.Fatalf("staff Hangup: %v", err)
	}
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg not ended by the staff BYE")
	}
	if got := leg.EndedBy(); got != "remote BYE" {
		t.Errorf("EndedBy = %q, want remote BYE", got)
	}
}

func TestDialHangupSendsBye(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	leg, staff := dialAnswered(t, h, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leg.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitDone(t, staff, 5*time.Second)
	if got := staff.EndedBy(); got != softphone.EndedRemoteBye {
		t.Errorf("staff call ended by %q, want %q", got, softphone.EndedRemoteBye)
	}
}

func TestDialHangupAllEndsLegs(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	leg, staff := dialAnswered(t, h, a)
	h.srv.HangupAll()
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg not ended by HangupAll")
	}
	waitDone(t, staff, 5*time.Second)
	if got := leg.EndedBy(); got != "server shutdown" {
		t.Errorf("EndedBy = %q", got)
	}
}

// A target named by host name (the urgency fallback, sip:urgence@host) is
// resolved: "localhost" reaches the phone on the loopback; a name that
// does not resolve is an error that names the target, not a ring.
func TestDialResolvesHostNames(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.RejectBusy})
	r := dialRequest(a)
	r.Target = strings.Replace(r.Target, "127.0.0.1", "localhost", 1)
	r.Destination = ""
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.srv.Dial(ctx, r)
	var de *sip.DialError
	if !errors.As(err, &de) || de.Code != 486 || a.Rang() != 1 {
		t.Fatalf("Dial %s = %v (rang %d); want the phone's 486", r.Target, err, a.Rang())
	}
	r.Target = "sip:urgence@nowhere.invalid"
	if _, err := h.srv.Dial(ctx, r); err == nil || !strings.Contains(err.Error(), "nowhere.invalid") {
		t.Errorf("Dial to an unknown host = %v, want an error naming it", err)
	}
}
