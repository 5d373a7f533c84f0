package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// baresip (Debian's baresip-core) as a staff member's softphone: it
// registers to clubline with digest authentication, answers by itself the
// calls clubline puts through (answermode=auto), plays a tone file as its
// microphone (the aufile module) and writes what it hears to a WAV file
// (the sndfile filter). No sound card, no video, no user interface: the
// test reads its events on its TCP control interface (ctrl_tcp).

const (
	// The staff member baresip registers as. Key 1 of the test's menu
	// routes to office, of which she is the only member.
	staffID          = "marie"
	staffExtension   = "201"
	staffPassword    = "interop-201-secret"
	staffPasswordEnv = "CLUBLINE_TEST_PW_MARIE"
	staffGroup       = "office"
	staffKey         = '1'

	staffTone  = 1000.0 // Hz: what baresip plays, from its tone file
	callerTone = 440.0  // Hz: what the Go caller plays to baresip
	// toneLength is the length of baresip's tone file. When aufile reaches
	// its end, baresip hangs up (an audio source error closes the call), so
	// it bounds every call with baresip.
	toneLength = 6 * time.Second
	// heardEnough is how long each side must hear the other's tone without
	// a break.
	heardEnough = time.Second
	// byeReceived is the reason of baresip's CALL_CLOSED event when the
	// other side hung up (libre reports ECONNRESET).
	byeReceived = "Connection reset by peer"
)

// baresipPeople is the staff and groups of the line baresip registers to.
var baresipPeople = fmt.Sprintf(`staff:
  - { id: %s, name: Marie Tremblay, extension: "%s", password_env: %s }
groups:
  - { id: %s, members: [%s], ring_timeout: 10s, max_wait: 20s, announce_every: 0s }
`, staffID, staffExtension, staffPasswordEnv, staffGroup, staffID)

// baresipLine starts clubline with baresip's staff member and her password
// in its environment.
func baresipLine(t *testing.T) *line {
	t.Helper()
	return startClubline(t, lineOptions{people: baresipPeople, env: []string{staffPasswordEnv + "=" + staffPassword}})
}

// TestBaresipRegistersAndTalks checks baresip as a staff phone without
// the queue: it registers to clubline with its password (digest), and,
// called directly by the Go phone, answers by itself; each side hears
// the other's tone. When it quits, it un-registers.
func TestBaresipRegistersAndTalks(t *testing.T) {
	env := requireBaresip(t)
	t.Parallel()
	cl := baresipLine(t)
	bs := startBaresip(t, env, cl)
	bs.awaitRegistered(cl)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, bs.uri(), softphone.Options{From: "caller"})
	if err != nil {
		t.Fatalf("calling baresip at %s: %v", bs.uri(), err)
	}
	defer hangup(c)
	bs.awaitEvent("CALL_ESTABLISHED", 5*time.Second)
	converse(t, ctx, c, 5*time.Second)
	bs.awaitClosedByPeer(5 * time.Second)

	bs.stop()
	cl.awaitMetric("clubline_staff_registered", 0) // baresip un-registered as it quit
	bs.checkHeard(callerTone)
	cl.stop()
}

// TestBaresipAccountOfTheDocs registers baresip with the accounts line
// docs/softphones.md tells a staff member to write, clubline's address
// and the password replaced by the test line's.
func TestBaresipAccountOfTheDocs(t *testing.T) {
	env := requireBaresip(t)
	t.Parallel()
	doc, err := os.ReadFile("../docs/softphones.md")
	if err != nil {
		t.Fatal(err)
	}
	const address, password = "192.0.2.10", "marie-secret-1" // the docs'
	account := regexp.MustCompile(`(?m)^<sip:` + staffExtension + `@` + regexp.QuoteMeta(address) + `;transport=udp>;.*$`).Find(doc)
	if account == nil || !strings.Contains(string(account), password) {
		t.Fatalf("docs/softphones.md has no accounts line for %s@%s with the password %s: adapt the test", staffExtension, address, password)
	}
	cl := baresipLine(t)
	bs := startBaresipWith(t, env, cl, strings.NewReplacer(address, cl.sipAddr(), password, staffPassword).Replace(string(account))+"\n")
	bs.awaitRegistered(cl)
	bs.stop()
	cl.awaitMetric("clubline_staff_registered", 0)
	cl.stop()
}

// TestBaresipAnswersQueue: a caller presses the key of baresip's group;
// the queue rings baresip, which answers by itself; the caller and baresip
// hear each other's tones through clubline's bridge; the caller hangs up
// and clubline hangs up baresip. The record says who answered.
func TestBaresipAnswersQueue(t *testing.T) {
	env := requireBaresip(t)
	t.Parallel()
	cl := baresipLine(t)
	bs := startBaresip(t, env, cl)
	bs.awaitRegistered(cl)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, "sip:"+clubNumber+"@"+cl.sipAddr(), softphone.Options{From: "caller"})
	if err != nil {
		t.Fatalf("calling the club: %v", err)
	}
	defer hangup(c)
	// The key pressed during the greeting is the menu choice (type-ahead):
	// press it once the greeting is heard.
	awaitHeard(t, c, time.Second, 10*time.Second)
	if err := c.SendDigit(ctx, staffKey); err != nil {
		t.Fatalf("pressing %c: %v", staffKey, err)
	}
	ev := bs.awaitEvent("CALL_ESTABLISHED", 30*time.Second)
	t.Logf("baresip answered a call from %s", ev.PeerURI)
	converse(t, ctx, c, 10*time.Second)
	// The caller hung up: clubline hangs up baresip's leg.
	bs.awaitClosedByPeer(10 * time.Second)
	cl.awaitMetric(`clubline_calls_total{hours="open",outcome="answered"}`, 1)
	cl.awaitMetric(`clubline_active_calls`, 0)

	bs.stop()
	bs.checkHeard(callerTone)
	cl.stop()
	rec := cl.onlyCall("")
	checkFields(t, []field{
		{"Outcome", string(rec.Outcome), string(clubline.OutcomeAnswered)},
		{"AnsweredBy", rec.AnsweredBy, staffID},
		{"Group", rec.Group, staffGroup},
		{"Route", rec.Route, staffGroup},
		{"Choice", rec.Choice, string(staffKey)},
		{"Stage", string(rec.Stage), string(clubline.StageBridged)},
		{"From", rec.From, "caller"},
		{"To", rec.To, clubNumber},
	})
	if rec.QueuedAt.IsZero() || rec.AnsweredAt.Before(rec.QueuedAt) || rec.EndedAt.Before(rec.AnsweredAt) {
		t.Errorf("record queued at %v, answered at %v, ended at %v: want all three, in that order",
			rec.QueuedAt, rec.AnsweredAt, rec.EndedAt)
	}
	// baresip answers at once: the wait is the time to ring it.
	if rec.Wait <= 0 || rec.Wait > 10*time.Second {
		t.Errorf("record Wait = %s, want the few moments baresip took to answer", rec.Wait)
	}
	if trace := strings.Join(rec.Trace, "\n"); !strings.Contains(trace, "menu: 1 registrations → office") {
		t.Errorf("record trace lacks the menu choice:\n%s", trace)
	}
	t.Logf("record: %s", describe(rec))
}

// converse checks a call with baresip both ways: the caller hears
// baresip's tone (waiting up to wait for it), then plays its own tone for
// baresip to hear (checked later in baresip's recording) and hangs up.
func converse(t *testing.T, ctx context.Context, c *softphone.Call, wait time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(wait)
	for longestTone(c.Heard(), staffTone) < heardEnough {
		if time.Now().After(deadline) {
			heard := c.Heard()
			t.Fatalf("the caller did not hear baresip's %.0f Hz tone for %s within %s (longest: %s); heard %s: %v",
				staffTone, heardEnough, wait, longestTone(heard, staffTone), samplesDuration(heard), hearing.Segments(heard))
		}
		select {
		case <-c.Done():
			t.Fatalf("the call ended (%s) before the caller heard baresip's tone", c.EndedBy())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("the caller heard baresip's %.0f Hz tone for %s, %s after it started listening",
		staffTone, heardEnough, time.Since(start).Round(10*time.Millisecond))
	// Longer than heardEnough: the first and last moments may be lost
	// (the bridge starting, the hang-up overtaking the last packets).
	if err := c.Play(ctx, media.Tone(callerTone, heardEnough+time.Second, 8000)); err != nil {
		t.Fatalf("playing the caller's tone: %v", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil {
		t.Fatalf("hanging up: %v", err)
	}
}

// awaitHeard waits until the call has received d of audio.
func awaitHeard(t *testing.T, c *softphone.Call, d, timeout time.Duration) {
	t.Helper()
	frames := int(d / media.FrameDuration)
	deadline := time.Now().Add(timeout)
	for c.HeardFrames() < frames {
		if time.Now().After(deadline) {
			t.Fatalf("the caller received %d frames of audio in %s, want %d", c.HeardFrames(), timeout, frames)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hangup ends a call whatever the test did with it (a deferred clean-up).
func hangup(c *softphone.Call) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Hangup(ctx)
	<-c.Done()
}

// longestTone is the longest stretch of samples (8 kHz) in which every
// 100 ms holds a tone at freq.
func longestTone(samples []int16, freq float64) time.Duration {
	const window = media.SampleRate / 10
	run, best := 0, 0
	for i := 0; i+window <= len(samples); i += window {
		if hearing.DetectTone(samples[i:i+window], freq) {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return time.Duration(best) * 100 * time.Millisecond
}

func samplesDuration(samples []int16) time.Duration {
	return time.Duration(len(samples)) * time.Second / media.SampleRate
}

// baresipEnv is where the installed baresip and its modules are.
type baresipEnv struct {
	bin        string
	modulePath string
	version    string // "baresip v1.0.0", from baresip -h
}

// baresipModules are the modules the test loads: PCMU/PCMA, a WAV file as
// the microphone, a filter that records the audio to WAV files, the
// account list and the TCP control interface.
var baresipModules = []string{"g711", "aufile", "sndfile", "account", "ctrl_tcp"}

// requireBaresip skips the test unless interop tests are asked for, and
// fails it if they are but baresip or one of its modules is missing.
func requireBaresip(t *testing.T) baresipEnv {
	t.Helper()
	env := baresipEnv{bin: requireTool(t, "baresip", "baresip-core")}
	dirs := []string{"/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"}
	multiarch, _ := filepath.Glob("/usr/lib/*/baresip/modules")
	for _, dir := range append(dirs, multiarch...) {
		if _, err := os.Stat(filepath.Join(dir, "g711.so")); err == nil {
			env.modulePath = dir
			break
		}
	}
	if env.modulePath == "" {
		t.Fatalf("no baresip module directory (looked in %s and /usr/lib/*/baresip/modules): install baresip-core", strings.Join(dirs, ", "))
	}
	for _, m := range baresipModules {
		if _, err := os.Stat(filepath.Join(env.modulePath, m+".so")); err != nil {
			t.Fatalf("baresip's %s module is missing from %s: the test needs %s", m, env.modulePath, strings.Join(baresipModules, ", "))
		}
	}
	out, _ := exec.Command(env.bin, "-h").CombinedOutput() // exits non-zero after the usage
	env.version, _, _ = strings.Cut(string(out), " Copyright")
	return env
}

// baresipPhone is a baresip process registered as the staff member.
type baresipPhone struct {
	t        *testing.T
	env      baresipEnv
	dir      string // its config directory, where it writes its recordings too
	sipPort  int
	ctrlPort int
	proc     *proc
	logPath  string
	ctrl     net.Conn
	stopped  bool

	mu      sync.Mutex
	events  []baresipEvent
	changed chan struct{} // closed and replaced at each event
	readErr error         // why the control connection stopped
}

// baresipEvent is an event of baresip's ctrl_tcp module.
type baresipEvent struct {
	Type      string `json:"type"`  // REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED…
	Class     string `json:"class"` // register, call, application…
	Param     string `json:"param"` // the reason a call closed…
	PeerURI   string `json:"peeruri"`
	Direction string `json:"direction"`
	ID        string `json:"id"`
}

// baresipConfig is baresip's config file: SIP and the control interface
// on loopback, the tone file as the microphone, no player (decoded audio
// still goes through the filters: sndfile records it), no UI module.
const baresipConfig = `# baresip for clubline's interop tests
sip_listen		127.0.0.1:%d
# else baresip writes the first network interface's address in its SDP
net_interface		127.0.0.1
call_max_calls		1
# 8 kHz mono: aufile does not resample for PCMU
audio_source		aufile,%s
# RTP statistics in the log at the end of each call
rtp_stats		yes
snd_path		%s
ctrl_tcp_listen		127.0.0.1:%d
module_path		%s
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		ctrl_tcp.so
`

// baresipAccount is the accounts file: one account registering the
// extension to clubline, answering calls at once.
const baresipAccount = `<sip:%s@%s;transport=udp>;auth_user=%s;auth_pass=%s;answermode=auto;regint=600;mwi=no;audio_codecs=PCMU,PCMA
`

// sndfileName is the longest file name baresip's sndfile gives a
// recording under snd_path ("/dump-2026-11-22-12-43-43-dec.wav"); the
// whole path must fit its 128-byte buffer.
const sndfileName = len("/dump-2026-11-22-12-43-43-dec.wav")

// startBaresip writes baresip's config in a temporary directory, with a
// tone file to play, starts baresip registering to the line, and returns
// once its control interface answers. baresip is killed at the end of the
// test, before its directory is removed, and its log is printed if the
// test failed.
func startBaresip(t *testing.T, env baresipEnv, l *line) *baresipPhone {
	t.Helper()
	return startBaresipWith(t, env, l, fmt.Sprintf(baresipAccount, staffExtension, l.sipAddr(), staffExtension, staffPassword))
}

// startBaresipWith is startBaresip with the accounts file given.
func startBaresipWith(t *testing.T, env baresipEnv, l *line, account string) *baresipPhone {
	t.Helper()
	b := &baresipPhone{t: t, env: env, dir: t.TempDir(), sipPort: freeUDPPort(t), ctrlPort: freeTCPPort(t),
		changed: make(chan struct{})}
	if len(b.dir)+sndfileName >= 128 {
		t.Fatalf("the temporary directory %s is too long for baresip's recordings (128 bytes): set TMPDIR to a shorter one", b.dir)
	}
	tone := filepath.Join(b.dir, "tone.wav")
	writeTone(t, tone, staffTone, toneLength)
	files := map[string]string{
		"config":   fmt.Sprintf(baresipConfig, b.sipPort, tone, b.dir, b.ctrlPort, env.modulePath),
		"accounts": account,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.logPath = filepath.Join(b.dir, "baresip.log")
	logFile, err := os.Create(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// -v: debug log; -s: SIP trace. Both only show when the test fails.
	cmd := exec.Command(env.bin, "-f", b.dir, "-v", "-s")
	cmd.Dir = b.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	b.proc = startProc(t, cmd, func() {
		if b.ctrl != nil {
			b.ctrl.Close()
		}
		logFile.Close()
		if t.Failed() {
			b.dumpLog()
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		if !b.proc.running() {
			t.Fatalf("baresip exited at start: %v", b.proc.waitErr)
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.ctrlPort), time.Second)
		if err == nil {
			b.ctrl = conn
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip's control interface (ctrl_tcp) not up on 127.0.0.1:%d after 10s: %v", b.ctrlPort, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	go b.readEvents()
	return b
}

// writeTone writes a WAV file (8 kHz, 16-bit, mono, as aufile needs for
// PCMU) holding a sine at freq Hz.
func writeTone(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	frames, err := media.ReadAll(media.Tone(freq, d, 8000), 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := media.CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := w.WriteFrame(&frames[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// uri is where to call baresip directly.
func (b *baresipPhone) uri() string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", staffExtension, b.sipPort)
}

// readEvents reads ctrl_tcp's netstrings ("<length>:<JSON>,") until the
// connection closes, keeping the events.
func (b *baresipPhone) readEvents() {
	r := bufio.NewReader(b.ctrl)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
			return
		}
		var ev struct {
			Event bool `json:"event"`
			baresipEvent
		}
		if err := json.Unmarshal(msg, &ev); err != nil || !ev.Event {
			continue // a response to a command, or something this test does not read
		}
		b.mu.Lock()
		b.events = append(b.events, ev.baresipEvent)
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
	}
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(head[:len(head)-1])
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("ctrl_tcp: bad netstring length %q", head)
	}
	msg := make([]byte, n+1)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	if msg[n] != ',' {
		return nil, fmt.Errorf("ctrl_tcp: netstring of %d bytes not ended by a comma", n)
	}
	return msg[:n], nil
}

// awaitEvent returns the first event of that type baresip sent (it may
// have come before the call), waiting up to timeout for it.
func (b *baresipPhone) awaitEvent(typ string, timeout time.Duration) baresipEvent {
	b.t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		for _, ev := range b.events {
			if ev.Type == typ {
				b.mu.Unlock()
				return ev
			}
		}
		changed, readErr := b.changed, b.readErr
		seen := make([]string, 0, len(b.events))
		for _, ev := range b.events {
			seen = append(seen, ev.Type)
		}
		b.mu.Unlock()
		if readErr != nil {
			b.t.Fatalf("waiting for baresip's %s: its control connection ended (%v); events: %v", typ, readErr, seen)
		}
		select {
		case <-changed:
		case <-deadline:
			b.t.Fatalf("baresip sent no %s event within %s; events: %v", typ, timeout, seen)
		}
	}
}

// awaitClosedByPeer waits for baresip's call to end and checks that the
// other side hung up: "Connection reset by peer" is how baresip says it
// received a BYE, "end of file" would mean it hung up itself, its tone
// file played out.
func (b *baresipPhone) awaitClosedByPeer(timeout time.Duration) {
	b.t.Helper()
	if ev := b.awaitEvent("CALL_CLOSED", timeout); ev.Param != byeReceived {
		b.t.Errorf("baresip's call closed with %q, want %q (a BYE from the other side)", ev.Param, byeReceived)
	}
}

// notImplemented is what baresip logs when its SIP stack refuses a
// challenge: libre before 3.12 aborts on the first WWW-Authenticate whose
// algorithm is not MD5.
var notImplemented = regexp.MustCompile(`Register: Function not implemented`)

// awaitRegistered waits until clubline counts the staff member registered.
func (b *baresipPhone) awaitRegistered(l *line) {
	b.t.Helper()
	err := l.waitMetric("clubline_staff_registered", 1, 10*time.Second, func() error {
		if !b.proc.running() {
			return fmt.Errorf("baresip exited: %v", b.proc.waitErr)
		}
		if log, err := os.ReadFile(b.logPath); err == nil && notImplemented.Match(log) {
			return fmt.Errorf("%s could not answer clubline's digest challenge (\"Register: Function not implemented\"): "+
				"its SIP stack (libre before 3.12) gives up on the first WWW-Authenticate whose algorithm is not MD5, "+
				"and clubline offers SHA-256 besides MD5; it registers when the 401 offers MD5 alone", b.env.version)
		}
		return nil
	})
	if err != nil {
		b.t.Fatalf("baresip (%s, extension %s) did not register to clubline: %v", b.env.version, staffExtension, err)
	}
}

// stop quits baresip with SIGTERM: it un-registers, ends its calls and
// closes its recordings.
func (b *baresipPhone) stop() {
	b.t.Helper()
	if b.stopped {
		return
	}
	b.stopped = true
	if err := b.proc.signal(syscall.SIGTERM, 10*time.Second); err != nil {
		b.t.Fatalf("baresip, stopped with SIGTERM: %v (want exit status 0)", err)
	}
}

// checkHeard checks that the recording of what baresip received (its
// sndfile "dec" file; baresip must have quit, which closes it) holds the
// tone at freq without a break for heardEnough.
func (b *baresipPhone) checkHeard(freq float64) {
	b.t.Helper()
	paths, _ := filepath.Glob(filepath.Join(b.dir, "dump-*-dec.wav"))
	if len(paths) != 1 {
		b.t.Fatalf("want one recording of what baresip received in %s, found %v", b.dir, paths)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err != nil {
		b.t.Fatalf("baresip's recording %s: %v", paths[0], err)
	}
	heard := media.Flatten(frames)
	got := longestTone(heard, freq)
	if got < heardEnough {
		b.t.Errorf("baresip heard the caller's %.0f Hz tone for %s without a break, want %s; it received %s: %v",
			freq, got, heardEnough, samplesDuration(heard), hearing.Segments(heard))
		return
	}
	b.t.Logf("baresip heard the caller's %.0f Hz tone for %s (of %s received, %s)", freq, got, samplesDuration(heard), filepath.Base(paths[0]))
}

// ansiEscape matches the colour codes of baresip's log.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func (b *baresipPhone) dumpLog() {
	log, err := os.ReadFile(b.logPath)
	if err != nil {
		b.t.Logf("baresip log: %v", err)
		return
	}
	b.mu.Lock()
	events, _ := json.Marshal(b.events)
	b.mu.Unlock()
	b.t.Logf("baresip (%s) events: %s\nbaresip log (%s):\n%s", b.env.version, events, b.logPath,
		tail(ansiEscape.ReplaceAll(log, nil), 300))
}
