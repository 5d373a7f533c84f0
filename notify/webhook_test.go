package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/notify"
)

const hookSecret = "0123456789abcdef0123456789abcdef"

// receiver is a web hook receiver that checks signatures the way
// docs/notify.md tells receivers to: HMAC-SHA256 of "<timestamp>.<body>",
// compared in constant time, and a timestamp within 5 minutes.
type receiver struct {
	*httptest.Server
	secret string

	mu       sync.Mutex
	payloads []notify.Payload
	headers  []http.Header
}

func startReceiver(t testing.TB, secret string) *receiver {
	t.Helper()
	r := &receiver{secret: secret}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	ts := req.Header.Get("X-Clubline-Timestamp")
	sig, ok := strings.CutPrefix(req.Header.Get("X-Clubline-Signature"), "sha256=")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		http.Error(w, "unsigned", http.StatusUnauthorized)
		return
	}
	if d := time.Since(time.Unix(n, 0)); d > 5*time.Minute || d < -5*time.Minute {
		http.Error(w, "stale timestamp", http.StatusUnauthorized)
		return
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.payloads = append(r.payloads, p)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []notify.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Payload(nil), r.payloads...)
}

func newWebhook(t testing.TB, url, secret string) *notify.Webhook {
	t.Helper()
	w, err := notify.NewWebhook(notify.WebhookOptions{URL: url, Secret: secret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookSignedPayload(t *testing.T) {
	rcv := startReceiver(t, hookSecret)
	m := voicemail(t, "vm-10")
	m.Urgent = true
	if err := newWebhook(t, rcv.URL, hookSecret).Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rcv.received()
	if len(got) != 1 {
		t.Fatalf("receiver took %d requests, want 1", len(got))
	}
	p := got[0]
	if p.Event != "voicemail.new" || p.MessageID != "vm-10" || p.Category != "registrations" || !p.Urgent ||
		p.RecordedAt != "2025-06-03T18:05:00Z" || p.Due != "2025-06-05T18:05:00Z" || p.Link != m.Link || p.DurationSec != 42 {
		t.Errorf("payload %+v", p)
	}
	if p.Caller != "+1 514 •••-••99" || !p.CallerMasked {
		t.Errorf("caller %q (masked %v), want it masked", p.Caller, p.CallerMasked)
	}
	rcv.mu.Lock()
	h := rcv.headers[0]
	rcv.mu.Unlock()
	if h.Get("X-Clubline-Delivery") != p.Delivery || p.Delivery == "" {
		t.Errorf("delivery header %q, payload %q", h.Get("X-Clubline-Delivery"), p.Delivery)
	}
}

// A sender with the wrong secret is refused, and that is permanent.
func TestWebhookWrongSecretRefused(t *testing.T) {
	rcv := startReceiver(t, hookSecret)
	err := newWebhook(t, rcv.URL, "another-secret-of-32-characters!").Send(t.Context(), voicemail(t, "vm-11"))
	var e *notify.Error
	if !errors.As(err, &e) || !e.Permanent || e.Code != http.StatusUnauthorized {
		t.Fatalf("Send: %v, want a permanent 401", err)
	}
	if len(rcv.received()) != 0 {
		t.Fatal("the receiver took a request with a wrong signature")
	}
}

// Sign is what the receivers compute.
func TestSign(t *testing.T) {
	body := []byte(`{"event":"voicemail.new"}`)
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte("1700000000." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := notify.Sign([]byte(hookSecret), 1700000000, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// The example of docs/notify.md, checked there with Python and openssl.
	doc := []byte(`{"event":"voicemail.new","message_id":"vm-1"}`)
	if got := notify.Sign([]byte(hookSecret), 1700000000, doc); got != "sha256=92e99a9abe785a09732becc628befaa9d55a2c0c7829fc602cabcff95f82c571" {
		t.Fatalf("Sign of the documented example = %s", got)
	}
}

func TestWebhookStatuses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		permanent  bool
		retryAfter time.Duration
	}{
		{http.StatusBadRequest, true, 0},
		{http.StatusNotFound, true, 0},
		{http.StatusRequestTimeout, false, 0},
		{http.StatusTooManyRequests, false, 7 * time.Second},
		{http.StatusInternalServerError, false, 0},
		{http.StatusServiceUnavailable, false, 7 * time.Second},
		{http.StatusFound, true, 0},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter > 0 {
					w.Header().Set("Retry-After", "7")
				}
				if tc.status == http.StatusFound {
					w.Header().Set("Location", "https://elsewhere.example/hook")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, "caller +15145550199 refused")
			}))
			defer srv.Close()
			err := newWebhook(t, srv.URL, hookSecret).Send(t.Context(), voicemail(t, "vm-12"))
			var e *notify.Error
			if !errors.As(err, &e) || e.Permanent != tc.permanent || e.Code != tc.status || e.RetryAfter != tc.retryAfter {
				t.Fatalf("Send: %#v, want permanent %v, code %d, retry after %s", err, tc.permanent, tc.status, tc.retryAfter)
			}
			if strings.Contains(err.Error(), "5550199") {
				t.Errorf("the error holds the number the receiver echoed: %v", err)
			}
		})
	}
}

// A redirect elsewhere is not followed: the payload holds the caller's
// number, and goes only where the admin wrote. A 307 within the same
// server is followed, with its body.
func TestWebhookRedirects(t *testing.T) {
	var hits sync.Map
	elsewhere := startReceiver(t, hookSecret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/hook", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/hook", http.StatusPermanentRedirect)
		case "/hook":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || len(b) == 0 {
				http.Error(w, "lost the body", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()

	err := newWebhook(t, srv.URL+"/away", hookSecret).Send(t.Context(), voicemail(t, "vm-13"))
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect elsewhere: %v, want a permanent error", err)
	}
	if len(elsewhere.received()) != 0 {
		t.Fatal("the redirect elsewhere was followed")
	}
	if err := newWebhook(t, srv.URL+"/moved", hookSecret).Send(t.Context(), voicemail(t, "vm-13")); err != nil {
		t.Fatalf("308 on the same server: %v", err)
	}
	if _, ok := hits.Load("/hook"); !ok {
		t.Fatal("the 308 was not followed")
	}
}

func TestNewWebhookErrors(t *testing.T) {
	for _, tc := range []struct {
		o    notify.WebhookOptions
		want string
	}{
		{notify.WebhookOptions{Secret: hookSecret}, "no URL"},
		{notify.WebhookOptions{URL: "http://hooks.example.org/x", Secret: hookSecret}, "not https"},
		{notify.WebhookOptions{URL: "https://hooks.example.org/x", Secret: "short"}, "openssl rand"},
	} {
		if _, err := notify.NewWebhook(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewWebhook(%+v): %v, want %q", tc.o, err, tc.want)
		}
	}
}
