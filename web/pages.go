package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
)

//go:embed assets
var assets embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"t":   word,
	"cat": category,
	"clock": func(t time.Time, loc *time.Location) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04")
	},
	"clockp": func(t *time.Time, loc *time.Location) string {
		if t == nil {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04")
	},
	"secs": func(f float64) string {
		d := time.Duration(f * float64(time.Second)).Round(time.Second)
		return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
	},
}).ParseFS(assets, "assets/*.html"))

// page is what every template gets.
type page struct {
	Lang     string
	Other    string // the other language, for the switch
	Title    string
	Active   string
	User     User
	CSRF     string
	Loc      *time.Location
	Error    string
	Data     any
	Query    url.Values
	Location string
}

func (s *Server) pages() {
	m := s.mux
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("GET /{$}", s.need(false, func(w http.ResponseWriter, r *http.Request, a *access) {
		http.Redirect(w, r, "/now", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /now", s.need(false, s.nowPage))
	m.HandleFunc("GET /messages", s.need(false, s.messagesPage))
	m.HandleFunc("GET /calls", s.need(false, s.callsPage))
	m.HandleFunc("GET /recordings", s.need(true, s.recordingsPage))
	m.HandleFunc("GET /privacy", s.need(true, s.privacyPage))
}

// lang is the page's language: ?lang= (kept in a cookie), the cookie, or
// the club's first language.
func (s *Server) lang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "fr" || l == "en" {
		http.SetCookie(w, &http.Cookie{Name: "clubline_lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: s.o.Secure})
		return l
	}
	if c, err := r.Cookie("clubline_lang"); err == nil && (c.Value == "fr" || c.Value == "en") {
		return c.Value
	}
	return s.o.Language
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, a *access, name, active string, data any) {
	p := page{Lang: s.lang(w, r), Active: active, Loc: s.o.Location, Data: data, Query: r.URL.Query(), Location: r.URL.Path}
	p.Other = map[string]string{"fr": "en", "en": "fr"}[p.Lang]
	p.Title = word(p.Lang, active)
	if a != nil {
		p.User, p.CSRF = a.user, a.ses.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplates.ExecuteTemplate(w, name, p); err != nil {
		s.o.Logger.Error("web page not rendered", "page", name, "err", err)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.access(r) != nil {
		http.Redirect(w, r, "/now", http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, "login.html", "signin", nil)
}

func (s *Server) nowPage(w http.ResponseWriter, r *http.Request, a *access) {
	var st Status
	var errText string
	if s.o.Status != nil {
		var err error
		if st, err = s.o.Status(r.Context()); err != nil {
			errText = err.Error()
		}
	}
	p := struct {
		Status
		Err   string
		Probe bool // the mystery call can be placed from the page (admins)
	}{st, errText, s.o.Probe != nil}
	s.render(w, r, a, "now.html", "now", p)
}

func (s *Server) messagesPage(w http.ResponseWriter, r *http.Request, a *access) {
	status := r.URL.Query().Get("status")
	if status != "done" && status != "all" { // all: a call's message, from the Calls page
		status = "open"
	}
	list, err := s.listMessages(r.Context(), status)
	p := struct {
		Status   string
		Messages []Message
		Staff    []User
		Err      string
	}{Status: status, Messages: list, Staff: s.staffList()}
	if err != nil {
		p.Err = err.Error()
	}
	s.render(w, r, a, "messages.html", "messages", p)
}

func (s *Server) staffList() []User {
	var out []User
	for _, u := range s.o.Users() {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) callsPage(w http.ResponseWriter, r *http.Request, a *access) {
	list, err := s.callList(r.Context(), r.URL.Query(), a.user.Admin)
	p := struct {
		Calls      []CallJSON
		Err        string
		Outcomes   []string
		Categories []string
		Day        string
	}{Calls: list, Outcomes: []string{string(clubline.OutcomeAnswered), string(clubline.OutcomeVoicemail), string(clubline.OutcomeAbandoned),
		string(clubline.OutcomeRejected), string(clubline.OutcomeFailed)}}
	if err != nil {
		p.Err = err.Error()
	}
	p.Day = r.URL.Query().Get("day")
	if p.Day == "" {
		p.Day = s.o.Now().In(s.o.Location).Format(time.DateOnly)
	}
	seen := map[string]bool{}
	for _, c := range p.Calls {
		if c.Category != "" && !seen[c.Category] {
			seen[c.Category] = true
			p.Categories = append(p.Categories, c.Category)
		}
	}
	s.render(w, r, a, "calls.html", "calls", p)
}

func (s *Server) recordingsPage(w http.ResponseWriter, r *http.Request, a *access) {
	var list []Prompt
	var errText string
	if s.o.Recordings != nil {
		var err error
		if list, err = s.o.Recordings.List(r.Context()); err != nil {
			errText = err.Error()
		}
	}
	s.render(w, r, a, "recordings.html", "recordings", struct {
		Prompts []Prompt
		Err     string
	}{list, errText})
}

func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request, a *access) {
	s.render(w, r, a, "privacy.html", "privacy", nil)
}
