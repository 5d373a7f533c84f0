package softphone

import (
	"context"
	"slices"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

// sendNotify sends a NOTIFY with a sipfrag status line from one end of a
// call to the other, as a transferee would, and returns the answer's status.
func sendNotify(t *testing.T, from *Call, line string) int {
	t.Helper()
	req := from.inDialog(sipmsg.NOTIFY)
	req.AppendHeader(sipmsg.NewHeader("Event", "refer"))
	req.AppendHeader(sipmsg.NewHeader("Subscription-State", "active;expires=60"))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(line + "\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := from.dialog.Do(ctx, req)
	if err != nil {
		t.Fatalf("NOTIFY: %v", err)
	}
	return res.StatusCode
}

// Both kinds of call, Dial's and an Answerer's, take NOTIFYs in their
// dialog and keep their status lines; WaitNotify sees those that came
// before it was called and those that come during the wait.
func TestNotifiesBothWays(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	caller, staff, a := answeredCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name     string
		from, to *Call
	}{{"to the caller", staff, caller}, {"to the staff phone", caller, staff}} {
		if code := sendNotify(t, tc.from, "SIP/2.0 100 Trying"); code != 200 {
			t.Errorf("%s: NOTIFY answered %d, want 200", tc.name, code)
		}
		if err := tc.to.WaitNotify(ctx, "SIP/2.0 100"); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		waited := make(chan error, 1)
		go func() { waited <- tc.to.WaitNotify(ctx, "SIP/2.0 200") }()
		time.Sleep(50 * time.Millisecond)
		sendNotify(t, tc.from, "SIP/2.0 200 OK")
		if err := <-waited; err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		want := []string{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"}
		if got := tc.to.Notifies(); !slices.Equal(got, want) {
			t.Errorf("%s: Notifies %q, want %q", tc.name, got, want)
		}
		if reqs := tc.to.NotifyRequests(); len(reqs) != 2 || reqs[0].GetHeaders("Event")[0].Value() != "refer" {
			t.Errorf("%s: NotifyRequests %v", tc.name, reqs)
		}
	}

	// The test phone does not serve REFER: 405.
	if code, err := caller.Refer(ctx, "sip:203@127.0.0.1"); err != nil || code != 405 {
		t.Errorf("REFER to a phone = %d, %v; want 405", code, err)
	}
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if err := caller.WaitNotify(short, "SIP/2.0 486"); err == nil {
		t.Error("WaitNotify found a NOTIFY that never came")
	}
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, staff, "staff")
	if err := staff.WaitNotify(ctx, "SIP/2.0 486"); err == nil {
		t.Error("WaitNotify on an ended call returned nil")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
