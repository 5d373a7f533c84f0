// Package cluster runs the front proxy of a clubline cluster for tests:
// Debian's Kamailio with the shipped deploy/kamailio/kamailio.cfg, on a
// free loopback port, dispatching to the instances a test names. The
// defines of kamailio.cfg (-A) set the address, the port, the dispatcher
// list (written in the test's directory) and the timers; nothing of the
// file is changed.
//
//	p := cluster.Start(t, cluster.Options{Instances: []string{a, b}})
//	// point phones and callers at p.Addr(), then:
//	p.WaitLog(t, "CLUSTER DOWN dst=sip:"+a, 5*time.Second)
//
// Decisions:
//
//   - As interop/provider: Kamailio in the foreground (-DD -E) in its own
//     process group, its log read from a pipe, everything under
//     t.TempDir(), the test skipped unless CLUBLINE_TEST_INTEROP=1 and
//     failed if it is set but Kamailio is missing (provider.Require).
//   - The dispatcher's state is read from its CLUSTER UP/DOWN log lines
//     (event_route[dispatcher:dst-*]), not from kamcmd: no ctl socket to
//     clean up, and the lines come in the order Kamailio decided.
//   - Probes every PingInterval (1 s by default, the shipped 2 s being the
//     production value) so a test of "an instance died" takes seconds.
//   - For tests only; standard library and interop/provider.
package cluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/interop/internal/kamailiorun"

	"github.com/clubline/clubline/deploy/kamailio"
	"github.com/clubline/clubline/interop/provider"
)

// Options describe the cluster in front of which the proxy runs.
type Options struct {
	// Instances are the clubline instances, "127.0.0.1:port" (UDP), in
	// the dispatcher list's order. At least one.
	Instances []string
	// PingInterval is how often each instance is probed, in whole seconds
	// (1s).
	PingInterval time.Duration
	// FRTimer is how long the proxy waits for any reply from an instance
	// before it tries the next one (kamailio.cfg's 2s when zero).
	FRTimer time.Duration
	// Debug logs every request (WITH_DEBUG: CLUSTER REQUEST lines).
	Debug bool
}

// Proxy is a running (or stopped) front proxy.
type Proxy struct {
	t       testing.TB
	bin     string
	dir     string
	opts    Options
	port    int
	logFile *os.File

	mu    sync.Mutex
	lines []string             // the CLUSTER lines of every run so far
	proc  *kamailiorun.Process // nil while stopped
}

// logMarker starts every line kamailio.cfg writes for admins and tests.
const logMarker = "CLUSTER "

// Start runs the proxy with the shipped kamailio.cfg on a free loopback
// port and returns once it answers OPTIONS; the test's clean-up stops it.
// It skips the test unless interop tests are asked for (provider.Require).
func Start(t testing.TB, o Options) *Proxy {
	t.Helper()
	bin := provider.Require(t)
	if len(o.Instances) == 0 {
		t.Fatal("cluster: no instances")
	}
	for _, in := range o.Instances {
		if _, _, err := net.SplitHostPort(in); err != nil {
			t.Fatalf("cluster: instance %q: want host:port", in)
		}
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	p := &Proxy{t: t, bin: bin, dir: t.TempDir(), opts: o}
	var list strings.Builder
	for _, in := range o.Instances {
		fmt.Fprintf(&list, "1 sip:%s 0\n", in)
	}
	for name, data := range map[string][]byte{"kamailio.cfg": kamailio.Config, "dispatcher.list": []byte(list.String())} {
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(p.dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.logFile, err = os.Create(filepath.Join(p.dir, "kamailio.log")); err != nil {
		t.Fatal(err)
	}
	p.port = kamailiorun.FreePort(t)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("front proxy log (%s):\n%s", p.logFile.Name(), p.tail(80))
		}
		p.logFile.Close()
	})
	p.start(t)
	return p
}

// Addr is where the proxy takes SIP over UDP and TCP, "127.0.0.1:port".
func (p *Proxy) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Log returns the CLUSTER lines logged so far, across restarts, each from
// "CLUSTER " on.
func (p *Proxy) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// WaitLog returns the first CLUSTER line, logged so far or within
// timeout, that contains substr; it fails the test if none comes.
func (p *Proxy) WaitLog(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	return kamailiorun.WaitLine(t, "CLUSTER", p.Log, substr, timeout)
}

// Stop takes the proxy down (SIGTERM, then SIGKILL); stopping a stopped
// proxy does nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.Stop(); err != nil {
		p.t.Errorf("cluster: %v", err)
	}
}

// Restart brings the proxy back on the same port; every instance starts
// active again until its first probe.
func (p *Proxy) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	p.start(t)
}

// args is Kamailio's command line: foreground, log on stderr, files in the
// test's directory, the overrides as defines.
func (p *Proxy) args() []string {
	args := append(kamailiorun.Args(p.dir),
		"-A", "LISTEN_IP=127.0.0.1",
		"-A", "SIP_PORT="+strconv.Itoa(p.port),
		// A string define keeps its double quotes; the path has none.
		"-A", `DISPATCHER_LIST="`+filepath.Join(p.dir, "dispatcher.list")+`"`,
		"-A", "DS_PING_INTERVAL="+strconv.Itoa(max(1, int(p.opts.PingInterval/time.Second))),
	)
	if p.opts.FRTimer > 0 {
		args = append(args, "-A", "FR_TIMER="+strconv.Itoa(int(p.opts.FRTimer/time.Millisecond)))
	}
	if p.opts.Debug {
		args = append(args, "-A", "WITH_DEBUG")
	}
	return args
}

// start runs Kamailio and waits until it answers OPTIONS over UDP.
func (p *Proxy) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Dir = p.dir
	fmt.Fprintf(p.logFile, "--- %s\n", strings.Join(cmd.Args, " "))
	proc, err := kamailiorun.Start(cmd, p.read)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	if err := proc.AwaitReady(p.probe, 10*time.Second); err != nil {
		p.Stop()
		t.Fatalf("cluster: front proxy on %s: %v; its log:\n%s", p.Addr(), err, p.tail(40))
	}
}

// probe sends an OPTIONS to the proxy itself and wants its 200.
func (p *Proxy) probe() error {
	c, err := net.DialTimeout("udp", p.Addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:" + p.Addr() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-cluster-probe-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:cluster-probe@" + local + ">;tag=probe\r\n" +
		"To: <sip:" + p.Addr() + ">\r\n" +
		"Call-ID: cluster-probe-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 ") {
		first, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return fmt.Errorf("OPTIONS answered %q", first)
	}
	return nil
}

// read copies a line of Kamailio's output to the log file and keeps the
// CLUSTER lines.
func (p *Proxy) read(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.logFile, line)
	if i := strings.Index(line, logMarker); i >= 0 {
		p.lines = append(p.lines, line[i:])
	}
}

// tail returns the last n lines of Kamailio's log.
func (p *Proxy) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return kamailiorun.Tail(p.logFile.Name(), n)
}
