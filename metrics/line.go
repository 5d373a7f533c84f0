package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubline/clubline"
)

// The line as a whole, for the dashboard and the alerts
// (deploy/grafana/dashboards/clubline.json, deploy/prometheus/rules.yml):
// the calls by category and those of the urgent line, counted as each call
// ends; whether the office is open and who in each group can be rung,
// read at each scrape; the free space of the voicemail's disk, set from
// cmd every 30 s.

// Outcomes lists the outcomes of clubline_calls_total, in the order the
// docs give them.
var Outcomes = []clubline.Outcome{clubline.OutcomeAnswered, clubline.OutcomeVoicemail,
	clubline.OutcomeAbandoned, clubline.OutcomeRejected, clubline.OutcomeFailed}

// routedOutcomes are the outcomes a call that reached the menu can have
// (a refused call never picks a category).
var routedOutcomes = []clubline.Outcome{clubline.OutcomeAnswered, clubline.OutcomeVoicemail,
	clubline.OutcomeAbandoned, clubline.OutcomeFailed}

// NoCategory is the category label of a call that picked none (it ended
// before the menu, or the menu's default route took it).
const NoCategory = "none"

// watchedRejections are the SIP codes of clubline_sip_rejected_total that
// an alert or a panel reads: shown at 0 so that the first one counts in
// increase().
var watchedRejections = []string{"488", "503"}

type line struct {
	categories *prometheus.CounterVec
	urgent     *prometheus.CounterVec
	diskFree   prometheus.Gauge
	diskRatio  prometheus.Gauge
}

func newLine() line {
	return line{
		categories: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_category_calls_total",
			Help: "Calls that have ended, by the menu category the caller picked (category: a menu option's category, none when no category was picked) and outcome (as clubline_calls_total).",
		}, []string{"category", "outcome"}),
		urgent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_urgent_calls_total",
			Help: "Calls that reached the urgent line (the urgent key, or a menu option routed to urgency) and have ended, by whether the office was open when they arrived (hours) and outcome (answered: a person took the call; voicemail, abandoned, failed: nobody was reached).",
		}, []string{"hours", "outcome"}),
		diskFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_voicemail_disk_free_bytes",
			Help: "Bytes free to clubline on the filesystem holding voicemail.dir, as of the last check (every 30 s).",
		}),
		diskRatio: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_voicemail_disk_free_ratio",
			Help: "Share of the filesystem holding voicemail.dir free to clubline, 0 to 1, as of the last check (every 30 s).",
		}),
	}
}

func (l line) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.categories, l.urgent, l.diskFree, l.diskRatio}
}

// zeroLine makes the series alerts and panels read exist at 0.
func (m *Metrics) zeroLine() {
	for _, h := range []clubline.Hours{clubline.HoursOpen, clubline.HoursClosed} {
		for _, o := range Outcomes {
			m.Calls.WithLabelValues(string(h), string(o))
		}
		for _, o := range routedOutcomes {
			m.line.urgent.WithLabelValues(string(h), string(o))
		}
	}
	for _, code := range watchedRejections {
		m.SIPRejected.WithLabelValues(code)
	}
}

// CallEnded counts one ended call: by hours and outcome, by category, and
// on the urgent line when it was routed there.
func (m *Metrics) CallEnded(c *clubline.Call) {
	if c.Probe {
		return // the line's own mystery call: clubline_probe_* says how it went
	}
	m.Calls.WithLabelValues(string(c.Hours), string(c.Outcome)).Inc()
	cat := c.Category
	if cat == "" {
		cat = NoCategory
	}
	m.line.categories.WithLabelValues(cat, string(c.Outcome)).Inc()
	if c.Route == clubline.RouteUrgency {
		m.line.urgent.WithLabelValues(string(c.Hours), string(c.Outcome)).Inc()
	}
}

// Categories makes the series of these menu categories exist at 0.
func (m *Metrics) Categories(names ...string) {
	for _, n := range names {
		for _, o := range routedOutcomes {
			m.line.categories.WithLabelValues(n, string(o))
		}
	}
}

// VoicemailDisk sets the free space of voicemail.dir's filesystem: free
// bytes out of size.
func (m *Metrics) VoicemailDisk(free, size uint64) {
	m.line.diskFree.Set(float64(free))
	if size > 0 {
		m.line.diskRatio.Set(float64(free) / float64(size))
	}
}

// LineState is the line as a scrape reads it.
type LineState struct {
	Open bool
	// Registered is, per staff group of the config, how many of its
	// members have at least one registered phone.
	Registered map[string]int
}

// Line exports LineState at each scrape, so it never lags a
// registration or the office's switch.
type Line struct {
	state            func() LineState
	open, registered *prometheus.Desc
}

// NewLine registers the collector of the line's state on reg; state is
// called at each scrape.
func NewLine(reg prometheus.Registerer, state func() LineState) (*Line, error) {
	l := &Line{
		state: state,
		open: prometheus.NewDesc("clubline_open",
			"1 while the office is open (the weekly hours, seasons, closures, holidays and the override, as callers find it), 0 while it is closed.",
			nil, nil),
		registered: prometheus.NewDesc("clubline_group_staff_registered",
			"Members of a staff group with at least one registered phone, by group: 0 while the office is open means the group's callers all go to voicemail.",
			[]string{"group"}, nil),
	}
	if err := reg.Register(l); err != nil {
		return nil, err
	}
	return l, nil
}

// Describe implements prometheus.Collector.
func (l *Line) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.open
	ch <- l.registered
}

// Collect implements prometheus.Collector.
func (l *Line) Collect(ch chan<- prometheus.Metric) {
	s := l.state()
	open := 0.0
	if s.Open {
		open = 1
	}
	ch <- prometheus.MustNewConstMetric(l.open, prometheus.GaugeValue, open)
	for g, n := range s.Registered {
		ch <- prometheus.MustNewConstMetric(l.registered, prometheus.GaugeValue, float64(n), g)
	}
}
