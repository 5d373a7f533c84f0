package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The line's mystery call (the probe: section): how the last one went.
// Gauges, not counters: an alert wants the last verdict and how many in
// a row failed, which a gauge says without a range query.

type probes struct {
	success, setup, last, failures prometheus.Gauge
	heard                          *prometheus.GaugeVec
}

func newProbes() probes {
	return probes{
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_probe_success",
			Help: "1 when the last mystery call (probe:) heard the greeting, the menu or the closed message as the schedule has it, and the prompt that answers a key; 0 when it did not, and before the first (clubline_probe_last_run_timestamp_seconds is 0 until then).",
		}),
		setup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_probe_setup_seconds",
			Help: "Time from the last mystery call's INVITE to the start of the greeting it heard; 0 when it heard none.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_probe_last_run_timestamp_seconds",
			Help: "Unix time at which the last mystery call ended.",
		}),
		failures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_probe_consecutive_failures",
			Help: "Mystery calls that failed in a row, up to the last one; 0 after a success.",
		}),
		heard: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clubline_probe_heard",
			Help: "1 for each prompt the last mystery call heard, by step (greeting, menu: open; closed: the closed message; after_key: the voicemail instruction or the beep after its key), 0 for those it waited for in vain or did not wait for.",
		}, []string{"prompt"}),
	}
}

func (p probes) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.success, p.setup, p.last, p.failures, p.heard}
}

// ProbeRan records one mystery call: whether it succeeded, the time to
// its greeting, and for each of steps (the probe's fixed list) whether
// heard says it was heard.
func (m *Metrics) ProbeRan(ok bool, setup time.Duration, steps []string, heard func(step string) bool, at time.Time) {
	p := m.probes
	if ok {
		p.success.Set(1)
		p.failures.Set(0)
	} else {
		p.success.Set(0)
		p.failures.Inc()
	}
	p.setup.Set(setup.Seconds())
	p.last.Set(float64(at.UnixNano()) / 1e9)
	for _, s := range steps {
		v := 0.0
		if heard(s) {
			v = 1
		}
		p.heard.WithLabelValues(s).Set(v)
	}
}
