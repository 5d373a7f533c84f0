package interop_test

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

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/interop/provider"
)

// The club's number through a SIP provider, with real peers on every
// side: Kamailio plays the provider (package provider), clubline registers
// to it as its trunk, a SIPp caller on the "PSTN" dials the club's number
// at the provider, and a SIPp UAS behind the provider plays the on-call
// volunteer's mobile. What the Go phones do in cmd/clubline's
// trunk_e2e_test.go, done here by programs nobody here wrote.

const (
	trunkName        = "provider"
	trunkPassword    = "interop-trunk-secret"
	trunkPasswordEnv = "CLUBLINE_TEST_TRUNK_PW"
	// onCall is the volunteer on call: no softphone, only his mobile,
	// which clubline rings through the trunk.
	onCall       = "luc"
	onCallMobile = "+15145550199"
	onCallPwEnv  = "CLUBLINE_TEST_PW_LUC"
	// pstnCaller is the number the SIPp caller calls from
	// (trunk_caller.xml).
	pstnCaller = "+15145550123"
	// strangerIP is where the toll-fraud test sends from: loopback, but
	// not the provider's address (127.0.0.1), which the trunk lets in.
	strangerIP = "127.0.0.77"
	// intlNumber is what the stranger dials: the 011 international prefix
	// of the NANP and a UK number, as scanners try.
	intlNumber = "011441234567890"
)

// trunkConfig is clubline.yaml for the trunk tests: the office closed
// whatever the clock says, key 1 of the menu the urgent line (the key
// sip-tester's pcap presses), luc on call with only his mobile, no queue,
// and the trunk at the provider (its address in registrar). sip.numbers
// is empty: the trunk's number is the club's. sip.allow_from names a
// TEST-NET address only, so that loopback is let in as the trunk (its
// registrar's address, 127.0.0.1) and not as the machine itself.
const trunkConfig = `club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr, en]
  language_key: "8"
sip:
  listen: [udp://127.0.0.1:%d]
  rtp_ports: 20000-29999
  # The SIPp peers send RTP only when they press a key.
  rtp_timeout: 60s
  numbers: []
  max_calls: 10
  drain_timeout: 5s
  allow_from: ["192.0.2.1"]
hours:
  weekly:
    mon-fri: 08:30-16:30
  holidays: quebec
  override: closed
menu:
  timeout: 3s
  retries: 1
  default: voicemail
  options:
    - { key: "1", category: urgent, route: urgency }
    - { key: "0", category: message, route: voicemail }
# Without this line the default group office would stay, empty.
groups: []
voicemail:
  dir: %s
  max_length: 30s
  silence_timeout: 4s
store:
  data_dir: %s
http:
  listen: %s
staff:
  - { id: %s, name: Luc Gagnon, extension: "202", password_env: %s, phone: "%s" }
on_call:
  rotation: { every: week, starts: 2025-01-06T16:30, members: [%s] }
urgency:
  target: on-call
trunks:
  - name: %s
    registrar: "sip:%s"
    username: clubline
    password_env: %s
    numbers: ["%s"]
`

// trunkLine starts clubline with its trunk at the provider p and waits
// until the trunk is registered. A failed first REGISTER fails the test at
// once: clubline tries again only after its back-off (about 30 s), and
// meanwhile the provider answers the club's callers 480.
func trunkLine(t *testing.T, p *provider.Provider) *line {
	t.Helper()
	l := startClubline(t, lineOptions{
		env: []string{trunkPasswordEnv + "=" + trunkPassword, onCallPwEnv + "=interop-202-secret"},
		config: func(l *line) string {
			return fmt.Sprintf(trunkConfig, l.sipPort, filepath.Join(l.dir, "voicemail"), l.dataDir, l.httpAddr,
				onCall, onCallPwEnv, onCallMobile, onCall,
				trunkName, p.Addr(), trunkPasswordEnv, clubNumber)
		},
	})
	err := l.waitMetric(trunkRegistered, 1, 10*time.Second, func() error {
		ln := l.logLine(`msg="trunk not registered"`)
		if ln == "" {
			return nil
		}
		why := "clubline's trunk did not register at start-up, and retries only after its back-off"
		if strings.Contains(ln, "address already in use") {
			// Seen in about one start in five: the REGISTER goes out
			// before sipgo serves the UDP listener, so sipgo binds the
			// listener's address a second time.
			why += " (the start-up race between the trunk's first REGISTER and the UDP listener)"
		}
		return fmt.Errorf("%s:\n%s", why, ln)
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// logLine is the first line of clubline's log so far that contains
// substr, "" if none.
func (l *line) logLine(substr string) string {
	b, err := os.ReadFile(l.stderr.Name())
	if err != nil {
		return ""
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, substr) {
			return ln
		}
	}
	return ""
}

// trunkRegistered is the trunk's registration gauge.
const trunkRegistered = `clubline_trunk_registered{trunk="` + trunkName + `"}`

// TestSIPpUrgentCallThroughProvider: out of hours, a caller on the PSTN
// (SIPp) dials the club's number at the provider (Kamailio), which
// delivers the call to clubline's trunk. Once the closed message starts,
// the caller presses 1, the urgent key, by RFC 2833 pcap. clubline rings
// the on-call volunteer's mobile through the provider; the mobile (SIPp)
// answers, hears who calls and why, confirms with 1 by pcap, talks a few
// seconds and hangs up; clubline then hangs up the caller. The record says
// the mobile's owner answered the urgent call that came by the trunk, and
// the provider relayed exactly one call out, to his number.
func TestSIPpUrgentCallThroughProvider(t *testing.T) {
	sipp := requireSIPp(t)
	if _, err := os.Stat(dtmfPcap); err != nil {
		t.Fatalf("%v: the RFC 2833 pcaps come with sip-tester (apt-get install sip-tester)", err)
	}
	requireRawSocket(t, sipp)
	provider.Require(t)
	t.Parallel()

	mobilePort := freeUDPPort(t)
	p := provider.Start(t, provider.Options{PSTN: fmt.Sprintf("127.0.0.1:%d", mobilePort), Password: trunkPassword})
	l := trunkLine(t, p)

	mobile := startSIPpPeer(t, sipp, "trunk_mobile.xml", sippSide{port: mobilePort})
	start := time.Now()
	startSIPpPeer(t, sipp, "trunk_caller.xml", sippSide{target: p.Addr(), service: clubNumber}).wait()
	t.Logf("the caller's call lasted %s", time.Since(start).Round(100*time.Millisecond))
	mobile.wait()

	// What the volunteer's phone shows: a call from the club's number.
	inv := mobile.logged()
	if from := headerLine(inv, "From"); !strings.Contains(from, "sip:"+clubNumber+"@") {
		t.Errorf("the mobile saw the call from %q, want the club's number %s", from, clubNumber)
	}
	relayed := p.Relayed()
	if len(relayed) != 1 || !strings.Contains(relayed[0], "ruri=sip:"+onCallMobile+"@") {
		t.Errorf("the provider relayed %d INVITEs:\n%s\nwant one, to %s", len(relayed), strings.Join(relayed, "\n"), onCallMobile)
	}
	l.awaitMetric(`clubline_calls_total{hours="closed",outcome="answered"}`, 1)
	l.awaitMetric(`clubline_active_calls`, 0)
	l.awaitMetric(trunkRegistered, 1)
	// The mobile holds the call 8 s from its answer (trunk_mobile.xml):
	// that much of the trunk's hourly allowance is used.
	if used, err := l.metric(`clubline_trunk_outbound_seconds_last_hour{trunk="` + trunkName + `"}`); err != nil || used < 7 || used > 12 {
		t.Errorf("clubline_trunk_outbound_seconds_last_hour = %v (%v), want the mobile's 8 s", used, err)
	}

	l.stop()
	rec := l.onlyCall("")
	checkFields(t, []field{
		{"Route", rec.Route, clubline.RouteUrgency},
		{"Outcome", string(rec.Outcome), string(clubline.OutcomeAnswered)},
		{"AnsweredBy", rec.AnsweredBy, onCall},
		{"Trunk", rec.Trunk, trunkName},
		{"To", rec.To, clubNumber},
		{"From", rec.From, pstnCaller},
		{"Choice", rec.Choice, "1"},
		{"Hours", string(rec.Hours), string(clubline.HoursClosed)},
	})
	trace := strings.Join(rec.Trace, "\n")
	for _, step := range []string{"urgent key → urgency", "urgency: " + onCall + " on call"} {
		if !strings.Contains(trace, step) {
			t.Errorf("record trace lacks %q:\n%s", step, trace)
		}
	}
	if rec.AnsweredAt.IsZero() || rec.EndedAt.Before(rec.AnsweredAt) {
		t.Errorf("record answered at %v, ended at %v: want both, in that order", rec.AnsweredAt, rec.EndedAt)
	}
	if t.Failed() {
		t.Logf("record: %s", describe(rec))
	}
}

// TestSIPpStrangerGets403WithTrunk: with a trunk, calls are taken only
// from the trunk (and sip.allow_from). A stranger on another address
// sends an INVITE straight to clubline for an international number: 403,
// counted, no record kept, and nothing goes out through the provider.
func TestSIPpStrangerGets403WithTrunk(t *testing.T) {
	sipp := requireSIPp(t)
	provider.Require(t)
	t.Parallel()

	// The PSTN side is a socket that must stay silent.
	pstn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pstn.Close()
	p := provider.Start(t, provider.Options{PSTN: pstn.LocalAddr().String(), Password: trunkPassword})
	l := trunkLine(t, p)

	startSIPpPeer(t, sipp, "trunk_stranger.xml", sippSide{ip: strangerIP, target: l.sipAddr(), service: intlNumber}).wait()
	l.awaitMetric(`clubline_sip_rejected_total{code="403"}`, 1)
	l.awaitMetric(`clubline_calls_total{hours="closed",outcome="rejected"}`, 1)

	// Not even tried: no INVITE from clubline reached the provider
	// (refused or relayed), and the trunk's allowance is untouched.
	for _, ln := range p.Log() {
		if strings.Contains(ln, "INVITE") {
			t.Errorf("the provider saw an INVITE: %s", ln)
		}
	}
	if used, err := l.metric(`clubline_trunk_outbound_seconds_last_hour{trunk="` + trunkName + `"}`); err != nil || used != 0 {
		t.Errorf("clubline_trunk_outbound_seconds_last_hour = %v (%v), want 0", used, err)
	}
	_ = pstn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := pstn.ReadFrom(make([]byte, 4096)); err == nil {
		t.Errorf("the PSTN side got %d bytes from %s", n, from)
	}
	l.stop()
	if calls := l.calls(); len(calls) != 0 {
		t.Errorf("the store holds %d call records, want none (a refusal is counted, not stored): %s", len(calls), describe(calls...))
	}
}

// sippSide says where a SIPp peer runs and whom it calls.
type sippSide struct {
	ip      string // its SIP and media address; "": 127.0.0.1
	port    int    // its SIP port; 0: a free one
	target  string // "host:port" it calls; "": it waits for a call
	service string // -s, the request-URI user of its INVITE
}

// sippPeer is a SIPp process running one call of a scenario in testdata.
type sippPeer struct {
	t        *testing.T
	scenario string
	args     []string
	dir      string
	out      bytes.Buffer
	done     chan struct{}
	err      error // set before done is closed
	shown    bool  // its files were printed
}

// startSIPpPeer starts SIPp on one call of a scenario, in the background.
// A peer that waits for a call has bound its port when it returns. Its
// files (errors, messages, what the scenario logs) go to a temporary
// directory and are printed if the test fails, whichever side failed. It
// is killed at the end of the test if it still runs.
func startSIPpPeer(t *testing.T, sipp, scenario string, side sippSide) *sippPeer {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	if side.ip == "" {
		side.ip = "127.0.0.1"
	}
	if side.port == 0 {
		side.port = freeUDPPortOn(t, side.ip)
	}
	s := &sippPeer{t: t, scenario: scenario, dir: t.TempDir(), done: make(chan struct{})}
	s.args = []string{
		"-sf", sf,
		"-m", "1", // one call, then exit
		"-i", side.ip, "-p", strconv.Itoa(side.port),
		"-mi", side.ip, "-mp", strconv.Itoa(freeMediaPortOn(t, side.ip)),
		"-nostdin",
		"-timeout", "50s", "-timeout_error",
		"-trace_err", "-error_file", s.file("errors"),
		"-trace_msg", "-message_file", s.file("messages"),
		"-trace_logs", "-log_file", s.file("logs"),
	}
	if side.service != "" {
		s.args = append(s.args, "-s", side.service)
	}
	if side.target != "" {
		s.args = append(s.args, side.target)
	}
	t.Logf("sipp %s", strings.Join(s.args, " "))
	s.start(t, 60*time.Second, sipp, s.args...)
	if side.target == "" {
		s.awaitBound(side.ip, side.port)
	}
	return s
}

func (s *sippPeer) file(kind string) string {
	return filepath.Join(s.dir, strings.TrimSuffix(s.scenario, ".xml")+"_"+kind+".log")
}

// awaitBound returns once SIPp listens on its UDP port, so that a call
// placed next cannot arrive before it does.
func (s *sippPeer) awaitBound(ip string, port int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.fail("exited before listening")
		default:
		}
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return // taken: SIPp has it
		}
		pc.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.fail(fmt.Sprintf("not listening on UDP %s:%d after 5s", ip, port))
}

// wait waits for SIPp to exit and fails the test unless its call
// succeeded (exit status 0).
func (s *sippPeer) wait() {
	s.t.Helper()
	<-s.done
	if s.err == nil {
		return
	}
	why := s.err.Error()
	var exit *exec.ExitError
	if errors.As(s.err, &exit) {
		why = fmt.Sprintf("exit status %d (%s)", exit.ExitCode(), sippExit(exit.ExitCode()))
	}
	s.fail(why)
}

// fail ends the test with SIPp's output and files.
func (s *sippPeer) fail(why string) {
	s.t.Helper()
	s.t.Errorf("sipp %s: %s", s.scenario, why)
	s.show()
	s.t.FailNow()
}

// show prints SIPp's command line, output and files.
func (s *sippPeer) show() {
	s.t.Helper()
	s.shown = true
	s.t.Logf("sipp %s", strings.Join(s.args, " "))
	select {
	case <-s.done:
		s.t.Logf("sipp %s output:\n%s", s.scenario, tail(s.out.Bytes(), 60))
	default: // still running: its output is not ours to read yet
	}
	for _, k := range []string{"errors", "messages", "logs"} {
		if b, err := os.ReadFile(s.file(k)); err == nil {
			s.t.Logf("sipp %s %s (%s):\n%s", s.scenario, k, s.file(k), tail(b, 300))
		}
	}
}

// logged is what the scenario's log actions wrote.
func (s *sippPeer) logged() string {
	s.t.Helper()
	b, err := os.ReadFile(s.file("logs"))
	if err != nil {
		s.t.Fatalf("sipp %s wrote no log: %v", s.scenario, err)
	}
	return string(b)
}

// headerLine is the value of the first header called name in a logged
// SIP message, "" if none.
func headerLine(msg, name string) string {
	for _, ln := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(ln, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// freeUDPPortOn returns a UDP port on ip that was free a moment ago.
func freeUDPPortOn(t *testing.T, ip string) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// freeMediaPortOn returns a port p for SIPp's -mp such that p and p+2
// (its audio and video sockets) are both free on ip.
func freeMediaPortOn(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		p := freeUDPPortOn(t, ip)
		b, err := net.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(p+2)))
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatalf("no free pair of UDP ports p, p+2 on %s for SIPp's media", ip)
	return 0
}

// start runs the peer's SIPp (name and args: sipp, or ip netns exec in
// front of it) in its directory, where anything SIPp writes by itself
// lands too, for at most timeout; its files are shown if the test fails.
func (s *sippPeer) start(t *testing.T, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
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
		if t.Failed() && !s.shown {
			s.show()
		}
	})
}
