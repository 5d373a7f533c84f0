package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/notify"
	"github.com/clubline/clubline/privacy"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/web"
)

// The office's side of the line: who may sign in to the web page, the
// override switch they may flip, and what the Now page shows.

// stateOverride is the Store state key of the override switch.
const stateOverride = "override"

// overrideState is the switch as kept: the mode, who set it and when.
type overrideState struct {
	Mode string    `json:"mode"`
	By   string    `json:"by,omitempty"`
	At   time.Time `json:"at,omitempty"`
}

// overrideMirror is the copy of the switch beside the data, which
// `clubline check` reads while the running line holds the embedded store.
func overrideMirror(cfg *config.Config) string {
	return filepath.Join(cfg.Store.DataDir, "override.json")
}

// loadOverride reads the switch an admin set on the web page, so that it
// survives a restart. An unreadable store leaves the file's hours.override.
func (m *Main) loadOverride(ctx context.Context, cfg *config.Config) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := m.Store.State(ctx, stateOverride)
	if errors.Is(err, clubline.ErrNotFound) {
		return
	}
	var o overrideState
	if err == nil {
		err = json.Unmarshal([]byte(v), &o)
	}
	if err != nil {
		m.Logger.Warn("the override switch of the web page could not be read: the line follows hours.override until it is set again", "err", err)
		return
	}
	m.override.Store(&o)
	writeMirror(overrideMirror(cfg), v)
}

// setOverride flips the switch: kept in the store (every instance and a
// restart see it), mirrored for check, and in force for the next call.
func (m *Main) setOverride(ctx context.Context, mode, by string) error {
	o := overrideState{Mode: mode, By: by, At: m.Now().UTC().Truncate(time.Second)}
	b, _ := json.Marshal(o)
	if err := m.Store.SetState(ctx, stateOverride, string(b)); err != nil {
		return err
	}
	m.override.Store(&o)
	writeMirror(overrideMirror(m.current.Load()), string(b))
	m.rebuild()
	m.Logger.Info("override switched on the web page: new calls follow it", "mode", mode, "by", by)
	return nil
}

func writeMirror(path, v string) {
	tmp := path + ".tmp"
	if os.WriteFile(tmp, []byte(v), 0o600) == nil {
		_ = os.Rename(tmp, path)
	}
}

// readMirror is the override switch as `check` finds it: "" when none was
// set on the web page.
func readMirror(cfg *config.Config) (overrideState, bool) {
	var o overrideState
	b, err := os.ReadFile(overrideMirror(cfg))
	if err != nil || json.Unmarshal(b, &o) != nil || o.Mode == "" {
		return o, false
	}
	return o, true
}

// schedule is the config's hours with the web page's switch applied: an
// admin's open or closed beats the file; auto leaves hours.override.
func (m *Main) schedule(cfg *config.Config) *routing.Schedule {
	s := cfg.Schedule()
	if o := m.override.Load(); o != nil && o.Mode != web.ModeAuto {
		cp := *s
		cp.Override = routing.Override(o.Mode)
		return &cp
	}
	return s
}

// webUsers are the staff who may sign in, with their passwords read from
// the environment now (a reload reads them again).
func (m *Main) webUsers(cfg *config.Config) map[string]web.User {
	out := make(map[string]web.User)
	groups := map[string][]string{}
	for _, g := range cfg.Groups {
		for _, id := range g.Members {
			groups[id] = append(groups[id], g.ID)
		}
	}
	for _, s := range cfg.Staff {
		if !s.CanSignIn() {
			continue
		}
		u := web.User{ID: s.ID, Name: s.Name, Admin: s.Admin(), Groups: groups[s.ID]}
		switch {
		case s.WebPasswordHash != "":
			p, err := web.HashedPassword(s.WebPasswordHash)
			if err != nil {
				m.Logger.Error("staff web_password_hash cannot be used: they cannot sign in", "staff", s.ID, "err", err)
				continue
			}
			u.Password = p
		default:
			pw := os.Getenv(s.WebPasswordEnv)
			if pw == "" {
				m.Logger.Warn("staff web_password_env is not set where clubline runs: they cannot sign in until it is", "staff", s.ID, "env", s.WebPasswordEnv)
				continue
			}
			u.Password = web.PlainPassword(pw)
		}
		out[s.ID] = u
	}
	return out
}

// officeStatus assembles the Now page.
func (m *Main) officeStatus(ctx context.Context) (web.Status, error) {
	cfg := m.current.Load()
	now := m.Now()
	loc := cfg.Club.Location
	st := m.schedule(cfg).At(now)
	out := web.Status{Open: st.Open, Why: statusLine(now.In(loc), st, loc), Override: web.Override{Mode: web.ModeAuto}}
	if !st.NextOpen.IsZero() {
		t := st.NextOpen
		out.NextChange, out.Next = &t, "opens"
	}
	if o := m.override.Load(); o != nil {
		if o.Mode != web.ModeAuto {
			out.Why = strings.Replace(out.Why, "until hours.override is back to auto", "until an admin sets the override back to automatic", 1)
		}
		out.Override = web.Override{Mode: o.Mode, By: o.By}
		if !o.At.IsZero() {
			t := o.At
			out.Override.At = &t
		}
	}
	names := map[string]string{}
	for _, s := range cfg.Staff {
		names[s.ID] = s.Name
	}
	if id, _, ok := cfg.Roster().OnCall(now); ok {
		out.OnCall = append(out.OnCall, names[id])
	}
	registered := map[string]bool{}
	if m.Registrar != nil {
		for _, r := range m.Registrar.Bindings("") {
			registered[r.StaffID] = true
		}
	}
	for _, s := range cfg.Staff {
		out.Phones = append(out.Phones, web.Phone{Staff: s.ID, Name: s.Name, Registered: registered[s.ID], Busy: m.acd.OnCall(s.ID)})
	}
	for _, t := range m.SIP.Trunks() {
		ts := t.State()
		tr := web.Trunk{Name: t.Name(), Registered: ts.Registered || !t.Registers()}
		if !t.Registers() {
			tr.Detail = "IP-authenticated"
		} else if !ts.Registered {
			tr.Detail = ts.Reason
		}
		out.Trunks = append(out.Trunks, tr)
	}
	queued := map[string]routing.Ticket{}
	for _, t := range m.acd.Queued() {
		queued[t.CallID] = t
	}
	if calls, err := m.Store.Calls(ctx, now.Add(-6*time.Hour), now.Add(time.Minute), 0); err == nil {
		for _, c := range calls {
			if !c.EndedAt.IsZero() {
				continue
			}
			lc := web.LiveCall{ID: c.ID, From: clubline.MaskNumber(c.From), Stage: string(c.Stage), Since: c.StartedAt}
			if t, ok := queued[c.ID]; ok {
				lc.Stage, lc.Group, lc.Waiting = string(clubline.StageQueue), t.Group, now.Sub(t.JoinedAt).Seconds()
			}
			if lc.Stage == "" {
				lc.Stage = "greeting"
			}
			out.Calls = append(out.Calls, lc)
		}
	}
	if fus, err := m.Store.FollowUps(ctx, time.Time{}); err == nil {
		out.FollowUps.Open = len(fus)
		for _, f := range fus {
			if f.Due.Before(now) {
				out.FollowUps.Overdue++
			}
		}
	} else {
		return out, fmt.Errorf("the store cannot be read now: %w", err)
	}
	if len(out.Phones) == 0 {
		out.Phones = []web.Phone{}
	}
	return out, nil
}

// overrideLine is check's line about the web page's switch.
func overrideLine(cfg *config.Config) string {
	o, ok := readMirror(cfg)
	if !ok || o.Mode == web.ModeAuto {
		return ""
	}
	return fmt.Sprintf("Override from the web page: %s (by %s, %s) — it beats hours.override until an admin sets it back to auto",
		strings.ToUpper(o.Mode), o.By, o.At.In(cfg.Club.Location).Format("2006-01-02 15:04"))
}

// messageChanged is told of every change the office makes to a message:
// the open follow-ups and how they were closed are counted.
func (m *Main) messageChanged(before, after *clubline.Voicemail) {
	wasOpen := before != nil && before.Status == clubline.VoicemailNew
	open := after.Status == clubline.VoicemailNew
	switch {
	case wasOpen && !open:
		m.Metrics.FollowUpsOpen.Dec()
		m.Metrics.FollowUpClosed(after.DoneHow)
	case !wasOpen && open:
		m.Metrics.FollowUpsOpen.Inc()
	}
	m.mailboxChanged(m.current.Load(), after)
}

// officePrivacy carries out the privacy requests of the web page.
type officePrivacy struct{ m *Main }

func (p officePrivacy) opts() privacy.Options {
	cfg := p.m.current.Load()
	o := privacy.Options{Store: p.m.Store, VoicemailDir: cfg.Voicemail.Dir, Audit: p.m.Audit, Logger: p.m.Logger}
	if p.m.outbox != nil {
		o.Pending = append(o.Pending, p.m.outbox.Purge)
	}
	// What the outbox does not hold (files set aside as unreadable, or
	// left by a run with notifications since switched off).
	dir := filepath.Join(cfg.Store.DataDir, "outbox")
	o.Pending = append(o.Pending, func(n string) (int, error) { return notify.PurgeDir(dir, n) })
	return o
}

func (p officePrivacy) Export(ctx context.Context, number string, w io.Writer) error {
	return privacy.Export(ctx, p.opts(), number, w)
}

// Erase erases, then counts the open follow-ups again and updates the
// message lights: the caller's messages are gone from both.
func (p officePrivacy) Erase(ctx context.Context, number string) (string, error) {
	erased, err := privacy.Erase(ctx, p.opts(), number)
	p.m.countFollowUps(ctx)
	if erased.Messages > 0 && p.m.mwi != nil {
		cfg := p.m.current.Load()
		p.m.mwi(mailboxStaff(cfg, &clubline.Voicemail{}))
	}
	return erased.String(), err
}
