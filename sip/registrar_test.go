package sip_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/sip/registrar"
	"github.com/clubline/clubline/softphone"
	sipmsg "github.com/emiago/sipgo/sip"
)

const regRealm = "clubline-test"

// regStore keeps registrations in memory; down makes every call fail, and
// freeze makes every call hang until thaw or its deadline (a Redis under
// SIGSTOP). Only the registration methods are implemented.
type regStore struct {
	clubline.Store
	mu     sync.Mutex
	regs   map[string]*clubline.Registration
	down   atomic.Bool
	frozen atomic.Pointer[chan struct{}]
	saves  atomic.Int32
}

func (s *regStore) freeze() {
	ch := make(chan struct{})
	s.frozen.Store(&ch)
}

func (s *regStore) thaw() {
	if ch := s.frozen.Swap(nil); ch != nil {
		close(*ch)
	}
}

// wait blocks while the store is frozen; it returns the context's error
// when the deadline comes first.
func (s *regStore) wait(ctx context.Context) error {
	ch := s.frozen.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errDown = errors.New("store down")

func newRegStore() *regStore { return &regStore{regs: make(map[string]*clubline.Registration)} }

func (s *regStore) SaveRegistration(ctx context.Context, r *clubline.Registration) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	if s.down.Load() {
		return errDown
	}
	s.saves.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *r
	s.regs[r.StaffID+"\x00"+r.Contact] = &c
	return nil
}

func (s *regStore) DeleteRegistration(ctx context.Context, staffID, contact string) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	if s.down.Load() {
		return errDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := staffID + "\x00" + contact
	if _, ok := s.regs[k]; !ok {
		return clubline.ErrNotFound
	}
	delete(s.regs, k)
	return nil
}

func (s *regStore) Registrations(ctx context.Context, staffID string, now time.Time) ([]*clubline.Registration, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	if s.down.Load() {
		return nil, errDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*clubline.Registration
	for _, r := range s.regs {
		if (staffID == "" || r.StaffID == staffID) && r.Live(now) {
			c := *r
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].StaffID+"\x00"+out[i].Contact < out[j].StaffID+"\x00"+out[j].Contact
	})
	return out, nil
}

func (s *regStore) all(t *testing.T, now time.Time) []*clubline.Registration {
	t.Helper()
	s.mu.Lock()
	down := s.down.Swap(false)
	s.mu.Unlock()
	defer s.down.Store(down)
	regs, _ := s.Registrations(context.Background(), "", now)
	return regs
}

// fakeClock is the registrar's clock; tests move it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type regHarness struct {
	*harness
	reg     *registrar.Registrar
	store   *regStore
	clock   *fakeClock
	uri     string // sip:127.0.0.1:port of the UDP listener
	changes atomic.Int32
}

var testStaff = []struct{ id, ext, password string }{
	{"marie", "201", "secret-marie"},
	{"luc", "202", "secret-luc"},
}

func newRegHarness(t *testing.T, mutate ...func(*registrar.Options)) *regHarness {
	t.Helper()
	return newRegHarnessWith(t, nil, mutate...)
}

// newRegHarnessWith is newRegHarness with the server's options changed
// by server too (nil: not).
func newRegHarnessWith(t *testing.T, server func(*sip.Options), mutate ...func(*registrar.Options)) *regHarness {
	t.Helper()
	rh := &regHarness{store: newRegStore(), clock: newFakeClock()}
	ro := &registrar.Options{Realm: regRealm, Store: rh.store, Now: rh.clock.Now,
		OnChange: func() { rh.changes.Add(1) }}
	for _, s := range testStaff {
		ro.Staff = append(ro.Staff, registrar.Staff{ID: s.id, Extension: s.ext, Credential: registrar.Credential{
			User:      s.ext,
			HA1MD5:    registrar.HA1(registrar.AlgorithmMD5, s.ext, regRealm, s.password),
			HA1SHA256: registrar.HA1(registrar.AlgorithmSHA256, s.ext, regRealm, s.password),
		}})
	}
	for _, m := range mutate {
		m(ro)
	}
	if ro.Logger == nil {
		ro.Logger = testLogger(t)
	}
	reg, err := registrar.New(*ro)
	if err != nil {
		t.Fatal(err)
	}
	rh.reg = reg
	rh.harness = newHarness(t, func(ctx context.Context, _ ivr.Inbound) { <-ctx.Done() },
		func(o *sip.Options) {
			o.Registrar = reg
			if server != nil {
				server(o)
			}
		})
	for _, a := range rh.srv.Addrs() {
		if hp, ok := strings.CutPrefix(a, "udp://"); ok {
			rh.uri = "sip:" + hp
		}
	}
	return rh
}

// bound is what the registrar holds: the phones it would ring.
func (rh *regHarness) bound() []*clubline.Registration { return rh.reg.Bindings("") }

func (rh *regHarness) register(t *testing.T, o softphone.RegisterOptions) (*softphone.Registration, error) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return softphone.Register(ctx, rh.uri, o)
}

func (rh *regHarness) mustRegister(t *testing.T, o softphone.RegisterOptions) *softphone.Registration {
	t.Helper()
	reg, err := rh.register(t, o)
	if err != nil {
		t.Fatalf("Register %s: %v", o.User, err)
	}
	return reg
}

func wantStatus(t *testing.T, err error, code int) *softphone.StatusError {
	t.Helper()
	var se *softphone.StatusError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("got %v, want %d", err, code)
	}
	return se
}

func asMarie(o softphone.RegisterOptions) softphone.RegisterOptions {
	o.User, o.Password = "201", "secret-marie"
	if o.Expires == 0 && !o.NoExpires {
		o.Expires = time.Hour
	}
	return o
}

func TestRegisterDigestAlgorithms(t *testing.T) {
	rh := newRegHarness(t)
	for _, alg := range []string{registrar.AlgorithmSHA256, registrar.AlgorithmMD5} {
		reg := rh.mustRegister(t, asMarie(softphone.RegisterOptions{Algorithm: alg, Contacts: []string{"<sip:201@10.0.0.9:5070>"}}))
		if len(reg.Bindings) != 1 || reg.Bindings[0].Contact != "sip:201@10.0.0.9:5070" || reg.Bindings[0].Expires != time.Hour {
			t.Errorf("%s: bindings %+v", alg, reg.Bindings)
		}
	}
	// The AOR may be the staff id.
	rh.mustRegister(t, softphone.RegisterOptions{User: "202", Password: "secret-luc", AOR: "luc", Expires: time.Hour})
	regs := rh.bound()
	if len(regs) != 2 || regs[0].StaffID != "luc" || regs[1].StaffID != "marie" {
		t.Fatalf("store: %+v", regs)
	}
	if rh.changes.Load() == 0 {
		t.Error("OnChange never called")
	}
}

func TestRegisterRefusals(t *testing.T) {
	rh := newRegHarness(t)
	_, err := rh.register(t, softphone.RegisterOptions{User: "201", Password: "wrong", Expires: time.Hour})
	wantStatus(t, err, 403)
	_, err = rh.register(t, softphone.RegisterOptions{User: "299", Password: "secret-marie", Expires: time.Hour})
	wantStatus(t, err, 403)
	// Authenticated as 201, registering 202: refused.
	_, err = rh.register(t, asMarie(softphone.RegisterOptions{AOR: "202"}))
	wantStatus(t, err, 403)
	if regs := rh.bound(); len(regs) != 0 {
		t.Fatalf("refused REGISTERs stored %+v", regs)
	}
}

// rawRegister sends a REGISTER for 201 with the given Authorization (none
// if empty) from a raw client.
func rawRegister(t *testing.T, rc *rawClient, uri, authz string) *sipmsg.Response {
	t.Helper()
	hs := []sipmsg.Header{
		sipmsg.NewHeader("Contact", fmt.Sprintf("<sip:201@127.0.0.1:%d>", rc.port)),
		sipmsg.NewHeader("Expires", "3600"),
	}
	if authz != "" {
		hs = append(hs, sipmsg.NewHeader("Authorization", authz))
	}
	return rc.do(t, sipmsg.REGISTER, uri, hs...)
}

func regNonce(t *testing.T, v string) string {
	t.Helper()
	_, rest, _ := strings.Cut(v, `nonce="`)
	nonce, _, ok := strings.Cut(rest, `"`)
	if !ok {
		t.Fatalf("no nonce in %q", v)
	}
	return nonce
}

func TestRegisterChallengeAndStale(t *testing.T) {
	rh := newRegHarness(t)
	rc := newRawClient(t)
	uri := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	res := rawRegister(t, rc, uri, "")
	if res.StatusCode != 401 {
		t.Fatalf("no credentials: %d, want 401", res.StatusCode)
	}
	chs := res.GetHeaders("WWW-Authenticate")
	if len(chs) != 2 || !strings.Contains(chs[0].Value(), "algorithm=SHA-256") || !strings.Contains(chs[1].Value(), "algorithm=MD5") {
		t.Fatalf("challenges: %v", chs)
	}
	nonce := regNonce(t, chs[1].Value())
	rh.clock.Advance(registrar.NonceLifetime + time.Minute)
	ha1 := registrar.HA1(registrar.AlgorithmMD5, "201", regRealm, "secret-marie")
	resp := registrar.DigestResponse(registrar.AlgorithmMD5, ha1, nonce, "00000001", "abc", "auth", "REGISTER", uri)
	authz := fmt.Sprintf(`Digest username="201", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"`,
		regRealm, nonce, uri, resp)
	res = rawRegister(t, rc, uri, authz)
	if res.StatusCode != 401 || !strings.Contains(headerValue(res, "WWW-Authenticate"), "stale=true") {
		t.Fatalf("stale nonce: %d %q, want 401 stale=true", res.StatusCode, headerValue(res, "WWW-Authenticate"))
	}
	res = rawRegister(t, rc, uri, `Digest username="201", realm=`)
	if res.StatusCode != 400 {
		t.Fatalf("malformed: %d, want 400", res.StatusCode)
	}
	if regs := rh.bound(); len(regs) != 0 {
		t.Fatalf("stored %+v", regs)
	}
}

func TestRegisterContacts(t *testing.T) {
	rh := newRegHarness(t)
	desk, mobile := "<sip:201@10.0.0.5:5062>", "<sip:201@10.0.0.6:5064>;expires=600"
	reg := rh.mustRegister(t, asMarie(softphone.RegisterOptions{Contacts: []string{desk, mobile}}))
	if len(reg.Bindings) != 2 {
		t.Fatalf("two contacts: bindings %+v", reg.Bindings)
	}
	for _, r := range rh.bound() {
		// NAT: the phone says 10.0.0.x, it sends from 127.0.0.1.
		if !strings.HasPrefix(r.Received, "udp:127.0.0.1:") {
			t.Errorf("Received %q, want the source udp:127.0.0.1:port", r.Received)
		}
	}

	// Refresh with the same Call-ID and a higher CSeq.
	rh.clock.Advance(5 * time.Minute)
	reg = rh.mustRegister(t, asMarie(softphone.RegisterOptions{Contacts: []string{desk}, CallID: reg.CallID, CSeq: reg.CSeq + 1}))
	if len(reg.Bindings) != 2 || reg.Bindings[0].Expires != time.Hour {
		t.Fatalf("refresh: bindings %+v", reg.Bindings)
	}
	// Out of order: a lower CSeq for the same Call-ID.
	_, err := rh.register(t, asMarie(softphone.RegisterOptions{Contacts: []string{desk}, CallID: reg.CallID, CSeq: 1}))
	wantStatus(t, err, 500)

	// The mobile's 600 s are over: only the desk is left.
	rh.clock.Advance(6 * time.Minute)
	reg = rh.mustRegister(t, asMarie(softphone.RegisterOptions{NoContact: true, NoExpires: true}))
	if len(reg.Bindings) != 1 || reg.Bindings[0].Contact != "sip:201@10.0.0.5:5062" {
		t.Fatalf("query after expiry: bindings %+v", reg.Bindings)
	}

	// Expires 0 removes that contact.
	rh.mustRegister(t, asMarie(softphone.RegisterOptions{Contacts: []string{mobile}}))
	reg = rh.mustRegister(t, softphone.RegisterOptions{User: "201", Password: "secret-marie", Contacts: []string{desk}})
	if len(reg.Bindings) != 1 || !strings.Contains(reg.Bindings[0].Contact, "10.0.0.6") {
		t.Fatalf("Expires 0: bindings %+v", reg.Bindings)
	}
	// * with Expires 0 removes all.
	reg = rh.mustRegister(t, softphone.RegisterOptions{User: "201", Password: "secret-marie", Contacts: []string{"*"}})
	if len(reg.Bindings) != 0 || len(rh.bound()) != 0 {
		t.Fatalf("*: bindings %+v", reg.Bindings)
	}
	// * with a non-zero Expires is malformed.
	_, err = rh.register(t, asMarie(softphone.RegisterOptions{Contacts: []string{"*"}}))
	wantStatus(t, err, 400)
}

func TestRegisterExpiresBounds(t *testing.T) {
	rh := newRegHarness(t)
	_, err := rh.register(t, asMarie(softphone.RegisterOptions{Expires: 30 * time.Second}))
	se := wantStatus(t, err, 423)
	if se.Header("Min-Expires") != "60" {
		t.Errorf("Min-Expires %q, want 60", se.Header("Min-Expires"))
	}
	if regs := rh.bound(); len(regs) != 0 {
		t.Fatalf("423 stored %+v", regs)
	}
	reg := rh.mustRegister(t, asMarie(softphone.RegisterOptions{Expires: 24 * time.Hour}))
	if len(reg.Bindings) != 1 || reg.Bindings[0].Expires != time.Hour {
		t.Fatalf("above max: bindings %+v, want 3600s", reg.Bindings)
	}
	reg = rh.mustRegister(t, softphone.RegisterOptions{User: "202", Password: "secret-luc", NoExpires: true})
	if len(reg.Bindings) != 1 || reg.Bindings[0].Expires != time.Hour {
		t.Fatalf("no Expires: bindings %+v, want the default 3600s", reg.Bindings)
	}
}

// A frozen store (Redis under SIGSTOP) changes nothing for a phone that
// registers: it is answered at once, rung at once, and the store gets the
// binding when it wakes up (issue 7, finding 12: REGISTER got 500 after
// 5 s, and callers went to voicemail).
func TestRegisterStoreFrozen(t *testing.T) {
	rh := newRegHarness(t)
	rh.store.freeze()
	defer rh.store.thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // below the store's 5 s timeout
	defer cancel()
	reg, err := softphone.Register(ctx, rh.uri, asMarie(softphone.RegisterOptions{Logger: testLogger(t)}))
	if err != nil {
		t.Fatalf("REGISTER with the store frozen: %v, want 200 at once", err)
	}
	if len(reg.Bindings) != 1 {
		t.Fatalf("200 lists %+v, want the one contact", reg.Bindings)
	}
	where, err := rh.reg.Where(ctx, []string{"marie", "luc"})
	if err != nil || len(where["marie"]) != 1 || len(where["luc"]) != 0 {
		t.Fatalf("Where with the store frozen: %+v, %v; want marie's phone only", where, err)
	}
	if got := where["marie"][0]; !strings.Contains(reg.Bindings[0].Contact, got.URI) || !strings.HasPrefix(got.Destination, "udp:127.0.0.1:") {
		t.Errorf("marie is rung at %+v, want %s from where she registered", got, reg.Bindings[0].Contact)
	}
	if n := rh.store.saves.Load(); n != 0 {
		t.Fatalf("%d saves went through a frozen store", n)
	}
	rh.store.thaw()
	eventually(t, 3*time.Second, "the binding written once the store is back", func() bool {
		return len(rh.store.all(t, rh.clock.Now())) == 1
	})
}

// A store that refuses writes does not make a phone unreachable either:
// the binding is retried until the store takes it, and an unregister
// meanwhile wins over the earlier save.
func TestRegisterStoreDown(t *testing.T) {
	rh := newRegHarness(t)
	rh.store.down.Store(true)
	rh.mustRegister(t, asMarie(softphone.RegisterOptions{}))
	rh.mustRegister(t, softphone.RegisterOptions{User: "202", Password: "secret-luc", Expires: time.Hour})
	if got := len(rh.bound()); got != 2 {
		t.Fatalf("the registrar rings %d phones, want 2", got)
	}
	if _, err := rh.register(t, softphone.RegisterOptions{User: "202", Password: "secret-luc", Contacts: []string{"*"}}); err != nil {
		t.Fatalf("luc unregistering with the store down: %v", err)
	}
	rh.store.down.Store(false)
	eventually(t, 5*time.Second, "only marie's binding in the store once it is back", func() bool {
		regs := rh.store.all(t, rh.clock.Now())
		return len(regs) == 1 && regs[0].StaffID == "marie"
	})
}

// After a restart the registrar remembers the phones registered before
// it, from the store.
func TestRegisterRestored(t *testing.T) {
	rh := newRegHarness(t)
	rh.mustRegister(t, asMarie(softphone.RegisterOptions{}))
	eventually(t, 3*time.Second, "the binding in the store", func() bool { return len(rh.store.all(t, rh.clock.Now())) == 1 })
	again, err := registrar.New(registrar.Options{Realm: regRealm, Store: rh.store, Now: rh.clock.Now, Logger: testLogger(t),
		Staff: []registrar.Staff{{ID: "marie", Extension: "201"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := again.Bindings("marie"); len(got) != 1 {
		t.Fatalf("restored %+v, want marie's phone", got)
	}
}

func TestRegisterFlood(t *testing.T) {
	rh := newRegHarness(t, func(o *registrar.Options) { o.RegisterBurst = 5 })
	rc := newRawClient(t)
	uri := strings.Replace(rh.uri, "sip:", "sip:201@", 1)
	codes := map[int]int{}
	for range 10 {
		codes[rawRegister(t, rc, uri, "").StatusCode]++
	}
	// The clock does not move: exactly the burst is served.
	if codes[401] != 5 || codes[503] != 5 {
		t.Fatalf("answers %v, want 5×401 then 5×503", codes)
	}
	rh.clock.Advance(10 * time.Second)
	if res := rawRegister(t, rc, uri, ""); res.StatusCode != 401 {
		t.Fatalf("after the window: %d, want 401", res.StatusCode)
	}
}

func TestRegisterDisabled(t *testing.T) {
	h := newHarness(t, func(ctx context.Context, _ ivr.Inbound) { <-ctx.Done() })
	rc := newRawClient(t)
	if res := rawRegister(t, rc, h.udpURI, ""); res.StatusCode != 405 {
		t.Fatalf("REGISTER without a registrar: %d, want 405", res.StatusCode)
	}
}
