package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline"
)

// Notify is the notify section: how people are told that a message waits
// for them (docs/notify.md).
type Notify struct {
	SMTP    SMTP
	Webhook Webhook
	// RemindBefore is how long before a message's due time its owners
	// are reminded that it waits; 0: no reminder.
	RemindBefore time.Duration
	// Escalate tells a group's escalation contacts when one of its
	// messages is overdue.
	Escalate bool
	// MaskNumbers masks the caller's number in e-mails to people who are
	// not admins (they read it on the web page after signing in).
	MaskNumbers bool
	Line        int // of the section; 0 when absent
}

// SMTP is the mail server e-mails go through.
type SMTP struct {
	Host        string // "" : no e-mail
	Port        int
	Username    string
	PasswordEnv string // the environment variable holding the password
	From        string // "Club de Soccer Roussillon <ligne@club.example>"
	TLS         string // SMTPTLSNone, SMTPTLSStartTLS or SMTPTLSImplicit
}

// The TLS modes of notify.smtp.tls.
const (
	SMTPTLSNone     = "none"
	SMTPTLSStartTLS = "starttls"
	SMTPTLSImplicit = "implicit"
)

// Webhook is a URL told of every message, for clubs that use Slack, Teams
// or their own tools.
type Webhook struct {
	URL       string
	SecretEnv string // the environment variable holding the HMAC secret
}

// Roles a staff member may have.
const RoleAdmin = "admin"

// The message-waiting indication modes of staff[].mwi.
const (
	MWISubscribe   = "subscribe"   // the phone subscribes (RFC 3842); the usual case
	MWIUnsolicited = "unsolicited" // the phone expects NOTIFYs without subscribing
)

// Admin reports whether the staff member has the admin role.
func (s Staff) Admin() bool { return slices.Contains(s.Roles, RoleAdmin) }

// CanSignIn reports whether the staff member has a web password.
func (s Staff) CanSignIn() bool { return s.WebPasswordEnv != "" || s.WebPasswordHash != "" }

func init() {
	schema[""] = append(schema[""], "notify", "survey")
	schema["survey"] = []string{"enabled"}
	schema["notify"] = []string{"smtp", "webhook", "remind_before", "escalate", "mask_numbers"}
	schema["notify.smtp"] = []string{"host", "port", "username", "password_env", "from", "tls", "password"}
	schema["notify.webhook"] = []string{"url", "secret_env", "secret"}
	schema["voicemail"] = append(schema["voicemail"], "notify", "attach")
	schema["http"] = append(schema["http"], "tls", "public_url")
	schema["http.tls"] = []string{"cert_file", "key_file"}
}

func (d *decoder) notify(k, n *yaml.Node, o *Notify) {
	o.Line = k.Line
	d.fields(n, "notify", "notify", func(key string, k, v *yaml.Node) {
		p := "notify." + key
		switch key {
		case "smtp":
			d.smtp(v, &o.SMTP)
		case "webhook":
			d.webhook(v, &o.Webhook)
		case "remind_before":
			d.duration(v, p, true, &o.RemindBefore)
		case "escalate":
			if b, ok := d.boolean(v, p); ok {
				o.Escalate = b
			}
		case "mask_numbers":
			if b, ok := d.boolean(v, p); ok {
				o.MaskNumbers = b
			}
		}
	})
}

func (d *decoder) smtp(n *yaml.Node, s *SMTP) {
	d.fields(n, "notify.smtp", "notify.smtp", func(key string, k, v *yaml.Node) {
		p := "notify.smtp." + key
		switch key {
		case "host":
			d.str(v, p, &s.Host)
			s.Host = strings.TrimSpace(s.Host)
		case "port":
			if d.integer(v, p, &s.Port) && (s.Port < 1 || s.Port > 65535) {
				d.add(v, p, fmt.Sprintf("%d is not a port", s.Port), "write 587 (STARTTLS), 465 (implicit TLS) or 25")
			}
		case "username":
			d.str(v, p, &s.Username)
		case "password":
			d.add(k, p, "a password is never written in this file", "remove it; write password_env: CLUBLINE_SMTP_PASSWORD and set that environment variable where clubline runs")
		case "password_env":
			if val, ok := d.required(v, p, "write an environment variable name, e.g. CLUBLINE_SMTP_PASSWORD"); ok {
				if !envPattern.MatchString(val) {
					d.add(v, p, fmt.Sprintf("%q is not an environment variable name", val), "write letters, digits and _, e.g. CLUBLINE_SMTP_PASSWORD")
				}
				s.PasswordEnv = val
			}
		case "from":
			if val, ok := d.required(v, p, `write the sender, e.g. "Club de Soccer Roussillon <ligne@club.example>"`); ok {
				if _, err := mail.ParseAddress(val); err != nil {
					d.add(v, p, fmt.Sprintf("%q is not an e-mail address", val), `write e.g. "Club de Soccer Roussillon <ligne@club.example>" or ligne@club.example`)
				}
				s.From = val
			}
		case "tls":
			if val, ok := d.oneOf(v, p, []string{SMTPTLSStartTLS, SMTPTLSImplicit, SMTPTLSNone}); ok {
				s.TLS = val
			}
		}
	})
	if s.Host == "" {
		d.add(n, "notify.smtp.host", "missing", "write the mail server's name, e.g. smtp.gmail.com")
		return
	}
	if s.From == "" {
		d.add(n, "notify.smtp.from", "missing", `write the sender, e.g. "Club de Soccer Roussillon <ligne@club.example>"`)
	}
	if s.Port == 0 {
		switch s.TLS {
		case SMTPTLSImplicit:
			s.Port = 465
		case SMTPTLSNone:
			s.Port = 25
		default:
			s.Port = clubline.DefaultSMTPPort
		}
	}
	if s.TLS == "" {
		s.TLS = SMTPTLSStartTLS
		if s.Port == 465 {
			s.TLS = SMTPTLSImplicit
		}
	}
	if s.TLS == SMTPTLSNone && (s.PasswordEnv != "" || s.Username != "") {
		d.add(n, "notify.smtp.tls", "none would send the SMTP password in clear",
			"write tls: starttls (port 587) or tls: implicit (port 465); tls: none is for a relay that takes mail without a login")
	}
	if s.Username != "" && s.PasswordEnv == "" {
		d.add(n, "notify.smtp.password_env", "missing: a username is given without a password", "add password_env: CLUBLINE_SMTP_PASSWORD")
	}
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

func (d *decoder) webhook(n *yaml.Node, w *Webhook) {
	d.fields(n, "notify.webhook", "notify.webhook", func(key string, k, v *yaml.Node) {
		p := "notify.webhook." + key
		switch key {
		case "url":
			if val, ok := d.required(v, p, "write the URL to POST to, e.g. https://hooks.slack.com/…"); ok {
				u, err := url.Parse(val)
				switch {
				case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
					d.add(v, p, fmt.Sprintf("%q is not an http(s) URL", val), "write e.g. https://hooks.example.org/clubline")
				case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
					d.add(v, p, "http:// would send callers' numbers in clear over the network", "write the https:// URL")
				}
				w.URL = val
			}
		case "secret":
			d.add(k, p, "a secret is never written in this file", "remove it; write secret_env: CLUBLINE_WEBHOOK_SECRET and set that environment variable")
		case "secret_env":
			if val, ok := d.required(v, p, "write an environment variable name, e.g. CLUBLINE_WEBHOOK_SECRET"); ok {
				if !envPattern.MatchString(val) {
					d.add(v, p, fmt.Sprintf("%q is not an environment variable name", val), "write letters, digits and _")
				}
				w.SecretEnv = val
			}
		}
	})
	if w.URL != "" && w.SecretEnv == "" {
		d.add(n, "notify.webhook.secret_env", "missing: the receiver could not tell clubline's requests from a forger's",
			"add secret_env: CLUBLINE_WEBHOOK_SECRET, holding a long random string shared with the receiver")
	}
}

// staffWeb reads the keys of a staff entry about the web page, e-mail and
// MWI; it reports whether key was one of them.
func (d *decoder) staffWeb(key, p string, k, v *yaml.Node, s *Staff, bad func(n *yaml.Node, key, msg, fix string)) bool {
	path := p + "." + key
	switch key {
	case "roles":
		vals, nodes, ok := d.strings(v, path)
		if !ok {
			return true
		}
		for i, r := range vals {
			if r != RoleAdmin {
				bad(nodes[i], key, fmt.Sprintf("%q is not a role", r), "write roles: [admin], or remove roles for a staff member without it")
				continue
			}
			s.Roles = append(s.Roles, r)
		}
		return true
	case "email", "web_password_env", "web_password_hash", "web_password", "mwi":
	default:
		return false
	}
	val, ok := d.scalar(v, path)
	if !ok {
		return true
	}
	val = strings.TrimSpace(val)
	switch key {
	case "email":
		a, err := mail.ParseAddress(val)
		if err != nil || a.Name != "" {
			bad(v, key, fmt.Sprintf("%q is not an e-mail address", val), "write the address alone, e.g. marie@club.example")
			return true
		}
		s.Email = a.Address
	case "web_password":
		bad(k, key, "a password is never written in this file",
			"remove it; write web_password_env: CLUBLINE_WEB_"+strings.ToUpper(strings.ReplaceAll(s.ID, "-", "_"))+", or web_password_hash with the output of `clubline passwd`")
	case "web_password_env":
		if !envPattern.MatchString(val) {
			bad(v, key, fmt.Sprintf("%q is not an environment variable name", val), "write letters, digits and _, e.g. CLUBLINE_WEB_MARIE")
		}
		s.WebPasswordEnv = val
	case "web_password_hash":
		if msg := checkPasswordHash(val); msg != "" {
			bad(v, key, msg, "write the line `clubline passwd` prints (an argon2id hash), or a bcrypt hash")
		}
		s.WebPasswordHash = val
	case "mwi":
		if val != MWISubscribe && val != MWIUnsolicited {
			bad(v, key, fmt.Sprintf("%q: mwi is subscribe or unsolicited", val), "write mwi: unsolicited only for a phone that shows the message light without subscribing")
		}
		s.MWI = val
	}
	return true
}

// checkPasswordHash says what is wrong with a web_password_hash, in the
// terms of the forms the web page reads ("" : nothing).
func checkPasswordHash(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		if strings.Count(h, "$") != 5 {
			return "an argon2id hash reads $argon2id$v=19$m=…,t=…,p=…$salt$hash"
		}
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if len(h) != 60 {
			return "a bcrypt hash is 60 characters"
		}
	default:
		return "is not an argon2id ($argon2id$…) or bcrypt ($2b$…) hash"
	}
	return ""
}

// recipientRef is a list of people to tell (staff ids or addresses) and
// where it was written, checked once the staff are known.
type recipientRef struct {
	key   string
	nodes []*yaml.Node
}

func (d *decoder) recipients(v *yaml.Node, path string, dst *[]string) {
	vals, nodes, ok := d.strings(v, path)
	if !ok {
		return
	}
	*dst = nil
	for i, s := range vals {
		s = strings.TrimSpace(s)
		if slices.Contains(*dst, s) {
			d.add(nodes[i], item(path, i), s+" is listed twice", "list each person once")
			continue
		}
		*dst = append(*dst, s)
	}
	d.people.recipients = append(d.people.recipients, recipientRef{key: path, nodes: nodes})
}

// checkRecipients checks every recipient list: an address must read, and
// a staff id must name a staff member with an e-mail address.
func (d *decoder) checkRecipients(c *Config) {
	byID := map[string]Staff{}
	ids := make([]string, 0, len(c.Staff))
	for _, s := range c.Staff {
		byID[s.ID] = s
		ids = append(ids, s.ID)
	}
	for _, r := range d.people.recipients {
		for i, n := range r.nodes {
			val := strings.TrimSpace(n.Value)
			key := item(r.key, i)
			if strings.Contains(val, "@") {
				if a, err := mail.ParseAddress(val); err != nil || a.Name != "" {
					d.add(n, key, fmt.Sprintf("%q is not an e-mail address", val), "write the address alone, e.g. secretariat@club.example, or a staff id")
				}
				continue
			}
			if !d.staffRef(n, key, val, ids) {
				continue
			}
			if byID[val].Email == "" {
				d.add(n, key, fmt.Sprintf("staff member %s has no email", val), "add email: under staff "+val+", or write an address here")
			}
		}
	}
	if c.Notify.SMTP.Host == "" {
		for _, r := range d.people.recipients {
			if len(r.nodes) > 0 {
				d.add(r.nodes[0], r.key, "people are listed to be e-mailed of messages, but notify has no smtp server",
					"add notify: { smtp: { host: smtp.example.org, from: ligne@club.example, username: …, password_env: CLUBLINE_SMTP_PASSWORD } }")
				break
			}
		}
	}
}

// http reads the http section: the listener of the web page, /metrics
// and the health checks; its TLS certificate; the page's public address.
func (d *decoder) http(n *yaml.Node, h *HTTP) {
	var tlsNode *yaml.Node
	d.fields(n, "http", "http", func(key string, k, v *yaml.Node) {
		p := "http." + key
		switch key {
		case "listen":
			s, ok := d.required(v, p, "write 127.0.0.1:9468")
			if !ok {
				return
			}
			if fix, good := validHostPort(s); !good {
				d.add(v, p, fmt.Sprintf("%q is not host:port", s), fix)
				return
			}
			h.Listen = s
		case "public_url":
			s, ok := d.required(v, p, "write the address staff open the page at, e.g. https://ligne.club.example")
			if !ok {
				return
			}
			u, err := url.Parse(s)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
				d.add(v, p, fmt.Sprintf("%q is not the address of a site", s), "write e.g. https://ligne.club.example (a reverse proxy's address, or clubline's own with http.tls)")
				return
			}
			h.PublicURL = strings.TrimSuffix(s, "/")
		case "tls":
			tlsNode = k
			d.fields(v, "http.tls", "http.tls", func(key string, k, v *yaml.Node) {
				p := "http.tls." + key
				var dst *string
				switch key {
				case "cert_file":
					dst = &h.TLS.CertFile
				case "key_file":
					dst = &h.TLS.KeyFile
				default:
					return
				}
				if s, ok := d.required(v, p, "write the path of the PEM file"); ok {
					*dst = s
					d.files = append(d.files, fileRef{path: s, key: p, line: v.Line})
				}
			})
		}
	})
	if tlsNode != nil && (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
		d.add(tlsNode, "http.tls", "cert_file and key_file go together", "write both: the certificate (then its chain) and its private key, PEM files")
	}
}

// webChecks are the checks of the web side that span sections.
func (d *decoder) webChecks(c *Config) {
	if c.HTTP.TLS.CertFile == "" && !loopbackListen(c.HTTP.Listen) {
		for _, s := range c.Staff {
			if s.CanSignIn() {
				d.errs = append(d.errs, &Error{File: d.file, Key: "http.listen",
					Msg: c.HTTP.Listen + " serves the web page without TLS on the network: passwords and callers' numbers would travel in clear",
					Fix: "keep 127.0.0.1:9468 and put a reverse proxy with TLS in front (docs/api.md), or add http.tls with cert_file and key_file"})
				break
			}
		}
	}
}

func loopbackListen(hostPort string) bool {
	i := strings.LastIndex(hostPort, ":")
	if i < 0 {
		return false
	}
	h := strings.Trim(hostPort[:i], "[]")
	return isLoopbackHost(h)
}

var recordCodePattern = regexp.MustCompile(`^[0-9*#]{2,8}$`)

// prompts reads the prompts section.
func (d *decoder) prompts(n *yaml.Node, p *Prompts) {
	d.fields(n, "prompts", "prompts", func(key string, k, v *yaml.Node) {
		switch key {
		case "dir":
			d.str(v, "prompts.dir", &p.Dir)
		case "record_code":
			var s string
			d.str(v, "prompts.record_code", &s)
			s = strings.TrimSpace(s)
			if s != "" && !recordCodePattern.MatchString(s) || s != "" && !strings.ContainsAny(s, "*#") {
				d.add(v, "prompts.record_code", fmt.Sprintf("%q is not a code a phone dials", s),
					`write 2 to 8 of 0-9, * and #, with a * or #, in quotes, e.g. "*77"; or "" for no recording by phone`)
				return
			}
			p.RecordCode = s
		}
	})
}
