package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/probe"
	"github.com/clubline/clubline/prompts"
)

// The mystery call on a schedule (the probe: section) and `clubline
// probe`. The probe itself is package probe; here: when it runs, what it
// dials, the token that marks its record, and the metrics.
//
// Decisions
//
//   - The probe dials clubline's own SIP listener on loopback, as a
//     caller, with the club's number: the whole script is tested, the
//     provider is not (through the trunk is left for later).
//   - Its token is drawn at each start, handed to the SIP server (which
//     believes it from loopback only) and written to the data folder
//     (probe.token, mode 0600), so that `clubline probe`, run by the
//     line's own user on its machine, marks its call as a probe too.
//   - One probe at a time: a scheduled one and `clubline probe` never
//     overlap (probeMu).

// probeTokenFile is the token's file in store.data_dir.
const probeTokenFile = "probe.token"

// newProbeToken draws the token and writes it to the data folder; a
// failure to write it is logged: the scheduled probes still work.
func (m *Main) newProbeToken(cfg *config.Config) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	path := filepath.Join(cfg.Store.DataDir, probeTokenFile)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		m.Logger.Warn("could not write the probe's token: a `clubline probe` call will count as a caller's", "path", path, "err", err)
	} else if err := os.Chmod(path, 0o600); err != nil { // an older file keeps its mode on WriteFile
		m.Logger.Warn("could not restrict the probe's token file", "path", path, "err", err)
	}
	return token
}

// runProbes runs the probe on the config's schedule until ctx ends. A
// disabled probe is looked at again every minute: a reload may enable it.
func (m *Main) runProbes(ctx context.Context) {
	for {
		cfg := m.current.Load()
		wait := time.Minute
		if cfg.Probe.Enabled {
			wait = m.untilProbe(cfg, m.Now())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if cfg.Probe.Enabled && m.current.Load().Probe.Enabled && m.leading() { // one instance of a cluster probes
			m.RunProbe(ctx)
		}
	}
}

// untilProbe is the time from now to the next probe: the next of
// probe.at in the club's zone, or probe.every (Main.ProbeEvery in tests).
func (m *Main) untilProbe(cfg *config.Config, now time.Time) time.Duration {
	if m.ProbeEvery > 0 {
		return m.ProbeEvery
	}
	return nextProbe(cfg.Probe, cfg.Club.Location, now).Sub(now)
}

// nextProbe is when the next probe after now runs.
func nextProbe(p config.Probe, loc *time.Location, now time.Time) time.Time {
	if len(p.At) == 0 {
		return now.Add(p.Every)
	}
	local := now.In(loc)
	var next time.Time
	for _, at := range p.At {
		t := time.Date(local.Year(), local.Month(), local.Day(), at.Hour(), at.Minute(), 0, 0, loc)
		if !t.After(now) {
			t = time.Date(local.Year(), local.Month(), local.Day()+1, at.Hour(), at.Minute(), 0, 0, loc)
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// RunProbe places one probe now, exports what it found and logs it.
func (m *Main) RunProbe(ctx context.Context) probe.Result {
	m.probeMu.Lock()
	defer m.probeMu.Unlock()
	cfg := m.current.Load()
	o := probeOptions(cfg, m.composed(), m.schedule(cfg).At(m.Now()).Open)
	o.URI = "sip:" + cfg.ProbeNumber() + "@" + loopback(m.sipAddr("udp"))
	o.Token, o.Logger = m.probeToken, m.Logger.With("probe", true)
	if m.TuneProbe != nil {
		m.TuneProbe(&o)
	}
	r := probe.Run(ctx, o)
	m.Metrics.ProbeRan(r.OK, r.Setup, probe.Steps, r.Heard, time.Now())
	if r.OK {
		m.Logger.Info("probe: the line answered as it should", "hours", string(r.Hours), "setup", r.Setup.Round(time.Millisecond))
	} else {
		m.Logger.Error("probe: the line did not answer as it should", "hours", string(r.Hours), "err", r.Err)
	}
	return r
}

// probeOptions are what a probe of cfg's line expects, with set its
// prompts and open whether the office is open now.
func probeOptions(cfg *config.Config, set *prompts.Set, open bool) probe.Options {
	o := probe.Options{Prompts: set, Lang: cfg.Club.Languages[0], Open: open, Timeout: cfg.Probe.Timeout}
	for _, opt := range cfg.Menu.Options {
		if opt.Route == clubline.RouteVoicemail && opt.Key != "" {
			o.VoicemailKey = rune(opt.Key[0])
			break
		}
	}
	return o
}

// sipAddr returns the host:port of the first listener of that transport.
func (m *Main) sipAddr(transport string) string {
	for _, a := range m.SIP.Addrs() {
		if rest, ok := strings.CutPrefix(a, transport+"://"); ok {
			return rest
		}
	}
	return ""
}

// loopback turns a wildcard listen address into the loopback address of
// its family: the probe calls the line on its own machine.
func loopback(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

const probeUsage = `usage: clubline probe --config FILE

Places the mystery call of the probe: section now, to the line of that
config file on this machine, and prints what it heard: the greeting, the
menu or the closed message (as the hours have it now), the prompt after
a key. Exits 0 when the line answered as it should, 1 when it did not.

The call is placed from this command, to the line's SIP listener on
loopback; its record is marked as a probe when this command can read the
line's token (store.data_dir/probe.token, written at each start).

flags:
`

// runProbeCmd is `clubline probe`.
func runProbeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/example.yaml", "the line's config `file`")
	fs.Usage = func() {
		fmt.Fprint(stderr, probeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "clubline probe: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := probeFromConfig(ctx, *path, time.Now(), stdout)
	if err != nil {
		fmt.Fprintf(stderr, "clubline probe: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, r.Summary())
	if !r.OK {
		return 1
	}
	return 0
}

// probeFromConfig calls the line of the config file at path, as its
// scheduled probe would, from this process.
func probeFromConfig(ctx context.Context, path string, now time.Time, out io.Writer) (probe.Result, error) {
	cfg, set, _, err := loadConfig(path)
	if err != nil {
		return probe.Result{}, err
	}
	var target string
	for _, l := range cfg.SIP.Listen {
		if l.Transport == "udp" {
			target = loopback(l.Addr)
			break
		}
	}
	if target == "" {
		return probe.Result{}, fmt.Errorf("%s: sip.listen has no udp listener to call", path)
	}
	if strings.HasSuffix(target, ":0") {
		return probe.Result{}, fmt.Errorf("%s: sip.listen is on port 0: the line's port cannot be known from the file", path)
	}
	o := probeOptions(cfg, set, cfg.Schedule().At(now).Open)
	o.URI = "sip:" + cfg.ProbeNumber() + "@" + target
	if b, err := os.ReadFile(filepath.Join(cfg.Store.DataDir, probeTokenFile)); err == nil {
		o.Token = strings.TrimSpace(string(b))
	}
	how := "marked as a probe"
	if o.Token == "" {
		how = "NOT marked as a probe (no token in store.data_dir): it counts as a caller's"
	}
	fmt.Fprintf(out, "calling the line myself at %s (%s)\n", o.URI, how)
	return probe.Run(ctx, o), nil
}
