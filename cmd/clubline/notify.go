package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/notify"
	"github.com/clubline/clubline/web"
)

// Telling people that a message waits: an e-mail to the people who own
// it (and a webhook) when it arrives, a reminder before it is due, an
// escalation once it is overdue; the message light on their phones all
// along. The deliveries go through the outbox (data/outbox), so a mail
// server down loses none.

// followUpEvery is how often the open follow-ups are looked at for
// reminders, escalations and the overdue count.
const followUpEvery = time.Minute

// newOutbox builds the outbox from notify.smtp and notify.webhook; nil
// when neither can be used. A channel that cannot be set up (its password
// or secret unset where clubline runs) is logged and left out: the line
// answers all the same, and the messages wait on the web page.
func (m *Main) newOutbox(cfg *config.Config) (*notify.Outbox, error) {
	n := cfg.Notify
	opts := notify.OutboxOptions{
		Dir:    filepath.Join(cfg.Store.DataDir, "outbox"),
		Logger: m.Logger,
		Now:    m.Now,
		OnResult: func(channel, result string) {
			m.Metrics.Notification(channel, result)
		},
	}
	if s := n.SMTP; s.Host != "" {
		pw := ""
		if s.PasswordEnv != "" {
			pw = os.Getenv(s.PasswordEnv)
		}
		ml, err := notify.NewMailer(notify.MailerOptions{
			Host: s.Host, Port: s.Port, Username: s.Username, Password: pw, From: s.From,
			TLS: notify.TLSMode(s.TLS), Location: cfg.Club.Location,
		})
		switch {
		case s.PasswordEnv != "" && pw == "":
			m.Logger.Error("notify.smtp.password_env is not set where clubline runs: no e-mail is sent until it is set and clubline restarted; messages wait on the web page", "env", s.PasswordEnv)
		case err != nil:
			m.Logger.Error("notify.smtp cannot be used: no e-mail is sent; messages wait on the web page", "err", err)
		default:
			opts.Email, m.email = ml, true
		}
	}
	if w := n.Webhook; w.URL != "" {
		wh, err := notify.NewWebhook(notify.WebhookOptions{URL: w.URL, Secret: os.Getenv(w.SecretEnv), ShowNumber: !n.MaskNumbers, Now: m.Now})
		if err != nil {
			m.Logger.Error("notify.webhook cannot be used: the web hook is off until clubline restarts with it fixed", "secret_env", w.SecretEnv, "err", err)
		} else {
			opts.Webhook = wh
		}
	}
	if opts.Email == nil && opts.Webhook == nil {
		return nil, nil
	}
	return notify.NewOutbox(opts)
}

// recipient is one person told of a message.
type recipient struct {
	addr  string
	admin bool // may read the caller's number in full
	lang  string
}

// owners are who a message is for: its group's notify list (or
// voicemail.notify for a message of no group) and, for an urgent one,
// whoever is on call.
func owners(cfg *config.Config, v *clubline.Voicemail, now time.Time) []string {
	var ids []string
	if g := findGroup(cfg, v.Group); g != nil && len(g.Notify) > 0 {
		ids = append(ids, g.Notify...)
	} else {
		ids = append(ids, cfg.Voicemail.Notify...)
	}
	if v.Urgent {
		if id, _, ok := cfg.Roster().OnCall(now); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// escalation are who is told of an overdue message: its group's
// escalation contacts, else the admins.
func escalation(cfg *config.Config, v *clubline.Voicemail) []string {
	if g := findGroup(cfg, v.Group); g != nil && len(g.Escalation) > 0 {
		return g.Escalation
	}
	var ids []string
	for _, s := range cfg.Staff {
		if s.Admin() {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func findGroup(cfg *config.Config, id string) *config.Group {
	for i := range cfg.Groups {
		if cfg.Groups[i].ID == id {
			return &cfg.Groups[i]
		}
	}
	return nil
}

// resolve turns staff ids and addresses into recipients, each once.
func resolve(cfg *config.Config, ids []string) []recipient {
	var out []recipient
	seen := map[string]bool{}
	lang := cfg.Club.Languages[0]
	for _, id := range ids {
		r := recipient{addr: id, lang: lang}
		if !strings.Contains(id, "@") {
			i := slices.IndexFunc(cfg.Staff, func(s config.Staff) bool { return s.ID == id })
			if i < 0 || cfg.Staff[i].Email == "" {
				continue
			}
			r.addr, r.admin = cfg.Staff[i].Email, cfg.Staff[i].Admin()
		}
		if !seen[strings.ToLower(r.addr)] {
			seen[strings.ToLower(r.addr)] = true
			out = append(out, r)
		}
	}
	return out
}

// tell enqueues one notification of kind k about v for each recipient
// (and once for the webhook when k is new).
func (m *Main) tell(cfg *config.Config, k notify.Kind, v *clubline.Voicemail, ids []string) {
	if m.outbox == nil {
		return
	}
	base := notify.ForVoicemail(k, v)
	base.Link = m.messageLink(cfg, v.ID)
	for _, r := range resolve(cfg, ids) {
		if !m.email {
			break // no mail server: the web page shows the message
		}
		msg := base
		msg.To, msg.Language = []string{r.addr}, r.lang
		msg.CategoryLabel = web.CategoryLabel(r.lang, v.Category)
		msg.ShowNumber = r.admin || !cfg.Notify.MaskNumbers
		if cfg.Voicemail.Attach && k == notify.KindNew {
			msg.Attach = v.Path
		}
		if err := m.outbox.Enqueue(msg); err != nil {
			m.Logger.Error("notification not queued", "voicemail", v.ID, "kind", k, "err", err)
		}
	}
	if cfg.Notify.Webhook.URL != "" {
		msg := base // no recipients: the webhook alone
		msg.CategoryLabel = web.CategoryLabel(cfg.Club.Languages[0], v.Category)
		if err := m.outbox.Enqueue(msg); err != nil {
			m.Logger.Error("webhook notification not queued", "voicemail", v.ID, "kind", k, "err", err)
		}
	}
}

// messageLink is the message's address on the web page.
func (m *Main) messageLink(cfg *config.Config, id string) string {
	base := cfg.HTTP.PublicURL
	if base == "" {
		scheme := "http"
		if cfg.HTTP.TLS.CertFile != "" {
			scheme = "https"
		}
		addr := cfg.HTTP.Listen
		if m.Admin != nil && m.Admin.Addr() != "" {
			addr = m.Admin.Addr()
		}
		base = scheme + "://" + addr
	}
	return base + "/messages#msg-" + id
}

// onMessage is told of every message saved or changed, by the call
// script or the web page: a new one is told to its owners, and the
// message lights of the staff concerned follow.
func (m *Main) onMessage(before, after *clubline.Voicemail) {
	cfg := m.current.Load()
	if before == nil && after.Status == clubline.VoicemailNew {
		m.tell(cfg, notify.KindNew, after, owners(cfg, after, m.Now()))
	}
	m.mailboxChanged(cfg, after)
}

// mailboxChanged updates the message lights of the staff a message
// concerns (mwi.go).
func (m *Main) mailboxChanged(cfg *config.Config, v *clubline.Voicemail) {
	if m.mwi != nil {
		m.mwi(mailboxStaff(cfg, v))
	}
}

// mailboxStaff are the staff whose light a message concerns: its group's
// members, or every staff member for a message of no group.
func mailboxStaff(cfg *config.Config, v *clubline.Voicemail) []string {
	if g := findGroup(cfg, v.Group); g != nil {
		return g.Members
	}
	ids := make([]string, 0, len(cfg.Staff))
	for _, s := range cfg.Staff {
		ids = append(ids, s.ID)
	}
	return ids
}

// runFollowUps looks at the open follow-ups every minute: a reminder to
// the owners of a message due within notify.remind_before, an escalation
// for one overdue, and the overdue gauge.
func (m *Main) runFollowUps(ctx context.Context) {
	every := followUpEvery
	if m.FollowUpEvery > 0 {
		every = m.FollowUpEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.checkFollowUps(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Main) checkFollowUps(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg := m.current.Load()
	now := m.Now()
	fus, err := m.Store.FollowUps(ctx, time.Time{})
	if err != nil {
		m.Logger.Warn("open follow-ups not checked for reminders: tried again in a minute", "err", err)
		return
	}
	overdue := 0
	for _, f := range fus {
		if f.Due.Before(now) {
			overdue++
		}
		remind := cfg.Notify.RemindBefore > 0 && !now.Before(f.Due.Add(-cfg.Notify.RemindBefore)) && now.Before(f.Due)
		escalate := cfg.Notify.Escalate && !now.Before(f.Due)
		if (!remind && !escalate) || !m.leading() { // one instance of a cluster tells people
			continue
		}
		m.remindOrEscalate(ctx, cfg, f, now, remind, escalate)
	}
	m.Metrics.FollowUpsOverdue(overdue)
}

// remindOrEscalate sends a message's reminder or escalation, once: the
// mark is read and saved under the lock every writer of messages holds,
// so that a message the office closes meanwhile is neither reopened nor
// reminded of.
func (m *Main) remindOrEscalate(ctx context.Context, cfg *config.Config, f clubline.FollowUp, now time.Time, remind, escalate bool) {
	m.msgMu.Lock()
	defer m.msgMu.Unlock()
	v, err := m.Store.Voicemail(ctx, f.VoicemailID)
	if err != nil || v.Status != clubline.VoicemailNew {
		return
	}
	// A message due sooner than remind_before after it arrived (an
	// urgent one: 2 h) is reminded of halfway, not at once.
	remind = remind && !now.Before(v.FollowUpDue.Add(-min(cfg.Notify.RemindBefore, v.FollowUpDue.Sub(v.RecordedAt)/2)))
	switch {
	case remind && v.RemindedAt.IsZero():
		m.tell(cfg, notify.KindReminder, v, owners(cfg, v, now))
		v.RemindedAt = now
	case escalate && v.EscalatedAt.IsZero():
		m.tell(cfg, notify.KindEscalation, v, escalation(cfg, v))
		v.EscalatedAt = now
		m.Logger.Warn("a message is overdue: escalated", "voicemail", v.ID, "group", v.Group, "due", v.FollowUpDue)
	default:
		return
	}
	if err := m.Store.SaveVoicemail(ctx, v); err != nil && !errors.Is(err, context.Canceled) {
		m.Logger.Error("a reminder's mark not saved: it may be sent again", "voicemail", v.ID, "err", err)
	}
}

// mailbox counts the open messages that concern a staff member (their
// groups', and those of no group), and the urgent ones: what their phone's
// message light shows.
func (m *Main) mailbox(ctx context.Context, staff string) (open, urgent int, err error) {
	cfg := m.current.Load()
	fus, err := m.Store.FollowUps(ctx, time.Time{})
	if err != nil {
		return 0, 0, err
	}
	for _, f := range fus {
		v, err := m.Store.Voicemail(ctx, f.VoicemailID)
		if err != nil {
			continue
		}
		if slices.Contains(mailboxStaff(cfg, v), staff) {
			open++
			if v.Urgent {
				urgent++
			}
		}
	}
	return open, urgent, nil
}

// mailboxSource is the SIP server's Mailbox: nil without a registrar
// (no staff phone to light).
func (m *Main) mailboxSource() func(ctx context.Context, staff string) (int, int, error) {
	if m.Registrar == nil {
		return nil
	}
	return m.mailbox
}
