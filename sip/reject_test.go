package sip_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// noCall is a script that fails the test if a call reaches it.
func noCall(t *testing.T) func(context.Context, ivr.Inbound) {
	return func(ctx context.Context, in ivr.Inbound) { t.Errorf("call %s reached the script", in.ID) }
}

func checkRecord(t *testing.T, rec clubline.Call, outcome clubline.Outcome, trace string) {
	t.Helper()
	if rec.Outcome != outcome {
		t.Errorf("outcome = %q, want %q", rec.Outcome, outcome)
	}
	if len(rec.Trace) != 1 || !strings.HasPrefix(rec.Trace[0], trace) {
		t.Errorf("trace = %q, want one line starting %q", rec.Trace, trace)
	}
	if rec.ID == "" || rec.StartedAt.IsZero() || rec.EndedAt.Before(rec.StartedAt) {
		t.Errorf("record = %+v, want an id and start/end times", rec)
	}
}

func TestUnknownNumber404(t *testing.T) {
	h := newHarness(t, noCall(t))
	uri := strings.Replace(h.udpURI, clubNumber, "9999", 1)
	se := h.refused(uri, softphone.Options{})
	if se.Code != 404 {
		t.Fatalf("status %d, want 404", se.Code)
	}
	rec := h.nextRejected()
	checkRecord(t, rec, clubline.OutcomeRejected, "rejected: 404 unknown number '9999'")
	if rec.To != "9999" {
		t.Errorf("record To = %q", rec.To)
	}
	h.waitIdle()
}

func TestNoCommonCodec488(t *testing.T) {
	h := newHarness(t, noCall(t))
	se := h.refused(h.udpURI, softphone.Options{Codecs: []media.Codec{{Name: "G729", PayloadType: 18}}})
	if se.Code != 488 {
		t.Fatalf("status %d, want 488", se.Code)
	}
	if w := se.Header("Warning"); !strings.HasPrefix(w, "305 ") {
		t.Errorf("Warning = %q, want a 305 warning", w)
	}
	checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 488 no common codec")
	h.waitIdle()
}

func TestMaxCalls503(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.MaxCalls = 1; o.RetryAfter = 45 * time.Second })
	first := h.dial(softphone.Options{})
	s.nextCall(t)
	se := h.refused(h.udpURI, softphone.Options{})
	if se.Code != 503 || se.Header("Retry-After") != "45" {
		t.Fatalf("second call: %d with Retry-After %q, want 503 with 45", se.Code, se.Header("Retry-After"))
	}
	checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 503 over capacity")
	if n := h.srv.Active(); n != 1 {
		t.Errorf("Active = %d, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitIdle()
	h.dial(softphone.Options{}) // a slot is free again
	s.nextCall(t)
}

func TestDraining503(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	up := h.dial(softphone.Options{})
	s.nextCall(t)
	h.srv.Drain()
	se := h.refused(h.udpURI, softphone.Options{})
	if se.Code != 503 || se.Header("Retry-After") == "" {
		t.Fatalf("call while draining: %d with Retry-After %q, want 503 with one", se.Code, se.Header("Retry-After"))
	}
	checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 503 draining")

	// The call in progress goes on until it ends; then Wait returns.
	select {
	case <-up.Done():
		t.Fatal("draining ended a call in progress")
	case <-time.After(200 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := up.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitIdle()
}

func TestNoRTPPort503(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle, func(o *sip.Options) { o.RTPPortMin, o.RTPPortMax = 39998, 39999 })
	h.dial(softphone.Options{})
	s.nextCall(t)
	se := h.refused(h.udpURI, softphone.Options{})
	if se.Code != 503 {
		t.Fatalf("status %d, want 503", se.Code)
	}
	checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 503 no RTP port")
}

func TestSessionIntervalTooSmall422(t *testing.T) {
	h := newHarness(t, noCall(t))
	se := h.refused(h.udpURI, softphone.Options{SessionExpires: 30 * time.Second})
	if se.Code != 422 || se.Header("Min-SE") != "90" {
		t.Fatalf("%d with Min-SE %q, want 422 with 90", se.Code, se.Header("Min-SE"))
	}
	h.nextRejected()
}

func TestCancelBeforeAnswer(t *testing.T) {
	h := newHarness(t, noCall(t), func(o *sip.Options) { o.RingFor = 5 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := softphone.Dial(ctx, h.udpURI, softphone.Options{From: "+15145550101", Logger: testLogger(t)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want the context's error after CANCEL", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled dial took %s", d)
	}
	rec := h.nextRejected()
	checkRecord(t, rec, clubline.OutcomeAbandoned, "abandoned: 487 caller cancelled")
	h.waitIdle()
}

// TestCancelOnTheWire checks the responses themselves: 180, then 200 for
// the CANCEL and 487 for the INVITE.
func TestCancelOnTheWire(t *testing.T) {
	h := newHarness(t, noCall(t), func(o *sip.Options) { o.RingFor = 5 * time.Second })
	r := newRawClient(t)
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(h.udpURI, &target); err != nil {
		t.Fatal(err)
	}
	invite := sipmsg.NewRequest(sipmsg.INVITE, target)
	invite.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := r.client.TransactionRequest(ctx, invite)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	waitStatus(t, tx, 180)

	cancelReq := sipmsg.NewRequest(sipmsg.CANCEL, invite.Recipient)
	cancelReq.AppendHeader(sipmsg.HeaderClone(invite.Via()))
	cancelReq.AppendHeader(sipmsg.HeaderClone(invite.From()))
	cancelReq.AppendHeader(sipmsg.HeaderClone(invite.To()))
	cancelReq.AppendHeader(sipmsg.HeaderClone(invite.CallID()))
	cancelReq.AppendHeader(&sipmsg.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sipmsg.CANCEL})
	maxFwd := sipmsg.MaxForwardsHeader(70)
	cancelReq.AppendHeader(&maxFwd)
	cancelReq.SetBody(nil)
	res, err := r.client.Do(ctx, cancelReq, func(*sipgo.Client, *sipmsg.Request) error { return nil })
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL: %v %v, want 200", res, err)
	}
	waitStatus(t, tx, 487)
	checkRecord(t, h.nextRejected(), clubline.OutcomeAbandoned, "abandoned: 487")
	h.waitIdle()
}

func waitStatus(t *testing.T, tx sipmsg.ClientTransaction, code int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode == code {
				return
			}
			if res.StatusCode >= 200 {
				t.Fatalf("got %d, want %d", res.StatusCode, code)
			}
		case <-tx.Done():
			t.Fatalf("transaction ended before %d: %v", code, tx.Err())
		case <-timeout:
			t.Fatalf("no %d", code)
		}
	}
}

func TestRequireUnsupported420(t *testing.T) {
	h := newHarness(t, noCall(t))
	r := newRawClient(t)
	res := r.do(t, sipmsg.INVITE, h.udpURI,
		&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1"}},
		sipmsg.NewHeader("Require", "100rel"))
	if res.StatusCode != 420 || headerValue(res, "Unsupported") != "100rel" {
		t.Fatalf("%d with Unsupported %q, want 420 naming 100rel", res.StatusCode, headerValue(res, "Unsupported"))
	}
	h.nextRejected()
}

func TestBadSDP488(t *testing.T) {
	h := newHarness(t, noCall(t))
	r := newRawClient(t)
	var target sipmsg.Uri
	_ = sipmsg.ParseUri(h.udpURI, &target)
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1"}})
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("this is not SDP\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.client.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 488 || !strings.HasPrefix(headerValue(res, "Warning"), "399 ") {
		t.Fatalf("%d with Warning %q, want 488 with a 399 warning", res.StatusCode, headerValue(res, "Warning"))
	}
	checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 488 bad SDP")
}

// TestOKRetransmittedUntilACK: over UDP the 200 OK is sent again (T1,
// 2*T1, …) until the ACK comes (RFC 3261 §13.3.1.4); the script starts
// with the ACK.
func TestOKRetransmittedUntilACK(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	r := newRawClient(t)
	var target sipmsg.Uri
	_ = sipmsg.ParseUri(h.udpURI, &target)
	invite := sipmsg.NewRequest(sipmsg.INVITE, target)
	invite.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.port}})
	invite.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	invite.SetBody(media.Offer(media.Local{Addr: netip.MustParseAddrPort("127.0.0.1:40002"), SessionID: 1, Version: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := r.client.TransactionRequest(ctx, invite)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	var retransmitted atomic.Int32
	tx.OnRetransmission(func(res *sipmsg.Response) {
		if res.StatusCode == 200 {
			retransmitted.Add(1)
		}
	})
	var ok *sipmsg.Response
	for ok == nil {
		select {
		case res := <-tx.Responses():
			if res.StatusCode == 200 {
				ok = res
			}
		case <-ctx.Done():
			t.Fatal("no 200 OK")
		}
	}
	time.Sleep(1700 * time.Millisecond) // retransmissions at 0.5s and 1.5s
	if n := retransmitted.Load(); n < 2 {
		t.Fatalf("%d retransmissions of 200 OK in 1.7s, want 2", n)
	}
	select {
	case <-s.calls:
		t.Fatal("the script started before the ACK")
	default:
	}

	ack := sipmsg.NewRequest(sipmsg.ACK, ok.Contact().Address)
	ack.AppendHeader(sipmsg.HeaderClone(invite.From()))
	ack.AppendHeader(sipmsg.HeaderClone(ok.To()))
	ack.AppendHeader(sipmsg.HeaderClone(invite.CallID()))
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sipmsg.ACK})
	if err := r.client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	s.nextCall(t)
	n := retransmitted.Load()
	time.Sleep(2200 * time.Millisecond)
	if m := retransmitted.Load(); m != n {
		t.Errorf("200 OK retransmitted %d more times after the ACK", m-n)
	}
	h.srv.HangupAll() // while the raw client is there to answer the BYE
	h.waitIdle()
}

// A 404 for a number the line does not answer names the numbers it does
// to a caller on this machine (`clubline call`, a softphone being set up),
// never to one elsewhere: the internet must not learn them by guessing.
func TestUnknownNumberNamesTheNumbersOnlyToLocalCallers(t *testing.T) {
	h := newHarness(t, func(ctx context.Context, in ivr.Inbound) { <-ctx.Done() }, func(o *sip.Options) {
		o.Listen = []string{"udp://0.0.0.0:0"}
		o.Numbers = []string{clubNumber, "club"}
	})
	port := h.udpURI[strings.LastIndexByte(h.udpURI, ':')+1:]
	e := h.refused("sip:+15145559876@127.0.0.1:"+port, softphone.Options{})
	if got, want := e.Header("Warning"), `399 clubline "this line answers `+clubNumber+`, club"`; e.Code != 404 || got != want {
		t.Errorf("local caller: %d, Warning %q; want 404 and %q", e.Code, got, want)
	}

	var outside string // an address of this machine that is not loopback
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok && !p.IP.IsLoopback() && p.IP.To4() != nil {
			outside = p.IP.String()
			break
		}
	}
	if outside == "" {
		t.Skip("no address but loopback: cannot call from elsewhere")
	}
	e = h.refused("sip:+15145559876@"+outside+":"+port, softphone.Options{})
	if e.Code != 404 || e.Header("Warning") != "" {
		t.Errorf("caller from %s: %d, Warning %q; want a bare 404", outside, e.Code, e.Header("Warning"))
	}
}
