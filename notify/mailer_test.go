package notify_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/notify"
)

// A new message with its WAV file, over STARTTLS with AUTH PLAIN, as the
// receiving server decodes it.
func TestMailerSTARTTLSWithAttachment(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	wavPath, wav := writeWAV(t)
	m := voicemail(t, "vm-1")
	m.Attach = wavPath
	m.Urgent = true

	if err := mailerFor(t, srv, smtpPassword).Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if !r.TLS {
		t.Error("the message went without TLS")
	}
	if r.From != "ligne@club.example" || len(r.To) != 1 || r.To[0] != "marie@club.example" {
		t.Errorf("envelope from %q to %q", r.From, r.To)
	}
	p := parseMail(t, r.Data)
	if from := p.Header.Get("From"); !strings.Contains(from, "<ligne@club.example>") {
		t.Errorf("From: %q", from)
	}
	if to := p.Header.Get("To"); to != "<marie@club.example>" && to != "marie@club.example" {
		t.Errorf("To: %q", to)
	}
	if want := "URGENT – Nouveau message vocal : Inscriptions"; p.Subject != want {
		t.Errorf("Subject: %q, want %q", p.Subject, want)
	}
	if p.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted: %q", p.Header.Get("Auto-Submitted"))
	}
	for _, want := range []string{
		"Inscriptions",
		"jeudi 5 juin à 14 h 05", // due, in the club's time zone
		"mardi 3 juin à 14 h 05", // received
		"+1 514 •••-••99",        // masked: ShowNumber is false
		"Langue de l'appelant : anglais",
		"URGENT",
		"https://ligne.club.example/messages/vm-1",
		"joint",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	if strings.Contains(p.Body, "5550199") || strings.Contains(p.Body, "555-0199") {
		t.Errorf("body shows the masked number in full:\n%s", p.Body)
	}
	if !bytes.Equal(p.Attachment, wav) {
		t.Errorf("attachment: %d bytes, want the %d of the WAV file", len(p.Attachment), len(wav))
	}
	if p.AttachType != "audio/wav" || !strings.HasSuffix(p.AttachName, ".wav") {
		t.Errorf("attachment type %q name %q", p.AttachType, p.AttachName)
	}
}

// Implicit TLS (port 465 style): TLS from the first byte, then AUTH.
func TestMailerImplicitTLS(t *testing.T) {
	srv := startSMTP(t, notify.TLSImplicit, "")
	m := voicemail(t, "vm-2")
	m.Language, m.ShowNumber = "en", true
	if err := mailerFor(t, srv, smtpPassword).Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.received()
	if len(got) != 1 || !got[0].TLS {
		t.Fatalf("received %d messages (TLS %v), want 1 over TLS", len(got), len(got) == 1 && got[0].TLS)
	}
	p := parseMail(t, got[0].Data)
	if p.Subject != "New voice message: Inscriptions" {
		t.Errorf("Subject: %q", p.Subject)
	}
	for _, want := range []string{"+1 514 555-0199", "Call back before: Thursday, June 5 at 2:05 p.m."} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	if p.Attachment != nil {
		t.Error("an attachment, and none was asked")
	}
}

// With tls starttls, a server that offers no STARTTLS gets nothing: not
// the password, not the message.
func TestMailerSTARTTLSIsMandatory(t *testing.T) {
	srv := startSMTP(t, notify.TLSNone, "")
	m, err := notify.NewMailer(notify.MailerOptions{
		Host: srv.Host, Port: srv.Port, TLS: notify.TLSStartTLS, Username: smtpUser, Password: smtpPassword,
		From: "ligne@club.example", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), voicemail(t, "vm-3"))
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send: %v, want a permanent error about STARTTLS", err)
	}
	if n := len(srv.received()); n != 0 || srv.loginCount() != 0 {
		t.Fatalf("server received %d messages, %d logins", n, srv.loginCount())
	}
}

func TestMailerWrongPasswordIsPermanent(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	err := mailerFor(t, srv, "not-the-password").Send(t.Context(), voicemail(t, "vm-4"))
	var e *notify.Error
	if !errors.As(err, &e) || !e.Permanent || e.Code != 535 {
		t.Fatalf("Send: %#v, want a permanent *Error with code 535", err)
	}
	if !strings.Contains(err.Error(), "password_env") {
		t.Errorf("the error does not say what to check: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("the error holds the password: %v", err)
	}
}

// A certificate the system does not trust is refused, for good.
func TestMailerUntrustedCertificate(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	m, err := notify.NewMailer(notify.MailerOptions{
		Host: srv.Host, Port: srv.Port, Username: smtpUser, Password: smtpPassword,
		From: "ligne@club.example", Timeout: 5 * time.Second, TLSConfig: &tls.Config{},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), voicemail(t, "vm-5"))
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("Send: %v, want a permanent error about the certificate", err)
	}
	if srv.loginCount() != 0 {
		t.Fatal("logged in over an untrusted connection")
	}
}

func TestMailerClassifiesFailures(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	ml := mailerFor(t, srv, smtpPassword)

	srv.failData(errBusy)
	err := ml.Send(t.Context(), voicemail(t, "vm-6"))
	var e *notify.Error
	if !errors.As(err, &e) || e.Permanent || e.Code != 451 {
		t.Fatalf("451 on DATA: %v, want a temporary *Error with code 451", err)
	}

	srv.refuseRcpt(errNoSuchRc)
	err = ml.Send(t.Context(), voicemail(t, "vm-6"))
	if !errors.As(err, &e) || !e.Permanent || e.Code != 550 {
		t.Fatalf("550 on RCPT: %v, want a permanent *Error with code 550", err)
	}

	// Nobody listens: connection refused, temporary.
	host, port, _ := net.SplitHostPort(freeAddr(t))
	dead := &smtpServer{Host: host, mode: notify.TLSStartTLS}
	dead.Port, _ = strconv.Atoi(port)
	err = mailerFor(t, dead, smtpPassword).Send(t.Context(), voicemail(t, "vm-6"))
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("connection refused: %v, want a temporary error", err)
	}
}

// A recording gone by the time of sending (the retention purge): the
// e-mail goes without it and says so.
func TestMailerAttachmentGone(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	m := voicemail(t, "vm-7")
	m.Attach = t.TempDir() + "/gone.wav"
	if err := mailerFor(t, srv, smtpPassword).Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p := parseMail(t, srv.received()[0].Data)
	if p.Attachment != nil || !strings.Contains(p.Body, "n'est plus disponible") {
		t.Fatalf("attachment %d bytes, body:\n%s", len(p.Attachment), p.Body)
	}
}

func TestNewMailerErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    notify.MailerOptions
		want []string
	}{
		{"nothing", notify.MailerOptions{}, []string{"no SMTP host", "from"}},
		{"password in clear", notify.MailerOptions{Host: "relay.lan", From: "a@b.example", TLS: notify.TLSNone, Username: "u", Password: "p"}, []string{"in clear"}},
		{"port in host", notify.MailerOptions{Host: "smtp.gmail.com:587", From: "a@b.example"}, []string{"port goes in port"}},
		{"bad tls", notify.MailerOptions{Host: "smtp.gmail.com", From: "a@b.example", TLS: "ssl"}, []string{`tls "ssl"`}},
		{"no password", notify.MailerOptions{Host: "smtp.gmail.com", From: "a@b.example", Username: "a@b.example"}, []string{"without a password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.NewMailer(tc.o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
