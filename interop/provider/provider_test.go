package provider_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/interop/provider"
)

// The stand-in is checked with peers nobody here wrote: SIPp runs the
// scenarios in testdata/ on every side of it (the trunk, the PSTN caller,
// the mobile). The tiny Go client of sipclient_test.go only does what SIPp
// 3.6 cannot: SHA-256 digest, a TCP trunk behind a NAT, a forged request,
// TLS (SIPp 3.6.1 is built without it; baresip is the TLS peer nobody here
// wrote, tls_test.go).

const (
	account  = "clubline"
	password = "trunk-secret"
	did      = "+14505550100"
	mobile   = "+15145550199" // a volunteer's mobile, on the PSTN side
)

// TestRegister: the trunk's REGISTER is challenged (401, MD5), then saved
// with the credentials; the same with the wrong password gets 403.
func TestRegister(t *testing.T) {
	p := provider.Start(t, provider.Options{})
	t.Parallel()
	contact := freeUDPPort(t)

	runSIPp(t, "register.xml", p.Addr(), registration(contact, password)...)
	waitLine(t, p, "PROVIDER REGISTER user=clubline", "result=401")
	waitLine(t, p, "PROVIDER REGISTER user=clubline", fmt.Sprintf("contact=<sip:clubline@127.0.0.1:%d>", contact),
		"expires=120", "result=200")

	runSIPp(t, "register_forbidden.xml", p.Addr(), registration(contact, "not-"+password)...)
	waitLine(t, p, "PROVIDER REGISTER user=clubline", "result=403 reason=wrong-password")
}

// TestInboundDelivery: a call from the PSTN to the DID reaches the
// trunk's registered contact, the DID where each delivery variant puts
// it; the caller gets its own To back, and its ACK and BYE go through the
// provider.
func TestInboundDelivery(t *testing.T) {
	provider.Require(t)
	t.Parallel()
	for _, delivery := range []string{"to", "pcpid", "diversion", "ruri"} {
		t.Run(delivery, func(t *testing.T) {
			p := provider.Start(t, provider.Options{Delivery: delivery})
			t.Parallel()
			trunk := freeUDPPort(t)
			answer := startSIPp(t, "uas.xml", trunk, "")
			runSIPp(t, "register.xml", p.Addr(), registration(trunk, password)...)
			caller := runSIPp(t, "pstn_call.xml", p.Addr(), "-s", did, "-d", "500")
			answer.succeed()

			inv := parseSIP(t, answer.logged())
			contact := fmt.Sprintf("sip:%s@127.0.0.1:%d", account, trunk)
			want := map[string]string{ // where the DID (or the account) is, header → URI
				"request-uri": contact,
				"to":          "sip:" + did + "@" + p.Addr(),
			}
			switch delivery {
			case "pcpid":
				want["to"] = "sip:" + account + "@provider.test"
				want["p-called-party-id"] = "sip:" + did + "@127.0.0.1"
			case "diversion":
				want["diversion"] = "sip:" + did + "@127.0.0.1"
			case "ruri":
				want["request-uri"] = fmt.Sprintf("sip:%s@127.0.0.1:%d", did, trunk)
			}
			for _, h := range []string{"request-uri", "to", "p-called-party-id", "diversion"} {
				if got := inv.uri(h); got != want[h] {
					t.Errorf("delivered INVITE: %s %q, want %q", h, got, want[h])
				}
			}
			// uac's restore: whatever To the trunk saw, the caller sees the
			// number it called.
			wantIn(t, "the caller's 200", caller.logged(), "200 To: <sip:"+did+"@"+p.Addr()+">")
			wantIn(t, "provider log", p.WaitLog(t, "PROVIDER INBOUND INVITE", time.Second),
				"did="+did, "ruri="+want["request-uri"], "delivery="+delivery, "result=relayed")
			p.WaitLog(t, "PROVIDER DIALOG BYE", time.Second)
			if r := p.Relayed(); len(r) != 0 {
				t.Errorf("a call from the PSTN was relayed to the PSTN: %q", r)
			}
			if t.Failed() {
				t.Logf("the INVITE the trunk got:\n%s", answer.logged())
			}
		})
	}
}

// TestOutbound: the trunk's calls out are relayed to the PSTN only with
// the account's credentials. Without them, with the wrong password, or
// dressed up as part of a call, nothing reaches the PSTN side; with them,
// the mobile answers, and the trunk's re-INVITE and BYE go through the
// provider.
func TestOutbound(t *testing.T) {
	provider.Require(t)
	t.Parallel()
	pstnPort := freeUDPPort(t)
	pstn := fmt.Sprintf("127.0.0.1:%d", pstnPort)
	p := provider.Start(t, provider.Options{PSTN: pstn})
	call := []string{"-s", mobile, "-key", "user", account, "-key", "did", did}

	// Until the authenticated call, the PSTN side is a socket that must
	// stay silent.
	guard, err := net.ListenPacket("udp4", pstn)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("without credentials", func(t *testing.T) {
		runSIPp(t, "trunk_call_noauth.xml", p.Addr(), call...)
		wantIn(t, "provider log", p.WaitLog(t, "PROVIDER REFUSE INVITE reason=no-credentials", time.Second),
			"ruri=sip:"+mobile+"@", "result=407")
	})
	t.Run("wrong password", func(t *testing.T) {
		runSIPp(t, "trunk_call_forbidden.xml", p.Addr(), append(call, "-au", account, "-ap", "not-"+password)...)
		wantIn(t, "provider log", p.WaitLog(t, "PROVIDER REFUSE INVITE reason=wrong-password", time.Second), "result=403")
	})
	t.Run("the trunk calls the DID", func(t *testing.T) {
		// From where the trunk registered, a call to the DID is the trunk
		// calling out, not the PSTN calling in: challenged, not delivered
		// back to the trunk.
		trunk := freeUDPPort(t)
		runSIPpFrom(t, "register.xml", trunk, p.Addr(), registration(trunk, password)...)
		runSIPpFrom(t, "trunk_call_noauth.xml", trunk, p.Addr(), "-s", did, "-key", "user", account, "-key", "did", did)
		wantIn(t, "provider log", p.WaitLog(t, "PROVIDER REFUSE INVITE reason=no-credentials ruri=sip:"+did, time.Second), "result=407")
		for _, l := range p.Log() {
			if strings.Contains(l, "PROVIDER INBOUND") {
				t.Errorf("the trunk's own call to the DID was delivered as a call from the PSTN: %s", l)
			}
		}
	})
	t.Run("forged in-dialog INVITE", func(t *testing.T) {
		// Toll fraud's oldest trick: a to-tag and a Route through the
		// provider make an INVITE look like part of a call, whose
		// request-URI the provider would follow without a challenge.
		c := dialSIP(t, "udp", p.Addr())
		local := c.conn.LocalAddr().String()
		forged := "INVITE sip:" + mobile + "@" + pstn + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + token() + ";rport\r\n" +
			"Route: <sip:" + p.Addr() + ";lr>\r\n" +
			"From: <sip:" + account + "@" + p.Addr() + ">;tag=" + token() + "\r\n" +
			"To: <sip:" + mobile + "@" + p.Addr() + ">;tag=" + token() + "\r\n" +
			"Call-ID: " + token() + "@forged\r\nCSeq: 2 INVITE\r\n" +
			"Contact: <sip:" + account + "@" + local + ">\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		if m := c.exchange(t, forged); status(m) != 403 {
			t.Errorf("forged in-dialog INVITE: %q, want 403", m.first)
		}
		waitLine(t, p, "PROVIDER REFUSE INVITE reason=unknown-dialog", "result=403")
	})
	if r := p.Relayed(); len(r) != 0 {
		t.Errorf("INVITEs without valid credentials were relayed: %q", r)
	}
	_ = guard.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := guard.ReadFrom(make([]byte, 4096)); err == nil {
		t.Errorf("the PSTN side got %d bytes from %s before any authenticated call", n, from)
	}
	guard.Close()
	if t.Failed() {
		t.FailNow()
	}

	t.Run("with credentials", func(t *testing.T) {
		answer := startSIPp(t, "mobile.xml", pstnPort, "")
		runSIPp(t, "trunk_call.xml", p.Addr(), append(call, "-au", account, "-ap", password)...)
		answer.succeed()
		relayed := p.Relayed()
		if len(relayed) != 1 {
			t.Fatalf("relayed INVITEs %q, want the one authenticated call", relayed)
		}
		wantIn(t, "relayed INVITE", relayed[0], "ruri=sip:"+mobile+"@"+p.Addr(), "pai=sip:"+did+"@127.0.0.1",
			"dst=sip:"+mobile+"@"+pstn)
		inv := parseSIP(t, answer.logged())
		if got, want := inv.uri("request-uri"), "sip:"+mobile+"@"+pstn; got != want {
			t.Errorf("the mobile's INVITE: request-URI %q, want %q", got, want)
		}
		if got, want := inv.uri("p-asserted-identity"), "sip:"+did+"@127.0.0.1"; got != want {
			t.Errorf("the mobile's INVITE: P-Asserted-Identity %q, want %q", got, want)
		}
		if creds := inv.header("proxy-authorization"); creds != "" {
			t.Errorf("the trunk's credentials reached the PSTN: Proxy-Authorization: %s", creds)
		}
		// The re-INVITE of a call the provider set up is relayed.
		p.WaitLog(t, "PROVIDER DIALOG INVITE", time.Second)
		p.WaitLog(t, "PROVIDER DIALOG BYE", time.Second)
		var refused []string
		for _, l := range p.Log() {
			if strings.Contains(l, "reason=unknown-dialog") {
				refused = append(refused, l)
			}
		}
		if len(refused) != 1 { // the forged one
			t.Errorf("in-dialog INVITEs refused: %q, want only the forged one", refused)
		}
	})
}

// TestInboundBehindNAT: a trunk that registers over TCP from a port its
// Via and Contact do not name (behind a NAT, or connecting from an
// ephemeral port, as most TCP clients do) gets its calls on that
// connection, as from a real provider. Once the connection is gone the
// caller gets 480, and nothing tries the address the trunk claimed.
func TestInboundBehindNAT(t *testing.T) {
	p := provider.Start(t, provider.Options{})
	t.Parallel()
	claimed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer claimed.Close()
	c := dialSIP(t, "tcp", p.Addr())
	c.claimed = claimed.Addr().String()
	if code := c.register(t, c.challenge(t), account, password); code != 200 {
		t.Fatalf("REGISTER over TCP: %d, want 200", code)
	}

	caller := startSIPp(t, "pstn_unavailable.xml", freeUDPPort(t), p.Addr(), "-s", did)
	inv := c.read(t, 5*time.Second)
	if want := "INVITE " + c.contact(account) + " SIP/2.0"; inv.first != want {
		t.Errorf("on the trunk's connection: %q, want %q", inv.first, want)
	}
	// Busy or away: the trunk's 480 travels back to the caller, whose
	// scenario wants exactly that.
	c.answer(t, inv, 480, "Temporarily Unavailable")
	if ack := c.read(t, 5*time.Second); !strings.HasPrefix(ack.first, "ACK ") {
		t.Errorf("after the 480: %q, want the provider's ACK", ack.first)
	}
	caller.succeed()
	waitLine(t, p, "PROVIDER INBOUND INVITE", "dst=sip:"+c.conn.LocalAddr().String()+";transport=tcp", "result=relayed")
	waitLine(t, p, "PROVIDER FAILED INVITE", "code=480")

	c.conn.Close()
	time.Sleep(100 * time.Millisecond) // for the provider to see the connection close
	runSIPp(t, "pstn_unavailable.xml", p.Addr(), "-s", did)
	waitLine(t, p, "PROVIDER FAILED INVITE", "code=480 reason=cannot-send")
	_ = claimed.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if conn, err := claimed.Accept(); err == nil {
		conn.Close()
		t.Errorf("the provider connected to %s, the address the trunk claimed, not where it registered from", c.claimed)
	}
}

// TestStopRestart: a stopped provider answers nothing and frees its
// ports; restarted, it is back on the same ports and has forgotten the
// trunk's registration (480 for the PSTN) until the trunk registers again.
func TestStopRestart(t *testing.T) {
	p := provider.Start(t, provider.Options{})
	t.Parallel()
	addr := p.Addr()
	register := registration(freeUDPPort(t), password)
	runSIPp(t, "register.xml", addr, register...)
	waitLine(t, p, "PROVIDER REGISTER", "result=200")

	p.Stop()
	// Nothing left behind: the ports can be bound again at once.
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("UDP %s still taken after Stop: %v", addr, err)
	}
	pc.Close()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("TCP %s still taken after Stop: %v", addr, err)
	}
	ln.Close()

	p.Restart(t)
	if p.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", p.Addr(), addr)
	}
	runSIPp(t, "options.xml", addr, "-t", "t1") // TCP, back on the same port too
	runSIPp(t, "pstn_unavailable.xml", addr, "-s", did)
	wantIn(t, "provider log", p.WaitLog(t, "PROVIDER INBOUND INVITE", time.Second), "result=480 reason=not-registered")
	runSIPp(t, "register.xml", addr, register...)
	var saved int
	for _, l := range p.Log() {
		if strings.HasPrefix(l, "PROVIDER REGISTER") && strings.Contains(l, "result=200") {
			saved++
		}
	}
	if saved != 2 {
		t.Errorf("%d REGISTERs saved, want 2 (before the stop, after the restart):\n%s", saved, strings.Join(p.Log(), "\n"))
	}
}

// TestRestartMidCall: a call outlives a provider restart. The route set
// of the call names only the provider's address, so the caller's BYE,
// sent to the restarted provider, still reaches the trunk.
func TestRestartMidCall(t *testing.T) {
	p := provider.Start(t, provider.Options{})
	t.Parallel()
	trunk := freeUDPPort(t)
	answer := startSIPp(t, "uas.xml", trunk, "")
	runSIPp(t, "register.xml", p.Addr(), registration(trunk, password)...)
	caller := startSIPp(t, "pstn_call.xml", freeUDPPort(t), p.Addr(), "-s", did, "-d", "2500")
	waitLine(t, p, "PROVIDER INBOUND INVITE", "result=relayed")
	time.Sleep(500 * time.Millisecond) // the 200 and the ACK pass on loopback
	p.Restart(t)
	caller.succeed()
	answer.succeed()
	waitLine(t, p, "PROVIDER DIALOG BYE")
}

// registration is the SIPp arguments of register.xml: the account with
// pass, calls to 127.0.0.1:contact for 120 s.
func registration(contact int, pass string) []string {
	return []string{"-key", "user", account, "-key", "contact_port", strconv.Itoa(contact), "-key", "expires", "120",
		"-au", account, "-ap", pass}
}

// waitLine waits a second for a PROVIDER line that contains every one of
// subs, and returns it.
func waitLine(t *testing.T, p *provider.Provider, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		for _, l := range p.Log() {
			if containsAll(l, subs) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provider log line with all of %q; the PROVIDER lines:\n%s", subs, strings.Join(p.Log(), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// wantIn fails the test unless s contains every one of subs.
func wantIn(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// sipMessage is a SIP message as a SIPp scenario logged it.
type sipMessage struct {
	first   string              // the request or status line
	headers map[string][]string // lower-case name → values, in order
}

func parseSIP(t *testing.T, text string) sipMessage {
	t.Helper()
	head, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimLeft(text, "\r\n"), "\r\n", "\n"), "\n\n")
	lines := strings.Split(head, "\n")
	m := sipMessage{first: lines[0], headers: map[string][]string{}}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("not a SIP header: %q in\n%s", l, text)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		m.headers[name] = append(m.headers[name], strings.TrimSpace(value))
	}
	return m
}

// header returns the first value of a header, "" if absent.
func (m sipMessage) header(name string) string {
	if v := m.headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// uri returns the URI of a header ("request-uri": of the request line),
// without display name or parameters outside the angle brackets.
func (m sipMessage) uri(name string) string {
	if name == "request-uri" {
		if f := strings.Fields(m.first); len(f) == 3 {
			return f[1]
		}
		return ""
	}
	v := m.header(name)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		v, _, _ = strings.Cut(v, ">")
		return v
	}
	v, _, _ = strings.Cut(v, ";")
	return v
}

// sippRun is one SIPp process running one call of a scenario.
type sippRun struct {
	t        *testing.T
	scenario string
	args     []string
	dir      string
	out      bytes.Buffer
	done     chan struct{}
	err      error
}

// requireSIPp returns the path of sipp, failing the test without it.
func requireSIPp(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("CLUBLINE_TEST_INTEROP=1 but sipp is not on the PATH: install it with `apt-get install sip-tester`")
	}
	return path
}

// runSIPp runs one call of a scenario against target from a free port
// and fails the test unless SIPp exits 0.
func runSIPp(t *testing.T, scenario, target string, args ...string) *sippRun {
	t.Helper()
	return runSIPpFrom(t, scenario, freeUDPPort(t), target, args...)
}

// runSIPpFrom is runSIPp from a given local port.
func runSIPpFrom(t *testing.T, scenario string, port int, target string, args ...string) *sippRun {
	t.Helper()
	s := startSIPp(t, scenario, port, target, args...)
	s.succeed()
	return s
}

// startSIPp starts SIPp on port with a scenario of testdata; target is
// the peer to call, "" for a scenario that waits for a call. It returns
// once SIPp has bound its port.
func startSIPp(t *testing.T, scenario string, port int, target string, args ...string) *sippRun {
	t.Helper()
	bin := requireSIPp(t)
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := &sippRun{t: t, scenario: scenario, dir: t.TempDir(), done: make(chan struct{})}
	s.args = append([]string{
		"-sf", sf,
		"-m", "1", // one call, then exit
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeMediaPort(t)),
		"-nostdin",
		"-timeout", "15s", "-timeout_error",
		"-trace_err", "-error_file", s.file("errors"),
		"-trace_msg", "-message_file", s.file("messages"),
		"-trace_logs", "-log_file", s.file("logs"),
	}, args...)
	if target != "" {
		s.args = append(s.args, target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, bin, s.args...)
	cmd.Dir = s.dir // anything SIPp writes by itself lands here too
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp: %v", err)
	}
	go func() {
		s.err = cmd.Wait()
		cancel()
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	if target == "" {
		s.waitBound(port)
	}
	return s
}

func (s *sippRun) file(kind string) string {
	return filepath.Join(s.dir, strings.TrimSuffix(s.scenario, ".xml")+"_"+kind+".log")
}

// waitBound returns once SIPp listens on the UDP port, so that a call
// placed next cannot arrive before it.
func (s *sippRun) waitBound(port int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.fail("exited before listening")
		default:
		}
		pc, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return // taken: SIPp has it
		}
		pc.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.fail(fmt.Sprintf("not listening on UDP %d after 5s", port))
}

// succeed waits for SIPp to exit and fails the test unless its one call
// succeeded.
func (s *sippRun) succeed() {
	s.t.Helper()
	<-s.done
	if s.err != nil {
		why := s.err.Error()
		var exit *exec.ExitError
		if errors.As(s.err, &exit) && exit.ExitCode() == 1 {
			why += " (the call failed)"
		}
		s.fail(why)
	}
}

// fail ends the test with SIPp's output and files.
func (s *sippRun) fail(why string) {
	s.t.Helper()
	s.t.Errorf("sipp %s: %s", s.scenario, why)
	s.t.Logf("sipp %s", strings.Join(s.args, " "))
	s.t.Logf("sipp output:\n%s", s.out.String())
	for _, k := range []string{"errors", "messages"} {
		if b, err := os.ReadFile(s.file(k)); err == nil {
			s.t.Logf("sipp %s:\n%s", k, b)
		}
	}
	s.t.FailNow()
}

// logged returns what the scenario's log actions wrote.
func (s *sippRun) logged() string {
	s.t.Helper()
	b, err := os.ReadFile(s.file("logs"))
	if err != nil {
		s.t.Fatalf("sipp %s wrote no log: %v", s.scenario, err)
	}
	return string(b)
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// freeMediaPort returns a port p for SIPp's -mp such that p and p+2 (its
// audio and video sockets) are both free on 127.0.0.1.
func freeMediaPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", p+2))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("no free pair of UDP ports p, p+2 for SIPp's media")
	return 0
}
