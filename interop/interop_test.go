// Package interop_test calls the real clubline binary with SIP peers
// nobody here wrote: SIPp (Debian's sip-tester), driven by the scenarios
// in testdata/, and the baresip softphone as a staff phone
// (baresip_test.go). The tests build ./cmd/clubline, start `clubline
// serve` on loopback ports with a config of their own, run the peer
// against it, stop it with SIGTERM and read what it recorded in its
// embedded store.
//
// They run when CLUBLINE_TEST_INTEROP=1 (.ci/run sets it), and need sipp
// and baresip on the PATH (apt-get install sip-tester baresip-core).
// Replaying the RFC 2833 pcap (play_pcap_audio) works as root, as in CI.
package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/embedded"
)

const (
	clubNumber    = "+14505550100" // in sip.numbers
	unknownNumber = "+15145559999" // not in sip.numbers: 404
	sippUser      = "sipp"         // the From user of every scenario
	// dtmfPcap holds the RFC 2833 events of the key 1 (payload type 101),
	// shipped by sip-tester; dtmf_2833.xml names it.
	dtmfPcap = "/usr/share/sip-tester/dtmf_2833_1.pcap"
)

// requireTool skips the test unless interop tests are asked for, and
// fails it if they are but the program is missing; pkg is the Debian
// package that has it.
func requireTool(t *testing.T, program, pkg string) string {
	t.Helper()
	if os.Getenv("CLUBLINE_TEST_INTEROP") != "1" {
		t.Skipf("set CLUBLINE_TEST_INTEROP=1 (needs %s: apt-get install %s); .ci/run does", program, pkg)
	}
	path, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("CLUBLINE_TEST_INTEROP=1 but %s is not on the PATH: install it with `apt-get install %s` (Debian/Ubuntu)", program, pkg)
	}
	return path
}

// requireSIPp is requireTool for sipp.
func requireSIPp(t *testing.T) string {
	t.Helper()
	return requireTool(t, "sipp", "sip-tester")
}

// requireRawSocket fails the test when SIPp could not replay a pcap:
// play_pcap_audio writes the packets on a raw socket, which takes root or
// CAP_NET_RAW on the sipp binary; without it SIPp exits 255 with "Can't
// create raw IPv4 socket (need to run as root?)".
func requireRawSocket(t *testing.T, sipp string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	buf := make([]byte, 64)
	if n, err := syscall.Getxattr(sipp, "security.capability", buf); err == nil && n > 0 {
		return // file capabilities set, presumably cap_net_raw
	}
	t.Fatalf("SIPp's play_pcap_audio needs a raw socket: run the interop tests as root (as CI does), "+
		"or give sipp the capability: sudo setcap cap_net_raw+ep %s", sipp)
}

// TestSIPpRFC2833DigitRoutesCall: SIPp calls the club, offers PCMU and
// telephone-event/8000 on payload type 101, lets the greeting play,
// replays the key 1 from dtmf_2833_1.pcap and hangs up a few seconds into
// the voicemail instructions. The record says which key routed the call.
func TestSIPpRFC2833DigitRoutesCall(t *testing.T) {
	sipp := requireSIPp(t)
	if _, err := os.Stat(dtmfPcap); err != nil {
		t.Fatalf("%v: the RFC 2833 pcaps come with sip-tester (apt-get install sip-tester)", err)
	}
	requireRawSocket(t, sipp)
	t.Parallel()
	cl := startClubline(t, lineOptions{})

	runSIPp(t, sipp, cl, "dtmf_2833.xml", clubNumber)
	// The call script ends just after SIPp gets its 200 to the BYE.
	cl.awaitMetric(`clubline_calls_total{hours="open",outcome="abandoned"}`, 1)
	cl.awaitMetric(`clubline_active_calls`, 0)

	cl.stop()
	rec := cl.onlyCall("")
	// The caller pressed 1 during the greeting (type-ahead counts as the
	// menu choice); office has no staff yet, so the call went to the
	// voicemail instructions, where SIPp hung up: no message, abandoned.
	checkFields(t, []field{
		{"Choice", rec.Choice, "1"},
		{"Category", rec.Category, "registrations"},
		{"Route", rec.Route, "office"},
		{"Outcome", string(rec.Outcome), string(clubline.OutcomeAbandoned)},
		{"Stage", string(rec.Stage), string(clubline.StageVoicemail)},
		{"From", rec.From, sippUser},
		{"To", rec.To, clubNumber},
		{"Hours", string(rec.Hours), string(clubline.HoursOpen)},
		{"VoicemailID", rec.VoicemailID, ""},
	})
	trace := strings.Join(rec.Trace, "\n")
	for _, step := range []string{"menu: 1 registrations → office", "caller hung up in voicemail"} {
		if !strings.Contains(trace, step) {
			t.Errorf("record trace lacks %q:\n%s", step, trace)
		}
	}
	if rec.EndedAt.IsZero() || rec.Duration < 5*time.Second {
		t.Errorf("record ended %v after %s, want an end time and the ~7 s SIPp stayed", rec.EndedAt, rec.Duration)
	}
	if t.Failed() {
		t.Logf("record: %s", describe(rec))
	}
}

// TestSIPpRejects: an OPTIONS ping gets 200 OK with an Allow header, and
// an INVITE to a number clubline does not answer gets 404, counted as a
// rejected call. A refusal keeps no record (docs/data.md: a flood of them
// must not fill the store), so the store holds none.
func TestSIPpRejects(t *testing.T) {
	sipp := requireSIPp(t)
	t.Parallel()
	cl := startClubline(t, lineOptions{})

	runSIPp(t, sipp, cl, "options.xml", clubNumber)
	runSIPp(t, sipp, cl, "unknown_number.xml", unknownNumber)
	cl.awaitMetric(`clubline_calls_total{hours="open",outcome="rejected"}`, 1)
	cl.awaitMetric(`clubline_sip_rejected_total{code="404"}`, 1)

	cl.stop()
	if calls := cl.calls(); len(calls) != 0 {
		t.Errorf("the store holds %d call records, want none (a refusal is counted, not stored): %s", len(calls), describe(calls...))
	}
}

// line is a clubline process started for one test.
type line struct {
	t        *testing.T
	dir      string
	sipPort  int
	httpAddr string
	dataDir  string
	proc     *proc
	stdout   bytes.Buffer
	stderr   *os.File
	stopped  bool
}

// lineOptions vary the test's clubline.yaml and environment.
type lineOptions struct {
	// people is the YAML of the staff and groups sections; empty: the
	// group office, with no members (key 1 of the menu routes there).
	people string
	// env is added to clubline's environment ("NAME=value"), e.g. the
	// variables the staff's password_env name.
	env []string
	// config, when set, writes the whole clubline.yaml instead of
	// configTemplate (people is then unused). It is given the line with
	// its ports and directories chosen: sipPort, httpAddr, dataDir, and
	// dir, under which the voicemail goes.
	config func(l *line) string
	// sipPort and httpAddr, when set, are the line's instead of free
	// loopback ports (a line in a namespace of its own, nat_test.go).
	sipPort  int
	httpAddr string
	// command, when set, runs clubline (with `ip netns exec` in front).
	command func(bin string, args ...string) *exec.Cmd
	// readyWhere names where /readyz is asked, for the error.
	readyWhere string
}

// noStaff is the people of a line without staff: the menu's office group,
// empty, so its calls go to voicemail.
const noStaff = `groups:
  - { id: office }
`

// configTemplate is the test's clubline.yaml: loopback only, the line
// forced open whatever the day, a three-option menu; the staff and groups
// come last (lineOptions.people).
const configTemplate = `club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr, en]
  language_key: "8"
sip:
  listen: [udp://127.0.0.1:%d]
  rtp_ports: 20000-29999
  rtp_timeout: 30s
  numbers: ["%s"]
  max_calls: 10
  drain_timeout: 5s
hours:
  weekly:
    mon-fri: 08:30-16:30
  holidays: quebec
  override: open
menu:
  timeout: 3s
  retries: 1
  default: voicemail
  options:
    - { key: "1", category: registrations, route: office }
    - { key: "0", category: message, route: voicemail }
    - { key: "9", category: urgent, route: urgency }
voicemail:
  dir: %s
  max_length: 30s
  silence_timeout: 4s
store:
  data_dir: %s
http:
  listen: %s
%s`

// startClubline builds the binary, writes the config and starts
// `clubline serve`; it returns once /readyz says ready. The process is
// killed at the end of the test if the test did not stop it.
func startClubline(t *testing.T, o lineOptions) *line {
	t.Helper()
	dir := t.TempDir()
	bin := buildClubline(t, dir)
	l := &line{t: t, dir: dir, sipPort: o.sipPort, httpAddr: o.httpAddr, dataDir: filepath.Join(dir, "data")}
	if l.sipPort == 0 {
		l.sipPort = freeUDPPort(t)
	}
	if l.httpAddr == "" {
		l.httpAddr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	}
	if o.command == nil {
		o.command = exec.Command
	}
	if o.readyWhere == "" {
		o.readyWhere = "http://" + l.httpAddr + "/readyz"
	}
	if o.people == "" {
		o.people = noStaff
	}
	config := filepath.Join(dir, "clubline.yaml")
	body := fmt.Sprintf(configTemplate, l.sipPort, clubNumber, filepath.Join(dir, "voicemail"), l.dataDir, l.httpAddr, o.people)
	if o.config != nil {
		body = o.config(l)
	}
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if l.stderr, err = os.Create(filepath.Join(dir, "clubline.log")); err != nil {
		t.Fatal(err)
	}
	cmd := o.command(bin, "serve", "--config", config, "--log-level", "debug")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdout = &l.stdout
	cmd.Stderr = l.stderr
	l.proc = startProc(t, cmd, func() {
		l.stderr.Close()
		if t.Failed() {
			l.dumpLog()
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		if !l.proc.running() {
			t.Fatalf("clubline exited before it was ready: %v\nstdout: %s", l.proc.waitErr, l.stdout.String())
		}
		if status, body, err := l.get("/readyz"); err == nil && status == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("clubline not ready on %s after 15s: status %d, %v\n%s", o.readyWhere, status, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

// sipAddr is where clubline takes SIP requests, "127.0.0.1:port" (UDP).
func (l *line) sipAddr() string { return fmt.Sprintf("127.0.0.1:%d", l.sipPort) }

// proc is a process a test started. It is killed at the end of the test
// if it still runs; then done runs (close its log, print it on failure).
type proc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// startProc starts cmd and registers its clean-up.
func startProc(t *testing.T, cmd *exec.Cmd, done func()) *proc {
	t.Helper()
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		done()
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to timeout for the process to exit; it
// returns the process's exit error (nil for status 0), or an error saying
// it still runs.
func (p *proc) signal(sig os.Signal, timeout time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil && p.running() {
		return fmt.Errorf("%s: %v", sig, err)
	}
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("still running %s after %s", timeout, sig)
	}
}

// buildClubline builds ./cmd/clubline of this module into dir.
func buildClubline(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build clubline: %v", err)
	}
	bin := filepath.Join(dir, "clubline")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/clubline")
	cmd.Dir = ".." // the module root; go test runs in the package's directory
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/clubline: %v\n%s", err, out)
	}
	return bin
}

// stop sends SIGTERM (clubline drains, flushes its records and closes the
// store) and checks that it exits with status 0.
func (l *line) stop() {
	l.t.Helper()
	if l.stopped {
		return
	}
	l.stopped = true
	if err := l.proc.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		l.t.Fatalf("clubline, stopped with SIGTERM: %v (want exit status 0)", err)
	}
}

// calls opens the embedded store of a stopped clubline and returns every
// call record, oldest first.
func (l *line) calls() []*clubline.Call {
	l.t.Helper()
	st, err := embedded.Open(filepath.Join(l.dataDir, "clubline.db"))
	if err != nil {
		l.t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls, err := st.Calls(ctx, time.Time{}, time.Now().Add(24*time.Hour), 0)
	if err != nil {
		l.t.Fatal(err)
	}
	return calls
}

// onlyCall is the one call record the store holds; the test fails when
// there is not exactly one. why says why one is expected.
func (l *line) onlyCall(why string) *clubline.Call {
	l.t.Helper()
	calls := l.calls()
	if len(calls) != 1 {
		l.t.Fatalf("the store holds %d call records, want 1%s: %s", len(calls), why, describe(calls...))
	}
	return calls[0]
}

// field is one field of a call record to check: its name, its value, the
// value wanted.
type field struct{ name, got, want string }

func checkFields(t *testing.T, fields []field) {
	t.Helper()
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("record %s = %q, want %q", f.name, f.got, f.want)
		}
	}
}

func (l *line) get(path string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + l.httpAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric returns one sample of /metrics (0 if absent).
func (l *line) metric(sample string) (float64, error) {
	status, body, err := l.get("/metrics")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("/metrics: status %d", status)
	}
	for _, ln := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(ln, sample+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}

// awaitMetric waits until a sample of /metrics reads want.
func (l *line) awaitMetric(sample string, want float64) {
	l.t.Helper()
	if err := l.waitMetric(sample, want, 10*time.Second, nil); err != nil {
		l.t.Fatal(err)
	}
}

// waitMetric waits up to timeout until a sample of /metrics reads want.
// giveUp, if not nil, is asked at each try whether waiting on is
// pointless; its error is returned.
func (l *line) waitMetric(sample string, want float64, timeout time.Duration, giveUp func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := l.metric(sample)
		if err == nil && got == want {
			return nil
		}
		if giveUp != nil {
			if err := giveUp(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s = %v (%v) after %s, want %v", sample, got, err, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (l *line) dumpLog() {
	b, err := os.ReadFile(l.stderr.Name())
	if err != nil {
		l.t.Logf("clubline log: %v", err)
		return
	}
	l.t.Logf("clubline stdout:\n%s\nclubline log (%s):\n%s", l.stdout.String(), l.stderr.Name(), tail(b, 200))
}

// runSIPp runs one call of a scenario in testdata against the line and
// fails the test unless SIPp exits 0 (every call successful). SIPp's
// files (errors, messages, screen) go to a temporary directory and are
// printed when the test fails.
func runSIPp(t *testing.T, sipp string, l *line, scenario, service string) {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := strings.TrimSuffix(scenario, ".xml")
	files := map[string]string{
		"errors":   filepath.Join(dir, name+"_errors.log"),
		"messages": filepath.Join(dir, name+"_messages.log"),
		"screen":   filepath.Join(dir, name+"_screen.log"),
	}
	args := []string{
		"-sf", sf,
		"-m", "1", // one call, then exit
		"-s", service,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeMediaPort(t)),
		"-nostdin",
		"-timeout", "60s", "-timeout_error",
		"-trace_err", "-error_file", files["errors"],
		"-trace_msg", "-message_file", files["messages"],
		"-trace_screen", "-screen_file", files["screen"],
		fmt.Sprintf("127.0.0.1:%d", l.sipPort),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, args...)
	cmd.Dir = dir // anything SIPp writes by itself lands here too
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Logf("sipp %s", strings.Join(args, " "))
	err = cmd.Run()
	if err == nil {
		return
	}
	var exit *exec.ExitError
	why := err.Error()
	if errors.As(err, &exit) {
		why = fmt.Sprintf("exit status %d (%s)", exit.ExitCode(), sippExit(exit.ExitCode()))
	}
	t.Errorf("sipp %s: %s", scenario, why)
	t.Logf("sipp output:\n%s", tail(out.Bytes(), 60))
	for _, k := range []string{"errors", "messages", "screen"} {
		if b, err := os.ReadFile(files[k]); err == nil {
			t.Logf("sipp %s (%s):\n%s", k, files[k], tail(b, 300))
		}
	}
	t.FailNow()
}

// sippExit explains SIPp's exit codes.
func sippExit(code int) string {
	switch code {
	case 1:
		return "at least one call failed"
	case 97:
		return "exit on internal command"
	case 99:
		return "no call processed"
	case 255:
		return "fatal error"
	}
	return "see sipp -h"
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines cut]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func describe(calls ...*clubline.Call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "\n  %+v", *c)
	}
	return b.String()
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

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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
