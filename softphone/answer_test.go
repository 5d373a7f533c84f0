package softphone

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
	"go.uber.org/goleak"
)

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

func listenTest(t *testing.T, o AnswerOptions) *Answerer {
	t.Helper()
	a, err := Listen(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func nextCall(t *testing.T, a *Answerer) *Call {
	t.Helper()
	select {
	case c := <-a.Calls():
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the answerer delivered no call")
		return nil
	}
}

// hears waits until the call has heard a tone of freq.
func hears(t *testing.T, c *Call, freq float64, who string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if media.DetectTone(c.Heard(), freq) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s did not hear %v Hz (level %.3f)", who, freq, media.ToneLevel(c.Heard(), freq))
}

func waitDone(t *testing.T, c *Call, who string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: call not over", who)
	}
}

// answeredCall dials an AnswerAfter phone and returns both ends, once
// audio has gone both ways.
func answeredCall(t *testing.T) (caller, staff *Call, a *Answerer) {
	t.Helper()
	a = listenTest(t, AnswerOptions{User: "201", Mode: AnswerAfter, Delay: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caller, err := Dial(ctx, a.Contact(), Options{From: "15145550100", LocalIP: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if p := caller.Provisional(); !slices.Contains(p, 180) {
		t.Errorf("provisional answers %v: want a 180", p)
	}
	if caller.Response().StatusCode != 200 {
		t.Errorf("answer %d", caller.Response().StatusCode)
	}
	staff = nextCall(t, a)
	if a.Rang() != 1 {
		t.Errorf("Rang = %d, want 1", a.Rang())
	}
	inv := staff.Invite()
	if inv == nil || inv.From() == nil || inv.From().Address.User != "15145550100" {
		t.Errorf("Invite From: %v", inv.From())
	}
	// Dial cannot add headers (Options has none), so X-Clubline-* headers
	// are not checked here.

	errs := make(chan error, 2)
	go func() { errs <- caller.Play(ctx, media.Tone(1000, 800*time.Millisecond, 8000)) }()
	go func() { errs <- staff.Play(ctx, media.Tone(600, 800*time.Millisecond, 8000)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("play: %v", err)
		}
	}
	hears(t, staff, 1000, "staff")
	hears(t, caller, 600, "caller")
	return caller, staff, a
}

func TestAnswererCallerHangsUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	caller, staff, a := answeredCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, staff, "staff")
	if got := staff.EndedBy(); got != EndedRemoteBye {
		t.Errorf("staff EndedBy %q, want %q", got, EndedRemoteBye)
	}
	if got := caller.EndedBy(); got != EndedLocalBye {
		t.Errorf("caller EndedBy %q, want %q", got, EndedLocalBye)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAnswererStaffHangsUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	caller, staff, a := answeredCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := staff.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, caller, "caller")
	if got := caller.EndedBy(); got != EndedRemoteBye {
		t.Errorf("caller EndedBy %q, want %q", got, EndedRemoteBye)
	}
	if got := staff.EndedBy(); got != EndedLocalBye {
		t.Errorf("staff EndedBy %q, want %q", got, EndedLocalBye)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAnswererCloseHangsUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	caller, staff, a := answeredCall(t)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, staff, "staff")
	waitDone(t, caller, "caller")
	if got := caller.EndedBy(); got != EndedRemoteBye {
		t.Errorf("caller EndedBy %q, want %q", got, EndedRemoteBye)
	}
}

func TestAnswererRejectBusy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := listenTest(t, AnswerOptions{User: "202", Mode: RejectBusy})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, a.Contact(), Options{LocalIP: loopback})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		if c != nil {
			_ = c.Hangup(ctx)
		}
		t.Fatalf("Dial: %v, want a 486 StatusError", err)
	}
	if a.Rang() != 1 {
		t.Errorf("Rang = %d, want 1", a.Rang())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAnswererNeverAnswer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := listenTest(t, AnswerOptions{User: "203", Mode: NeverAnswer})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	c, err := Dial(ctx, a.Contact(), Options{LocalIP: loopback})
	if c != nil {
		_ = c.Hangup(context.Background())
		t.Fatal("a phone that never answers answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v, want the context's error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Cancelled() != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a.Rang() != 1 || a.Cancelled() != 1 {
		t.Errorf("Rang %d, Cancelled %d: want 1 and 1", a.Rang(), a.Cancelled())
	}
	select {
	case c := <-a.Calls():
		t.Errorf("a cancelled call was delivered: %v", c)
	default:
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAnswererInDialog(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	caller, staff, a := answeredCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := caller.Hold(ctx)
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	if n.Direction != media.DirSendOnly {
		t.Errorf("caller direction on hold %q, want sendonly", n.Direction)
	}
	if staff.Refreshes() != 1 || staff.Negotiated().Direction != media.DirRecvOnly {
		t.Errorf("staff: %d re-INVITEs, direction %q", staff.Refreshes(), staff.Negotiated().Direction)
	}
	if err := caller.SendDigitInfo(ctx, '5'); err != nil {
		t.Errorf("INFO caller→staff: %v", err)
	}
	if code, err := staff.SendInfo(ctx, "", nil); err != nil || code != 200 {
		t.Errorf("INFO staff→caller: %d %v", code, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, caller, "caller")
}

func TestAnswererCloseWhileRinging(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := listenTest(t, AnswerOptions{User: "204", Mode: NeverAnswer})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for a.Rang() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		_ = a.Close()
	}()
	c, err := Dial(ctx, a.Contact(), Options{LocalIP: loopback})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 480 {
		if c != nil {
			_ = c.Hangup(ctx)
		}
		t.Fatalf("Dial: %v, want 480", err)
	}
}
