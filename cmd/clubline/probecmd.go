package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/probe"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/web"
)

// `clubline probe`: the running line places a probe now (POST /api/probe
// with the probe's token), or, when no line runs, this command calls the
// line itself.

const probeUsage = `usage: clubline probe --config FILE

Has the line of that config file, running on this machine, place its
mystery call now (the probe: section's, through the trunk or directly as
probe.via says), waits for it, and prints what it heard: the greeting,
the menu or the closed message (as the hours have it now), the prompt
after a key. Exits 0 when the line answered as it should, 1 when it did
not.

The running line is found at the config's http.listen (https with
http.tls, its certificate checked against the name of http.public_url),
and asked with the token it writes at each start to
store.data_dir/probe.token: run this command as the line's user.
When nothing listens there, the command places the call itself, to the
line's SIP listener (or through the trunk), and says so.

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
	cfg, set, _, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "clubline probe: %v\n", err)
		return 1
	}
	summary, ok, err := probeRunningLine(ctx, cfg, stdout)
	var absent *noLineError
	if errors.As(err, &absent) {
		fmt.Fprintf(stdout, "no line answers at %s (%s): ", absent.where, absent.why)
		var r probe.Result
		if r, err = probeFromConfig(ctx, *path, cfg, set, time.Now(), stdout); err == nil {
			summary, ok = r.Summary(), r.OK
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "clubline probe: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, summary)
	if !ok {
		return 1
	}
	return 0
}

// noLineError says that no line runs where the config says it listens.
type noLineError struct{ where, why string }

func (e *noLineError) Error() string { return "no line answers at " + e.where + ": " + e.why }

// probeRunningLine asks the line running with cfg to place a probe now
// and returns what it heard; a *noLineError when nothing listens at
// http.listen.
func probeRunningLine(ctx context.Context, cfg *config.Config, out io.Writer) (summary string, ok bool, err error) {
	base, client, err := lineClient(cfg)
	if err != nil {
		return "", false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/probe", nil)
	if err != nil {
		return "", false, err
	}
	tokenPath := filepath.Join(cfg.Store.DataDir, probeTokenFile)
	b, terr := os.ReadFile(tokenPath)
	if token := strings.TrimSpace(string(b)); terr == nil && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	fmt.Fprintf(out, "asking the line at %s to call itself\n", base)
	res, err := client.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "", false, &noLineError{where: base, why: "connection refused"}
	}
	if err != nil {
		return "", false, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", false, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if res.StatusCode == http.StatusUnauthorized && terr != nil {
			return "", false, fmt.Errorf("the line refused (401: %s): cannot read its token: %v: run clubline probe as the line's user", e.Error, terr)
		}
		return "", false, fmt.Errorf("the line at %s answered %d: %s", base, res.StatusCode, e.Error)
	}
	var r web.ProbeResult
	if err := json.Unmarshal(body, &r); err != nil {
		return "", false, fmt.Errorf("the line at %s answered what is not a probe's result: %w", base, err)
	}
	return r.Summary, r.OK, nil
}

// lineClient is the address of the running line's web side, from
// http.listen (a wildcard address is reached on loopback), and a client
// for it: over TLS with http.tls, the certificate checked against the
// system's roots and the line's own certificate file, for the name of
// http.public_url when it has one.
func lineClient(cfg *config.Config) (string, *http.Client, error) {
	addr := loopback(cfg.HTTP.Listen)
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		return "", nil, &noLineError{where: cfg.HTTP.Listen, why: "http.listen is on port 0: the line's port cannot be known from the file"}
	}
	client := &http.Client{}
	if cfg.HTTP.TLS.CertFile == "" {
		return "http://" + addr, client, nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if pem, err := os.ReadFile(cfg.HTTP.TLS.CertFile); err == nil {
		roots.AppendCertsFromPEM(pem)
	}
	name, _, _ := net.SplitHostPort(addr)
	if u, err := url.Parse(cfg.HTTP.PublicURL); err == nil && u.Scheme == "https" && u.Hostname() != "" {
		name = u.Hostname()
	}
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12}}
	return "https://" + addr, client, nil
}

// probeFromConfig calls the line of cfg (loaded from path), as its
// scheduled probe would, from this process.
func probeFromConfig(ctx context.Context, path string, cfg *config.Config, set *prompts.Set, now time.Time, out io.Writer) (probe.Result, error) {
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
	trunks, err := newTrunks(cfg)
	if err != nil {
		return probe.Result{}, fmt.Errorf("%s: trunks: %w", path, err)
	}
	probeTarget(cfg, trunks, target, &o)
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
