package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/metrics"
)

func TestCallEndedCountsCategoryAndUrgentLine(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Categories("registrations")
	m.CallEnded(&clubline.Call{Hours: clubline.HoursOpen, Outcome: clubline.OutcomeAnswered, Category: "registrations", Route: "office"})
	m.CallEnded(&clubline.Call{Hours: clubline.HoursClosed, Outcome: clubline.OutcomeVoicemail, Category: "urgent", Route: clubline.RouteUrgency})
	m.CallEnded(&clubline.Call{Hours: clubline.HoursOpen, Outcome: clubline.OutcomeRejected})

	want := `
# HELP clubline_urgent_calls_total Calls that reached the urgent line (the urgent key, or a menu option routed to urgency) and have ended, by whether the office was open when they arrived (hours) and outcome (answered: a person took the call; voicemail, abandoned, failed: nobody was reached).
# TYPE clubline_urgent_calls_total counter
clubline_urgent_calls_total{hours="closed",outcome="abandoned"} 0
clubline_urgent_calls_total{hours="closed",outcome="answered"} 0
clubline_urgent_calls_total{hours="closed",outcome="failed"} 0
clubline_urgent_calls_total{hours="closed",outcome="voicemail"} 1
clubline_urgent_calls_total{hours="open",outcome="abandoned"} 0
clubline_urgent_calls_total{hours="open",outcome="answered"} 0
clubline_urgent_calls_total{hours="open",outcome="failed"} 0
clubline_urgent_calls_total{hours="open",outcome="voicemail"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clubline_urgent_calls_total"); err != nil {
		t.Error(err)
	}
	for sample, v := range map[string]float64{
		`clubline_category_calls_total{category="registrations",outcome="answered"}`:  1,
		`clubline_category_calls_total{category="registrations",outcome="voicemail"}`: 0,
		`clubline_category_calls_total{category="urgent",outcome="voicemail"}`:        1,
		`clubline_category_calls_total{category="none",outcome="rejected"}`:           1,
		`clubline_calls_total{hours="closed",outcome="failed"}`:                       0,
		`clubline_sip_rejected_total{code="503"}`:                                     0,
	} {
		if got := sampleValue(t, reg, sample); got != v {
			t.Errorf("%s = %v, want %v", sample, got, v)
		}
	}
}

func TestLineStateAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	state := metrics.LineState{Open: true, Registered: map[string]int{"office": 2, "youth": 0}}
	if _, err := metrics.NewLine(reg, func() metrics.LineState { return state }); err != nil {
		t.Fatal(err)
	}
	if got := sampleValue(t, reg, `clubline_open`); got != 1 {
		t.Errorf("clubline_open = %v, want 1", got)
	}
	if got := sampleValue(t, reg, `clubline_group_staff_registered{group="youth"}`); got != 0 {
		t.Errorf("youth = %v, want 0", got)
	}
	state = metrics.LineState{Registered: map[string]int{"office": 1}}
	if got := sampleValue(t, reg, `clubline_open`); got != 0 {
		t.Errorf("clubline_open after closing = %v, want 0", got)
	}
	if got := sampleValue(t, reg, `clubline_group_staff_registered{group="office"}`); got != 1 {
		t.Errorf("office = %v, want 1", got)
	}
}

func TestVoicemailDisk(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.VoicemailDisk(25, 100)
	if got := sampleValue(t, reg, `clubline_voicemail_disk_free_ratio`); got != 0.25 {
		t.Errorf("ratio = %v, want 0.25", got)
	}
	if got := sampleValue(t, reg, `clubline_voicemail_disk_free_bytes`); got != 25 {
		t.Errorf("bytes = %v, want 25", got)
	}
}

// sampleValue reads one sample, written as in the text format; -1 if absent.
func sampleValue(t *testing.T, reg *prometheus.Registry, sample string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			name := mf.GetName()
			if len(mt.GetLabel()) > 0 {
				var ls []string
				for _, l := range mt.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				name += "{" + strings.Join(ls, ",") + "}"
			}
			if name != sample {
				continue
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue()
			case mt.Gauge != nil:
				return mt.Gauge.GetValue()
			}
		}
	}
	return -1
}
