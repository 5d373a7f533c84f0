package provider_test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sipClient is the smallest trunk that shows what SIPp cannot: it
// registers over one UDP socket, TCP or TLS connection, answering SHA-256
// challenges, and can claim in its Via and Contact an address it does not
// send from, as a client behind a NAT does.
type sipClient struct {
	conn   net.Conn
	r      *bufio.Reader
	proto  string // "UDP", "TCP" or "TLS"
	server string
	// claimed is the host:port of the Via and the Contact; the socket's
	// own address unless a test sets another.
	claimed string
	callID  string
	cseq    int
}

// received is a SIP message the client read.
type received struct {
	first   string              // the request or status line
	headers map[string][]string // lower-case name → values, in order
}

func (m received) header(name string) string {
	if v := m.headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// dialSIP connects to server over proto ("udp" or "tcp").
func dialSIP(t *testing.T, proto, server string) *sipClient {
	t.Helper()
	conn, err := net.Dial(proto+"4", server)
	if err != nil {
		t.Fatal(err)
	}
	return newSIPClient(t, conn, proto, server)
}

// dialSIPTLS connects to server over TLS, trusting only the certificate
// in caFile, checked for the server's address.
func dialSIPTLS(t *testing.T, server, caFile string) *sipClient {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	conn, err := tls.Dial("tcp4", server, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to %s: %v", server, err)
	}
	return newSIPClient(t, conn, "tls", server)
}

func newSIPClient(t *testing.T, conn net.Conn, proto, server string) *sipClient {
	t.Cleanup(func() { conn.Close() })
	return &sipClient{conn: conn, r: bufio.NewReader(conn), proto: strings.ToUpper(proto), server: server,
		claimed: conn.LocalAddr().String(), callID: token() + "@sip-client-test"}
}

// contact is the URI the client registers.
func (c *sipClient) contact(user string) string {
	uri := "sip:" + user + "@" + c.claimed
	if c.proto != "UDP" {
		uri += ";transport=" + strings.ToLower(c.proto)
	}
	return uri
}

// challenge sends a REGISTER without credentials and returns the
// parameters of the 401's WWW-Authenticate.
func (c *sipClient) challenge(t *testing.T) map[string]string {
	t.Helper()
	m := c.send(t, account, "")
	if code := status(m); code != 401 {
		t.Fatalf("REGISTER without credentials: %q, want 401", m.first)
	}
	v, ok := strings.CutPrefix(m.header("www-authenticate"), "Digest ")
	if !ok {
		t.Fatalf("401 without a Digest WWW-Authenticate: %q", m.headers)
	}
	return authParams(v)
}

// register answers the challenge as user with pass and returns the final
// status.
func (c *sipClient) register(t *testing.T, ch map[string]string, user, pass string) int {
	t.Helper()
	uri := "sip:" + c.server
	nc, cnonce := "00000001", token()
	alg := ch["algorithm"]
	if alg == "" {
		alg = "MD5"
	}
	resp := digest(alg, user, ch["realm"], pass, "REGISTER", uri, ch["nonce"], ch["qop"], nc, cnonce)
	auth := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
		user, ch["realm"], ch["nonce"], uri, resp, alg)
	if ch["qop"] != "" {
		auth += fmt.Sprintf(`, qop=%s, nc=%s, cnonce="%s"`, ch["qop"], nc, cnonce)
	}
	return status(c.send(t, user, auth))
}

// send sends one REGISTER for user (with an Authorization header unless
// auth is "") and returns the final answer.
func (c *sipClient) send(t *testing.T, user, auth string) received {
	t.Helper()
	c.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", c.server)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", c.proto, c.claimed, token())
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", user, c.server, token())
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", user, c.server)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", c.callID, c.cseq)
	fmt.Fprintf(&b, "Contact: <%s>\r\nExpires: 60\r\nMax-Forwards: 70\r\n", c.contact(user))
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return c.exchange(t, b.String())
}

// exchange sends a request and returns its final answer.
func (c *sipClient) exchange(t *testing.T, req string) received {
	t.Helper()
	c.write(t, req)
	for {
		m := c.read(t, 3*time.Second)
		if code := status(m); code >= 200 {
			return m
		} else if code == 0 {
			t.Fatalf("waiting for an answer to %q: got a request, %q", strings.SplitN(req, "\r\n", 2)[0], m.first)
		}
	}
}

// answer replies to a request the client received, as its UAS would.
func (c *sipClient) answer(t *testing.T, req received, code int, reason string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range req.headers["via"] {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	to := req.header("to")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=" + token()
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
		req.header("from"), to, req.header("call-id"), req.header("cseq"))
	c.write(t, b.String())
}

func (c *sipClient) write(t *testing.T, msg string) {
	t.Helper()
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// read returns the next message from the socket or connection: one
// datagram over UDP, framed by Content-Length over TCP and TLS.
func (c *sipClient) read(t *testing.T, timeout time.Duration) received {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	m := received{headers: map[string][]string{}}
	for m.first == "" {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading from %s: %v", c.server, err)
		}
		m.first = strings.TrimSpace(line) // a keep-alive CRLF leaves it empty
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading from %s: %v", c.server, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok {
			name = strings.ToLower(strings.TrimSpace(name))
			m.headers[name] = append(m.headers[name], strings.TrimSpace(value))
		}
	}
	if n, _ := strconv.Atoi(m.header("content-length")); n > 0 {
		if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
			t.Fatalf("reading a body from %s: %v", c.server, err)
		}
	}
	return m
}

// status is the code of an answer, 0 for a request.
func status(m received) int {
	f := strings.Fields(m.first)
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

// authParams splits the parameters of a Digest challenge, quotes removed.
func authParams(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var value string
		if strings.HasPrefix(rest, `"`) {
			value, rest, _ = strings.Cut(rest[1:], `"`)
			_, rest, _ = strings.Cut(rest, ",")
		} else {
			value, rest, _ = strings.Cut(rest, ",")
		}
		out[name] = strings.TrimSpace(value)
		s = strings.TrimSpace(rest)
	}
	return out
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
