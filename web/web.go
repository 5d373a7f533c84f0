// Package web is the office's web page and the JSON API behind it: what
// the line is doing now, the messages waiting for a call back (play, note,
// assign, mark done), the recent calls, the club's own recordings, and a
// caller's Law 25 requests. Staff sign in with their staff id and web
// password; every route needs a session, every change a CSRF token, and
// every listen and change is written to the audit log.
//
// The pages are html/template, served from the binary with a little
// JavaScript and no outside resource: the club's box may be offline.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
)

// User is a staff member who may sign in.
type User struct {
	ID       string // staff id, what they type to sign in
	Name     string
	Admin    bool     // roles: [admin]: may change the override and the recordings, sees full numbers everywhere
	Groups   []string // the groups they belong to
	Password Password // unset: they cannot sign in
}

// Status is what the Now page shows, assembled by the wiring.
type Status struct {
	Open       bool       `json:"open"`
	Why        string     `json:"why"`                   // the `check --at now` sentence
	NextChange *time.Time `json:"next_change,omitempty"` // when it opens or closes next
	Next       string     `json:"next,omitempty"`        // that change, in words
	Override   Override   `json:"override"`
	OnCall     []string   `json:"on_call"` // names of who is on call now
	Phones     []Phone    `json:"phones"`
	Trunks     []Trunk    `json:"trunks"`
	Calls      []LiveCall `json:"calls"`
	FollowUps  FollowUps  `json:"followups"`
}

// Override is the switch that forces the line open or closed.
type Override struct {
	Mode string     `json:"mode"` // "auto", "open", "closed"
	By   string     `json:"by,omitempty"`
	At   *time.Time `json:"at,omitempty"`
}

// Override modes.
const (
	ModeAuto   = "auto"
	ModeOpen   = "open"
	ModeClosed = "closed"
)

// Phone is a staff member and whether a phone of theirs is registered.
type Phone struct {
	Staff      string `json:"staff"`
	Name       string `json:"name"`
	Registered bool   `json:"registered"`
	Busy       bool   `json:"busy"`
}

// Trunk is a provider account's state.
type Trunk struct {
	Name       string `json:"name"`
	Registered bool   `json:"registered"`
	Detail     string `json:"detail,omitempty"`
}

// LiveCall is a call in progress.
type LiveCall struct {
	ID      string    `json:"id"`
	From    string    `json:"from"` // masked
	Stage   string    `json:"stage"`
	Group   string    `json:"group,omitempty"`
	Since   time.Time `json:"since"`
	Waiting float64   `json:"waiting_seconds,omitempty"` // in the queue, so far
}

// FollowUps counts the messages waiting for a call back.
type FollowUps struct {
	Open    int `json:"open"`
	Overdue int `json:"overdue"`
}

// Recordings is the club's own prompts, as the Recordings page edits them.
type Recordings interface {
	// List returns every prompt that may be recorded, with its versions.
	List(ctx context.Context) ([]Prompt, error)
	// Upload saves audio as a new version of a prompt (converted to
	// 8 kHz mono); the error says what is wrong with a file it cannot use.
	Upload(ctx context.Context, lang, name, by string, audio io.Reader) error
	// Restore makes an earlier version the current one.
	Restore(ctx context.Context, lang, name, version, by string) error
	// Audio opens a version for listening ("" is the current one).
	Audio(ctx context.Context, lang, name, version string) (io.ReadSeekCloser, time.Time, error)
}

// Prompt is one prompt of the Recordings page.
type Prompt struct {
	Lang        string    `json:"lang"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Origin      string    `json:"origin"` // what callers hear now: "recorded", "synthesized", "built-in", "prompts dir"
	Versions    []Version `json:"versions"`
}

// Version is one recording of a prompt.
type Version struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	Seconds float64   `json:"seconds"`
	Current bool      `json:"current"`
}

// Privacy carries out a caller's Law 25 requests.
type Privacy interface {
	// Export writes everything held about number to w, as a zip.
	Export(ctx context.Context, number string, w io.Writer) error
	// Erase deletes everything held about number, and says what in words
	// that do not hold it.
	Erase(ctx context.Context, number string) (string, error)
}

// Options are what the web side needs; the wiring fills them from the
// config and the running line.
type Options struct {
	Store clubline.Store
	// Users returns who may sign in, by staff id, as the config in force
	// says.
	Users func() map[string]User
	Audit *audit.Log
	// Status assembles the Now page.
	Status func(ctx context.Context) (Status, error)
	// SetOverride switches the line (admins only).
	SetOverride func(ctx context.Context, mode, by string) error
	// Changed is told of every change to a message, after it is saved:
	// metrics, the message-waiting lights. before is nil for none.
	Changed func(before, after *clubline.Voicemail)
	// VoicemailDir is voicemail.dir: a message whose recorded path is gone
	// (the data restored to another folder) is looked for there by name.
	VoicemailDir string
	Recordings   Recordings // nil: no recordings page
	// MessageLock is held from reading a message to saving it, shared
	// with the line's other writers of messages (the reminders, the call
	// script) so that none undoes another's change; nil: the page's own.
	MessageLock sync.Locker
	// Report writes the service report of [from, to) as "text" or
	// "csv"; nil: none. from and to are days in the club's time zone
	// ("" : the default period).
	Report  func(ctx context.Context, from, to, format string, w io.Writer) error
	Privacy Privacy // nil: no privacy requests from the page
	// Probe places the line's mystery call now (POST /api/probe, probe.go),
	// once no other runs; nil: none.
	Probe ProbeFunc
	// ProbeToken is the secret `clubline probe` sends as a bearer token on
	// POST /api/probe (and on no other route); "": sessions only.
	ProbeToken string
	// Language is the page's language when the browser did not choose
	// one: the club's first ("fr").
	Language string
	Location *time.Location // the club's time zone
	// Secure marks the cookie Secure: set when the page is served over
	// TLS, by clubline or by a reverse proxy in front.
	Secure bool
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the web side's handler.
type Server struct {
	o        Options
	mux      *http.ServeMux
	sessions *sessions
	logins   *loginLimiter
	msgMu    sync.Locker // one change to a message at a time: read, change, save (Options.MessageLock)
	// callerSecret keys Caller: the Calls page groups a caller's calls
	// without showing their number to who may not see it.
	callerSecret []byte
}

// New builds the handler.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Language != "en" {
		o.Language = "fr"
	}
	if o.Users == nil {
		o.Users = func() map[string]User { return nil }
	}
	s := &Server{o: o, mux: http.NewServeMux(), sessions: newSessions(o.Now), logins: newLoginLimiter(o.Now), callerSecret: []byte(randomToken())}
	s.msgMu = o.MessageLock
	if s.msgMu == nil {
		s.msgMu = &sync.Mutex{}
	}
	s.routes()
	return s
}

// ServeHTTP serves the pages and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// A handler that needs a session gets it, with its user.
type authed func(w http.ResponseWriter, r *http.Request, a *access)

// access is who is asking, and from where.
type access struct {
	user  User
	ses   *session
	token string
	addr  string
}

// need wraps a handler: without a live session an API route answers 401
// and a page sends the browser to the sign-in page; a change (any method
// but GET and HEAD) needs the session's CSRF token, in the X-CSRF-Token
// header, else 403; admin routes answer 403 to others.
func (s *Server) need(admin bool, h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		api := strings.HasPrefix(r.URL.Path, "/api/")
		a := s.access(r)
		if a == nil {
			if api {
				writeError(w, http.StatusUnauthorized, "sign in first: POST /api/login")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !a.ses.csrfOK(r.Header.Get("X-CSRF-Token")) {
				writeError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token: send the csrf_token that POST /api/login returned")
				return
			}
			if !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "this request comes from another site")
				return
			}
		}
		if admin && !a.user.Admin {
			if api {
				writeError(w, http.StatusForbidden, "only an admin may do this (roles: [admin] in the config)")
			} else {
				http.Error(w, "403: only an admin may open this page", http.StatusForbidden)
			}
			return
		}
		h(w, r, a)
	}
}

// access returns who the request's session belongs to, or nil. A session
// of someone no longer in the config (or without a password now) ends.
func (s *Server) access(r *http.Request) *access {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ses := s.sessions.get(c.Value)
	if ses == nil {
		return nil
	}
	u, ok := s.o.Users()[ses.user]
	if !ok || !u.Password.Set() {
		s.sessions.end(c.Value)
		return nil
	}
	return &access{user: u, ses: ses, token: c.Value, addr: clientAddr(r)}
}

// sameOrigin reports whether a browser's Origin header, when it sends
// one, names this host (SameSite cookies already stop most forgeries;
// this stops the rest).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	i := strings.Index(o, "://")
	return i >= 0 && strings.EqualFold(o[i+3:], r.Host)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) audit(a *access, action, target, detail string) {
	if s.o.Audit == nil {
		return
	}
	e := audit.Entry{Action: action, Target: target, Detail: detail}
	if a != nil {
		e.User, e.From = a.user.ID, a.addr
	}
	if err := s.o.Audit.Add(e); err != nil {
		s.o.Logger.Error("audit log not written: the action is done but not traced", "action", action, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readJSON decodes a small JSON body into v; an empty body leaves v as is.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64*1024))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("the body is not the JSON this route takes: " + err.Error())
	}
	return nil
}

// callerKey is a number's key on the Calls page: the same for every form
// of the same number, and no way back to it.
func (s *Server) callerKey(number string) string {
	d := clubline.Digits(number)
	if len(d) > 10 {
		d = d[len(d)-10:]
	}
	if d == "" {
		d = number
	}
	h := hmac.New(sha256.New, s.callerSecret)
	h.Write([]byte(d))
	return hex.EncodeToString(h.Sum(nil)[:8])
}
