// Package kamailiorun runs Debian's Kamailio for the interop harnesses
// (interop/provider: the club's SIP provider; interop/cluster: the front
// proxy of two instances): in the foreground, in a process group of its
// own, its output read line by line, stopped with the whole group. For
// tests only; standard library.
package kamailiorun

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

// Args is the start of every command line: the config file in dir,
// foreground, log on stderr, the PID file and working directory in dir,
// small shared and private memory.
func Args(dir string) []string {
	return []string{
		"-f", filepath.Join(dir, "kamailio.cfg"),
		"-DD", "-E",
		"-Y", filepath.Join(dir, "run"),
		"-w", dir,
		"-m", "64", "-M", "8",
	}
}

// Process is one run of Kamailio.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the main process has been waited for
	closed chan struct{} // closed once no process of the group holds the output pipe
}

// Start runs cmd (Kamailio and its arguments, Dir set) with its output on
// a pipe, each line handed to onLine until the last process of the group
// exits.
func Start(cmd *exec.Cmd, onLine func(string)) (*Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so that Stop reaches every worker.
		Setpgid: true,
		// If the test binary dies without its clean-up (a timeout panic),
		// the main process is told to shut down, taking its workers along.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close() // the pipe now ends when the last Kamailio process exits
	p := &Process{cmd: cmd, exited: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	go func() {
		defer close(p.closed)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			onLine(sc.Text())
		}
	}()
	return p, nil
}

// AwaitReady waits until ready reports no error, for timeout at most; it
// fails when Kamailio exits first.
func (p *Process) AwaitReady(ready func() error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("kamailio exited while starting (%v)", p.cmd.ProcessState)
		default:
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the group: SIGTERM first (Kamailio's main process stops its
// workers and waits for them), SIGKILL if that takes too long. It returns
// once no process of the group is left, so the ports are free again.
func (p *Process) Stop() error {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if p.wait(5 * time.Second) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if p.wait(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("kamailio (process group %d) still running 10s after SIGTERM and SIGKILL", pgid)
}

// wait reports whether the main process exited and the output pipe
// closed (every worker exited too) within timeout.
func (p *Process) wait(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for _, ch := range []chan struct{}{p.exited, p.closed} {
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
	return true
}

// Tail returns the last n lines of the log file at path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines cut]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a port free a moment ago on 127.0.0.1 for both TCP and
// UDP, as Kamailio listens on both.
func FreePort(t testing.TB) int {
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
	t.Fatal("kamailio: no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

// WaitLine returns the first of lines() (the marked lines logged so far),
// now or within timeout, that contains substr; it fails the test if none
// comes. marker names the lines in the failure ("PROVIDER").
func WaitLine(t testing.TB, marker string, lines func() []string, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := lines()
		for _, l := range got {
			if strings.Contains(l, substr) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s log line with %q after %s; the %s lines:\n%s", marker, substr, timeout, marker, strings.Join(got, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
