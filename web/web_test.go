package web_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/web"
)

type fixture struct {
	srv      *httptest.Server
	store    clubline.Store
	audit    *audit.Log
	mu       sync.Mutex
	override []string // "mode by"
	changed  []string // "id before→after"
	probes   int      // mystery calls placed through POST /api/probe
	now      time.Time
}

// probeToken is the fixture's probe token (store.data_dir/probe.token).
const probeToken = "5f0e6c1d2b3a49587766554433221100"

var loc, _ = time.LoadLocation("America/Toronto")

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	al, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	f := &fixture{store: st, audit: al, now: time.Date(2026, 12, 4, 15, 0, 0, 0, loc)}
	hash, err := web.HashPassword("luc-secret")
	if err != nil {
		t.Fatal(err)
	}
	lucPW, err := web.HashedPassword(hash)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]web.User{
		"marie": {ID: "marie", Name: "Marie Tremblay", Admin: true, Password: web.PlainPassword("marie-secret")},
		"luc":   {ID: "luc", Name: "Luc Gagnon", Password: lucPW},
	}
	s := web.New(web.Options{
		Store: st, Audit: al, Location: loc,
		Users: func() map[string]web.User { return users },
		Now:   func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		Status: func(context.Context) (web.Status, error) {
			return web.Status{Open: true, Why: "open — weekly mon-fri 08:30-16:30", Override: web.Override{Mode: "auto"}}, nil
		},
		SetOverride: func(_ context.Context, mode, by string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.override = append(f.override, mode+" "+by)
			return nil
		},
		ProbeToken: probeToken,
		Probe: func(ctx context.Context) (web.ProbeResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.probes++
			return web.ProbeResult{OK: true, Hours: "open", Via: "direct", Heard: []string{"fr/greeting"}, Summary: "result: success\n"}, nil
		},
		Changed: func(before, after *clubline.Voicemail) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.changed = append(f.changed, fmt.Sprintf("%s %s→%s", after.ID, before.Status, after.Status))
		},
	})
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser of its own: a cookie jar and the CSRF token.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (f *fixture) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: f.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func (c *client) login(user, pw string) int {
	c.t.Helper()
	code, b, _ := c.do("POST", "/api/login", map[string]string{"user": user, "password": pw})
	if code == 200 {
		var v struct {
			CSRF string `json:"csrf_token"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.CSRF == "" {
			c.t.Fatalf("login: %s", b)
		}
		c.csrf = v.CSRF
	}
	return code
}

// wav writes a short 8 kHz 16-bit mono WAV.
func wav(t *testing.T, path string, samples int) {
	var b bytes.Buffer
	data := make([]byte, samples*2)
	for _, v := range []any{[]byte("RIFF"), uint32(36 + len(data)), []byte("WAVEfmt "), uint32(16), uint16(1), uint16(1),
		uint32(8000), uint32(16000), uint16(2), uint16(16), []byte("data"), uint32(len(data)), data} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) message(t *testing.T, id, from string, due time.Time) *clubline.Voicemail {
	path := filepath.Join(t.TempDir(), id+".wav")
	wav(t, path, 16000)
	v := &clubline.Voicemail{ID: id, CallID: "call-" + id, From: from, Category: "registrations", Group: "office",
		RecordedAt: f.now.Add(-time.Hour), Duration: 2 * time.Second, Path: path, FollowUpDue: due, Status: clubline.VoicemailNew}
	if err := f.store.SaveVoicemail(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEveryAPIRouteNeedsASession(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	for _, r := range []string{
		"GET /api/status", "GET /api/messages?status=open", "GET /api/messages/v1", "GET /api/messages/v1/audio",
		"POST /api/messages/v1/done", "POST /api/messages/v1/reopen", "POST /api/messages/v1/assign", "POST /api/messages/v1/note",
		"POST /api/override", "GET /api/calls", "GET /api/audit", "GET /api/recordings", "POST /api/recordings/fr/greeting",
		"POST /api/privacy/export", "POST /api/privacy/erase", "POST /api/logout", "GET /api/me", "GET /api/nothing", "GET /api/report",
	} {
		method, path, _ := strings.Cut(r, " ")
		if code, b, _ := c.do(method, path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d %s, want 401", r, code, b)
		}
	}
	for _, p := range []string{"/", "/now", "/messages", "/calls", "/recordings", "/privacy"} {
		code, _, h := c.do("GET", p, nil)
		if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Errorf("page %s without a session: %d → %q, want 303 to /login", p, code, h.Get("Location"))
		}
	}
	// What needs no session.
	if code, _, _ := c.do("GET", "/login", nil); code != 200 {
		t.Errorf("/login: %d", code)
	}
	if code, _, _ := c.do("GET", "/static/app.js", nil); code != 200 {
		t.Errorf("/static/app.js: %d", code)
	}
}

func TestChangesNeedTheCSRFToken(t *testing.T) {
	f := newFixture(t)
	f.message(t, "v1", "+15145550101", f.now.Add(time.Hour))
	c := f.client(t)
	if code := c.login("marie", "marie-secret"); code != 200 {
		t.Fatalf("login: %d", code)
	}
	token := c.csrf
	c.csrf = ""
	for _, r := range []string{"POST /api/messages/v1/done", "POST /api/override", "POST /api/messages/v1/note"} {
		method, path, _ := strings.Cut(r, " ")
		if code, b, _ := c.do(method, path, map[string]string{}); code != http.StatusForbidden {
			t.Errorf("%s without X-CSRF-Token: %d %s, want 403", r, code, b)
		}
	}
	c.csrf = "wrong" + token
	if code, _, _ := c.do("POST", "/api/override", map[string]string{"mode": "closed"}); code != http.StatusForbidden {
		t.Errorf("a wrong token: %d, want 403", code)
	}
	c.csrf = token
	if code, _, _ := c.do("POST", "/api/override", map[string]string{"mode": "closed"}, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("from another site: %d, want 403", code)
	}
	if len(f.override) != 0 || len(f.changed) != 0 {
		t.Errorf("a refused change went through: %v %v", f.override, f.changed)
	}
	if code, b, _ := c.do("POST", "/api/override", map[string]string{"mode": "closed"}); code != 200 {
		t.Errorf("override with the token: %d %s", code, b)
	}
	if len(f.override) != 1 || f.override[0] != "closed marie" {
		t.Errorf("override calls %v", f.override)
	}
}

func TestOnlyAdminsChangeTheOverride(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	if code := c.login("luc", "luc-secret"); code != 200 {
		t.Fatalf("luc login (argon2id): %d", code)
	}
	if code, _, _ := c.do("POST", "/api/override", map[string]string{"mode": "open"}); code != http.StatusForbidden {
		t.Errorf("luc (not admin) override: %d, want 403", code)
	}
	if code, _, _ := c.do("POST", "/api/recordings/fr/greeting", nil); code != http.StatusForbidden {
		t.Errorf("luc (not admin) upload: %d, want 403", code)
	}
	if code, _, _ := c.do("GET", "/recordings", nil); code != http.StatusForbidden {
		t.Errorf("luc (not admin) recordings page: %d, want 403", code)
	}
	if len(f.override) != 0 {
		t.Errorf("override changed by a non-admin: %v", f.override)
	}
	if code, _, _ := c.do("POST", "/api/override", map[string]string{"mode": "sideways"}); code != http.StatusForbidden {
		t.Errorf("luc bad mode: %d, want 403 before the body is read", code)
	}
}

func TestLoginIsRateLimited(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	var codes []int
	for range 20 {
		codes = append(codes, c.login("marie", "guess"))
	}
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("attempt %d: %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	if code := c.login("marie", "marie-secret"); code != http.StatusTooManyRequests {
		t.Errorf("the right password while blocked: %d, want 429 (a guesser learns nothing)", code)
	}
	f.mu.Lock()
	f.now = f.now.Add(16 * time.Minute)
	f.mu.Unlock()
	if code := c.login("marie", "marie-secret"); code != 200 {
		t.Errorf("after the window: %d, want 200", code)
	}
	entries, _ := f.audit.Entries(func(e audit.Entry) bool { return e.Action == audit.ActionLoginFailed })
	if len(entries) != 5 {
		t.Errorf("%d failed logins in the audit log, want 5 (the blocked ones are not even checked)", len(entries))
	}
}

func TestMessageListenAndDone(t *testing.T) {
	f := newFixture(t)
	f.message(t, "v1", "+15145550101", f.now.Add(-time.Hour)) // overdue
	f.message(t, "v2", "+15145550102", f.now.Add(time.Hour))
	c := f.client(t)
	if c.login("luc", "luc-secret") != 200 {
		t.Fatal("login")
	}
	code, b, _ := c.do("GET", "/api/messages?status=open", nil)
	var list struct{ Messages []web.Message }
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Messages) != 2 {
		t.Fatalf("open messages: %d %s", code, b)
	}
	if m := list.Messages[0]; m.ID != "v1" || !m.Overdue || m.From != "+15145550101" || m.Audio != "/api/messages/v1/audio" {
		t.Errorf("first message %+v, want v1 overdue", m)
	}
	code, b, h := c.do("GET", "/api/messages/v1/audio", nil, "Range", "bytes=0-99")
	if code != http.StatusPartialContent || len(b) != 100 || h.Get("Content-Type") != "audio/wav" {
		t.Errorf("audio range: %d, %d bytes, %q", code, len(b), h.Get("Content-Type"))
	}
	if code, _, _ := c.do("POST", "/api/messages/v1/done", map[string]string{"note": "rappelée, inscription réglée"}); code != 200 {
		t.Fatalf("done: %d", code)
	}
	fus, _ := f.store.FollowUps(context.Background(), time.Time{})
	if len(fus) != 1 || fus[0].VoicemailID != "v2" {
		t.Errorf("follow-ups after done: %+v, want only v2", fus)
	}
	v, _ := f.store.Voicemail(context.Background(), "v1")
	if v.Status != clubline.VoicemailDone || v.DoneBy != "luc" || v.DoneHow != clubline.FollowUpClosedWeb || len(v.Notes) != 1 || v.Notes[0].Text != "rappelée, inscription réglée" {
		t.Errorf("v1 after done: %+v", v)
	}
	if len(f.changed) != 1 || f.changed[0] != "v1 new→done" {
		t.Errorf("changed %v", f.changed)
	}
	entries, _ := f.audit.Entries(func(e audit.Entry) bool { return e.Target == "v1" })
	var got []string
	for _, e := range entries {
		got = append(got, e.User+" "+e.Action)
	}
	if strings.Join(got, ",") != "luc listen,luc done" {
		t.Errorf("audit of v1: %v, want luc listen, luc done", got)
	}
	code, b, _ = c.do("GET", "/api/messages?status=done", nil)
	if code != 200 || !strings.Contains(string(b), `"id": "v1"`) {
		t.Errorf("done list: %d %s", code, b)
	}
	if code, _, _ := c.do("GET", "/api/messages/nope", nil); code != 404 {
		t.Errorf("unknown message: %d", code)
	}
}

func TestCallsMaskNumbersButForAdmins(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, from := range []string{"+15145550101", "+15145550101", "+14505550199"} {
		c := &clubline.Call{ID: fmt.Sprint("c", i), From: from, StartedAt: f.now.Add(-time.Duration(3-i) * time.Minute), Outcome: clubline.OutcomeAnswered, Category: "programs"}
		if err := f.store.SaveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	luc, marie := f.client(t), f.client(t)
	luc.login("luc", "luc-secret")
	marie.login("marie", "marie-secret")
	var calls struct{ Calls []web.CallJSON }
	_, b, _ := luc.do("GET", "/api/calls", nil)
	if json.Unmarshal(b, &calls) != nil || len(calls.Calls) != 3 {
		t.Fatalf("calls: %s", b)
	}
	if strings.Contains(string(b), "5550101") || calls.Calls[2].From != "+1514***0101" {
		t.Errorf("a non-admin sees a full number: %s", b)
	}
	_, b, _ = luc.do("GET", "/api/calls?caller="+calls.Calls[2].Caller, nil)
	calls.Calls = nil
	if json.Unmarshal(b, &calls) != nil || len(calls.Calls) != 2 {
		t.Errorf("one caller's history: %s, want 2 calls", b)
	}
	_, b, _ = marie.do("GET", "/api/calls", nil)
	if !strings.Contains(string(b), "+15145550101") {
		t.Errorf("an admin sees masked numbers: %s", b)
	}
}

func TestPagesRender(t *testing.T) {
	f := newFixture(t)
	f.message(t, "v1", "+15145550101", f.now.Add(time.Hour))
	c := f.client(t)
	c.login("marie", "marie-secret")
	for _, p := range []string{"/now", "/messages", "/messages?status=done", "/calls", "/recordings", "/privacy", "/now?lang=en"} {
		code, b, h := c.do("GET", p, nil)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "</html>") {
			t.Errorf("%s: %d %q\n%s", p, code, h.Get("Content-Type"), b)
		}
		if h.Get("Content-Security-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: missing security headers", p)
		}
	}
	_, b, _ := c.do("GET", "/messages?lang=fr", nil)
	if !strings.Contains(string(b), `id="msg-v1"`) || !strings.Contains(string(b), "Marquer traité") {
		t.Errorf("messages page lacks v1 or French: %s", b)
	}
	_, b, _ = c.do("GET", "/now?lang=en", nil)
	if !strings.Contains(string(b), "Open") || !strings.Contains(string(b), "Force closed") {
		t.Errorf("English now page: %s", b)
	}
}

// A message whose recorded path is gone (the data restored to another
// folder) is found by name in the voicemail folder.
func TestAudioFoundInTheVoicemailFolder(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vmDir := filepath.Join(dir, "voicemail")
	os.MkdirAll(vmDir, 0o700)
	wav(t, filepath.Join(vmDir, "20261204-100000-v1.wav"), 800)
	v := &clubline.Voicemail{ID: "v1", Path: "/old/box/voicemail/20261204-100000-v1.wav", Status: clubline.VoicemailNew, RecordedAt: time.Now(), FollowUpDue: time.Now().Add(time.Hour)}
	if err := st.SaveVoicemail(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	users := map[string]web.User{"marie": {ID: "marie", Name: "Marie", Password: web.PlainPassword("pw-marie-1")}}
	srv := httptest.NewServer(web.New(web.Options{Store: st, VoicemailDir: vmDir, Users: func() map[string]web.User { return users }}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: srv.URL, c: &http.Client{Jar: jar}}
	if c.login("marie", "pw-marie-1") != 200 {
		t.Fatal("login")
	}
	if code, b, _ := c.do("GET", "/api/messages/v1/audio", nil); code != 200 || len(b) != 44+1600 {
		t.Errorf("audio: %d, %d bytes", code, len(b))
	}
}
