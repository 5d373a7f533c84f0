package mwi_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline/sip/mwi"
	sipmsg "github.com/emiago/sipgo/sip"
)

// subscribe parses a SUBSCRIBE from marie's phone, which says it is at
// 10.0.0.5 (its Contact) and sends from 203.0.113.7:5062 (behind NAT),
// with extra header lines.
func subscribe(t *testing.T, extra ...string) *sipmsg.Request {
	t.Helper()
	msg := "SUBSCRIBE sip:201@club.example SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-1\r\n" +
		"From: <sip:201@club.example>;tag=phone1\r\n" +
		"To: <sip:201@club.example>\r\n" +
		"Call-ID: sub-1@10.0.0.5\r\n" +
		"CSeq: 7 SUBSCRIBE\r\n" +
		"Contact: <sip:201@10.0.0.5:5062>\r\n" +
		"Record-Route: <sip:proxy.example;lr>\r\n"
	for _, h := range extra {
		msg += h + "\r\n"
	}
	msg += "Content-Length: 0\r\n\r\n"
	m, err := sipmsg.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sipmsg.Request)
	req.SetSource("203.0.113.7:5062")
	req.SetTransport("UDP")
	return req
}

func TestSummaryBody(t *testing.T) {
	for _, c := range []struct {
		s    mwi.Summary
		want string
	}{
		{mwi.Summary{}, "Messages-Waiting: no\r\nMessage-Account: sip:201@club.example\r\nVoice-Message: 0/0 (0/0)\r\n"},
		{mwi.Summary{New: 3, NewUrgent: 1}, "Messages-Waiting: yes\r\nMessage-Account: sip:201@club.example\r\nVoice-Message: 3/0 (1/0)\r\n"},
		{mwi.Summary{New: -2, Old: 4, OldUrgent: 2}, "Messages-Waiting: no\r\nMessage-Account: sip:201@club.example\r\nVoice-Message: 0/4 (0/2)\r\n"},
	} {
		if got := string(c.s.Body("sip:201@club.example")); got != c.want {
			t.Errorf("%+v: body %q, want %q", c.s, got, c.want)
		}
	}
	if got := string(mwi.Summary{New: 1}.Body("")); got != "Messages-Waiting: yes\r\nVoice-Message: 1/0 (0/0)\r\n" {
		t.Errorf("without an account: %q", got)
	}
}

func TestCheck(t *testing.T) {
	e := mwi.Expiry{} // 60s, 600s, 600s
	for _, c := range []struct {
		name    string
		headers []string
		want    mwi.Request
		err     error
	}{
		{"no Event", nil, mwi.Request{}, mwi.ErrBadEvent},
		{"presence", []string{"Event: presence"}, mwi.Request{}, mwi.ErrBadEvent},
		{"default interval", []string{"Event: message-summary"}, mwi.Request{Event: "message-summary", Expires: 600 * time.Second}, nil},
		{"compact Event, id echoed", []string{"o: Message-Summary;id=42", "Expires: 120"}, mwi.Request{Event: "message-summary;id=42", Expires: 120 * time.Second}, nil},
		{"id not a token", []string{`Event: message-summary;id="x y"`, "Expires: 120"}, mwi.Request{Event: "message-summary", Expires: 120 * time.Second}, nil},
		{"Accept", []string{"Event: message-summary", "Accept: application/simple-message-summary", "Expires: 60"}, mwi.Request{Event: "message-summary", Expires: time.Minute}, nil},
		{"Accept without it", []string{"Event: message-summary", "Accept: application/pidf+xml"}, mwi.Request{}, mwi.ErrNotAcceptable},
		{"Accept */*", []string{"Event: message-summary", "Accept: application/pidf+xml, */*"}, mwi.Request{Event: "message-summary", Expires: 600 * time.Second}, nil},
		{"cut to the max", []string{"Event: message-summary", "Expires: 7200"}, mwi.Request{Event: "message-summary", Expires: 600 * time.Second}, nil},
		{"unsubscribe", []string{"Event: message-summary", "Expires: 0"}, mwi.Request{Event: "message-summary"}, nil},
		{"too brief", []string{"Event: message-summary", "Expires: 30"}, mwi.Request{}, mwi.ErrTooBrief},
		{"not a number", []string{"Event: message-summary", "Expires: soon"}, mwi.Request{}, mwi.ErrBadExpires},
	} {
		got, err := mwi.Check(subscribe(t, c.headers...), e)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v, %v", c.name, got, err, c.want, c.err)
		}
	}
	var brief *mwi.TooBriefError
	if _, err := mwi.Check(subscribe(t, "Event: message-summary", "Expires: 5"), mwi.Expiry{Min: 10 * time.Second}); !errors.As(err, &brief) || brief.Min != 10*time.Second {
		t.Errorf("too brief: %v, want Min 10s", err)
	}
}

func TestExpiryDefaults(t *testing.T) {
	for _, c := range []struct{ in, want mwi.Expiry }{
		{mwi.Expiry{}, mwi.Expiry{Min: time.Minute, Max: 10 * time.Minute, Default: 10 * time.Minute}},
		{mwi.Expiry{Min: time.Second, Max: 5 * time.Second}, mwi.Expiry{Min: time.Second, Max: 5 * time.Second, Default: 5 * time.Second}},
		{mwi.Expiry{Min: time.Hour, Max: time.Minute}, mwi.Expiry{Min: time.Hour, Max: time.Hour, Default: time.Hour}},
	} {
		if got := c.in.WithDefaults(); got != c.want {
			t.Errorf("%+v: %+v, want %+v", c.in, got, c.want)
		}
	}
}

// The NOTIFYs of a subscription go to the address its SUBSCRIBE came
// from, in its dialog, whatever its Contact's host says.
func TestSubscriptionNotify(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	req := subscribe(t, "Event: message-summary;id=1")
	r, err := mwi.Check(req, mwi.Expiry{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := mwi.New(req, r, "marie", "201", now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dest != netip.MustParseAddrPort("203.0.113.7:5062") || s.Transport != "UDP" || !s.From(req) {
		t.Fatalf("subscription goes to %s %s, want UDP 203.0.113.7:5062", s.Transport, s.Dest)
	}
	if s.Account != "sip:201@club.example" || !s.Expires.Equal(now.Add(10*time.Minute)) {
		t.Errorf("account %q, expires %s", s.Account, s.Expires)
	}

	local := mwi.Local{Host: "192.0.2.1", Port: 5060, Contact: sipmsg.Uri{Scheme: "sip", User: "clubline", Host: "192.0.2.1", Port: 5060}}
	ok := s.OK(req, local.Contact, r.Expires)
	if tag, _ := ok.To().Params.Get("tag"); tag != s.LocalTag || ok.StatusCode != 200 || ok.GetHeader("Expires").Value() != "600" ||
		ok.Contact() == nil {
		t.Fatalf("200: %s", ok)
	}

	n := s.Notify(local, 1, mwi.Active(9*time.Minute), mwi.Summary{New: 1}.Body(s.Account))
	if n.Destination() != "203.0.113.7:5062" || n.Recipient.Host != "10.0.0.5" {
		t.Errorf("NOTIFY to %s with Request-URI %s, want sent to the source with the Contact as URI", n.Destination(), n.Recipient.String())
	}
	for name, want := range map[string]string{
		"Event": "message-summary;id=1", "Subscription-State": "active;expires=540",
		"Content-Type": "application/simple-message-summary", "Call-ID": "sub-1@10.0.0.5",
		"Route": "<sip:proxy.example;lr>", "CSeq": "1 NOTIFY",
	} {
		if h := n.GetHeader(name); h == nil || h.Value() != want {
			t.Errorf("NOTIFY %s: %v, want %q", name, h, want)
		}
	}
	fromTag, _ := n.From().Params.Get("tag")
	toTag, _ := n.To().Params.Get("tag")
	if fromTag != s.LocalTag || toTag != "phone1" || n.To().Address.User != "201" {
		t.Errorf("NOTIFY From tag %q To tag %q, want ours then the phone's", fromTag, toTag)
	}
	if !strings.HasPrefix(string(n.Body()), "Messages-Waiting: yes\r\n") {
		t.Errorf("body %q", n.Body())
	}
	if n := s.Notify(local, 2, mwi.Terminated, nil); n.GetHeader("Content-Type") != nil || len(n.Body()) != 0 {
		t.Errorf("a NOTIFY without counts has a body: %s", n)
	}
}

func TestUnsolicited(t *testing.T) {
	local := mwi.Local{Host: "192.0.2.1", Port: 5060, Contact: sipmsg.Uri{Scheme: "sip", User: "clubline", Host: "192.0.2.1", Port: 5060}}
	req, err := mwi.Unsolicited(local, "sip:202@10.0.0.6:5064", "udp:203.0.113.8:40000", "sip:202@192.0.2.1", mwi.Summary{}.Body("sip:202@192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if req.Destination() != "203.0.113.8:40000" || req.Transport() != "UDP" || req.Recipient.Host != "10.0.0.6" {
		t.Errorf("unsolicited NOTIFY to %s %s, URI %s: want UDP to the registration's source", req.Transport(), req.Destination(), req.Recipient.String())
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "" || req.GetHeader("Subscription-State").Value() != "active" {
		t.Errorf("unsolicited NOTIFY: %s", req)
	}
	if _, err := mwi.Unsolicited(local, "sip:202@10.0.0.6", "203.0.113.8", "", nil); err == nil {
		t.Error("a registration without a transport and port: no error")
	}
}

// The book: refreshes in order, the CSeq of our NOTIFYs, at most
// MaxPerStaff subscriptions a staff member, expiry.
func TestBook(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	b := mwi.NewBook()
	r := mwi.Request{Event: mwi.Event, Expires: time.Minute}
	var subs []*mwi.Subscription
	for i := range mwi.MaxPerStaff + 1 {
		s, err := mwi.New(subscribe(t), r, "marie", "201", now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
		dropped := b.Add(s)
		if (i < mwi.MaxPerStaff) != (dropped == nil) || dropped != nil && dropped.Key != subs[0].Key {
			t.Fatalf("subscription %d dropped %v", i+1, dropped)
		}
	}
	if _, ok := b.Get(subs[0].Key, now); ok || b.Len() != mwi.MaxPerStaff {
		t.Fatalf("the oldest is still kept, or %d kept", b.Len())
	}
	s := subs[1]
	if seq, ok := b.Seq(s.Key); !ok || seq != 1 {
		t.Errorf("first NOTIFY CSeq %d %v", seq, ok)
	}

	// A refresh in the dialog: To tag ours, From tag the phone's.
	in := subscribe(t, "Event: message-summary")
	in.To().Params.Add("tag", s.LocalTag)
	in.CSeq().SeqNo = 8
	in.SetSource("203.0.113.7:6000") // the NAT moved it
	if mwi.KeyOf(in) != s.Key {
		t.Fatalf("KeyOf %q, want %q", mwi.KeyOf(in), s.Key)
	}
	got, err := b.Refresh(s.Key, in, mwi.Request{Expires: 2 * time.Minute}, now.Add(30*time.Second))
	if err != nil || got.Dest.Port() != 6000 || !got.Expires.Equal(now.Add(150*time.Second)) {
		t.Fatalf("refresh: %+v, %v", got, err)
	}
	in.CSeq().SeqNo = 3
	if _, err := b.Refresh(s.Key, in, r, now); !errors.Is(err, mwi.ErrOutOfOrder) {
		t.Errorf("CSeq down: %v, want ErrOutOfOrder", err)
	}
	if _, err := b.Refresh("nope", in, r, now); !errors.Is(err, mwi.ErrNoDialog) {
		t.Errorf("unknown dialog: %v, want ErrNoDialog", err)
	}

	next, ok := b.NextExpiry()
	if !ok || !next.Equal(now.Add(62*time.Second)) { // subs[2], made at now+2s
		t.Errorf("next expiry %s %v", next, ok)
	}
	ended := b.Expire(now.Add(90 * time.Second))
	if len(ended) != mwi.MaxPerStaff-1 || ended[0].Key != subs[2].Key || ended[0].Seq != 1 {
		t.Fatalf("expired %d (first %+v), want all but the refreshed one", len(ended), ended[0])
	}
	if live := b.Of("marie", now.Add(90*time.Second)); len(live) != 1 || live[0].Key != s.Key {
		t.Fatalf("live %v, want the refreshed one", live)
	}
	if _, seq, ok := b.End(s.Key); !ok || seq != 2 {
		t.Errorf("End: seq %d %v, want the second NOTIFY", seq, ok)
	}
	if b.Drop(s.Key) || b.Len() != 0 {
		t.Error("ended, yet kept")
	}
}

// Rounds: one at a time per staff member, what comes during a round
// goes out once in the next, another staff member's go on meanwhile,
// and nothing starts once Go refuses.
func TestRounds(t *testing.T) {
	var (
		mu    sync.Mutex
		sent  = map[string][]mwi.Round{}
		wg    sync.WaitGroup
		stop  atomic.Bool
		hold  = make(chan struct{})
		first = make(chan struct{})
	)
	q := &mwi.Rounds{
		Go: func(f func()) bool {
			if stop.Load() {
				return false
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f()
			}()
			return true
		},
		Send: func(staff string, r *mwi.Round) {
			mu.Lock()
			sent[staff] = append(sent[staff], *r)
			n := len(sent[staff])
			mu.Unlock()
			if staff == "marie" && n == 1 {
				close(first)
				<-hold
			}
		},
	}
	q.Add("marie", func(r *mwi.Round) { r.Subs["a"] = true })
	<-first // marie's first round is out, and held
	for range 10 {
		q.Add("marie", func(r *mwi.Round) { r.Changed = true })
	}
	q.Add("marie", func(r *mwi.Round) { r.Subs["b"] = true })
	q.Add("luc", func(r *mwi.Round) { r.Changed = true })
	for deadline := time.Now().Add(2 * time.Second); ; {
		mu.Lock()
		n := len(sent["luc"])
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("luc's round waited for marie's")
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	if got := sent["marie"]; len(got) != 2 || !got[0].Subs["a"] || got[0].Changed ||
		!got[1].Changed || !got[1].Subs["b"] || got[1].Subs["a"] {
		t.Fatalf("marie's rounds %+v, want {a} then {changed, b}", got)
	}

	stop.Store(true)
	q.Add("marie", func(r *mwi.Round) { r.Changed = true })
	stop.Store(false)
	q.Add("marie", func(r *mwi.Round) { r.Subs["c"] = true })
	wg.Wait()
	if got := sent["marie"]; len(got) != 3 || got[2].Changed || !got[2].Subs["c"] {
		t.Fatalf("after a refused start: rounds %+v, want the refused one dropped", got)
	}
}

// Expiring hands each subscription over as it expires, and wakes up for
// one added meanwhile that expires sooner than it waits.
func TestBookExpiring(t *testing.T) {
	b := mwi.NewBook()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan mwi.Ended, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Expiring(ctx, func(e mwi.Ended) { ended <- e })
	}()
	time.Sleep(10 * time.Millisecond) // asleep for an hour, nothing kept
	s, err := mwi.New(subscribe(t), mwi.Request{Event: mwi.Event, Expires: 50 * time.Millisecond}, "marie", "201", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Add(s)
	select {
	case e := <-ended:
		if e.Key != s.Key || e.Seq != 1 {
			t.Errorf("ended %+v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the subscription did not expire")
	}
	cancel()
	<-done
}
