package notify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/clubline/clubline/notify"
)

const (
	smtpUser = "ligne@club.example"
	// smtpPassword is looked for in the logs: it must never be there.
	smtpPassword = "s3cret-app-passw0rd"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and
// the pool a client needs to trust it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "clubline test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// received is one message the test server took.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1, with
// AUTH PLAIN, and STARTTLS or implicit TLS with a self-signed certificate.
type smtpServer struct {
	Host    string
	Port    int
	RootCAs *x509.CertPool

	srv  *gosmtp.Server
	mode notify.TLSMode

	mu       sync.Mutex
	got      []received
	dataErrs []error // returned by the next DATA commands, in order
	rcptErr  error   // returned by every RCPT
	logins   int
}

// startSMTP starts a server in mode (starttls, implicit, none) on addr
// ("" a free port). It stops at the end of the test.
func startSMTP(t testing.TB, mode notify.TLSMode, addr string) *smtpServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &smtpServer{mode: mode}
	cert, pool := testCert(t)
	s.RootCAs = pool
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case notify.TLSStartTLS:
		s.srv.TLSConfig = tlsConf
	case notify.TLSImplicit:
		ln = tls.NewListener(ln, tlsConf)
	}
	a := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = a.IP.String(), a.Port
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		s.srv.Close()
		ln.Close() // Close misses a listener Serve has not taken in yet
		<-served
	})
	return s
}

// freeAddr is a loopback address nobody listens on (for now).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// failData makes the next DATA commands fail with errs, one each.
func (s *smtpServer) failData(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErrs = append(s.dataErrs, errs...)
}

func (s *smtpServer) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *smtpServer) refuseRcpt(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr = err
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

type session struct {
	s      *smtpServer
	c      *gosmtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPassword {
			return gosmtp.ErrAuthFailed
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.logins++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if !ss.authed && ss.s.mode != notify.TLSNone {
		return gosmtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.rcptErr != nil {
		return ss.s.rcptErr
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.dataErrs) > 0 {
		err := ss.s.dataErrs[0]
		ss.s.dataErrs = ss.s.dataErrs[1:]
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.got = append(ss.s.got, received{From: ss.from, To: ss.to, Data: b, TLS: isTLS})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

var (
	errBusy     = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	errNoSuchRc = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
)

// mailerFor is a Mailer that logs in to s and trusts its certificate.
func mailerFor(t testing.TB, s *smtpServer, password string) *notify.Mailer {
	t.Helper()
	o := notify.MailerOptions{
		Host: s.Host, Port: s.Port, TLS: s.mode, TLSConfig: &tls.Config{RootCAs: s.RootCAs},
		From: "Ligne du club <ligne@club.example>", Timeout: 5 * time.Second, Location: montreal(t),
	}
	if s.mode != notify.TLSNone {
		o.Username, o.Password = smtpUser, password
	}
	m, err := notify.NewMailer(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeWAV writes a short 8 kHz 16-bit mono WAV file and returns its path
// and bytes.
func writeWAV(t testing.TB) (string, []byte) {
	t.Helper()
	samples := make([]byte, 1600) // 100 ms
	for i := range samples {
		samples[i] = byte(i * 7)
	}
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + len(samples)))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(8000))
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(len(samples)))
	b.Write(samples)
	path := filepath.Join(t.TempDir(), "vm-1.wav")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

// parsed is a received e-mail, decoded.
type parsed struct {
	Header     mail.Header
	Subject    string
	Body       string
	Attachment []byte
	AttachType string
	AttachName string
}

func parseMail(t testing.TB, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	var p parsed
	p.Header = msg.Header
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, _ := io.ReadAll(msg.Body)
		p.Body = string(body) // a plain message is 7bit or 8bit here
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		ct, ctParams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch {
		case ct == "text/plain":
			b, _ := io.ReadAll(part) // multipart decodes quoted-printable
			p.Body = string(b)
		default:
			if enc := part.Header.Get("Content-Transfer-Encoding"); !strings.EqualFold(enc, "base64") {
				t.Fatalf("attachment encoded as %q, want base64", enc)
			}
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
			if err != nil {
				t.Fatalf("attachment: %v", err)
			}
			p.Attachment, p.AttachType, p.AttachName = b, ct, part.FileName()
			if p.AttachName == "" {
				p.AttachName = ctParams["name"]
			}
		}
	}
	return p
}
