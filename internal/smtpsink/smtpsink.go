// Package smtpsink is a mail server for tests: a real SMTP exchange
// (emersion/go-smtp) on a loopback port, keeping what it receives, parsed,
// and able to refuse mail for a while (a mail server down for
// maintenance) to test retries.
package smtpsink

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message received.
type Mail struct {
	From     string
	To       []string
	Header   mail.Header
	Subject  string // decoded
	Text     string // the text/plain part
	Attached map[string][]byte
	Raw      []byte
}

// Sink is a running mail server.
type Sink struct {
	Addr string // 127.0.0.1:port
	srv  *smtp.Server

	mu      sync.Mutex
	mails   []Mail
	refuse  bool
	tries   int
	arrived chan struct{}
}

// Start starts a sink; it stops when the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Addr: ln.Addr().String(), arrived: make(chan struct{}, 100)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "sink.test"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.AllowInsecureAuth = true
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Port is the sink's port.
func (s *Sink) Port() string {
	_, p, _ := net.SplitHostPort(s.Addr)
	return p
}

// Refuse makes the sink answer every message with 451 (try again later)
// while on.
func (s *Sink) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// Tries is how many messages were offered (refused ones included).
func (s *Sink) Tries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries
}

// Mails returns what was received so far.
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Await waits until a received mail satisfies match, and returns it.
func (s *Sink) Await(t testing.TB, within time.Duration, match func(Mail) bool) Mail {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, m := range s.Mails() {
			if match(m) {
				return m
			}
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("no matching mail within %s; received %d", within, len(s.Mails()))
		}
	}
}

type backend struct{ s *Sink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Sink
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *session) Reset()                                      { x.from, x.to = "", nil }
func (x *session) Logout() error                               { return nil }

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.tries++
	refuse := x.s.refuse
	x.s.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	m.From, m.To = x.from, append([]string(nil), x.to...)
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, m)
	x.s.mu.Unlock()
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

// parse reads a message: its subject, its text and its attachments.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	out := Mail{Header: msg.Header, Raw: raw, Attached: map[string][]byte{}}
	dec := new(mime.WordDecoder)
	if out.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, err
	}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body, &out)
	return out, err
}

func walk(ctype, cte, disposition string, body io.Reader, out *Mail) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p, out); err != nil {
				return err
			}
		}
	}
	data, err := decode(cte, body)
	if err != nil {
		return err
	}
	if _, dp, err := mime.ParseMediaType(disposition); err == nil && dp["filename"] != "" {
		out.Attached[dp["filename"]] = data
		return nil
	}
	if mt == "text/plain" && out.Text == "" {
		out.Text = string(data)
	} else if name := params["name"]; name != "" {
		out.Attached[name] = data
	}
	return nil
}
