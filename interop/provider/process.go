package provider

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is one run of Kamailio.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the main process has been waited for
	closed chan struct{} // closed once no process of the group holds the log pipe
}

// start runs Kamailio and waits until it answers OPTIONS over UDP and
// accepts TCP (and TLS) connections.
func (p *Provider) start(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	command := exec.Command
	if p.opts.Exec != nil {
		command = p.opts.Exec
	}
	cmd := command(p.bin, p.args()...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so that Stop reaches every worker.
		Setpgid: true,
		// If the test binary dies without its clean-up (a timeout panic),
		// the main process is told to shut down, taking its workers along.
		Pdeathsig: syscall.SIGTERM,
	}
	fmt.Fprintf(p.logFile, "--- %s\n", strings.Join(cmd.Args, " "))
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
	if o.Host != "" {
		// Besides kamailio.cfg's listen lines on 127.0.0.1.
		for _, proto := range []string{"udp", "tcp"} {
			args = append(args, "-l", proto+":"+net.JoinHostPort(o.Host, strconv.Itoa(p.port)))
		}
	}
	str("TRUNK_USER", o.Username)
	str("TRUNK_PASSWORD", o.Password)
	str("TRUNK_REALM", o.Realm)
	str("DID", o.DID)
	str("DELIVERY", o.Delivery)
	if o.PSTN != "" {
		str("PSTN_DST", o.PSTN)
	}
	if o.CustomersOnly {
		args = append(args, "-A", "WITH_CUSTOMERS_ONLY")
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
