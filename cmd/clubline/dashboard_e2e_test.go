package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// Every panel of the Grafana dashboard returns data from a real
// Prometheus (Debian's) that scrapes a running clubline every second and
// evaluates deploy/prometheus/rules.yml every second, after a few test
// calls: one answered by a staff phone, one abandoned in the queue, one
// message. A query with a typo, a label that does not exist or a rule
// that records nothing fails here, naming its panel.

// dashboardPeople: marie answers the office group; an IP-authenticated
// trunk makes the trunk's series exist (its proxy is never reached).
const dashboardPeople = `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_TEST_PW_QUEUE }
groups:
  - { id: office, members: [marie], ring_timeout: 8s, max_wait: 2m }
trunks:
  - name: provider
    outbound_proxy: "127.0.0.1:9"
    numbers: ["+14505550100"]
`

func TestDashboardQueriesReturnData(t *testing.T) {
	promBin := requireTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{at: openTuesday})
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), "groups:\n  - { id: office }\n", dashboardPeople, 1))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, dir, path, openTuesday)
	prom := startPrometheus(t, promBin, l.m.Admin.Addr())
	// The series at their start (counters at 0) are scraped before the
	// calls, so that increase() sees the calls.
	prom.awaitUp(t, 15*time.Second)
	time.Sleep(3 * time.Second)

	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 3 * time.Second})

	// Abandoned: the caller hangs up while marie's phone rings.
	c := l.dial(softphone.Options{})
	l.chooseOffice(c)
	l.awaitMetricWithin(`clubline_queue_waiting{group="office"}`, 1, 10*time.Second)
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.awaitMetricWithin(`clubline_queue_calls_total{group="office",result="abandoned"}`, 1, 10*time.Second)

	// Answered by marie.
	c = l.dial(softphone.Options{})
	l.chooseOffice(c)
	staff := answered(t, marie, 15*time.Second)
	time.Sleep(time.Second)
	if err := staff.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitEnd(t, c, 10*time.Second)
	l.awaitMetricWithin(`clubline_queue_calls_total{group="office",result="answered"}`, 1, 10*time.Second)

	// A message (menu key 0).
	c = l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	if err := c.SendDigit(context.Background(), '0'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail", 15*time.Second)
	if err := c.SendDigit(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "beep", 5*time.Second)
	if err := c.Play(context.Background(), media.Tone(440, 2*time.Second, 8000)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDigit(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	awaitEnd(t, c, 15*time.Second)
	l.awaitMetricWithin(`clubline_calls_total{hours="open",outcome="voicemail"}`, 1, 10*time.Second)

	// Every query, with $group as each group a row is repeated for, until
	// each returns data (the rules are evaluated every second).
	var queries []dashboardQuery
	for _, q := range readDashboard(t).queries() {
		q.expr = substitute(q.expr, "office", 30*time.Second, time.Hour)
		queries = append(queries, q)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var empty []string
		for _, q := range queries {
			n, err := prom.query(q.expr)
			if err != nil {
				t.Fatalf("panel %q: %v (query %s)", q.panel, err, q.expr)
			}
			if n == 0 {
				empty = append(empty, fmt.Sprintf("panel %q: no data for %s", q.panel, q.expr))
			}
		}
		if len(empty) == 0 {
			t.Logf("%d queries of the dashboard returned data", len(queries))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d queries returned no data:\n%s", len(empty), len(queries), strings.Join(empty, "\n"))
		}
		time.Sleep(time.Second)
	}
}

type prometheusServer struct{ addr string }

// startPrometheus starts Debian's prometheus on a free loopback port,
// scraping target every second and evaluating the rules of rules.yml
// every second, and stops it when the test ends.
func startPrometheus(t *testing.T, bin, target string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.ReplaceAll(string(rules), "    interval: 1m\n", "    interval: 1s\n")
	if fast == string(rules) {
		t.Fatalf("%s: no rule group with interval: 1m to shorten", rulesPath)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(fast), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: clubline
    static_configs:
      - targets: [%q]
`, filepath.Join(dir, "rules.yml"), target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackPort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--log.level=warn")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", log.String())
		}
	})
	return &prometheusServer{addr: addr}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// awaitUp waits until Prometheus has scraped clubline.
func (p *prometheusServer) awaitUp(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := p.query(`up{job="clubline"} == 1`)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape clubline within %s (last error: %v)", within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// query sends an instant query and returns how many series it returned.
func (p *prometheusServer) query(expr string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+"/api/v1/query",
		strings.NewReader(url.Values{"query": {expr}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("prometheus answered %s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus refused the query: %s", r.Error)
	}
	var series []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &series); err != nil {
		return 0, fmt.Errorf("a result that is not a vector: %s", r.Data.Result)
	}
	return len(series), nil
}

// requireTool skips the test unless interop tests are asked for
// (CLUBLINE_TEST_INTEROP=1, as .ci/run sets), and fails it if they are
// but the program is missing; pkg is the Debian package that has it.
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
