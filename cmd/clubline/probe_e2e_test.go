package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/interop/provider"
	"github.com/clubline/clubline/probe"
)

// startProbedLine starts a line whose probe is enabled, with its probes a
// second apart and each step awaited at most timeout.
func startProbedLine(t *testing.T, at time.Time, timeout string, tune ...func(*Main)) *line {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{at: at})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("probe:\n  enabled: true\n  every: 1h\n  timeout: " + timeout + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return startLineIn(t, dir, path, at, append([]func(*Main){func(m *Main) { m.ProbeEvery = time.Second }}, tune...)...)
}

// probeCall waits for the record of a finished probe call.
func (l *line) probeCall() *clubline.Call {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, err := l.m.Store.Calls(l.t.Context(), time.Time{}, time.Now().AddDate(1, 0, 0), 0)
		if err != nil {
			l.t.Fatal(err)
		}
		for _, c := range cs {
			if c.Probe && !c.EndedAt.IsZero() {
				return c
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("no finished probe call in the store (%d records)", len(cs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestProbeOpen(t *testing.T) {
	l := startProbedLine(t, openTuesday, "20s")
	l.awaitMetricWithin("clubline_probe_success", 1, 60*time.Second)
	for _, step := range []string{probe.StepGreeting, probe.StepMenu, probe.StepAfterKey} {
		if v := l.metric(`clubline_probe_heard{prompt="` + step + `"}`); v != 1 {
			t.Errorf("clubline_probe_heard{prompt=%q} = %v, want 1", step, v)
		}
	}
	if v := l.metric(`clubline_probe_heard{prompt="closed"}`); v != 0 {
		t.Errorf(`clubline_probe_heard{prompt="closed"} = %v while open, want 0`, v)
	}
	if v := l.metric("clubline_probe_setup_seconds"); v <= 0 || v > 5 {
		t.Errorf("clubline_probe_setup_seconds = %v, want the time to the greeting", v)
	}
	if v := l.metric("clubline_probe_last_run_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("clubline_probe_last_run_timestamp_seconds = %v, want about now", v)
	}
	if v := l.metric("clubline_probe_consecutive_failures"); v != 0 {
		t.Errorf("clubline_probe_consecutive_failures = %v, want 0", v)
	}
	c := l.probeCall()
	if c.Hours != clubline.HoursOpen || c.Route != clubline.RouteVoicemail || c.VoicemailID != "" {
		t.Errorf("probe record: hours %s route %q voicemail %q; want open, the voicemail, no message", c.Hours, c.Route, c.VoicemailID)
	}
	// The probe is no caller: no call counted, no message left.
	out := l.get("/metrics")
	for _, ln := range strings.Split(out, "\n") {
		if strings.HasPrefix(ln, "clubline_calls_total{") && !strings.HasSuffix(ln, " 0") {
			t.Errorf("a probe was counted: %s", ln)
		}
	}
	if vs, err := l.m.Store.Voicemails(t.Context(), time.Time{}, time.Now().AddDate(1, 0, 0), 0); err != nil || len(vs) != 0 {
		t.Errorf("voicemails after probes: %d (%v), want none", len(vs), err)
	}
}

func TestProbeClosed(t *testing.T) {
	l := startProbedLine(t, tuesdayEve, "20s")
	l.awaitMetricWithin("clubline_probe_success", 1, 60*time.Second)
	for _, step := range []string{probe.StepGreeting, probe.StepClosed, probe.StepAfterKey} {
		if v := l.metric(`clubline_probe_heard{prompt="` + step + `"}`); v != 1 {
			t.Errorf("clubline_probe_heard{prompt=%q} = %v, want 1", step, v)
		}
	}
	if c := l.probeCall(); c.Hours != clubline.HoursClosed {
		t.Errorf("probe record: hours %s, want closed", c.Hours)
	}
}

func TestProbeFailing(t *testing.T) {
	// The probe waits for a greeting the line does not say (the English
	// one; the line greets in French): as if the prompts had changed.
	l := startProbedLine(t, openTuesday, "3s", func(m *Main) {
		m.TuneProbe = func(o *probe.Options) { o.Lang = "en" }
	})
	l.awaitMetricWithin("clubline_probe_consecutive_failures", 2, 60*time.Second)
	if v := l.metric("clubline_probe_success"); v != 0 {
		t.Errorf("clubline_probe_success = %v, want 0", v)
	}
	if v := l.metric(`clubline_probe_heard{prompt="greeting"}`); v != 0 {
		t.Errorf(`clubline_probe_heard{prompt="greeting"} = %v, want 0`, v)
	}
}

func TestProbeCommand(t *testing.T) {
	// The office forced open, so that the command (on the real clock)
	// and the line (on the test's) expect the same.
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{at: openTuesday, override: "open"})
	var out, errOut strings.Builder
	if code := runProbeCmd([]string{"--config", path}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "port 0") {
		t.Errorf("port 0: exit %d, stderr %q; want 1 and why", code, errOut.String())
	}

	// The same file with the port the line got: the command calls it.
	l := startLineIn(t, dir, path, openTuesday)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(data), "listen: [udp://127.0.0.1:0, tcp://127.0.0.1:0]", "listen: [udp://"+l.m.sipAddr("udp")+"]", 1)
	// Nothing listens at its http.listen: the command calls the line itself.
	fixed = strings.Replace(fixed, "http:\n  listen: 127.0.0.1:0\n", "http:\n  listen: "+closedPort(t)+"\n", 1)
	probePath := filepath.Join(dir, "probe.yaml")
	if err := os.WriteFile(probePath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "data", probeTokenFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the line's token file: %v, %v; want mode 0600", info, err)
	}
	out.Reset()
	errOut.Reset()
	if code := runProbeCmd([]string{"--config", probePath}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"connection refused", "calling the line myself", "(marked as a probe)", "heard fr/greeting", "heard fr/menu_intro", "pressed 0", "heard fr/voicemail", "result: success"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if c := l.probeCall(); c.From != "clubline-probe" {
		t.Errorf("probe record from %q", c.From)
	}
}

// Through the trunk: the probe dials the club's number at the provider,
// which delivers the call back to the line as any caller's; the record
// says it came through the trunk, and that it is the probe's. A provider
// that wants its customer's calls authenticated (CustomersOnly) gets the
// trunk's account in answer to its 407.
func TestProbeThroughTrunk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		po       provider.Options
		provider []string // what the provider's log must say, in order
	}{
		{"as from the PSTN", provider.Options{}, []string{"PROVIDER INBOUND INVITE"}},
		{"authenticated", provider.Options{CustomersOnly: true}, []string{"reason=no-credentials", "PROVIDER OWN INVITE", "PROVIDER INBOUND INVITE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startTrunkLine(t, openTuesday, tc.po, "")
			if number, tr := l.m.current.Load().ProbeRoute(); tr == nil || tr.Name != "provider" || number != "+14505550100" {
				t.Fatalf("ProbeRoute = %q, %v; want the club's number through the trunk", number, tr)
			}
			r := l.m.RunProbe(t.Context())
			if !r.OK || r.Via != "trunk provider" || !strings.HasPrefix(r.Target, "sip:+14505550100@"+l.p.Addr()) {
				t.Fatalf("probe through %q of %s: %v\n%s\nprovider:\n%s", r.Via, r.Target, r.Err, r.Summary(), strings.Join(l.p.Log(), "\n"))
			}
			if !strings.Contains(r.Summary(), "through trunk provider") {
				t.Errorf("summary:\n%s", r.Summary())
			}
			want := tc.provider
			for _, ln := range l.p.Log() {
				if len(want) > 0 && strings.Contains(ln, want[0]) && strings.Contains(ln, "clubline-probe") {
					want = want[1:]
				}
			}
			if len(want) > 0 {
				t.Errorf("the provider's log lacks %q (in order, from clubline-probe):\n%s", want, strings.Join(l.p.Log(), "\n"))
			}
			c := l.probeCall()
			if c.Trunk != "provider" || c.To != "+14505550100" || c.From != "clubline-probe" {
				t.Errorf("probe record: from %q to %q trunk %q; want clubline-probe to +14505550100 through provider", c.From, c.To, c.Trunk)
			}
			if v := l.metric("clubline_probe_success"); v != 1 {
				t.Errorf("clubline_probe_success = %v, want 1", v)
			}
			for _, ln := range strings.Split(l.get("/metrics"), "\n") {
				if strings.HasPrefix(ln, "clubline_calls_total{") && !strings.HasSuffix(ln, " 0") {
					t.Errorf("the probe was counted as a call: %s", ln)
				}
			}
		})
	}
}

// `clubline probe` asks the running line (POST /api/probe with the
// token), which places the call and says what it heard.
func TestProbeCommandAsksTheLine(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{at: openTuesday})
	l := startLineIn(t, dir, path, openTuesday)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(data), "http:\n  listen: 127.0.0.1:0\n", "http:\n  listen: "+l.m.Admin.Addr()+"\n", 1)
	probePath := filepath.Join(dir, "probe.yaml")
	if err := os.WriteFile(probePath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := runProbeCmd([]string{"--config", probePath}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"asking the line at http://" + l.m.Admin.Addr() + " to call itself", "heard fr/greeting", "heard fr/menu_intro", "pressed 0", "heard fr/voicemail", "result: success"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "myself") {
		t.Errorf("the command called the line itself:\n%s", out.String())
	}
	if c := l.probeCall(); c.From != "clubline-probe" {
		t.Errorf("probe record from %q", c.From)
	}
	if v := l.metric("clubline_probe_success"); v != 1 {
		t.Errorf("clubline_probe_success = %v, want 1: the line placed the probe", v)
	}
	entries, err := l.m.Audit.Entries(func(e audit.Entry) bool { return e.Action == audit.ActionProbe })
	if err != nil || len(entries) != 1 || entries[0].Detail != "by the probe token; success" {
		t.Errorf("audit: %+v, %v; want the probe asked by the token", entries, err)
	}

	// Without the token (another user), the line refuses and says why.
	if err := os.Rename(filepath.Join(dir, "data", probeTokenFile), filepath.Join(dir, "token.away")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := runProbeCmd([]string{"--config", probePath}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") || !strings.Contains(errOut.String(), "the line's user") {
		t.Errorf("without the token: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Over http.tls, the command checks the line's certificate (its own
// file is trusted, for the name of http.public_url) before it sends the
// token.
func TestProbeCommandOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedFor(t, dir, "ligne.club.example")
	path := writeConfig(t, dir, lineOpts{at: openTuesday})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := "http:\n  listen: 127.0.0.1:0\n  public_url: https://ligne.club.example\n  tls: { cert_file: " + cert + ", key_file: " + key + " }\n"
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "http:\n  listen: 127.0.0.1:0\n", tlsConfig, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, dir, path, openTuesday)
	fixed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	probePath := filepath.Join(dir, "probe.yaml")
	if err := os.WriteFile(probePath, []byte(strings.Replace(string(fixed), "listen: 127.0.0.1:0\n  public_url", "listen: "+l.m.Admin.Addr()+"\n  public_url", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := runProbeCmd([]string{"--config", probePath}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"asking the line at https://" + l.m.Admin.Addr() + " to call itself", "heard fr/greeting", "result: success"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// selfSignedFor writes a self-signed certificate for name and its key
// into dir.
func selfSignedFor(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
