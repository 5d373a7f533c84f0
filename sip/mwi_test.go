package sip_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/internal/rawsip"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/sip/mwi"
	"github.com/clubline/clubline/softphone"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Message-waiting indication: staff phones subscribe to their mailbox's
// message-summary, authenticated as their REGISTER, and the light follows
// the counts the test's mailbox gives.

// mailbox is the tests' Options.Mailbox: the counts each staff member has.
type mailbox struct {
	mu     sync.Mutex
	counts map[string][2]int // new, urgent
	fail   bool
	block  chan struct{} // non-nil: Mailbox waits for it to close (or its ctx)
}

func (b *mailbox) set(staff string, n, urgent int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts[staff] = [2]int{n, urgent}
}

func (b *mailbox) get(ctx context.Context, staff string) (int, int, error) {
	b.mu.Lock()
	c, fail, block := b.counts[staff], b.fail, b.block
	b.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	if fail {
		return 0, 0, errors.New("store down")
	}
	return c[0], c[1], nil
}

type mwiHarness struct {
	*regHarness
	box *mailbox
}

// newMWIHarness is a registrar's harness with message-waiting indication
// on; server may change the options further (nil: not).
func newMWIHarness(t *testing.T, server func(*sip.Options)) *mwiHarness {
	t.Helper()
	box := &mailbox{counts: make(map[string][2]int)}
	rh := newRegHarnessWith(t, func(o *sip.Options) {
		o.Mailbox = box.get
		if server != nil {
			server(o)
		}
	})
	return &mwiHarness{regHarness: rh, box: box}
}

// staffPhone is a phone of a staff member that registered from its own
// socket on ip.
func (mh *mwiHarness) staffPhone(t *testing.T, ip, ext, password string, contacts ...string) *softphone.Answerer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := softphone.Listen(ctx, softphone.AnswerOptions{User: ext, LocalIP: netip.MustParseAddr(ip), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if _, err := a.Register(ctx, mh.uri, softphone.RegisterOptions{User: ext, Password: password,
		Expires: time.Hour, Contacts: contacts}); err != nil {
		t.Fatalf("%s registers: %v", ext, err)
	}
	return a
}

func (mh *mwiHarness) subscribe(t *testing.T, a *softphone.Answerer, o softphone.SubscribeOptions) (*softphone.Subscription, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Subscribe(ctx, mh.uri, o)
}

func asMarieSub(o softphone.SubscribeOptions) softphone.SubscribeOptions {
	o.User, o.Password = "201", "secret-marie"
	if o.Expires == 0 && !o.NoExpires {
		o.Expires = 10 * time.Minute
	}
	return o
}

// light waits for the next message summary and checks it.
func light(t *testing.T, a *softphone.Answerer, what string, check func(softphone.MessageSummary) bool) softphone.MessageSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case m := <-a.Summaries():
		if !check(m) {
			t.Fatalf("%s: got %+v", what, m)
		}
		return m
	case <-ctx.Done():
		t.Fatalf("%s: no NOTIFY", what)
		return softphone.MessageSummary{}
	}
}

// quiet checks that no message-summary NOTIFY reaches a phone for a while.
func quiet(t *testing.T, a *softphone.Answerer, what string) {
	t.Helper()
	before := a.Notifies()
	time.Sleep(300 * time.Millisecond)
	if n := a.Notifies() - before; n != 0 {
		last, _ := a.LastSummary()
		t.Fatalf("%s: %d NOTIFYs (last %+v), want none", what, n, last)
	}
}

// The light goes on when messages wait and off when they are done; a
// refresh and the end of the subscription each get their NOTIFY.
func TestMWILightOnAndOff(t *testing.T) {
	mh := newMWIHarness(t, nil)
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")
	sub, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{}))
	if err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	if sub.Expires() != 10*time.Minute || headerValue(sub.Response(), "Allow-Events") != "message-summary" {
		t.Errorf("200: Expires %s, Allow-Events %q", sub.Expires(), headerValue(sub.Response(), "Allow-Events"))
	}
	host := strings.TrimPrefix(mh.uri, "sip:")
	host, _, _ = strings.Cut(host, ":")
	light(t, phone, "at once after the SUBSCRIBE", func(m softphone.MessageSummary) bool {
		return m.Body && !m.Waiting && m.New == 0 && m.Account == "sip:201@"+host && !m.Unsolicited &&
			strings.HasPrefix(m.State, "active;expires=")
	})

	mh.box.set("marie", 2, 1)
	mh.srv.MailboxChanged("marie")
	light(t, phone, "a message arrived", func(m softphone.MessageSummary) bool {
		return m.Waiting && m.New == 2 && m.NewUrgent == 1 && m.Old == 0
	})
	mh.srv.MailboxChanged("luc", "nobody")
	quiet(t, phone, "luc's mailbox changed")

	mh.box.set("marie", 0, 0)
	mh.srv.MailboxChanged("marie")
	light(t, phone, "the messages are done", func(m softphone.MessageSummary) bool { return m.Body && !m.Waiting && m.New == 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Refresh(ctx, 2*time.Minute); err != nil || sub.Expires() != 2*time.Minute {
		t.Fatalf("refresh: %v, Expires %s", err, sub.Expires())
	}
	light(t, phone, "after the refresh", func(m softphone.MessageSummary) bool {
		return strings.HasPrefix(m.State, "active;expires=1") && !m.Waiting
	})

	if err := sub.Unsubscribe(ctx); err != nil || sub.Expires() != 0 {
		t.Fatalf("unsubscribe: %v, Expires %s", err, sub.Expires())
	}
	light(t, phone, "unsubscribed", func(m softphone.MessageSummary) bool {
		return m.Terminated() && m.State == "terminated;reason=timeout" && m.Body
	})
	mh.box.set("marie", 1, 0)
	mh.srv.MailboxChanged("marie")
	quiet(t, phone, "after the unsubscribe")

	// A SUBSCRIBE with Expires: 0 fetches the state once.
	if _, err := mh.subscribe(t, phone, softphone.SubscribeOptions{User: "201", Password: "secret-marie", Mailbox: "marie"}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	light(t, phone, "a fetch", func(m softphone.MessageSummary) bool { return m.Terminated() && m.Waiting && m.New == 1 })
}

// Who may subscribe: the staff member, with the password, for their own
// mailbox, to message-summary, for long enough.
func TestMWIRefusals(t *testing.T) {
	mh := newMWIHarness(t, nil)
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")

	rc := newRawClient(t)
	uri := strings.Replace(mh.uri, "sip:", "sip:201@", 1)
	subscribe := func(hs ...sipmsg.Header) *sipmsg.Response {
		return rc.do(t, sipmsg.SUBSCRIBE, uri, append([]sipmsg.Header{sipmsg.NewHeader("Contact", "<sip:201@127.0.0.1>")}, hs...)...)
	}
	res := subscribe(sipmsg.NewHeader("Event", "message-summary"))
	if res.StatusCode != 401 || len(res.GetHeaders("WWW-Authenticate")) == 0 {
		t.Errorf("no credentials: %d, want 401 with a challenge", res.StatusCode)
	}
	res = subscribe(sipmsg.NewHeader("Event", "presence"))
	if res.StatusCode != 489 || headerValue(res, "Allow-Events") != "message-summary" {
		t.Errorf("Event: presence: %d Allow-Events %q, want 489 naming message-summary", res.StatusCode, headerValue(res, "Allow-Events"))
	}
	res = subscribe(sipmsg.NewHeader("Event", "message-summary"), sipmsg.NewHeader("Expires", "30"))
	if res.StatusCode != 423 || headerValue(res, "Min-Expires") != "60" {
		t.Errorf("Expires 30: %d Min-Expires %q, want 423 and 60", res.StatusCode, headerValue(res, "Min-Expires"))
	}
	res = subscribe(sipmsg.NewHeader("Event", "message-summary"), sipmsg.NewHeader("Accept", "application/pidf+xml"))
	if res.StatusCode != 406 {
		t.Errorf("Accept without the summary: %d, want 406", res.StatusCode)
	}
	stranger := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: "201", Host: "127.0.0.1"}, Params: sipmsg.NewParams()}
	stranger.Params.Add("tag", "not-ours")
	res = subscribe(sipmsg.NewHeader("Event", "message-summary"), stranger)
	if res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE in an unknown dialog: %d, want 481", res.StatusCode)
	}
	if allow := headerValue(rc.do(t, sipmsg.OPTIONS, mh.uri), "Allow"); !strings.Contains(allow, "SUBSCRIBE") {
		t.Errorf("Allow %q, want SUBSCRIBE listed", allow)
	}

	for _, c := range []struct {
		name string
		o    softphone.SubscribeOptions
		code int
	}{
		{"wrong password", softphone.SubscribeOptions{User: "201", Password: "wrong"}, 403},
		{"unknown user", softphone.SubscribeOptions{User: "299", Password: "secret-marie"}, 403},
		{"luc's mailbox by extension", asMarieSub(softphone.SubscribeOptions{Mailbox: "202"}), 403},
		{"luc's mailbox by id", asMarieSub(softphone.SubscribeOptions{Mailbox: "luc"}), 403},
		{"another event", asMarieSub(softphone.SubscribeOptions{Event: "dialog"}), 489},
	} {
		if c.o.Expires == 0 {
			c.o.Expires = 10 * time.Minute
		}
		_, err := mh.subscribe(t, phone, c.o)
		wantStatus(t, err, c.code)
	}
	quiet(t, phone, "after refused SUBSCRIBEs")

	// Her mailbox by her staff id is hers.
	if _, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{Mailbox: "marie"})); err != nil {
		t.Fatalf("marie's mailbox by id: %v", err)
	}
	light(t, phone, "subscribed by staff id", func(m softphone.MessageSummary) bool { return !m.Waiting })
}

// NOTIFYs go where the SUBSCRIBE came from, never to the address its
// Contact names; one answered 481 ends the subscription.
func TestMWINotifyToSourceOnly(t *testing.T) {
	mh := newMWIHarness(t, nil)
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")
	victim := rawsip.NewSink(t)
	sub, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{Contact: "<sip:201@" + victim.Addr().String() + ">"}))
	if err != nil {
		t.Fatal(err)
	}
	light(t, phone, "the first NOTIFY, at the SUBSCRIBE's source", func(m softphone.MessageSummary) bool { return !m.Waiting })
	mh.box.set("marie", 1, 0)
	mh.srv.MailboxChanged("marie")
	light(t, phone, "a change, at the source", func(m softphone.MessageSummary) bool { return m.Waiting })
	if reqs := victim.Requests(); len(reqs) != 0 {
		t.Fatalf("the Contact's address received %q, want nothing", reqs)
	}

	sub.Forget()
	before := phone.Notifies()
	mh.srv.MailboxChanged("marie")
	eventually(t, 3*time.Second, "the NOTIFY the phone answers 481", func() bool { return phone.Notifies() == before+1 })
	mh.srv.MailboxChanged("marie")
	quiet(t, phone, "after a 481")
}

// Phones configured for it get an unsolicited NOTIFY at each registered
// contact, sent where the REGISTER came from; nobody else gets one, and
// a phone that subscribed hears it in its dialog only.
func TestMWIUnsolicited(t *testing.T) {
	mh := newMWIHarness(t, func(o *sip.Options) {
		o.UnsolicitedMWI = func(staff string) bool { return staff == "luc" }
	})
	elsewhere := rawsip.NewSink(t)
	luc := mh.staffPhone(t, "127.0.0.1", "202", "secret-luc", "<sip:202@"+elsewhere.Addr().String()+">")
	marie := mh.staffPhone(t, "127.0.0.2", "201", "secret-marie")

	mh.box.set("luc", 3, 0)
	mh.box.set("marie", 3, 0)
	mh.srv.MailboxChanged("luc", "marie")
	m := light(t, luc, "luc's unsolicited NOTIFY", func(m softphone.MessageSummary) bool {
		return m.Unsolicited && m.Waiting && m.New == 3 && strings.HasPrefix(m.Account, "sip:202@")
	})
	if m.State != "active" {
		t.Errorf("Subscription-State %q, want active", m.State)
	}
	quiet(t, marie, "marie is not configured for unsolicited NOTIFYs")
	if reqs := elsewhere.Requests(); len(reqs) != 0 {
		t.Fatalf("the address luc's Contact names received %q, want nothing", reqs)
	}

	// luc's phone subscribes too: from then on it hears each change once,
	// in its dialog.
	if _, err := mh.subscribe(t, luc, softphone.SubscribeOptions{User: "202", Password: "secret-luc", Expires: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	light(t, luc, "luc's subscription", func(m softphone.MessageSummary) bool { return !m.Unsolicited && m.Waiting })
	mh.box.set("luc", 0, 0)
	mh.srv.MailboxChanged("luc")
	light(t, luc, "the change, in the dialog", func(m softphone.MessageSummary) bool { return !m.Unsolicited && !m.Waiting })
	quiet(t, luc, "no unsolicited copy")
}

// A subscription that is not refreshed expires with a last NOTIFY.
func TestMWIExpiry(t *testing.T) {
	mh := newMWIHarness(t, func(o *sip.Options) { o.MWIExpires = mwi.Expiry{Min: time.Second} })
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")
	sub, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{Expires: time.Second}))
	if err != nil || sub.Expires() != time.Second {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	light(t, phone, "subscribed", func(m softphone.MessageSummary) bool { return m.State == "active;expires=1" })
	start := time.Now()
	light(t, phone, "expired", func(m softphone.MessageSummary) bool { return m.State == "terminated;reason=timeout" })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the last NOTIFY came %s after the first, want about 1s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wantStatus(t, sub.Refresh(ctx, time.Minute), 481)
}

// MailboxChanged never waits for the mailbox; one that fails leaves the
// lights as they are, and a new subscription then gets a NOTIFY without
// counts.
func TestMWIMailboxSlowOrDown(t *testing.T) {
	mh := newMWIHarness(t, nil)
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")
	if _, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{})); err != nil {
		t.Fatal(err)
	}
	light(t, phone, "subscribed", func(m softphone.MessageSummary) bool { return !m.Waiting })

	block := make(chan struct{})
	mh.box.mu.Lock()
	mh.box.block = block
	mh.box.mu.Unlock()
	mh.box.set("marie", 1, 0)
	start := time.Now()
	for range 100 {
		mh.srv.MailboxChanged("marie")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("100 MailboxChanged with the mailbox stuck took %s", d)
	}
	close(block)
	light(t, phone, "the change, once the mailbox answers", func(m softphone.MessageSummary) bool { return m.Waiting })
	// The 99 others come as one more round at most.
	time.Sleep(300 * time.Millisecond)
	if n := len(phone.Summaries()); n > 1 {
		t.Errorf("%d more NOTIFYs for 99 changes during one round, want 1 at most", n)
	}
	for len(phone.Summaries()) > 0 {
		<-phone.Summaries()
	}

	mh.box.mu.Lock()
	mh.box.block, mh.box.fail = nil, true
	mh.box.mu.Unlock()
	mh.srv.MailboxChanged("marie")
	quiet(t, phone, "the mailbox is down")
	if _, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{})); err != nil {
		t.Fatal(err)
	}
	light(t, phone, "a new subscription while the mailbox is down", func(m softphone.MessageSummary) bool { return !m.Body })
}

// With a trunk or allow_from, the toll-fraud gate lets a registered
// staff phone subscribe and refuses a stranger without a challenge, even
// one who knows a password.
func TestMWIGate(t *testing.T) {
	mh := newMWIHarness(t, func(o *sip.Options) { o.AllowFrom = []string{"192.0.2.0/24"} })
	phone := mh.staffPhone(t, "127.0.0.1", "201", "secret-marie")
	if _, err := mh.subscribe(t, phone, asMarieSub(softphone.SubscribeOptions{})); err != nil {
		t.Fatalf("a registered staff phone: %v", err)
	}
	light(t, phone, "subscribed through the gate", func(m softphone.MessageSummary) bool { return !m.Waiting })

	res := newRawClientFrom(t, "127.0.0.2").do(t, sipmsg.SUBSCRIBE, strings.Replace(mh.uri, "sip:", "sip:201@", 1),
		sipmsg.NewHeader("Event", "message-summary"), sipmsg.NewHeader("Contact", "<sip:201@127.0.0.2>"))
	if res.StatusCode != 403 || len(res.GetHeaders("WWW-Authenticate")) != 0 {
		t.Errorf("a stranger: %d with %d challenges, want 403 and none", res.StatusCode, len(res.GetHeaders("WWW-Authenticate")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unregistered, err := softphone.Listen(ctx, softphone.AnswerOptions{User: "202", LocalIP: netip.MustParseAddr("127.0.0.3"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer unregistered.Close()
	_, err = unregistered.Subscribe(ctx, mh.uri, softphone.SubscribeOptions{User: "202", Password: "secret-luc", Expires: 10 * time.Minute})
	wantStatus(t, err, 403)
}
