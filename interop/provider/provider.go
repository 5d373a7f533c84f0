// Package provider runs a SIP provider stand-in for clubline's trunk
// tests: Debian's Kamailio with kamailio.cfg (embedded in this package),
// playing what voip.ms or Telnyx do for the club. clubline registers to it
// as the one trunk account; calls to the club's number (the DID) from the
// "PSTN" are delivered to where it registered; its calls out are relayed to
// the "PSTN" (a phone a test puts on loopback) once they carry the
// account's credentials. kamailio.cfg says what a provider does and why;
// interop/README.md lists the defines and the tests.
//
//	p := provider.Start(t, provider.Options{PSTN: mobile.Addr()})
//	// point clubline's trunk at p.Addr(), then:
//	p.WaitLog(t, "PROVIDER REGISTER user=clubline", 5*time.Second)
//
// Decisions:
//
//   - Kamailio runs in the foreground (-DD -E) in its own process group,
//     its log read from a pipe: the PROVIDER lines are the test's view of
//     what the provider decided, and the pipe's end is the sign that every
//     process of the group has exited, so nothing outlives a test.
//   - Everything it writes goes under t.TempDir(): the config, the run
//     directory (-Y), the log, a self-signed certificate for TLS.
//   - Ports are picked free on 127.0.0.1, the same number for UDP and TCP
//     as at a real provider; Restart reuses them, which is the point of a
//     "provider down, provider back" test.
//   - Small memory (-m 64 -M 8) and two workers per socket: it starts in
//     about a tenth of a second and several run side by side on two cores.
//   - No dependency beyond the standard library, so any package's tests
//     can import it.
package provider

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed kamailio.cfg
var config []byte

// Options describe the provider and the club's account with it. The zero
// value is a working provider (see each field's default) without a PSTN
// side.
type Options struct {
	// Username, Password and Realm are the trunk account and the realm of
	// every digest challenge ("clubline", "trunk-secret",
	// "provider.test").
	Username, Password, Realm string
	// DID is the club's number, the request-URI user of calls from the
	// PSTN ("+14505550100").
	DID string
	// PSTN is "host:port" of the mobile side, where authenticated calls
	// from the trunk go; empty, they are refused with 503.
	PSTN string
	// Delivery is where a call to the DID carries the number once
	// delivered to the trunk: "to" (the default: the request-URI is the
	// registered contact, To is the DID), "pcpid" (To is the account, the
	// DID is in P-Called-Party-ID), "diversion" (as "to", plus a
	// Diversion header naming the DID) or "ruri" (the request-URI user is
	// the DID, at the registered contact's host:port).
	Delivery string
	// SHA256 makes every challenge algorithm=SHA-256 (RFC 8760) instead of
	// MD5.
	SHA256 bool
	// TLS adds a TLS listener (TLSAddr) with CertFile and KeyFile (PEM);
	// left empty, a self-signed certificate for 127.0.0.1 is made (see
	// Provider.Options for its file).
	TLS               bool
	CertFile, KeyFile string
}

// deliveries are the values of Options.Delivery, as kamailio.cfg knows them.
var deliveries = []string{"to", "pcpid", "diversion", "ruri"}

// withDefaults fills the empty fields and checks the rest, so that a typo
// fails the test here rather than as a Kamailio parse error.
func (o Options) withDefaults() (Options, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Username, "clubline")
	def(&o.Password, "trunk-secret")
	def(&o.Realm, "provider.test")
	def(&o.DID, "+14505550100")
	def(&o.Delivery, "to")
	var errs []error
	for name, v := range map[string]string{"Username": o.Username, "Password": o.Password, "Realm": o.Realm, "DID": o.DID} {
		// The values become Kamailio string tokens ("..."), which have no
		// escape for a quote; SIP would not carry the others unescaped.
		if strings.ContainsAny(v, "\"\\ \t\r\n") {
			errs = append(errs, fmt.Errorf("provider: %s %q: no quotes, backslashes or white space", name, v))
		}
	}
	if !slices.Contains(deliveries, o.Delivery) {
		errs = append(errs, fmt.Errorf("provider: Delivery %q: want one of %s", o.Delivery, strings.Join(deliveries, ", ")))
	}
	if o.PSTN != "" {
		if _, port, err := net.SplitHostPort(o.PSTN); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("provider: PSTN %q: want host:port", o.PSTN))
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("provider: CertFile and KeyFile go together"))
	}
	for name, v := range map[string]string{"CertFile": o.CertFile, "KeyFile": o.KeyFile} {
		if strings.ContainsAny(v, "\"\\\r\n") {
			errs = append(errs, fmt.Errorf("provider: %s %q: no quotes, backslashes or line breaks", name, v))
		}
	}
	return o, errors.Join(errs...)
}

// Provider is a running (or stopped) Kamailio playing the provider.
type Provider struct {
	t       testing.TB // the test that started it: Stop reports to it
	bin     string
	dir     string
	opts    Options
	port    int // UDP and TCP
	tlsPort int // 0 without TLS
	logFile *os.File

	mu      sync.Mutex
	lines   []string                 // the PROVIDER lines of every run so far, probes left out
	probes  uint64                   // the last probe's number
	waiting map[uint64]chan struct{} // closed when the probe's line is read
	proc    *process                 // nil while stopped
}

// process is one run of Kamailio.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the main process has been waited for
	closed chan struct{} // closed once no process of the group holds the log pipe
}

// logMarker starts every line kamailio.cfg writes for the tests.
const logMarker = "PROVIDER "

// Require skips the test unless CLUBLINE_TEST_INTEROP=1 and fails it if
// the variable is set but kamailio is not installed; it returns the path
// of kamailio. Start calls it.
func Require(t testing.TB) string {
	t.Helper()
	if os.Getenv("CLUBLINE_TEST_INTEROP") != "1" {
		t.Skipf("set CLUBLINE_TEST_INTEROP=1 (needs kamailio: apt-get install kamailio); .ci/run does")
	}
	path, err := exec.LookPath("kamailio")
	if err != nil {
		// Debian puts it in /usr/sbin, which a non-root PATH may lack.
		if _, serr := os.Stat("/usr/sbin/kamailio"); serr == nil {
			return "/usr/sbin/kamailio"
		}
		t.Fatalf("CLUBLINE_TEST_INTEROP=1 but kamailio is not installed: install it with `apt-get install kamailio` (and kamailio-tls-modules for TLS)")
	}
	return path
}

// Start runs the provider on free loopback ports and returns once it
// answers OPTIONS; the test's clean-up stops it. It skips the test unless
// interop tests are asked for (see Require).
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	bin := Require(t)
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{t: t, bin: bin, dir: t.TempDir(), opts: o}
	if o.TLS && o.CertFile == "" {
		p.opts.CertFile, p.opts.KeyFile = selfSigned(t, p.dir)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "kamailio.cfg"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(p.dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p.logFile, err = os.Create(filepath.Join(p.dir, "kamailio.log")); err != nil {
		t.Fatal(err)
	}
	p.port = freePort(t)
	if o.TLS {
		p.tlsPort = freeTCPPort(t)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("provider log (%s):\n%s", p.logFile.Name(), p.tail(80))
		}
		p.logFile.Close()
	})
	p.start(t)
	return p
}

// Addr is where the provider takes SIP over UDP and TCP, "127.0.0.1:port".
func (p *Provider) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// TLSAddr is where it takes SIP over TLS, "" without Options.TLS.
func (p *Provider) TLSAddr() string {
	if p.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.tlsPort))
}

// Options are the options it runs with, defaults filled in (and the
// certificate it made, with TLS).
func (p *Provider) Options() Options { return p.opts }

// Log returns the PROVIDER lines logged so far, across restarts, each from
// "PROVIDER " on. It first catches up with Kamailio: every line about a
// request the provider answered or passed on before the call is in it,
// which is what makes an empty answer (Relayed) mean something.
func (p *Provider) Log() []string {
	p.catchUp()
	return p.logged()
}

// logged is the PROVIDER lines read so far.
func (p *Provider) logged() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Relayed returns the INVITEs relayed to the PSTN so far: with anything in
// it, somebody's call went out on the club's account.
func (p *Provider) Relayed() []string {
	var out []string
	for _, l := range p.Log() {
		if strings.HasPrefix(l, logMarker+"RELAY INVITE ") {
			out = append(out, l)
		}
	}
	return out
}

// WaitLog returns the first PROVIDER line, logged so far or within
// timeout, that contains substr; it fails the test if none comes.
func (p *Provider) WaitLog(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines := p.logged()
		for _, l := range lines {
			if strings.Contains(l, substr) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provider log line with %q after %s; the PROVIDER lines:\n%s", substr, timeout, strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop takes the provider down: Kamailio and all its processes end, the
// ports close, the registrations are forgotten. Stopping a stopped
// provider does nothing.
func (p *Provider) Stop() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.stop(); err != nil {
		p.t.Errorf("provider: %v", err)
	}
}

// Restart brings the provider back on the same ports, as a restarted
// provider: nobody registered. A running provider is stopped first.
func (p *Provider) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	p.start(t)
}

// start runs Kamailio and waits until it answers OPTIONS over UDP and
// accepts TCP (and TLS) connections.
func (p *Provider) start(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so that Stop reaches every worker.
		Setpgid: true,
		// If the test binary dies without its clean-up (a timeout panic),
		// the main process is told to shut down, taking its workers along.
		Pdeathsig: syscall.SIGTERM,
	}
	fmt.Fprintf(p.logFile, "--- %s %s\n", p.bin, strings.Join(cmd.Args[1:], " "))
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("provider: %v", err)
	}
	w.Close() // the pipe now ends when the last Kamailio process exits
	proc := &process{cmd: cmd, exited: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	go p.read(r, proc.closed)
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-proc.exited:
			p.Stop()
			t.Fatalf("provider: kamailio exited while starting (%v)%s; its log:\n%s", cmd.ProcessState, p.hint(), p.tail(40))
		default:
		}
		if err := p.probe(); err == nil {
			return
		} else if time.Now().After(deadline) {
			p.Stop()
			t.Fatalf("provider: not ready on %s after 10s: %v; its log:\n%s", p.Addr(), err, p.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// args is Kamailio's command line: foreground, log on stderr, files in the
// test's directory, the options as defines.
func (p *Provider) args() []string {
	o := p.opts
	args := []string{
		"-f", filepath.Join(p.dir, "kamailio.cfg"),
		"-DD", "-E",
		"-Y", filepath.Join(p.dir, "run"),
		"-w", p.dir,
		"-m", "64", "-M", "8",
	}
	def := func(name, value string) { args = append(args, "-A", name+"="+value) }
	str := func(name, value string) { def(name, `"`+value+`"`) }
	def("SIP_PORT", strconv.Itoa(p.port))
	str("TRUNK_USER", o.Username)
	str("TRUNK_PASSWORD", o.Password)
	str("TRUNK_REALM", o.Realm)
	str("DID", o.DID)
	str("DELIVERY", o.Delivery)
	if o.PSTN != "" {
		str("PSTN_DST", o.PSTN)
	}
	if o.SHA256 {
		args = append(args, "-A", "WITH_SHA256")
	}
	if o.TLS {
		args = append(args, "-A", "WITH_TLS")
		def("TLS_PORT", strconv.Itoa(p.tlsPort))
		str("TLS_CERT", o.CertFile)
		str("TLS_KEY", o.KeyFile)
	}
	return args
}

// read copies Kamailio's output to the log file and keeps the PROVIDER
// lines but the probes', whose waiters it wakes; it closes done at the end
// of the output.
func (p *Provider) read(r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		fmt.Fprintln(p.logFile, line)
		if i := strings.Index(line, logMarker); i >= 0 {
			if n, ok := probeNumber(line[i:]); ok {
				if ch := p.waiting[n]; ch != nil {
					close(ch)
					delete(p.waiting, n)
				}
			} else {
				p.lines = append(p.lines, line[i:])
			}
		}
		p.mu.Unlock()
	}
}

// probeUser is the From user of the provider's own OPTIONS, followed by the
// probe's number.
const probeUser = "provider-probe-"

// probeNumber tells the line of a probe, and which.
func probeNumber(line string) (uint64, bool) {
	_, after, ok := strings.Cut(line, "from=sip:"+probeUser)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(after, "@")
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// catchUp returns once Kamailio's output has been read up to a probe sent
// now. Kamailio logs each line before it answers or forwards the request,
// and a pipe keeps the order of writes; so every line about a request the
// test has seen answered is read by then. A stopped provider has nothing
// more to say.
func (p *Provider) catchUp() {
	p.mu.Lock()
	running := p.proc != nil
	p.probes++
	n := p.probes
	seen := make(chan struct{})
	if p.waiting == nil {
		p.waiting = make(map[uint64]chan struct{})
	}
	p.waiting[n] = seen
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, n)
		p.mu.Unlock()
	}()
	if !running {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := p.options(n); err == nil {
			c.Close() // the line is the answer that counts
		}
		select {
		case <-seen:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.t.Errorf("provider: its log did not catch up with an OPTIONS within 2s; lines may be missing")
}

// stop ends the group: SIGTERM first (Kamailio's main process stops its
// workers and waits for them), SIGKILL if that takes too long. It returns
// once no process of the group is left, so the ports are free again.
func (proc *process) stop() error {
	pgid := proc.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if proc.wait(5 * time.Second) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if proc.wait(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("kamailio (process group %d) still running 10s after SIGTERM and SIGKILL", pgid)
}

// wait reports whether the main process exited and the log pipe closed
// (every worker exited too) within timeout.
func (proc *process) wait(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for _, ch := range []chan struct{}{proc.exited, proc.closed} {
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
	return true
}

// probe sends one OPTIONS over UDP and wants a 200, then checks that the
// TCP (and TLS) ports accept connections.
func (p *Provider) probe() error {
	p.mu.Lock()
	p.probes++
	n := p.probes
	p.mu.Unlock()
	c, err := p.options(n)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	size, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("OPTIONS over UDP: %w", err)
	}
	if !bytes.HasPrefix(buf[:size], []byte("SIP/2.0 200 ")) {
		first, _, _ := bytes.Cut(buf[:size], []byte("\r\n"))
		return fmt.Errorf("OPTIONS over UDP: %q, want 200", first)
	}
	for _, addr := range []string{p.Addr(), p.TLSAddr()} {
		if addr == "" {
			continue
		}
		tc, err := net.DialTimeout("tcp4", addr, 200*time.Millisecond)
		if err != nil {
			return err
		}
		tc.Close()
	}
	return nil
}

// options sends the OPTIONS of probe n from a new UDP socket, which it
// returns for the answer (closed if there is an error).
func (p *Provider) options(n uint64) (net.Conn, error) {
	c, err := net.Dial("udp4", p.Addr())
	if err != nil {
		return nil, err
	}
	local := c.LocalAddr().String()
	id := fmt.Sprintf("%s%d", probeUser, n)
	msg := "OPTIONS sip:" + p.Addr() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"From: <sip:" + id + "@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:" + p.Addr() + ">\r\n" +
		"Call-ID: " + id + "@" + local + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// hint names the usual cause of a failed start.
func (p *Provider) hint() string {
	log := p.tail(40)
	switch {
	case strings.Contains(log, "tls.so"):
		return " — TLS needs the tls module: apt-get install kamailio-tls-modules"
	case strings.Contains(log, "Address already in use"):
		return " — a port was taken in between; rerun"
	}
	return ""
}

// tail returns the last n lines of Kamailio's log.
func (p *Provider) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := os.ReadFile(p.logFile.Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines cut]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// freePort returns a port free a moment ago on 127.0.0.1 for both TCP and
// UDP, as the provider listens on both.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("provider: no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key
// into dir, for a TLS listener whose clients do not check who it is (or
// trust this file).
func selfSigned(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "clubline provider stand-in"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
		IsCA:                  true, // a client may trust it as its own root
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
