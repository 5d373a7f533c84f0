package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline/metrics"
)

// The Grafana dashboard, deploy/grafana/dashboards/clubline.json, read as
// Grafana's JSON model: every panel on the Prometheus datasource that the
// provisioning names `prometheus`, every metric of its queries exported by
// clubline or recorded by deploy/prometheus/rules.yml. Whether each query
// returns data from a real Prometheus is dashboard_e2e_test.go.

const (
	dashboardPath = "../../deploy/grafana/dashboards/clubline.json"
	rulesPath     = "../../deploy/prometheus/rules.yml"
)

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Datasource *grafanaDatasource `json:"datasource"`
	Expr       string             `json:"expr"`
	RefID      string             `json:"refId"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Repeat     string             `json:"repeat"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []grafanaTarget    `json:"targets"`
	Panels     []grafanaPanel     `json:"panels"` // a collapsed row's
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string             `json:"name"`
			Datasource *grafanaDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardQuery is one query of one panel; group is the row's group
// when the panel sits in the row repeated by $group.
type dashboardQuery struct {
	panel   string
	expr    string
	inGroup bool
}

func readDashboard(t *testing.T) *grafanaDashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return &d
}

// queries lists every query of every panel (those of collapsed rows too),
// in the dashboard's order.
func (d *grafanaDashboard) queries() []dashboardQuery {
	var out []dashboardQuery
	inGroup := false
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				inGroup = p.Repeat == "group"
				walk(p.Panels)
				continue
			}
			for _, q := range p.Targets {
				out = append(out, dashboardQuery{panel: p.Title + " (" + q.RefID + ")", expr: q.Expr, inGroup: inGroup})
			}
		}
	}
	walk(d.Panels)
	return out
}

// substitute puts values for Grafana's variables into a query, as Grafana
// does before sending it.
func substitute(expr, group string, rateInterval, rangeDur time.Duration) string {
	return strings.NewReplacer(
		"$__rate_interval", promDuration(rateInterval),
		"$__interval", promDuration(rateInterval/4),
		"$__range", promDuration(rangeDur),
		"${group}", group,
		"$group", group,
	).Replace(expr)
}

// promDuration writes d as PromQL does, in whole seconds.
func promDuration(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) + "s" }

func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" {
		t.Error("the dashboard has no uid: provisioning would make a new one at each start")
	}
	var group bool
	for _, v := range d.Templating.List {
		if v.Name == "group" {
			group = true
			if v.Datasource == nil || v.Datasource.UID != "prometheus" {
				t.Errorf("variable group: datasource %+v, want uid prometheus", v.Datasource)
			}
		}
	}
	if !group {
		t.Error("the dashboard has no $group variable")
	}
	var repeated, panels int
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				if p.Repeat == "group" {
					repeated++
				}
				walk(p.Panels)
				continue
			}
			panels++
			if p.Datasource == nil || p.Datasource.UID != "prometheus" || p.Datasource.Type != "prometheus" {
				t.Errorf("panel %q: datasource %+v, want the prometheus datasource of uid prometheus", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource != nil && q.Datasource.UID != "prometheus" {
					t.Errorf("panel %q query %s: datasource uid %q, want prometheus", p.Title, q.RefID, q.Datasource.UID)
				}
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("panel %q query %s is empty", p.Title, q.RefID)
				}
			}
		}
	}
	walk(d.Panels)
	if repeated != 1 {
		t.Errorf("%d rows repeat by group, want 1", repeated)
	}
	if panels < 10 {
		t.Errorf("only %d panels", panels)
	}
}

// TestDashboardMetricsExist: a metric name with a typo would leave its
// panel silently empty.
func TestDashboardMetricsExist(t *testing.T) {
	known := exportedNames(t)
	for _, r := range recordingRules(t) {
		known[r] = true
	}
	for _, q := range readDashboard(t).queries() {
		for _, name := range metricNames(q.expr) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
					base = b
				}
			}
			if !known[base] {
				t.Errorf("panel %q: %s is neither exported by clubline nor a recording rule of rules.yml (query %s)", q.panel, name, q.expr)
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (group, result) (increase(clubline_queue_calls_total{group=~"$group",result!="x"}[1h])) / on (group) group:x:rate1h > 0 and clubline_open == 1`)
	want := []string{"clubline_queue_calls_total", "group:x:rate1h", "clubline_open"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promClauses  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdents   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL query reads, in order.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promClauses.ReplaceAllString(s, " ")
	var out []string
	for _, m := range promIdents.FindAllStringSubmatch(s, -1) {
		name := m[0]
		if m[1] != "" || promKeywords[strings.ToLower(name)] {
			continue // a function, or a keyword
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// exportedNames are the names of every collector clubline registers
// (metrics.New, the trunks', the line's).
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recordingRegisterer{}
	if _, err := metrics.New(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.NewTrunks(rec, nil, func() []metrics.TrunkStats { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.NewLine(rec, func() metrics.LineState { return metrics.LineState{} }); err != nil {
		t.Fatal(err)
	}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	if !names["clubline_calls_total"] || !names["clubline_trunk_registered"] || !names["clubline_open"] {
		t.Fatalf("the registered names lack known ones: %v", names)
	}
	return names
}

type recordingRegisterer struct{ collectors []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }

// recordingRules are the names the rules file records.
func recordingRules(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	return out
}
