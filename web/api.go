package web

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
)

// The API's routes (docs/api.md). Tools outside the repository rely on
// the names of login, status, messages and override: keep them.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /api/login", s.login)
	m.HandleFunc("POST /api/logout", s.need(false, s.logout))
	m.HandleFunc("GET /api/me", s.need(false, s.me))
	m.HandleFunc("GET /api/status", s.need(false, s.status))
	m.HandleFunc("GET /api/messages", s.need(false, s.messages))
	m.HandleFunc("GET /api/messages/{id}", s.need(false, s.message))
	m.HandleFunc("GET /api/messages/{id}/audio", s.need(false, s.audio))
	m.HandleFunc("POST /api/messages/{id}/done", s.need(false, s.done))
	m.HandleFunc("POST /api/messages/{id}/reopen", s.need(false, s.reopen))
	m.HandleFunc("POST /api/messages/{id}/assign", s.need(false, s.assign))
	m.HandleFunc("POST /api/messages/{id}/note", s.need(false, s.note))
	m.HandleFunc("GET /api/calls", s.need(false, s.calls))
	m.HandleFunc("POST /api/override", s.need(true, s.override))
	m.HandleFunc("GET /api/audit", s.need(true, s.auditLog))
	m.HandleFunc("GET /api/report", s.need(false, s.report))
	m.HandleFunc("GET /api/recordings", s.need(true, s.recordings))
	m.HandleFunc("GET /api/recordings/{lang}/{name}/audio", s.need(true, s.recordingAudio))
	m.HandleFunc("POST /api/recordings/{lang}/{name}", s.need(true, s.upload))
	m.HandleFunc("POST /api/recordings/{lang}/{name}/restore", s.need(true, s.restore))
	m.HandleFunc("POST /api/privacy/export", s.need(true, s.privacyExport))
	m.HandleFunc("POST /api/privacy/erase", s.need(true, s.privacyErase))
	m.HandleFunc("POST /api/probe", s.probe) // its own check: a session or the probe's token (probe.go)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if s.access(r) == nil {
			writeError(w, http.StatusUnauthorized, "sign in first: POST /api/login")
			return
		}
		writeError(w, http.StatusNotFound, "no such route: see docs/api.md")
	})
	s.pages()
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// login checks a staff id and web password, opens a session (the cookie)
// and returns its CSRF token. Wrong passwords are counted by user and by
// address; past the limit every attempt gets 429 until the window passes.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	addr := clientAddr(r)
	keys := []string{"user:" + strings.ToLower(req.User), "addr:" + addr}
	if wait := s.logins.blocked(keys...); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many wrong passwords: try again in %d minutes", int(wait.Minutes())+1))
		return
	}
	u, ok := s.o.Users()[req.User]
	if !ok || !u.Password.Set() || !u.Password.Match(req.Password) {
		s.logins.failed(keys...)
		detail := "wrong password"
		if !ok {
			detail = "unknown user"
		}
		if s.o.Audit != nil {
			_ = s.o.Audit.Add(audit.Entry{Action: audit.ActionLoginFailed, User: auditUser(req.User, ok), Detail: detail, From: addr})
		}
		writeError(w, http.StatusUnauthorized, "wrong staff id or password")
		return
	}
	s.logins.succeeded(keys[0])
	token, ses := s.sessions.start(u.ID)
	http.SetCookie(w, sessionCookie(token, s.o.Secure, int(sessionMax.Seconds())))
	s.audit(&access{user: u, addr: addr}, audit.ActionLogin, "", "")
	writeJSON(w, http.StatusOK, map[string]any{"csrf_token": ses.csrf, "user": userJSON(u)})
}

// auditUser is what a failed login's entry names: the id typed if it is a
// staff id, else nothing (a stranger's guess may be anything, even a
// password typed in the wrong field).
func auditUser(typed string, known bool) string {
	if known {
		return typed
	}
	return ""
}

func userJSON(u User) map[string]any {
	return map[string]any{"id": u.ID, "name": u.Name, "admin": u.Admin, "groups": u.Groups}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, a *access) {
	s.sessions.end(a.token)
	http.SetCookie(w, sessionCookie("", s.o.Secure, -1))
	s.audit(a, audit.ActionLogout, "", "")
	writeJSON(w, http.StatusOK, map[string]any{})
}

// me returns who is signed in, and the CSRF token again (for a page
// reloaded by the browser).
func (s *Server) me(w http.ResponseWriter, r *http.Request, a *access) {
	writeJSON(w, http.StatusOK, map[string]any{"user": userJSON(a.user), "csrf_token": a.ses.csrf})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Status == nil {
		writeError(w, http.StatusServiceUnavailable, "status is not available")
		return
	}
	st, err := s.o.Status(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Message is a voicemail as the API shows it.
type Message struct {
	ID         string     `json:"id"`
	CallID     string     `json:"call_id"`
	From       string     `json:"from"`
	Category   string     `json:"category"`
	Urgent     bool       `json:"urgent"`
	Group      string     `json:"group,omitempty"`
	Language   string     `json:"language,omitempty"`
	RecordedAt time.Time  `json:"recorded_at"`
	Seconds    float64    `json:"seconds"`
	Due        time.Time  `json:"due"`
	Overdue    bool       `json:"overdue"`
	Status     string     `json:"status"` // "new" (open) or "done"
	AssignedTo string     `json:"assigned_to,omitempty"`
	Notes      []NoteJSON `json:"notes,omitempty"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	DoneBy     string     `json:"done_by,omitempty"`
	DoneHow    string     `json:"done_how,omitempty"`
	Audio      string     `json:"audio"`           // the audio's URL
	Calls      int        `json:"calls,omitempty"` // calls from the same number in the last 30 days
}

// NoteJSON is a note on a message.
type NoteJSON struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

func (s *Server) messageJSON(v *clubline.Voicemail) Message {
	m := Message{
		ID: v.ID, CallID: v.CallID, From: v.From, Category: v.Category, Urgent: v.Urgent, Group: v.Group, Language: v.Language,
		RecordedAt: v.RecordedAt, Seconds: v.Duration.Seconds(), Due: v.FollowUpDue, Status: string(v.Status),
		AssignedTo: v.AssignedTo, DoneBy: v.DoneBy, DoneHow: v.DoneHow, Audio: "/api/messages/" + url.PathEscape(v.ID) + "/audio",
	}
	m.Overdue = v.Status == clubline.VoicemailNew && !v.FollowUpDue.IsZero() && s.o.Now().After(v.FollowUpDue)
	if !v.DoneAt.IsZero() {
		t := v.DoneAt
		m.DoneAt = &t
	}
	for _, n := range v.Notes {
		m.Notes = append(m.Notes, NoteJSON(n))
	}
	return m
}

// messageList is how far back the done messages are listed: a month of
// the office's work.
const messageList = 31 * 24 * time.Hour

// listMessages returns the messages with that status ("open", "done" or
// "all"): open ones by due time, urgent and overdue first; done ones most
// recently closed first.
func (s *Server) listMessages(ctx context.Context, status string) ([]Message, error) {
	var vms []*clubline.Voicemail
	switch status {
	case "", "open":
		fus, err := s.o.Store.FollowUps(ctx, time.Time{})
		if err != nil {
			return nil, err
		}
		for _, f := range fus {
			v, err := s.o.Store.Voicemail(ctx, f.VoicemailID)
			if errors.Is(err, clubline.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			vms = append(vms, v)
		}
	case "done", "all":
		now := s.o.Now()
		all, err := s.o.Store.Voicemails(ctx, now.Add(-messageList), now.Add(time.Hour), 0)
		if err != nil {
			return nil, err
		}
		for _, v := range all {
			if status == "all" || v.Status == clubline.VoicemailDone {
				vms = append(vms, v)
			}
		}
	default:
		return nil, fmt.Errorf("status %q: use open, done or all", status)
	}
	out := make([]Message, 0, len(vms))
	for _, v := range vms {
		out = append(out, s.messageJSON(v))
	}
	slices.SortStableFunc(out, func(a, b Message) int {
		if a.Status != b.Status {
			return cmp.Compare(b.Status, a.Status) // new before done
		}
		if a.Status == string(clubline.VoicemailDone) {
			return cmpTime(b.DoneAt, a.DoneAt)
		}
		if a.Overdue != b.Overdue {
			return boolFirst(a.Overdue, b.Overdue)
		}
		if a.Urgent != b.Urgent {
			return boolFirst(a.Urgent, b.Urgent)
		}
		return a.Due.Compare(b.Due)
	})
	return out, nil
}

func boolFirst(a, b bool) int {
	if a && !b {
		return -1
	}
	if b && !a {
		return 1
	}
	return 0
}

func cmpTime(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, a *access) {
	list, err := s.listMessages(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": list})
}

// voicemail reads the message a route names, answering 404 itself.
func (s *Server) voicemail(w http.ResponseWriter, r *http.Request) *clubline.Voicemail {
	v, err := s.o.Store.Voicemail(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, clubline.ErrNotFound):
		writeError(w, http.StatusNotFound, "no message with that id")
		return nil
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "the store cannot be read now: "+err.Error())
		return nil
	}
	return v
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, a *access) {
	v := s.voicemail(w, r)
	if v == nil {
		return
	}
	m := s.messageJSON(v)
	m.Calls = s.callsFrom(r.Context(), v.From, 30*24*time.Hour)
	s.audit(a, audit.ActionView, v.ID, "")
	writeJSON(w, http.StatusOK, m)
}

// callsFrom counts the calls from a number in the last span.
func (s *Server) callsFrom(ctx context.Context, number string, span time.Duration) int {
	now := s.o.Now()
	calls, err := s.o.Store.Calls(ctx, now.Add(-span), now.Add(time.Minute), 0)
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range calls {
		if c.From == number || clubline.SameNumber(c.From, number) {
			n++
		}
	}
	return n
}

// audio serves a message's recording, with range requests (a browser's
// <audio> seeks with them), and writes the listen to the audit log.
func (s *Server) audio(w http.ResponseWriter, r *http.Request, a *access) {
	v := s.voicemail(w, r)
	if v == nil {
		return
	}
	f, err := os.Open(v.Path)
	if err != nil && s.o.VoicemailDir != "" && v.Path != "" {
		f, err = os.Open(filepath.Join(s.o.VoicemailDir, filepath.Base(v.Path)))
	}
	if err != nil {
		writeError(w, http.StatusNotFound, "the recording of this message is missing from the voicemail folder")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	action := audit.ActionListen
	if r.URL.Query().Has("download") {
		action = audit.ActionDownload
		w.Header().Set("Content-Disposition", `attachment; filename="message-`+safeName(v.ID)+`.wav"`)
	}
	// A browser asks for the file in ranges as it plays; one listen is
	// the request for its start.
	if rg := r.Header.Get("Range"); rg == "" || strings.HasPrefix(rg, "bytes=0-") {
		s.audit(a, action, v.ID, "")
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", info.ModTime(), f)
}

func safeName(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// change reads a message, lets fn change it, saves it and tells Changed.
// fn returns the audit action and detail, or an error the client sees as
// 400.
func (s *Server) change(w http.ResponseWriter, r *http.Request, a *access, fn func(v *clubline.Voicemail) (action, detail string, err error)) {
	s.msgMu.Lock()
	v := s.voicemail(w, r)
	if v == nil {
		s.msgMu.Unlock()
		return
	}
	before := *v
	before.Notes = slices.Clone(v.Notes)
	action, detail, err := fn(v)
	if err != nil {
		s.msgMu.Unlock()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.o.Store.SaveVoicemail(r.Context(), v); err != nil {
		s.msgMu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "the change was not saved: "+err.Error())
		return
	}
	s.msgMu.Unlock()
	s.audit(a, action, v.ID, detail)
	if s.o.Changed != nil {
		s.o.Changed(&before, v)
	}
	writeJSON(w, http.StatusOK, s.messageJSON(v))
}

// maxNote bounds a note: a line or two, not a file.
const maxNote = 2000

func (s *Server) addNote(v *clubline.Voicemail, by, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	if len(text) > maxNote {
		return fmt.Errorf("a note is at most %d characters", maxNote)
	}
	v.Notes = append(v.Notes, clubline.Note{By: by, At: s.o.Now(), Text: text})
	return nil
}

func (s *Server) done(w http.ResponseWriter, r *http.Request, a *access) {
	var req struct {
		Note string `json:"note"`
	}
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.change(w, r, a, func(v *clubline.Voicemail) (string, string, error) {
		if err := s.addNote(v, a.user.ID, req.Note); err != nil {
			return "", "", err
		}
		if v.Status != clubline.VoicemailDone {
			v.Status, v.DoneAt, v.DoneBy, v.DoneHow = clubline.VoicemailDone, s.o.Now(), a.user.ID, clubline.FollowUpClosedWeb
		}
		return audit.ActionDone, "", nil
	})
}

func (s *Server) reopen(w http.ResponseWriter, r *http.Request, a *access) {
	s.change(w, r, a, func(v *clubline.Voicemail) (string, string, error) {
		v.Status, v.DoneAt, v.DoneBy, v.DoneHow = clubline.VoicemailNew, time.Time{}, "", ""
		return audit.ActionReopen, "", nil
	})
}

func (s *Server) assign(w http.ResponseWriter, r *http.Request, a *access) {
	var req struct {
		To string `json:"to"`
	}
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := s.o.Users()[req.To]; req.To != "" && !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a staff id", req.To))
		return
	}
	s.change(w, r, a, func(v *clubline.Voicemail) (string, string, error) {
		v.AssignedTo = req.To
		return audit.ActionAssign, "to " + cmp.Or(req.To, "nobody"), nil
	})
}

func (s *Server) note(w http.ResponseWriter, r *http.Request, a *access) {
	var req struct {
		Text string `json:"text"`
	}
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if strings.TrimSpace(req.Text) == "" {
		writeError(w, http.StatusBadRequest, `write the note in "text"`)
		return
	}
	s.change(w, r, a, func(v *clubline.Voicemail) (string, string, error) {
		return audit.ActionNote, "", s.addNote(v, a.user.ID, req.Text)
	})
}

// CallJSON is a call record as the Calls page shows it.
type CallJSON struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"started_at"`
	From       string    `json:"from"`   // masked but for admins
	Caller     string    `json:"caller"` // groups a caller's calls without showing the number
	Category   string    `json:"category,omitempty"`
	Outcome    string    `json:"outcome"`
	Hours      string    `json:"hours,omitempty"`
	Group      string    `json:"group,omitempty"`
	Wait       float64   `json:"wait_seconds,omitempty"`
	AnsweredBy string    `json:"answered_by,omitempty"`
	Seconds    float64   `json:"seconds"`
	Voicemail  string    `json:"voicemail_id,omitempty"`
	Trace      []string  `json:"trace,omitempty"`
}

// errBadDay is a ?day= that is not a date.
var errBadDay = errors.New("day: write it as 2026-12-04")

// callList lists the calls of one day (?day=2026-12-04 in the club's time
// zone, default today), newest first, filtered by ?outcome= and
// ?category=, or a caller's calls of the last 30 days (?caller= the
// caller key of one of them). Numbers are masked but for admins.
func (s *Server) callList(ctx context.Context, q url.Values, admin bool) ([]CallJSON, error) {
	loc := s.o.Location
	now := s.o.Now().In(loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	if d := q.Get("day"); d != "" {
		t, err := time.ParseInLocation(time.DateOnly, d, loc)
		if err != nil {
			return nil, errBadDay
		}
		from = t
	}
	to := from.AddDate(0, 0, 1)
	caller := q.Get("caller")
	if caller != "" {
		from, to = now.AddDate(0, 0, -30), now.Add(time.Minute)
	}
	calls, err := s.o.Store.Calls(ctx, from, to, 0)
	if err != nil {
		return nil, fmt.Errorf("the store cannot be read now: %w", err)
	}
	out := []CallJSON{}
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		if o := q.Get("outcome"); o != "" && string(c.Outcome) != o {
			continue
		}
		if cat := q.Get("category"); cat != "" && c.Category != cat {
			continue
		}
		key := s.callerKey(c.From)
		if caller != "" && key != caller {
			continue
		}
		cj := CallJSON{ID: c.ID, StartedAt: c.StartedAt, From: clubline.MaskNumber(c.From), Caller: key, Category: c.Category,
			Outcome: string(c.Outcome), Hours: string(c.Hours), Group: c.Group, Wait: c.Wait.Seconds(), AnsweredBy: c.AnsweredBy,
			Seconds: c.Duration.Seconds(), Voicemail: c.VoicemailID, Trace: c.Trace}
		if admin {
			cj.From = c.From
		}
		out = append(out, cj)
	}
	return out, nil
}

func (s *Server) calls(w http.ResponseWriter, r *http.Request, a *access) {
	list, err := s.callList(r.Context(), r.URL.Query(), a.user.Admin)
	switch {
	case errors.Is(err, errBadDay):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{"calls": list})
	}
}

func (s *Server) override(w http.ResponseWriter, r *http.Request, a *access) {
	var req struct {
		Mode string `json:"mode"`
	}
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch req.Mode {
	case ModeAuto, ModeOpen, ModeClosed:
	default:
		writeError(w, http.StatusBadRequest, `mode: "auto", "open" or "closed"`)
		return
	}
	if s.o.SetOverride == nil {
		writeError(w, http.StatusServiceUnavailable, "the override cannot be changed here")
		return
	}
	if err := s.o.SetOverride(r.Context(), req.Mode, a.user.ID); err != nil {
		writeError(w, http.StatusServiceUnavailable, "the override was not changed: "+err.Error())
		return
	}
	s.audit(a, audit.ActionOverride, req.Mode, "")
	st := Status{Override: Override{Mode: req.Mode, By: a.user.ID}}
	if s.o.Status != nil {
		if got, err := s.o.Status(r.Context()); err == nil {
			st = got
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Audit == nil {
		writeJSON(w, http.StatusOK, map[string]any{"entries": []audit.Entry{}})
		return
	}
	target := r.URL.Query().Get("target")
	entries, err := s.o.Audit.Entries(func(e audit.Entry) bool { return target == "" || e.Target == target })
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// report serves the service report: ?from=2026-11-01&to=2026-11-30
// (days, the last included; default the last 7 days), &format=csv for
// CSV, text otherwise.
func (s *Server) report(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Report == nil {
		writeError(w, http.StatusNotFound, "no report here")
		return
	}
	q := r.URL.Query()
	format := "text"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if q.Get("format") == "csv" {
		format = "csv"
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="clubline-report.csv"`)
	}
	var buf bytes.Buffer
	if err := s.o.Report(r.Context(), q.Get("from"), q.Get("to"), format, &buf); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	_, _ = w.Write(buf.Bytes())
}
