package interop_test

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/interop/provider"
)

// The club's line behind a home router: three network namespaces made by
// the test stand for the club's LAN, its router and the internet.
//
//	lan     clubline on 10.77.0.2, default route via the router
//	router  10.77.0.1 on the LAN, 198.51.100.1 on the internet, forwarding,
//	        the LAN masqueraded to its public address (ports mapped into
//	        40000-49999), new connections from the internet dropped; no SIP
//	        ALG, nothing forwarded
//	wan     the provider (Kamailio) on 198.51.100.10, a SIPp caller on
//	        198.51.100.20; no route to the LAN
//
// clubline knows nothing of the router (no public_address, no stun): it
// learns its public address from the provider's answers (Via received and
// rport, sip/trunk/register.go). The mapped ports never equal clubline's
// 5060, so the port it registers can only be the learnt one.
//
// Decisions:
//
//   - Processes run in a namespace through `ip netns exec`, which execs in
//     place: the process the test holds is clubline (Kamailio, SIPp) itself,
//     and SIGTERM reaches it.
//   - clubline's HTTP listens on the lan namespace's own loopback, as on a
//     real machine. The test relays a loopback port of its own there, the
//     far side dialled from a thread that entered lan: every helper of
//     line (the readiness wait, awaitMetric) works unchanged, and no curl
//     is needed. The provider's probes get in the same way (provider.Options
//     Dial).
//   - "Audio reached the caller" is an nftables counter in wan on the
//     caller's media port: the packets came out of the NAT and arrived.
//     SIPp sends no audio, hence the long rtp_timeout.
//   - The provider's NAT change is the ISP's: the router's public address
//     changes. Masquerade drops every mapping made with the old address, as
//     a home router does on a new lease, so clubline's next keep-alive goes
//     out through a new mapping, and the provider's answer tells it.

const (
	natLAN        = "10.77.0.2"    // clubline's machine
	natGateway    = "10.77.0.1"    // the router, LAN side
	natPublic     = "198.51.100.1" // the router's public address
	natPublicNext = "198.51.100.2" // the one the ISP gives it later
	natProvider   = "198.51.100.10"
	natCaller     = "198.51.100.20"
	natPorts      = "40000-49999" // where the router maps the LAN's ports
	natSIPPort    = 5060          // clubline's, inside lan
	natHTTP       = "127.0.0.1:8080"
	// natKeepAlive is the trunk's keep-alive, the shortest allowed: how
	// soon clubline notices the router's new address.
	natKeepAlive = 10 * time.Second
)

// natConfig is clubline.yaml behind the router: the office open whatever
// the clock says, no staff, the trunk at the provider on the internet.
const natConfig = `club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr, en]
  language_key: "8"
sip:
  listen: [udp://%s:%d]
  rtp_ports: 20000-29999
  # The SIPp caller sends no audio.
  rtp_timeout: 60s
  numbers: []
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
    - { key: "0", category: message, route: voicemail }
groups: []
voicemail:
  dir: %s
  max_length: 30s
  silence_timeout: 4s
store:
  data_dir: %s
http:
  listen: %s
trunks:
  - name: %s
    registrar: "sip:%s"
    username: clubline
    password_env: %s
    numbers: ["%s"]
    keepalive: %s
`

// TestTrunkBehindNAT: clubline registers to the provider through the
// router's NAT, learning the public address and port the provider sees; a
// caller on the internet dials the club's number at the provider, and the
// call comes in through the mapping the registration and the keep-alives
// keep open, is answered, and the greeting reaches the caller. Then the
// router gets a new public address: the next keep-alive shows it, clubline
// registers again, and a second call gets through the same way.
func TestTrunkBehindNAT(t *testing.T) {
	sipp := requireSIPp(t)
	provider.Require(t)
	if os.Geteuid() != 0 {
		t.Fatal("TestTrunkBehindNAT makes network namespaces (ip netns add), which takes root: run the interop tests as root, as CI does")
	}
	requireTool(t, "ip", "iproute2")
	requireTool(t, "nft", "nftables")
	t.Parallel()

	hn := newHomeNetwork(t)
	p := provider.Start(t, provider.Options{Password: trunkPassword, Host: natProvider,
		Exec: hn.wan.command, Dial: hn.wan.dial})
	l := startLineIn(t, hn.lan, lineOptions{
		env: []string{trunkPasswordEnv + "=" + trunkPassword},
		config: func(l *line) string {
			return fmt.Sprintf(natConfig, natLAN, natSIPPort, filepath.Join(l.dir, "voicemail"), l.dataDir, natHTTP,
				trunkName, p.Addr(), trunkPasswordEnv, clubNumber, natKeepAlive)
		},
	})
	awaitRegistered(t, l)

	// 1. Registered through the NAT, at the address the provider sees.
	first := p.WaitLog(t, "PROVIDER REGISTER ", time.Second)
	m := regexp.MustCompile(`src=` + regexp.QuoteMeta(natPublic) + `:(\d+)/udp`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("the provider saw clubline's first REGISTER from elsewhere than the router's %s: %s", natPublic, first)
	}
	mapped := natPublic + ":" + m[1]
	if port, _ := strconv.Atoi(m[1]); port < 40000 || port > 49999 {
		t.Fatalf("the router mapped clubline's port to %s, outside its range %s", mapped, natPorts)
	}
	if ln := l.logLine("the provider sees clubline at another address"); !strings.Contains(ln, "seen="+mapped) {
		t.Errorf("clubline's log does not say it learnt %s:\n%s", mapped, ln)
	}
	awaitRegistration(t, p, mapped, time.Second)
	t.Logf("clubline at %s registered as %s, the router's mapping", natLAN, mapped)

	// 2. A call from the internet, in through the mapping.
	natCall(t, hn, sipp, p, l, 1, mapped, 16000)

	// 3. The ISP gives the router a new address; the mappings are gone.
	hn.renumber(t, natPublic, natPublicNext)
	renumbered := time.Now()
	line := awaitRegistration(t, p, natPublicNext+":", natKeepAlive+5*time.Second)
	remapped := regexp.MustCompile(`contact=<sip:clubline@([0-9.]+:\d+)>`).FindStringSubmatch(line)[1]
	t.Logf("registered again at %s %s after the new address", remapped, time.Since(renumbered).Round(10*time.Millisecond))
	if ln := l.logLine("clubline's public address changed"); !strings.Contains(ln, "now="+remapped) {
		t.Errorf("clubline's log does not say its public address changed to %s:\n%s", remapped, ln)
	}
	l.awaitMetric(trunkRegistered, 1)
	natCall(t, hn, sipp, p, l, 2, remapped, 16100)

	l.stop()
	calls := l.calls()
	if len(calls) != 2 {
		t.Errorf("the store holds %d call records, want 2, one a call: %s", len(calls), describe(calls...))
	}
	for _, rec := range calls {
		// Abandoned in the menu: the greeting played to its end, and the
		// caller hung up; no RTP timeout (that would be failed).
		checkFields(t, []field{
			{"Trunk", rec.Trunk, trunkName},
			{"To", rec.To, clubNumber},
			{"From", rec.From, pstnCaller},
			{"Outcome", string(rec.Outcome), string(clubline.OutcomeAbandoned)},
			{"Stage", string(rec.Stage), string(clubline.StageMenu)},
		})
		if trace := strings.Join(rec.Trace, "\n"); !strings.Contains(trace, "caller hung up in menu") {
			t.Errorf("record trace lacks %q:\n%s", "caller hung up in menu", trace)
		}
	}
	if t.Failed() {
		t.Logf("records: %s", describe(calls...))
	}
}

// natCall has the caller in wan call the club's number at the provider
// (call n of the test, SIPp's audio on mediaPort) and checks that it came
// in once, through the router's mapping at public ("ip:port"), that the
// caller's ACK and BYE reached clubline, and that clubline's voice reached
// the caller.
func natCall(t *testing.T, hn *homeNetwork, sipp string, p *provider.Provider, l *line, n int, public string, mediaPort int) {
	t.Helper()
	audio := hn.countUDPTo(t, natCaller, mediaPort)
	caller := startSIPpIn(t, hn.wan, sipp, "nat_caller.xml", natCaller, mediaPort, p.Addr(), clubNumber)
	err := caller.finish()

	var inbound []string
	for _, ln := range p.Log() {
		if strings.HasPrefix(ln, "PROVIDER INBOUND ") {
			inbound = append(inbound, ln)
		}
	}
	if len(inbound) != n {
		t.Fatalf("the provider logged %d calls from the PSTN, want %d:\n%s", len(inbound), n, strings.Join(inbound, "\n"))
	}
	if ln := inbound[n-1]; !strings.Contains(ln, "dst=sip:"+public+" ") || !strings.Contains(ln, "result=relayed") {
		t.Errorf("call %d: the provider did not relay it through the router's mapping %s: %s", n, public, ln)
	}
	// Once: the provider rings every contact registered for the account.
	if got := l.logLines(`msg="incoming call"`); len(got) != n {
		t.Errorf("call %d: clubline's log shows %d incoming calls, want %d (one a call): the provider forked the call to "+
			"more than one contact of clubline's; its REGISTERs:\n%s\nclubline's incoming calls:\n%s",
			n, len(got), n, strings.Join(providerLines(p, "PROVIDER REGISTER ", "result=200"), "\n"), strings.Join(got, "\n"))
	}
	if err != nil {
		// The ACK and the BYE go to the Contact of clubline's 200 OK.
		t.Errorf("call %d: %v: the caller's requests in the call went to:\n%s", n, err,
			strings.Join(append(providerLines(p, "PROVIDER DIALOG "), providerLines(p, "PROVIDER FAILED ")...), "\n"))
		caller.show()
	}
	// 8 s on the line from the ACK, 50 packets a second; the greeting
	// alone is 3.2 s.
	if got := audio(); got < 150 {
		t.Errorf("call %d: %d RTP packets reached the caller's port %d, want at least the greeting's 150", n, got, mediaPort)
	} else {
		t.Logf("call %d: %d RTP packets from clubline reached the caller", n, got)
	}
}

// awaitRegistered waits until clubline's trunk is registered; a failed
// first REGISTER fails the test at once (the retry comes after a back-off
// of about 30 s).
func awaitRegistered(t *testing.T, l *line) {
	t.Helper()
	err := l.waitMetric(trunkRegistered, 1, 10*time.Second, func() error {
		if ln := l.logLine(`msg="trunk not registered"`); ln != "" {
			return fmt.Errorf("clubline's trunk did not register at start-up, and retries only after its back-off:\n%s", ln)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// awaitRegistration waits for the provider's 200 to a REGISTER whose
// contact starts with addr ("ip:port", or "ip:" for any port) and returns
// its line.
func awaitRegistration(t *testing.T, p *provider.Provider, addr string, timeout time.Duration) string {
	t.Helper()
	want := "contact=<sip:clubline@" + addr
	deadline := time.Now().Add(timeout)
	for {
		for _, ln := range providerLines(p, "PROVIDER REGISTER ", want, "result=200") {
			if !strings.Contains(ln, "expires=0 ") {
				return ln
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider registered no contact at %s within %s; its REGISTERs:\n%s",
				addr, timeout, strings.Join(providerLines(p, "PROVIDER REGISTER "), "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// providerLines are the provider's lines so far that start with prefix
// and contain every one of substrs.
func providerLines(p *provider.Provider, prefix string, substrs ...string) []string {
	var out []string
next:
	for _, ln := range p.Log() {
		if !strings.HasPrefix(ln, prefix) {
			continue
		}
		for _, s := range substrs {
			if !strings.Contains(ln, s) {
				continue next
			}
		}
		out = append(out, ln)
	}
	return out
}

// logLines are the lines of clubline's log so far that contain substr.
func (l *line) logLines(substr string) []string {
	b, err := os.ReadFile(l.stderr.Name())
	if err != nil {
		return nil
	}
	var out []string
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.Contains(ln, substr) {
			out = append(out, ln)
		}
	}
	return out
}

// homeNetwork is the club's LAN, its router and the internet, each a
// network namespace of the test's own.
type homeNetwork struct {
	lan, router, wan netns
}

// newHomeNetwork makes the namespaces and their links, addresses, routes
// and the router's rules; the test's clean-up deletes them, whatever
// happened.
func newHomeNetwork(t *testing.T) *homeNetwork {
	t.Helper()
	id := fmt.Sprintf("clubline-%d-%04x", os.Getpid(), rand.IntN(1<<16))
	hn := &homeNetwork{lan: netns{id + "-lan"}, router: netns{id + "-router"}, wan: netns{id + "-wan"}}
	all := []netns{hn.lan, hn.router, hn.wan}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := hn.router.command("nft", "list", "ruleset").CombinedOutput()
			t.Logf("the router's rules and counters:\n%s", out)
		}
		for _, n := range all {
			n.remove(t)
		}
	})
	lan, router, wan := hn.lan.name, hn.router.name, hn.wan.name
	for _, n := range all {
		ipCmd(t, "netns", "add", n.name)
		ipCmd(t, "-n", n.name, "link", "set", "lo", "up")
	}
	// Each pair of interfaces is made in its namespaces directly.
	ipCmd(t, "link", "add", "eth0", "netns", lan, "type", "veth", "peer", "name", "lan", "netns", router)
	ipCmd(t, "link", "add", "eth0", "netns", wan, "type", "veth", "peer", "name", "wan", "netns", router)
	for _, c := range [][]string{
		{"-n", lan, "addr", "add", natLAN + "/24", "dev", "eth0"},
		{"-n", lan, "link", "set", "eth0", "up"},
		{"-n", lan, "route", "add", "default", "via", natGateway},
		{"-n", router, "addr", "add", natGateway + "/24", "dev", "lan"},
		{"-n", router, "addr", "add", natPublic + "/24", "dev", "wan"},
		{"-n", router, "link", "set", "lan", "up"},
		{"-n", router, "link", "set", "wan", "up"},
		{"-n", wan, "addr", "add", natProvider + "/24", "dev", "eth0"},
		{"-n", wan, "addr", "add", natCaller + "/24", "dev", "eth0"},
		{"-n", wan, "link", "set", "eth0", "up"},
	} {
		ipCmd(t, c...)
	}
	hn.router.run(t, nil, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	hn.router.run(t, strings.NewReader(`
table ip router {
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "lan" oifname "wan" accept
		ct state established,related accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "wan" meta l4proto { tcp, udp } masquerade to :`+natPorts+`
		oifname "wan" masquerade
	}
}
`), "nft", "-f", "-")
	// The caller's counters live in wan, where its packets arrive.
	hn.wan.run(t, strings.NewReader(`
table inet caller {
	chain input {
		type filter hook input priority filter;
	}
}
`), "nft", "-f", "-")
	return hn
}

// renumber gives the router's internet side a new address, as an ISP
// does: masquerade forgets the mappings made with the old one.
func (hn *homeNetwork) renumber(t *testing.T, from, to string) {
	t.Helper()
	ipCmd(t, "-n", hn.router.name, "addr", "del", from+"/24", "dev", "wan")
	ipCmd(t, "-n", hn.router.name, "addr", "add", to+"/24", "dev", "wan")
}

// countUDPTo counts the UDP packets that arrive in wan for ip:port; the
// function returned reads the count.
func (hn *homeNetwork) countUDPTo(t *testing.T, ip string, port int) func() int {
	t.Helper()
	name := fmt.Sprintf("udp_%d", port)
	hn.wan.run(t, nil, "nft", "add", "counter", "inet", "caller", name)
	hn.wan.run(t, nil, "nft", "add", "rule", "inet", "caller", "input",
		"ip", "daddr", ip, "udp", "dport", strconv.Itoa(port), "counter", "name", name)
	return func() int {
		t.Helper()
		out := hn.wan.run(t, nil, "nft", "list", "counter", "inet", "caller", name)
		m := regexp.MustCompile(`packets (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("nft counter %s: %q", name, out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// ipCmd runs ip with args and fails the test if it fails.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// netns is a network namespace made with `ip netns add`.
type netns struct{ name string }

// command is name with args to run inside the namespace.
func (n netns) command(name string, arg ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, arg...)...)
}

// run runs a command inside the namespace, with stdin if not nil, and
// returns its output; the test fails if it fails.
func (n netns) run(t *testing.T, stdin io.Reader, name string, arg ...string) string {
	t.Helper()
	cmd := n.command(name, arg...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s", n.name, name, strings.Join(arg, " "), err, out)
	}
	return string(out)
}

// dial connects from inside the namespace: a goroutine locks its thread,
// moves the thread into the namespace, opens the socket there (it stays
// there) and moves the thread back before unlocking it. Back, not ended:
// a thread that ends sends SIGTERM to the children it forked with a
// parent-death signal (the provider's Kamailio).
func (n netns) dial(network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer home.Close()
		if err := setns(filepath.Join("/run/netns", n.name)); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		c, err := net.DialTimeout(network, address, 2*time.Second)
		if setnsFile(home) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked, and ends with this goroutine
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// setns moves the calling thread into the network namespace named by the
// file path (/run/netns/<name>).
func setns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return setnsFile(f)
}

// setnsFile moves the calling thread into the network namespace of f.
func setnsFile(f *os.File) error {
	nr, ok := sysSetns[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("setns: the test knows its system call number on %s only", strings.Join(slices.Sorted(maps.Keys(sysSetns)), " and "))
	}
	if _, _, errno := syscall.RawSyscall(nr, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
		return fmt.Errorf("setns %s: %w", f.Name(), errno)
	}
	return nil
}

// sysSetns is setns(2)'s number, which package syscall lacks on amd64.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268}

// relay listens on a free port of 127.0.0.1 (the test's own) and passes
// each connection to addr inside the namespace; it returns its address.
func (n netns) relay(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer c.Close()
				far, err := n.dial("tcp4", addr)
				if err != nil {
					return
				}
				defer far.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(far, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, far); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// remove ends what still runs in the namespace (what the test started
// there) and deletes it.
func (n netns) remove(t *testing.T) {
	out, err := exec.Command("ip", "netns", "pids", n.name).Output()
	if err != nil {
		return // never made
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v\n%s", n.name, err, out)
	}
}

// startLineIn is startClubline inside a namespace: the config is
// o.config's (l.httpAddr is the test's relay to natHTTP inside), clubline
// runs through `ip netns exec`.
func startLineIn(t *testing.T, ns netns, o lineOptions) *line {
	t.Helper()
	o.sipPort, o.httpAddr = natSIPPort, ns.relay(t, natHTTP)
	o.command = ns.command
	o.readyWhere = natHTTP + " in " + ns.name + " (relayed from " + o.httpAddr + ")"
	return startClubline(t, o)
}

// startSIPpIn runs one call of a scenario with SIPp inside a namespace,
// calling target from ip (SIP on 5060, audio on mediaPort: the namespace
// is the test's, so the ports are free). The files and clean-up are
// startSIPpPeer's.
func startSIPpIn(t *testing.T, ns netns, sipp, scenario, ip string, mediaPort int, target, service string) *sippPeer {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := &sippPeer{t: t, scenario: scenario, dir: t.TempDir(), done: make(chan struct{})}
	s.args = []string{
		"-sf", sf,
		"-m", "1",
		"-s", service,
		"-i", ip, "-p", "5060",
		"-mi", ip, "-mp", strconv.Itoa(mediaPort),
		"-nostdin",
		"-timeout", "30s", "-timeout_error",
		"-trace_err", "-error_file", s.file("errors"),
		"-trace_msg", "-message_file", s.file("messages"),
		target,
	}
	t.Logf("in %s: sipp %s", ns.name, strings.Join(s.args, " "))
	s.start(t, 40*time.Second, "ip", append([]string{"netns", "exec", ns.name, sipp}, s.args...)...)
	return s
}

// finish waits for SIPp to exit and says why its call failed, nil if it
// succeeded.
func (s *sippPeer) finish() error {
	<-s.done
	if s.err == nil {
		return nil
	}
	why := s.err.Error()
	var exit *exec.ExitError
	if errors.As(s.err, &exit) {
		why = fmt.Sprintf("exit status %d (%s)", exit.ExitCode(), sippExit(exit.ExitCode()))
	}
	return fmt.Errorf("sipp %s: %s", s.scenario, why)
}
