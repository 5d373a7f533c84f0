package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/config"
)

const notifyYAML = head + `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: PW_MARIE, email: marie@club.example, web_password_env: WEB_MARIE, roles: [admin] }
  - { id: luc, name: Luc Gagnon, extension: "202", password_env: PW_LUC, email: luc@club.example, mwi: unsolicited,
      web_password_hash: "$2b$10$abcdefghijklmnopqrstuu5gN2wq1Yx2gJQ2l9kq0h7a0Vd3qf0eW" }
groups:
  - { id: office, members: [marie, luc], notify: [marie, secretariat@club.example], escalation: [luc] }
voicemail:
  notify: [marie]
  attach: false
notify:
  smtp: { host: smtp.club.example, username: ligne@club.example, password_env: SMTP_PW, from: "Club <ligne@club.example>" }
  webhook: { url: "https://hooks.example.org/x", secret_env: HOOK_SECRET }
  remind_before: 2h
http:
  listen: 127.0.0.1:9468
  public_url: https://ligne.club.example/
`

func TestNotifySection(t *testing.T) {
	c, err := config.Parse("n.yaml", []byte(notifyYAML))
	if err != nil {
		t.Fatal(err)
	}
	m, l := c.Staff[0], c.Staff[1]
	if m.Email != "marie@club.example" || m.WebPasswordEnv != "WEB_MARIE" || !m.Admin() || !m.CanSignIn() {
		t.Errorf("marie: %+v", m)
	}
	if l.Admin() || l.MWI != config.MWIUnsolicited || l.WebPasswordHash == "" {
		t.Errorf("luc: %+v", l)
	}
	g := c.Groups[0]
	if !slices.Equal(g.Notify, []string{"marie", "secretariat@club.example"}) || !slices.Equal(g.Escalation, []string{"luc"}) {
		t.Errorf("group: notify %v escalation %v", g.Notify, g.Escalation)
	}
	if !slices.Equal(c.Voicemail.Notify, []string{"marie"}) || c.Voicemail.Attach {
		t.Errorf("voicemail: %+v", c.Voicemail)
	}
	s := c.Notify.SMTP
	if s.Host != "smtp.club.example" || s.Port != 587 || s.TLS != config.SMTPTLSStartTLS || s.PasswordEnv != "SMTP_PW" {
		t.Errorf("smtp: %+v", s)
	}
	if c.Notify.RemindBefore != 2*time.Hour || !c.Notify.Escalate || !c.Notify.MaskNumbers || c.Notify.Webhook.SecretEnv != "HOOK_SECRET" {
		t.Errorf("notify: %+v", c.Notify)
	}
	if c.HTTP.PublicURL != "https://ligne.club.example" {
		t.Errorf("public_url %q", c.HTTP.PublicURL)
	}
	def := config.Default()
	if !def.Voicemail.Attach || def.Notify.RemindBefore != 4*time.Hour || !def.Notify.Escalate {
		t.Errorf("defaults: %+v %+v", def.Voicemail, def.Notify)
	}
}

func TestNotifyErrors(t *testing.T) {
	staff := head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW }\n"
	tests := []struct{ name, yaml, key, msg string }{
		{"web password in file", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, web_password: x }\n",
			"staff[1].web_password", "never written"},
		{"bad role", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, roles: [boss] }\n",
			"staff[1].roles", "not a role"},
		{"bad hash", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, web_password_hash: abc }\n",
			"staff[1].web_password_hash", "argon2id"},
		{"bad email", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, email: marie }\n",
			"staff[1].email", "not an e-mail"},
		{"recipient without email", staff + "voicemail:\n  notify: [marie]\nnotify:\n  smtp: { host: h.example, from: a@b.example }\n",
			"voicemail.notify[1]", "has no email"},
		{"unknown recipient", staff + "voicemail:\n  notify: [mari]\nnotify:\n  smtp: { host: h.example, from: a@b.example }\n",
			"voicemail.notify[1]", "mari"},
		{"no way to send", staff + "voicemail:\n  notify: [x@y.example]\n", "voicemail.notify", "no smtp server"},
		{"smtp password in file", head + "notify:\n  smtp: { host: h.example, from: a@b.example, password: x }\n", "notify.smtp.password", "never written"},
		{"smtp clear", head + "notify:\n  smtp: { host: h.example, from: a@b.example, username: u, password_env: P, tls: none }\n", "notify.smtp.tls", "in clear"},
		{"smtp no host", head + "notify:\n  smtp: { from: a@b.example }\n", "notify.smtp.host", "missing"},
		{"webhook no secret", head + "notify:\n  webhook: { url: https://h.example/x }\n", "notify.webhook.secret_env", "forger"},
		{"webhook http", head + "notify:\n  webhook: { url: http://h.example/x, secret_env: S }\n", "notify.webhook.url", "https"},
		{"page on the network", head + "http:\n  listen: 0.0.0.0:9468\nstaff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW, web_password_env: W }\n",
			"http.listen", "reverse proxy"},
		{"public url path", head + "http:\n  public_url: https://x.example/phone\n", "http.public_url", "not the address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("n.yaml", []byte(tt.yaml))
			errs, _ := err.(config.Errors)
			for _, e := range errs {
				if e.Key == tt.key && strings.Contains(e.Msg+" "+e.Fix, tt.msg) {
					return
				}
			}
			t.Errorf("want %s …%s…, got:\n%v", tt.key, tt.msg, err)
		})
	}
}
