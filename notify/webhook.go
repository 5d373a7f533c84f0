package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Decisions:
//
//   - The signature is an HMAC-SHA256, keyed with the shared secret, of
//     the timestamp, a dot and the body, exactly as sent:
//     X-Clubline-Signature: sha256=hex(HMAC(secret, "<timestamp>.<body>")),
//     X-Clubline-Timestamp: <timestamp> (Unix seconds). The timestamp is
//     signed so that a captured request cannot be replayed later: a
//     receiver refuses one more than 5 minutes from its clock. Every try
//     is signed anew. docs/notify.md shows the check in Python and shell.
//   - X-Clubline-Delivery (also "delivery" in the body) is the same on
//     every try of one notification: a receiver that saw it may answer
//     2xx and do nothing.
//   - 2xx is delivered. 4xx is permanent, except 408 and 429, which are
//     temporary like 5xx and a failed connection; Retry-After is kept.
//   - Redirects: a 307 or 308 to the same scheme, host and port is
//     followed (a path that moved keeps its POST and body); any other
//     redirect is not, and is permanent: clubline never sends a caller's
//     number where the admin did not write, and retrying will not move
//     the URL. The error names where it pointed.
//   - https only, except to a loopback address: the body holds the
//     caller's number, masked or not.
//   - No keep-alive: a few requests a day; a new connection each time
//     leaves no goroutine or socket behind.

// Webhook defaults.
const DefaultWebhookTimeout = 10 * time.Second

// Signature headers.
const (
	HeaderSignature = "X-Clubline-Signature"
	HeaderTimestamp = "X-Clubline-Timestamp"
	HeaderDelivery  = "X-Clubline-Delivery"
	HeaderEvent     = "X-Clubline-Event"
)

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	URL    string // required: https://…, or http:// to a loopback address
	Secret string // required: the HMAC key the receiver shares
	// ShowNumber puts the caller's number in full in the payload; by
	// default it is masked (MaskNumber).
	ShowNumber bool
	// Timeout bounds one request, connection to answer (default 10 s).
	Timeout time.Duration
	// Now is the clock of the timestamp (default time.Now).
	Now func() time.Time
}

// Webhook posts notifications as signed JSON. Safe for concurrent use.
type Webhook struct {
	url    *url.URL
	secret []byte
	show   bool
	now    func() time.Time
	client *http.Client
}

// NewWebhook checks the options and returns a Webhook.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	var errs []error
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		errs = append(errs, errors.New("no URL: write the receiver's https:// address"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("URL %q: write an address like https://hooks.example.org/clubline", o.URL))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		errs = append(errs, fmt.Errorf("URL %q is not https: the payload holds the caller's number; use https:// (http:// only to this machine)", o.URL))
	}
	if len(o.Secret) < 16 {
		errs = append(errs, errors.New("the secret is missing or shorter than 16 characters: generate one with `openssl rand -hex 32` and give it to the receiver too"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("a negative timeout: leave it out for the default"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("notify: webhook: %w", errors.Join(errs...))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultWebhookTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Webhook{url: u, secret: []byte(o.Secret), show: o.ShowNumber, now: o.Now}
	w.client = &http.Client{
		Timeout:       o.Timeout,
		Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true, TLSHandshakeTimeout: o.Timeout},
		CheckRedirect: w.checkRedirect,
	}
	return w, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirect follows a 307 or 308 to the same origin, three at most;
// it stops at any other and returns its answer.
func (w *Webhook) checkRedirect(req *http.Request, via []*http.Request) error {
	if req.Response != nil && (req.Response.StatusCode == http.StatusTemporaryRedirect || req.Response.StatusCode == http.StatusPermanentRedirect) &&
		len(via) < 3 && req.URL.Scheme == w.url.Scheme && req.URL.Host == w.url.Host {
		return nil
	}
	return http.ErrUseLastResponse
}

// Payload is the JSON body of a web hook request. Times are RFC 3339 in
// UTC; empty fields are left out.
type Payload struct {
	Event          string `json:"event"`    // "voicemail.new", "voicemail.reminder", "voicemail.escalation", "text"
	Delivery       string `json:"delivery"` // the same on every try (X-Clubline-Delivery)
	MessageID      string `json:"message_id"`
	Caller         string `json:"caller,omitempty"` // masked unless the webhook shows numbers
	CallerMasked   bool   `json:"caller_masked"`
	Category       string `json:"category,omitempty"`
	CategoryLabel  string `json:"category_label,omitempty"`
	Group          string `json:"group,omitempty"`
	CallerLanguage string `json:"caller_language,omitempty"`
	Urgent         bool   `json:"urgent"`
	RecordedAt     string `json:"recorded_at,omitempty"`
	DurationSec    int    `json:"duration_seconds,omitempty"`
	Due            string `json:"due,omitempty"`
	Link           string `json:"link,omitempty"`
	Subject        string `json:"subject,omitempty"` // a text notice's
	Text           string `json:"text,omitempty"`
}

// Event is the event name of a notification of kind k.
func Event(k Kind) string {
	if k == KindText {
		return "text"
	}
	return "voicemail." + string(k)
}

func (w *Webhook) payload(m *Message) Payload {
	p := Payload{
		Event: Event(m.Kind), Delivery: deliveryID(m.key(ChannelWebhook, "")), MessageID: m.ID,
		Caller: MaskNumber(m.From), CallerMasked: true,
		Category: m.Category, CategoryLabel: m.CategoryLabel, Group: m.Group, CallerLanguage: m.CallerLanguage,
		Urgent: m.Urgent, RecordedAt: rfc3339(m.RecordedAt), DurationSec: int(m.Duration.Round(time.Second) / time.Second),
		Due: rfc3339(m.Due), Link: m.Link, Subject: m.Subject, Text: m.Text,
	}
	if w.show {
		p.Caller, p.CallerMasked = m.From, false
	}
	return p
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// deliveryID is the public name of a delivery: its key, hashed.
func deliveryID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// Sign is the value of X-Clubline-Signature for body sent at timestamp
// (Unix seconds) with secret: "sha256=" and the hex HMAC-SHA256 of
// "<timestamp>.<body>". A receiver computes it and compares in constant
// time (hmac.Equal).
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send posts m. Its error is an *Error that says whether trying again can
// help. m.To is not used: the web hook has one receiver.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return &Error{Channel: ChannelWebhook, Permanent: true, Msg: "bad message", Err: err}
	}
	p := w.payload(&m)
	body, err := json.Marshal(p)
	if err != nil {
		return &Error{Channel: ChannelWebhook, Permanent: true, Msg: "could not encode the payload", Err: err}
	}
	ts := w.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return &Error{Channel: ChannelWebhook, Permanent: true, Msg: "could not build the request", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "clubline")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	req.Header.Set(HeaderDelivery, p.Delivery)
	req.Header.Set(HeaderEvent, p.Event)
	res, err := w.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled):
			return &Error{Channel: ChannelWebhook, Msg: "cancelled (shutting down)", Err: err}
		case errors.As(err, &ne) && ne.Timeout():
			return &Error{Channel: ChannelWebhook, Msg: "no answer in time", Err: err}
		}
		return &Error{Channel: ChannelWebhook, Msg: "could not reach the receiver", Err: err}
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	return webhookStatus(res, printable(string(snippet), 200))
}

// printable is text from a receiver made fit for a log line: at most n
// runes, anything unprintable as '?', and any run of seven digits or more
// masked (a receiver may echo the caller's number back).
func printable(s string, n int) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return longDigits.ReplaceAllStringFunc(b.String(), MaskNumber)
}

var longDigits = regexp.MustCompile(`\+?[0-9]{7,}`)

// webhookStatus is the verdict on the receiver's answer.
func webhookStatus(res *http.Response, snippet string) error {
	code := res.StatusCode
	if code/100 == 2 {
		return nil
	}
	e := &Error{Channel: ChannelWebhook, Code: code}
	what := res.Status
	if snippet != "" {
		what += ": " + snippet
	}
	switch {
	case code/100 == 3:
		e.Permanent = true
		e.Msg = fmt.Sprintf("the receiver redirects (%s) to %q, which clubline does not follow: write the final address in notify.webhook.url", res.Status, res.Header.Get("Location"))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Permanent = true
		e.Msg = fmt.Sprintf("the receiver refused the request (%s): check that it has the same secret as notify.webhook.secret, and that its clock is right", what)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		e.Msg = fmt.Sprintf("the receiver asks to try later (%s)", what)
	case code/100 == 4:
		e.Permanent = true
		e.Msg = fmt.Sprintf("the receiver refused the request (%s)", what)
	default:
		e.Msg = fmt.Sprintf("the receiver failed (%s)", what)
	}
	if s := res.Header.Get("Retry-After"); s != "" && !e.Permanent {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(0, time.Until(t))
		}
	}
	return e
}
