package trunk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// provider is a registrar in memory: it challenges, checks the digest
// answer as a real one does, and remembers what it was sent.
type provider struct {
	mu       sync.Mutex
	password string
	algs     []string // challenge algorithms offered
	qop      bool
	down     bool                     // no answer at all
	seen     netip.AddrPort           // the address it "sees" clubline at (NAT); zero: the Via's
	staleFor int                      // the next n good answers get a stale challenge
	nonces   int                      // nonces issued
	regs     []*sipmsg.Request        // every REGISTER received
	contacts map[string]time.Duration // registered contact → expires
	pings    int
}

func newProvider(password string) *provider {
	return &provider{password: password, algs: []string{sipx.DigestMD5}, qop: true, contacts: map[string]time.Duration{}}
}

const realm = "voip.example"

func (p *provider) Local(transport string, dest netip.AddrPort) (netip.AddrPort, bool, error) {
	return netip.MustParseAddrPort("192.168.1.20:5060"), false, nil
}

func (p *provider) Do(ctx context.Context, req *sipmsg.Request, transport string, dest netip.AddrPort) (*sipmsg.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return nil, errors.New("transaction timed out")
	}
	res := p.answer(req)
	if p.seen.IsValid() {
		via := res.Via()
		via.Params.Add("received", p.seen.Addr().String())
		via.Params.Add("rport", fmt.Sprint(p.seen.Port()))
	}
	return res, nil
}

func (p *provider) answer(req *sipmsg.Request) *sipmsg.Response {
	if req.Method == sipmsg.OPTIONS {
		p.pings++
		return sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	}
	p.regs = append(p.regs, req)
	h := req.GetHeader("Authorization")
	if h == nil {
		return p.challenge(req, false)
	}
	_, rest, _ := strings.Cut(h.Value(), " ")
	a, err := sipx.ParseAuthParams(rest)
	if err != nil {
		return sipmsg.NewResponseFromRequest(req, 400, "Bad Request", nil)
	}
	alg := a["algorithm"]
	if alg == "" {
		alg = sipx.DigestMD5
	}
	ha1 := sipx.HA1(alg, a["username"], a["realm"], p.password)
	want := sipx.DigestResponse(alg, ha1, a["nonce"], a["nc"], a["cnonce"], a["qop"], string(req.Method), a["uri"])
	if want != a["response"] || a["uri"] != req.Recipient.String() {
		return p.challenge(req, false) // a wrong answer gets a fresh challenge, as Kamailio does
	}
	if p.staleFor > 0 {
		p.staleFor--
		return p.challenge(req, true)
	}
	exp := 300
	if e := req.GetHeader("Expires"); e != nil {
		fmt.Sscan(e.Value(), &exp)
	}
	// Each Contact with its own expires, else the Expires header's (RFC
	// 3261 §10.3), as a registrar does.
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	for _, h := range req.GetHeaders("Contact") {
		ch, ok := h.(*sipmsg.ContactHeader)
		if !ok {
			continue
		}
		c, e := ch.Address.String(), exp
		if v, ok := ch.Params.Get("expires"); ok {
			fmt.Sscan(v, &e)
		}
		if e == 0 {
			delete(p.contacts, c)
			continue
		}
		p.contacts[c] = time.Duration(e) * time.Second
		res.AppendHeader(sipmsg.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", c, e)))
	}
	return res
}

func (p *provider) challenge(req *sipmsg.Request, stale bool) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, alg := range p.algs {
		p.nonces++
		v := fmt.Sprintf(`Digest realm="%s", nonce="n%d", algorithm=%s`, realm, p.nonces, alg)
		if p.qop {
			v += `, qop="auth"`
		}
		if stale {
			v += ", stale=true"
		}
		res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", v))
	}
	return res
}

func (p *provider) registers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

func (p *provider) lastAuth() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.regs) - 1; i >= 0; i-- {
		if h := p.regs[i].GetHeader("Authorization"); h != nil {
			return h.Value()
		}
	}
	return ""
}

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func testTrunk(t *testing.T, password string) *Trunk {
	t.Helper()
	tr, err := New(Account{Name: "voipms", Registrar: "sip:192.0.2.10", Username: "123456_club", Password: password,
		Numbers: []string{"+14505550100"}, KeepAlive: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// run starts Run and returns a channel of its state changes and a stop
// function that waits for it to return.
func run(t *testing.T, tr *Trunk, p *provider, tm Timing) (<-chan State, func()) {
	t.Helper()
	states := make(chan State, 100)
	tr.OnChange(func(s State) { states <- s })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, p, nil, tm, nil)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return states, stop
}

func waitState(t *testing.T, states <-chan State, registered bool) State {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-states:
			if s.Registered == registered {
				return s
			}
		case <-deadline:
			t.Fatalf("trunk never became registered=%v", registered)
		}
	}
}

func TestRegistersWithDigest(t *testing.T) {
	p := newProvider("s3cret")
	tr := testTrunk(t, "s3cret")
	states, stop := run(t, tr, p, Timing{})
	s := waitState(t, states, true)
	if s.Contact != "sip:123456_club@192.168.1.20:5060" {
		t.Errorf("contact %q", s.Contact)
	}
	if got := p.registers(); got != 2 {
		t.Errorf("%d REGISTERs; want 2 (challenged, then answered)", got)
	}
	if a := p.lastAuth(); !strings.Contains(a, "qop=auth") || !strings.Contains(a, "nc=00000001") || strings.Contains(a, "s3cret") {
		t.Errorf("Authorization %q: want qop=auth, nc=00000001 and no password", a)
	}
	stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.contacts) != 0 {
		t.Errorf("after shutdown the provider still has %v: want the contact removed", p.contacts)
	}
	if st := tr.State(); st.Registered {
		t.Errorf("state after shutdown: %+v", st)
	}
}

func TestPrefersSHA256(t *testing.T) {
	p := newProvider("pw")
	p.algs = []string{sipx.DigestMD5, sipx.DigestSHA256, "SHA-512-256"}
	states, _ := run(t, testTrunk(t, "pw"), p, Timing{})
	waitState(t, states, true)
	if a := p.lastAuth(); !strings.Contains(a, "algorithm=SHA-256") {
		t.Errorf("Authorization %q: want SHA-256, the strongest offered that clubline computes", a)
	}
}

func TestNoQopAndStaleNonce(t *testing.T) {
	p := newProvider("pw")
	p.qop = false
	p.staleFor = 1
	states, _ := run(t, testTrunk(t, "pw"), p, Timing{})
	waitState(t, states, true)
	if got := p.registers(); got != 3 {
		t.Errorf("%d REGISTERs; want 3 (challenge, stale challenge, accepted)", got)
	}
	if a := p.lastAuth(); strings.Contains(a, "qop") {
		t.Errorf("Authorization %q: no qop was offered (RFC 2069 answer expected)", a)
	}
}

// A wrong password is not a REGISTER storm: one answer per challenge,
// then the backoff.
func TestWrongPasswordBacksOff(t *testing.T) {
	p := newProvider("right")
	tr := testTrunk(t, "wrong")
	states, stop := run(t, tr, p, Timing{RetryMin: 200 * time.Millisecond, RetryMax: time.Second})
	s := waitState(t, states, false)
	if !strings.Contains(s.Reason, "refused") && !strings.Contains(s.Reason, "password") {
		t.Errorf("reason %q: want it to say the password was refused", s.Reason)
	}
	time.Sleep(time.Second)
	stop()
	// 0 s, ~0.2 s, ~0.6 s: three attempts of two REGISTERs each, maybe a
	// fourth; never dozens.
	if n := p.registers(); n < 4 || n > 8 {
		t.Errorf("%d REGISTERs in 1 s with a wrong password; want 4 to 8 (backoff 0.2 s doubling)", n)
	}
}

// The provider down, then back: not registered, retried with backoff,
// and registered again as soon as a keep-alive is answered.
func TestProviderDownThenBack(t *testing.T) {
	p := newProvider("pw")
	p.down = true
	tr := testTrunk(t, "pw")
	states, _ := run(t, tr, p, Timing{RetryMin: time.Hour, RetryMax: time.Hour})
	s := waitState(t, states, false)
	if !strings.Contains(s.Reason, "did not answer") {
		t.Errorf("reason %q", s.Reason)
	}
	time.Sleep(100 * time.Millisecond)
	p.set(func(p *provider) { p.down = false })
	start := time.Now()
	waitState(t, states, true)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("registered %v after the provider came back; want within a keep-alive or two, not the 1 h backoff", d)
	}
}

// Behind NAT the provider sees another address; clubline registers that
// one, and again when it changes.
func TestLearnsPublicAddress(t *testing.T) {
	p := newProvider("pw")
	p.seen = netip.MustParseAddrPort("203.0.113.5:40001")
	tr := testTrunk(t, "pw")
	states, _ := run(t, tr, p, Timing{})
	s := waitState(t, states, true)
	if s.Contact != "sip:123456_club@203.0.113.5:40001" {
		t.Fatalf("contact %q; want the address the provider sees", s.Contact)
	}
	n := p.registers()
	p.set(func(p *provider) { p.seen = netip.MustParseAddrPort("203.0.113.9:40777") })
	deadline := time.Now().Add(3 * time.Second)
	for {
		p.mu.Lock()
		_, ok := p.contacts["sip:123456_club@203.0.113.9:40777"]
		p.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new public address was never registered (%d REGISTERs since)", p.registers()-n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One contact at the provider: the old one removed in the same
	// REGISTER, else the provider would ring both.
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.contacts) != 1 {
		t.Errorf("the provider has %v; want the new contact alone", p.contacts)
	}
}

func TestDialString(t *testing.T) {
	for _, tc := range []struct{ format, cc, in, want string }{
		{FormatE164, "1", "+15145550199", "+15145550199"},
		{FormatNational, "1", "+15145550199", "15145550199"},
		{FormatLocal, "1", "+15145550199", "5145550199"},
		{FormatLocal, "33", "+33123456789", "123456789"},
		{FormatLocal, "1", "+33123456789", "33123456789"},
	} {
		tr, err := New(Account{Name: "t", OutboundProxy: "192.0.2.1", Numbers: []string{"+14505550100"}, DialFormat: tc.format, CountryCode: tc.cc})
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.DialString(tc.in); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.format, tc.in, got, tc.want)
		}
	}
}

func TestCalled(t *testing.T) {
	tr, err := New(Account{Name: "t", Registrar: "sip:voip.example", Username: "123456_club",
		Numbers: []string{"+14505550100", "+14505550111"}})
	if err != nil {
		t.Fatal(err)
	}
	invite := func(ruri, to string, hs ...string) *sipmsg.Request {
		var u sipmsg.Uri
		if err := sipmsg.ParseUri(ruri, &u); err != nil {
			t.Fatal(err)
		}
		req := sipmsg.NewRequest(sipmsg.INVITE, u)
		var tu sipmsg.Uri
		if err := sipmsg.ParseUri(to, &tu); err != nil {
			t.Fatal(err)
		}
		req.AppendHeader(&sipmsg.ToHeader{Address: tu, Params: sipmsg.NewParams()})
		for i := 0; i+1 < len(hs); i += 2 {
			req.AppendHeader(sipmsg.NewHeader(hs[i], hs[i+1]))
		}
		return req
	}
	for _, tc := range []struct {
		name string
		req  *sipmsg.Request
		want string
	}{
		{"To", invite("sip:123456_club@192.0.2.7:5060", "sip:14505550111@voip.example"), "+14505550111"},
		{"P-Called-Party-ID", invite("sip:123456_club@192.0.2.7", "sip:123456_club@voip.example",
			"P-Called-Party-ID", "<sip:+14505550111@voip.example>"), "+14505550111"},
		{"Diversion", invite("sip:123456_club@192.0.2.7", "sip:123456_club@voip.example",
			"Diversion", `"Club" <sip:4505550111@voip.example>;reason=unconditional`), "+14505550111"},
		{"request-URI", invite("sip:+14505550100@203.0.113.5", "sip:anything@voip.example"), "+14505550100"},
		{"tel Diversion", invite("sip:x@192.0.2.7", "sip:x@voip.example", "Diversion", "<tel:+14505550100>;reason=user-busy"), "+14505550100"},
	} {
		got, ok := tr.Called(tc.req)
		if !ok || got != tc.want {
			t.Errorf("%s: %q %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	if got, ok := tr.Called(invite("sip:123456_club@192.0.2.7", "sip:15145550199@voip.example")); ok {
		t.Errorf("a number not the trunk's (two numbers): %q, want none", got)
	}
}

func TestChannelsAndMinutes(t *testing.T) {
	tr, err := New(Account{Name: "t", OutboundProxy: "192.0.2.1", Numbers: []string{"+14505550100"},
		MaxChannels: 2, MaxOutboundPerHour: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	in, err := tr.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	out, err := tr.AcquireOutbound(now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Acquire(); !errors.Is(err, ErrChannels) {
		t.Errorf("third channel of two: %v, want ErrChannels", err)
	}
	in()
	in() // twice is once
	if tr.InUse() != 1 {
		t.Errorf("in use %d, want 1", tr.InUse())
	}
	if _, err := tr.AcquireOutbound(now.Add(11 * time.Minute)); !errors.Is(err, ErrMinutes) {
		t.Errorf("an 11-minute call up, 10 allowed: %v, want ErrMinutes", err)
	}
	out()
	if used := tr.OutboundUsed(time.Now()); used > time.Second {
		t.Errorf("used %v after a call of an instant", used)
	}
}

// A registered trunk whose provider stops answering its keep-alives is
// not registered any more (calls cannot reach it), and registers again as
// soon as the provider answers.
func TestKeepAliveNoticesLoss(t *testing.T) {
	p := newProvider("pw")
	tr := testTrunk(t, "pw")
	states, _ := run(t, tr, p, Timing{RetryMin: time.Hour, RetryMax: time.Hour})
	waitState(t, states, true)
	p.set(func(p *provider) { p.down = true })
	s := waitState(t, states, false)
	if !strings.Contains(s.Reason, "keep-alive") {
		t.Errorf("reason %q: want it to say keep-alives go unanswered", s.Reason)
	}
	p.set(func(p *provider) { p.down = false })
	waitState(t, states, true)
}
