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
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/interop/internal/kamailiorun"
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
	// CustomersOnly makes every INVITE but the trunk's prove it is the
	// account (407), even one to the DID: a provider whose carriers sit
	// on another network than its customers, which is where a call from
	// the club's own machine to the club's number comes from (the line's
	// mystery call). An authenticated call to the DID is delivered to the
	// trunk either way.
	CustomersOnly bool
	// SHA256 makes every challenge algorithm=SHA-256 (RFC 8760) instead of
	// MD5.
	SHA256 bool
	// TLS adds a TLS listener (TLSAddr) with CertFile and KeyFile (PEM);
	// left empty, a self-signed certificate for 127.0.0.1 is made (see
	// Provider.Options for its file).
	TLS               bool
	CertFile, KeyFile string
	// Host is the provider's IP address on a network of the test's own
	// (the "internet" of a network namespace): Kamailio listens there
	// too, for UDP and TCP on the same port, and Addr names it. Empty:
	// 127.0.0.1 only.
	Host string
	// Exec, when set, makes the command that runs Kamailio, e.g. wrapped
	// in `ip netns exec`; Dial is then how the helper reaches Host for its
	// probes, from inside that namespace. Unset: exec.Command and
	// net.Dial.
	Exec func(name string, arg ...string) *exec.Cmd
	Dial func(network, address string) (net.Conn, error)
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
	for _, f := range []struct{ name, value string }{
		{"Username", o.Username}, {"Password", o.Password}, {"Realm", o.Realm}, {"DID", o.DID},
	} {
		// The values become Kamailio string tokens ("..."), which have no
		// escape for a quote; SIP would not carry the others unescaped.
		if strings.ContainsAny(f.value, "\"\\ \t\r\n") {
			errs = append(errs, fmt.Errorf("provider: %s %q: no quotes, backslashes or white space", f.name, f.value))
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
	if o.Host != "" {
		if ip, err := netip.ParseAddr(o.Host); err != nil || !ip.Is4() {
			errs = append(errs, fmt.Errorf("provider: Host %q: want an IPv4 address", o.Host))
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("provider: CertFile and KeyFile go together"))
	}
	for _, f := range []struct{ name, value string }{{"CertFile", o.CertFile}, {"KeyFile", o.KeyFile}} {
		if strings.ContainsAny(f.value, "\"\\\r\n") {
			errs = append(errs, fmt.Errorf("provider: %s %q: no quotes, backslashes or line breaks", f.name, f.value))
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
	proc    *kamailiorun.Process     // nil while stopped
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
	p.port = kamailiorun.FreePort(t)
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

// Addr is where the provider takes SIP over UDP and TCP, "127.0.0.1:port"
// (or Options.Host's address).
func (p *Provider) Addr() string {
	host := "127.0.0.1"
	if p.opts.Host != "" {
		host = p.opts.Host
	}
	return net.JoinHostPort(host, strconv.Itoa(p.port))
}

// dial reaches Kamailio, with Options.Dial if set.
func (p *Provider) dial(network, address string) (net.Conn, error) {
	if p.opts.Dial != nil {
		return p.opts.Dial(network, address)
	}
	return net.DialTimeout(network, address, 200*time.Millisecond)
}

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
	return kamailiorun.WaitLine(t, "PROVIDER", p.logged, substr, timeout)
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
	if err := proc.Stop(); err != nil {
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
