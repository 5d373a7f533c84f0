package sip_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// What a staff phone asks for during an outbound leg: hold and resume
// (re-INVITE), blind transfer (REFER and its NOTIFYs).

// staffLegUp dials a staff phone that answers and returns both ends, with
// a context for the test's requests.
func staffLegUp(t *testing.T) (*sip.OutboundLeg, *softphone.Call, context.Context) {
	t.Helper()
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	leg, staff := dialAnswered(t, h, a)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return leg, staff, ctx
}

// nextEvent waits for the leg's next staff event.
func nextEvent(t *testing.T, leg *sip.OutboundLeg) ivr.StaffEvent {
	t.Helper()
	select {
	case ev := <-leg.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no staff event")
		return ivr.StaffEvent{}
	}
}

// noEvent checks that the leg has no staff event waiting.
func noEvent(t *testing.T, leg *sip.OutboundLeg) {
	t.Helper()
	select {
	case ev := <-leg.Events():
		t.Errorf("unexpected staff event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStaffHoldAndResume(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)

	for _, step := range []struct {
		name  string
		dir   media.Direction // the staff phone's offer
		want  media.Direction // clubline's direction in its 200 OK
		event ivr.StaffEventKind
	}{
		{"hold", media.DirSendOnly, media.DirRecvOnly, ivr.StaffHold},
		{"inactive", media.DirInactive, media.DirInactive, 0}, // still on hold
		{"resume", media.DirSendRecv, media.DirSendRecv, ivr.StaffResume},
		{"resume again", media.DirSendRecv, media.DirSendRecv, 0},
		{"inactive hold", media.DirInactive, media.DirInactive, ivr.StaffHold},
		{"resume", media.DirSendRecv, media.DirSendRecv, ivr.StaffResume},
	} {
		n, err := staff.Reinvite(ctx, step.dir)
		if err != nil {
			t.Fatalf("%s: re-INVITE: %v", step.name, err)
		}
		if n.RemoteDirection != step.want {
			t.Errorf("%s: clubline answered %q, want %q", step.name, n.RemoteDirection, step.want)
		}
		if step.event == 0 {
			noEvent(t, leg)
			continue
		}
		if ev := nextEvent(t, leg); ev.Kind != step.event {
			t.Errorf("%s: event %v, want %v", step.name, ev.Kind, step.event)
		}
	}
	select {
	case <-leg.Done():
		t.Fatalf("leg ended after hold and resume: %s", leg.EndedBy())
	default:
	}
	// The media follows: after the resume the staff phone hears the leg.
	if err := leg.Play(ctx, media.Tone(toneHz, 600*time.Millisecond, 8000)); err != nil {
		t.Fatalf("Play after resume: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if loud, ok := toneHeard(staff.Heard(), toneHz); !ok || loud < 300*time.Millisecond {
		t.Errorf("staff heard %s of the tone after resume (detected %v)", loud, ok)
	}
}

func TestStaffTransfer(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)

	// A transfer that succeeds.
	code, err := staff.Refer(ctx, "sip:203@127.0.0.1")
	if err != nil || code != 202 {
		t.Fatalf("REFER = %d, %v; want 202", code, err)
	}
	if err := staff.WaitNotify(ctx, "SIP/2.0 100 Trying"); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, leg)
	if ev.Kind != ivr.StaffTransfer || ev.To != "203" || ev.Progress == nil {
		t.Fatalf("event %+v, want a transfer to 203 with Progress", ev)
	}
	ev.Progress(180, "Ringing")
	ev.Progress(200, "OK")
	ev.Progress(503, "Service Unavailable") // after the final status: nothing
	if err := staff.WaitNotify(ctx, "SIP/2.0 200 OK"); err != nil {
		t.Fatal(err)
	}

	// A second one, which fails: its NOTIFYs carry the REFER's id.
	if code, err := staff.Refer(ctx, "<sip:supervisor@club.example;transport=udp>"); err != nil || code != 202 {
		t.Fatalf("second REFER = %d, %v; want 202", code, err)
	}
	ev = nextEvent(t, leg)
	if ev.Kind != ivr.StaffTransfer || ev.To != "supervisor" {
		t.Fatalf("event %+v, want a transfer to supervisor", ev)
	}
	ev.Progress(503, "Service Unavailable")
	if err := staff.WaitNotify(ctx, "SIP/2.0 503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // room for a NOTIFY that should not come
	want := []string{"SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK",
		"SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"}
	if got := staff.Notifies(); !slices.Equal(got, want) {
		t.Errorf("NOTIFYs %q, want %q", got, want)
	}
	for i, req := range staff.NotifyRequests() {
		wantState, wantEvent := "active;expires=60", "refer"
		if i == 2 || i == 4 {
			wantState = "terminated;reason=noresource"
		}
		if i >= 3 {
			wantEvent = "refer;id="
		}
		if got := headerValue(req, "Subscription-State"); got != wantState {
			t.Errorf("NOTIFY %d: Subscription-State %q, want %q", i, got, wantState)
		}
		if got := headerValue(req, "Event"); !strings.HasPrefix(got, wantEvent) || (i < 3 && got != "refer") {
			t.Errorf("NOTIFY %d: Event %q, want %q…", i, got, wantEvent)
		}
		if got := headerValue(req, "Content-Type"); got != "message/sipfrag;version=2.0" {
			t.Errorf("NOTIFY %d: Content-Type %q", i, got)
		}
	}
	select {
	case <-leg.Done():
		t.Fatalf("leg ended by the transfers: %s", leg.EndedBy())
	default:
	}
}

// A final status given just before the script hangs up reaches the phone
// before the BYE; given after, it does nothing.
func TestStaffTransferProgressThenHangup(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)
	if code, err := staff.Refer(ctx, "sip:203@127.0.0.1"); err != nil || code != 202 {
		t.Fatalf("REFER = %d, %v; want 202", code, err)
	}
	ev := nextEvent(t, leg)
	ev.Progress(200, "OK")
	if err := leg.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitDone(t, staff, 5*time.Second)
	ev.Progress(486, "Busy Here") // after the end: nothing, and no panic
	want := []string{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"}
	if got := staff.Notifies(); !slices.Equal(got, want) {
		t.Errorf("NOTIFYs %q, want %q (all before the BYE)", got, want)
	}
	if got := staff.EndedBy(); got != softphone.EndedRemoteBye {
		t.Errorf("staff call ended by %q", got)
	}
}

func TestStaffBadRefers(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"no Refer-To", "", 400},
		{"no user nor host", "sip:", 400},
		{"not a phone", "mailto:office@club.example", 400},
		{"attended", "<sip:203@127.0.0.1?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>", 501},
	} {
		code, err := staff.Refer(ctx, tc.target)
		if err != nil || code != tc.want {
			t.Errorf("%s: REFER = %d, %v; want %d", tc.name, code, err, tc.want)
		}
	}
	noEvent(t, leg)
	if got := staff.Notifies(); len(got) != 0 {
		t.Errorf("NOTIFYs after refused REFERs: %q", got)
	}
}

func TestCallerReferForbidden(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	in := s.nextCall(t)
	if b, ok := in.Leg.(ivr.Bridgeable); !ok || b.Session() == nil {
		t.Errorf("caller's leg %T is not bridgeable", in.Leg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, err := c.Refer(ctx, "sip:203@127.0.0.1"); err != nil || code != 403 {
		t.Errorf("REFER from a caller = %d, %v; want 403", code, err)
	}
	if got := c.Notifies(); len(got) != 0 {
		t.Errorf("NOTIFYs to a caller: %q", got)
	}
}

// A script that reads no events never holds up the phone's requests: the
// re-INVITEs are answered, events beyond the buffer are dropped, and a
// transfer that cannot be reported is answered as failed.
func TestStaffEventsNeverBlock(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)
	const rounds = 10 // 20 events, more than the channel holds
	for i := range rounds {
		if _, err := staff.Hold(ctx); err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
		if _, err := staff.Resume(ctx); err != nil {
			t.Fatalf("resume %d: %v", i, err)
		}
	}
	if code, err := staff.Refer(ctx, "sip:203@127.0.0.1"); err != nil || code != 202 {
		t.Fatalf("REFER = %d, %v; want 202", code, err)
	}
	if err := staff.WaitNotify(ctx, "SIP/2.0 503"); err != nil {
		t.Fatalf("a transfer the script cannot hear of: %v", err)
	}
	if n := len(leg.Events()); n != cap(leg.Events()) {
		t.Errorf("%d events waiting, want a full channel (%d)", n, cap(leg.Events()))
	}
	for i := 0; len(leg.Events()) > 0; i++ {
		want := ivr.StaffHold
		if i%2 == 1 {
			want = ivr.StaffResume
		}
		if ev := <-leg.Events(); ev.Kind != want {
			t.Fatalf("event %d: %v, want %v", i, ev.Kind, want)
		}
	}
}

func TestDialerAdapter(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 100 * time.Millisecond})
	d := h.srv.Dialer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	leg, err := d.Dial(ctx, ivr.DialRequest{Target: ivr.Target{Staff: "coach", Number: "+15145550102", Confirm: true}})
	if !errors.Is(err, ivr.ErrNoTrunk) || leg != nil {
		t.Fatalf("Dial to a number = %v, %v; want ErrNoTrunk", leg, err)
	}
	if strings.Contains(err.Error(), "5550102") {
		t.Errorf("error %q shows the number", err)
	}

	r := dialRequest(a)
	leg, err = d.Dial(ctx, ivr.DialRequest{
		Target:   ivr.Target{Staff: "coach", URI: r.Target, Destination: r.Destination},
		CallerID: r.CallerID, Display: r.Display, Headers: r.Headers, RingTimeout: r.RingTimeout,
	})
	if err != nil {
		t.Fatalf("Dial to a phone: %v", err)
	}
	defer func() { _ = leg.Hangup(ctx) }()
	if a.Rang() != 1 {
		t.Errorf("the phone rang %d times, want 1 (none for the number)", a.Rang())
	}
	staff := <-a.Calls()
	inv := staff.Invite()
	if got := headerValue(inv, "X-Clubline-Category"); got != "inscriptions" {
		t.Errorf("X-Clubline-Category = %q", got)
	}
	if from := inv.From(); from.Address.User != r.CallerID || from.DisplayName != r.Display {
		t.Errorf("From = %q <%s>", from.DisplayName, from.Address.String())
	}
	if b, ok := leg.(ivr.Bridgeable); !ok || b.Session() == nil {
		t.Errorf("staff leg %T is not bridgeable", leg)
	}
	if _, ok := leg.(*sip.OutboundLeg); !ok {
		t.Errorf("staff leg is a %T", leg)
	}

	// A ring nobody answers is an error, and no leg.
	b := staffPhone(t, softphone.AnswerOptions{Mode: softphone.RejectBusy})
	r = dialRequest(b)
	none, err := d.Dial(ctx, ivr.DialRequest{Target: ivr.Target{URI: r.Target, Destination: r.Destination}})
	var de *sip.DialError
	if !errors.As(err, &de) || de.Code != 486 || none != nil {
		t.Errorf("Dial to a busy phone = %v, %v; want a DialError 486 and a nil leg", none, err)
	}
}

// A staff phone that answers with a session timer naming clubline the
// refresher (refresher=uac: clubline sent the INVITE) gets its refreshes,
// so it never ends the call for want of them.
func TestStaffLegSessionTimer(t *testing.T) {
	h := newHarness(t, newScript(nil).handle)
	a := staffPhone(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 50 * time.Millisecond, SessionExpires: 2 * time.Second})
	leg, staff := dialAnswered(t, h, a)
	time.Sleep(2700 * time.Millisecond) // refreshes at 1 s and 2 s
	if n := staff.Refreshes(); n < 2 {
		t.Errorf("the staff phone got %d refreshes, want at least two", n)
	}
	if got := staff.LastRefresh(); got != "2;refresher=uac" {
		t.Errorf("refresh Session-Expires = %q, want 2;refresher=uac", got)
	}
	select {
	case <-leg.Done():
		t.Fatal("the staff leg ended")
	default:
	}
}
