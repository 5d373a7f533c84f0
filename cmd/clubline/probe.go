package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/probe"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/sip/trunk"
	"github.com/clubline/clubline/web"
)

// The mystery call on a schedule (the probe: section) and `clubline
// probe`. The probe itself is package probe; here: when it runs, what it
// dials, the token that marks its record, and the metrics.
//
// Decisions
//
//   - Through the trunk when one carries the club's number (probe.via,
//     config.ProbeRoute): the probe's phone dials that number at the
//     provider, as a caller on the PSTN would, answering the provider's
//     challenge with the trunk's account (a provider may want a call
//     from its customer authenticated, even to the customer's own
//     number), and the provider delivers it back to the line: the
//     registration, the provider's routing and the gate on who may call
//     are tested with the script. The probe's own softphone places it,
//     not sip.Server's trunk leg: the probe needs to hear the line, and
//     the trunk's outbound minutes and channels stay the callers'. Over
//     UDP or TCP only (the softphone speaks no TLS): a TLS trunk is
//     probed directly. Otherwise the probe dials clubline's own SIP
//     listener on loopback.
//   - Its token is drawn at each start (on a clustered line, the first
//     instance's is kept in Redis and every instance takes it), handed to the SIP server (which
//     believes it from loopback and from a trunk's provider) and written
//     to the data folder (probe.token, mode 0600): `clubline probe`, run
//     by the line's own user on its machine, sends it to POST /api/probe
//     to have the running line place a probe, or marks its own call with
//     it when no line runs.
//   - One probe at a time: a scheduled one and one asked for by POST
//     /api/probe never overlap (probeMu); the request waits for the one
//     running, as long as its client does (web/probe.go says why).

// stateProbeToken is the store's state key of the token a clustered
// line's instances share.
const stateProbeToken = "probe_token"

// probeTokenFile is the token's file in store.data_dir.
const probeTokenFile = "probe.token"

// newProbeToken draws the token and writes it to the data folder; a
// failure to write it is logged: the scheduled probes still work.
func (m *Main) newProbeToken(cfg *config.Config) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if cfg.Cluster.Enabled && m.redis != nil {
		// Through the trunk, a probe placed by one instance may reach
		// another: every instance of the line believes the same token,
		// the first one drawn, kept in Redis.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		shared, err := m.redis.StateOnce(ctx, stateProbeToken, token)
		cancel()
		if err != nil {
			m.Logger.Warn("the probe's token could not be shared through Redis: a probe through the trunk that reaches another instance counts as a caller's call", "err", err)
		} else {
			token = shared
		}
	}
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

// RunProbe places one probe now, once no other runs, exports what it
// found and logs it.
func (m *Main) RunProbe(ctx context.Context) probe.Result {
	m.probeMu.Lock()
	defer m.probeMu.Unlock()
	return m.probeNow(ctx)
}

// webProbe is the web page's Probe (POST /api/probe): it waits for a
// probe running to end, as long as ctx lasts, then places one; the call
// goes on if the asker leaves, so that its metrics say what the line did,
// not that someone hung up the terminal.
func (m *Main) webProbe(ctx context.Context) (web.ProbeResult, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !m.probeMu.TryLock() {
		select {
		case <-ctx.Done():
			return web.ProbeResult{}, fmt.Errorf("waiting for the probe already running: %w", ctx.Err())
		case <-tick.C:
		}
	}
	defer m.probeMu.Unlock()
	return webProbeResult(m.probeNow(context.WithoutCancel(ctx))), nil
}

// webProbeResult is a probe's result as POST /api/probe answers it.
func webProbeResult(r probe.Result) web.ProbeResult {
	out := web.ProbeResult{OK: r.OK, Hours: string(r.Hours), Target: r.Target, Via: r.Via,
		SetupSeconds: r.Setup.Seconds(), Summary: r.Summary()}
	if out.Via == "" {
		out.Via = "direct"
	}
	for _, s := range r.Steps {
		if s.Heard {
			out.Heard = append(out.Heard, s.Prompt)
		}
	}
	if r.Err != nil {
		out.Failure = r.Err.Error()
	}
	return out
}

// probeNow places one probe (probeMu held).
func (m *Main) probeNow(ctx context.Context) probe.Result {
	cfg := m.current.Load()
	o := probeOptions(cfg, m.composed(), m.schedule(cfg).At(m.Now()).Open)
	probeTarget(cfg, m.SIP.Trunks(), loopback(m.sipAddr("udp")), &o)
	o.Token, o.Logger = m.probeToken, m.Logger.With("probe", true)
	if m.TuneProbe != nil {
		m.TuneProbe(&o)
	}
	r := probe.Run(ctx, o)
	m.Metrics.ProbeRan(r.OK, r.Setup, probe.Steps, r.Heard, time.Now())
	via := cmp.Or(r.Via, "direct")
	if r.OK {
		m.Logger.Info("probe: the line answered as it should", "hours", string(r.Hours), "via", via, "setup", r.Setup.Round(time.Millisecond))
	} else {
		m.Logger.Error("probe: the line did not answer as it should", "hours", string(r.Hours), "via", via, "err", r.Err)
	}
	return r
}

// probeTarget sets what the probe dials: the club's number at the
// provider of the trunk config.ProbeRoute names, with its account, or
// the number at direct (the line's SIP listener, host:port).
func probeTarget(cfg *config.Config, trunks []*trunk.Trunk, direct string, o *probe.Options) {
	number, tc := cfg.ProbeRoute()
	o.URI = "sip:" + number + "@" + direct
	if tc == nil {
		return
	}
	i := slices.IndexFunc(trunks, func(t *trunk.Trunk) bool { return t.Name() == tc.Name })
	if i < 0 {
		return
	}
	t := trunks[i]
	host, port, transport := t.NextHop()
	if transport != config.TransportUDP && transport != config.TransportTCP {
		return // an outbound proxy over TLS: the probe's phone cannot reach it
	}
	if port == 0 {
		port = 5060
	}
	o.URI = "sip:" + t.DialString(number) + "@" + net.JoinHostPort(host, strconv.Itoa(port))
	if transport == config.TransportTCP {
		o.URI += ";transport=tcp"
	}
	o.Via = "trunk " + t.Name()
	a := t.Account()
	o.AuthUser, o.AuthPassword = a.Username, a.Password
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
