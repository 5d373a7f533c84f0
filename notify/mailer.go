package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// Decisions:
//
//   - go-mail sends (net/smtp is frozen), pinned at v0.8.1: v0.8.2 needs a
//     newer Go than the module's.
//   - tls: starttls is mandatory STARTTLS (go-mail's TLSMandatory): a
//     server, or a man in the middle, that offers no STARTTLS gets nothing,
//     password least of all. It is not opportunistic.
//   - A password with tls: none is refused at start: go-mail would refuse
//     to send it in clear anyway, at the first message, where the error is
//     harder to read.
//   - The authentication mechanism is the strongest the server offers over
//     the encrypted connection (SCRAM, then CRAM-MD5, PLAIN, LOGIN), so one
//     setting fits Gmail, Microsoft 365 and a club's web host.
//   - The WAV file is read before connecting: a file gone is known before
//     anything is sent (the e-mail goes without it and says so), and a file
//     larger than MaxAttachment goes as a link only.
//   - The Message-ID comes from the delivery's key: a retry after a lost
//     "250 OK" sends the same Message-ID, which mail clients thread as one.

// TLSMode is how the connection to the SMTP server is encrypted.
type TLSMode string

const (
	// TLSStartTLS: a plain connection (port 587) upgraded with STARTTLS
	// before anything else; a server that does not offer it is refused.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit: TLS from the first byte (port 465, "SMTPS").
	TLSImplicit TLSMode = "implicit"
	// TLSNone: no encryption (port 25), for a relay on the same machine or
	// network, without a password.
	TLSNone TLSMode = "none"
)

// Mailer defaults.
const (
	DefaultSMTPTimeout   = 30 * time.Second
	DefaultMaxAttachment = 10 << 20 // a 3-minute message is 2.9 MB, 3.9 MB once encoded
)

// MailerOptions configure a Mailer. The zero value of an optional field
// picks the default named beside it.
type MailerOptions struct {
	Host string // required
	// Port: default 587 for starttls, 465 for implicit, 25 for none.
	Port int
	// Username and Password log in; empty Username: no login. The password
	// is the value itself (cmd reads it from the environment); it is
	// never logged nor put in an error.
	Username, Password string
	// From is the sender, with or without a name:
	// "Ligne du club <ligne@example.org>". Required.
	From string
	TLS  TLSMode // default TLSStartTLS
	// TLSConfig, if set, is used for the TLS connection (a clone of it):
	// e.g. RootCAs that trust a server's own certificate. Default: the
	// system's roots, TLS 1.2 or later.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each SMTP command (default 30 s).
	Timeout time.Duration
	// Location is the club's time zone, for the times in the e-mail
	// (default UTC: cmd passes club.timezone).
	Location *time.Location
	// MaxAttachment is the largest WAV file attached; a larger one is
	// left out and the link alone sent (default 10 MiB).
	MaxAttachment int64
	// HELO is the name clubline gives in EHLO (default: the host's name).
	HELO string
}

// Mailer sends notifications by e-mail. Safe for concurrent use: each
// Send opens its own connection.
type Mailer struct {
	client   *gomail.Client
	from     string
	host     string
	loc      *time.Location
	maxAttch int64
}

// NewMailer checks the options and returns a Mailer; it connects to
// nothing yet. The error lists every problem found, each with its fix.
func NewMailer(o MailerOptions) (*Mailer, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	port := 0
	switch o.TLS {
	case TLSStartTLS:
		port = 587
	case TLSImplicit:
		port = 465
	case TLSNone:
		port = 25
	default:
		bad("tls %q: write starttls (port 587), implicit (port 465) or none (port 25, a relay on this machine or network)", o.TLS)
	}
	if o.Port != 0 {
		port = o.Port
	}
	if port < 1 || port > 65535 {
		bad("port %d: write a TCP port, usually 587 (starttls) or 465 (implicit)", o.Port)
	}
	host := strings.TrimSpace(o.Host)
	if host == "" {
		bad("no SMTP host: write your provider's, e.g. smtp.gmail.com")
	} else if strings.ContainsAny(host, ":/ ") && net.ParseIP(host) == nil {
		bad("host %q: write the host name alone (smtp.example.org); the port goes in port", o.Host)
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		bad("from %q is not an e-mail address: write \"Ligne du club <ligne@example.org>\" or ligne@example.org", o.From)
	}
	if o.Username == "" && o.Password != "" {
		bad("a password without a username: write the username (for Gmail, the full address)")
	}
	if o.Username != "" && o.Password == "" {
		bad("username %q without a password: set the password's environment variable (for Gmail, an app password)", o.Username)
	}
	if o.Username != "" && o.TLS == TLSNone {
		bad("tls none would send the password in clear: use tls starttls (port 587) or implicit (port 465), or no username for a relay that takes mail without one")
	}
	if o.Timeout < 0 || o.MaxAttachment < 0 {
		bad("a negative timeout or max attachment: leave it out for the default")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("notify: smtp: %w", errors.Join(errs...))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultSMTPTimeout
	}
	if o.MaxAttachment == 0 {
		o.MaxAttachment = DefaultMaxAttachment
	}
	if o.Location == nil {
		o.Location = time.UTC
	}

	tc := &tls.Config{}
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	opts := []gomail.Option{
		gomail.WithPort(port), gomail.WithTimeout(o.Timeout), gomail.WithTLSConfig(tc),
	}
	switch o.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if o.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(o.Username), gomail.WithPassword(o.Password))
	}
	if o.HELO != "" {
		opts = append(opts, gomail.WithHELO(o.HELO))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp: %w", err)
	}
	return &Mailer{client: c, from: from.String(), host: host, loc: o.Location, maxAttch: o.MaxAttachment}, nil
}

// Send sends m as one e-mail to all of m.To. Its error is an *Error that
// says whether trying again can help.
func (ml *Mailer) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return &Error{Channel: ChannelEmail, Permanent: true, Msg: "bad message", Err: err}
	}
	if len(m.To) == 0 {
		return &Error{Channel: ChannelEmail, Permanent: true, Msg: "no recipient"}
	}
	wav, err := ml.readAttachment(&m)
	if err != nil {
		return &Error{Channel: ChannelEmail, Msg: "could not read the recording to attach: check the voicemail folder's permissions", Err: err}
	}
	msg, err := ml.build(&m, wav)
	if err != nil {
		return &Error{Channel: ChannelEmail, Permanent: true, Msg: "could not build the e-mail", Err: err}
	}
	if err := ml.client.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(err, ml.host)
	}
	return nil
}

// readAttachment reads the WAV file m.Attach names. A file gone or too
// large clears m.Attach (the e-mail goes without it); another failure is
// an error.
func (ml *Mailer) readAttachment(m *Message) ([]byte, error) {
	if m.Attach == "" {
		return nil, nil
	}
	fi, err := os.Stat(m.Attach)
	if errors.Is(err, fs.ErrNotExist) {
		m.Attach, m.attachGone = "", true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() > ml.maxAttch {
		m.Attach = ""
		return nil, nil
	}
	b, err := os.ReadFile(m.Attach)
	if errors.Is(err, fs.ErrNotExist) {
		m.Attach, m.attachGone = "", true
		return nil, nil
	}
	return b, err
}

func (ml *Mailer) build(m *Message, wav []byte) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(ml.from); err != nil {
		return nil, err
	}
	if err := msg.To(m.To...); err != nil {
		return nil, err
	}
	subject, body := m.Compose(ml.loc)
	msg.Subject(subject)
	msg.SetBodyString(gomail.TypeTextPlain, body)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID(m, ml.from))
	msg.SetUserAgent("clubline")
	// RFC 3834: an automatic message; out-of-office replies stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader(gomail.HeaderContentLang, m.language())
	if m.Urgent {
		msg.SetImportance(gomail.ImportanceUrgent)
	}
	if wav != nil {
		name := "message-" + m.RecordedAt.In(ml.loc).Format("20060102-1504") + ".wav"
		msg.AttachReadSeeker(name, bytes.NewReader(wav), gomail.WithFileContentType("audio/wav"))
	}
	return msg, nil
}

// messageID is the same for every try of one e-mail: its key, hashed, at
// the sender's domain.
func messageID(m *Message, from string) string {
	sum := sha256.Sum256([]byte(m.key(ChannelEmail, strings.Join(m.To, ","))))
	domain := "clubline.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = strings.TrimSuffix(from[i+1:], ">")
	}
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// classifySMTP turns what go-mail returned into an *Error: permanent for
// a refusal that will not change (5xx, a bad address, the login refused,
// a certificate not trusted, no STARTTLS), temporary for the rest (4xx, a
// connection refused or cut, a timeout).
func classifySMTP(err error, host string) *Error {
	e := &Error{Channel: ChannelEmail, Err: err}
	var se *gomail.SendError
	var te *textproto.Error
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authorityErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &se):
		e.Code = se.ErrorCode()
		switch {
		case se.Reason == gomail.ErrGetSender || se.Reason == gomail.ErrGetRcpts:
			e.Permanent, e.Msg = true, "a bad sender or recipient address: check notify.smtp.from and the recipients' addresses"
		case se.Reason == gomail.ErrNoUnencoded:
			e.Permanent, e.Msg = true, "the server refuses 8-bit mail"
		case se.IsTemp() || e.Code/100 == 4:
			e.Msg = fmt.Sprintf("the server deferred the message (%d)", e.Code)
		case e.Code/100 == 5 && se.Reason == gomail.ErrSMTPRcptTo:
			e.Permanent, e.Msg = true, fmt.Sprintf("the server refused a recipient (%d): check the address", e.Code)
		case e.Code/100 == 5:
			e.Permanent, e.Msg = true, fmt.Sprintf("the server refused the message (%d)", e.Code)
		default:
			e.Msg = "the connection failed while sending"
		}
	case errors.As(err, &te):
		e.Code = te.Code
		switch {
		case te.Code == 530 || te.Code == 534 || te.Code == 535:
			e.Permanent, e.Msg = true, fmt.Sprintf("the server refused the login (%d): check notify.smtp.username and the password in the variable notify.smtp.password_env names (Gmail and Microsoft 365 want an app password)", te.Code)
		case te.Code/100 == 5:
			e.Permanent, e.Msg = true, fmt.Sprintf("the server refused us (%d)", te.Code)
		default:
			e.Msg = fmt.Sprintf("the server is busy (%d)", te.Code)
		}
	case errors.Is(err, gosmtp.ErrUnencrypted):
		e.Permanent, e.Msg = true, "the password would go in clear: use tls starttls or implicit"
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authorityErr), errors.As(err, &invalidErr):
		e.Permanent, e.Msg = true, fmt.Sprintf("the certificate of %s is not trusted: check notify.smtp.host is the name your provider gives (not its address)", host)
	case errors.As(err, &recErr):
		e.Permanent, e.Msg = true, "the server does not speak TLS on this port: tls implicit goes with port 465, starttls with 587"
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		e.Permanent, e.Msg = true, "the server offers no STARTTLS: with tls starttls nothing is sent unencrypted; use the port your provider gives for STARTTLS (587) or tls implicit (465)"
	case strings.Contains(err.Error(), "does not support SMTP AUTH"),
		errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		e.Permanent, e.Msg = true, "the server offers no login mechanism clubline can use over this connection: check the port and tls, or leave the username out for a relay"
	case errors.Is(err, context.Canceled):
		e.Msg = "cancelled (shutting down)"
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Msg = fmt.Sprintf("no answer from %s in time", host)
	default:
		e.Msg = fmt.Sprintf("could not reach %s", host)
	}
	return e
}
