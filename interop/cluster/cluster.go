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
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	lines []string // the CLUSTER lines of every run so far
	proc  *process // nil while stopped
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
	p.port = freePort(t)
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
	deadline := time.Now().Add(timeout)
	for {
		lines := p.Log()
		for _, l := range lines {
			if strings.Contains(l, substr) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no front proxy log line with %q after %s; the CLUSTER lines:\n%s", substr, timeout, strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	if err := proc.stop(); err != nil {
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
	args := []string{
		"-f", filepath.Join(p.dir, "kamailio.cfg"),
		"-DD", "-E",
		"-Y", filepath.Join(p.dir, "run"),
		"-w", p.dir,
		"-m", "64", "-M", "8",
		"-A", "LISTEN_IP=127.0.0.1",
		"-A", "SIP_PORT=" + strconv.Itoa(p.port),
		// A string define keeps its double quotes; the path has none.
		"-A", `DISPATCHER_LIST="` + filepath.Join(p.dir, "dispatcher.list") + `"`,
		"-A", "DS_PING_INTERVAL=" + strconv.Itoa(max(1, int(p.opts.PingInterval/time.Second))),
	}
	if p.opts.FRTimer > 0 {
		args = append(args, "-A", "FR_TIMER="+strconv.Itoa(int(p.opts.FRTimer/time.Millisecond)))
	}
	if p.opts.Debug {
		args = append(args, "-A", "WITH_DEBUG")
	}
	return args
}

// process is one run of Kamailio.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the main process has been waited for
	closed chan struct{} // closed once no process of the group holds the log pipe
}

// start runs Kamailio and waits until it answers OPTIONS over UDP.
func (p *Proxy) start(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	fmt.Fprintf(p.logFile, "--- %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("cluster: %v", err)
	}
	w.Close()
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
			t.Fatalf("cluster: kamailio exited while starting (%v); its log:\n%s", cmd.ProcessState, p.tail(40))
		default:
		}
		err := p.probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.Stop()
			t.Fatalf("cluster: not ready on %s after 10s: %v; its log:\n%s", p.Addr(), err, p.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
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

// read copies Kamailio's output to the log file and keeps the CLUSTER
// lines; it closes done at the end of the output.
func (p *Proxy) read(r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		fmt.Fprintln(p.logFile, line)
		if i := strings.Index(line, logMarker); i >= 0 {
			p.lines = append(p.lines, line[i:])
		}
		p.mu.Unlock()
	}
}

// stop ends the group: SIGTERM first, SIGKILL if that takes too long. It
// returns once no process of the group is left, so the port is free again.
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

// tail returns the last n lines of Kamailio's log.
func (p *Proxy) tail(n int) string {
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
// UDP, as the proxy listens on both.
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
	t.Fatal("cluster: no port free for both TCP and UDP on 127.0.0.1")
	return 0
}
