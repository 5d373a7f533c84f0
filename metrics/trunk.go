package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The trunks' metrics. Their state lives in the trunks themselves (package
// sip/trunk); the collector reads it at each scrape, so a gauge can never
// disagree with /readyz or `clubline check`.

// TrunkStats is one trunk's state at a scrape.
type TrunkStats struct {
	Name       string
	Registers  bool // false: an IP-authenticated trunk (never registered)
	Registered bool
	InUse      int           // channels in use, in and out
	Channels   int           // max_channels
	Outbound   time.Duration // outbound call time in the last hour
	Limit      time.Duration // max_outbound_per_hour
}

// Reasons a call through a trunk was not placed, in
// clubline_trunk_outbound_refused_total.
const (
	TrunkRefusedChannels      = "channels"
	TrunkRefusedMinutes       = "minutes"
	TrunkRefusedNotRegistered = "not_registered"
)

// Trunks are the trunks' collectors.
type Trunks struct {
	stats   func() []TrunkStats
	refused *prometheus.CounterVec

	registered, ipAuth, inUse, channels, outbound, limit *prometheus.Desc
}

// NewTrunks registers the trunks' metrics on reg; stats is called at
// each scrape. names are the trunks, shown at 0 before anything happens.
func NewTrunks(reg prometheus.Registerer, names []string, stats func() []TrunkStats) (*Trunks, error) {
	t := &Trunks{
		stats: stats,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_trunk_outbound_refused_total",
			Help: "Calls to an outside number that a trunk did not place, by trunk and reason (channels: max_channels in use; minutes: max_outbound_per_hour reached; not_registered: the trunk is not registered). The next step of the call (next person, fallback, voicemail) follows.",
		}, []string{"trunk", "reason"}),
		registered: prometheus.NewDesc("clubline_trunk_registered",
			"1 when the trunk is registered at its provider (calls to the club's numbers reach clubline), 0 otherwise; always 0 for an IP-authenticated trunk, which does not register.",
			[]string{"trunk"}, nil),
		ipAuth: prometheus.NewDesc("clubline_trunk_ip_authenticated",
			"1 for a trunk that does not register (the provider knows clubline by its address), 0 for one that registers: alerts on clubline_trunk_registered leave the former out.",
			[]string{"trunk"}, nil),
		inUse: prometheus.NewDesc("clubline_trunk_channels_in_use",
			"Calls using the trunk now, in and out.", []string{"trunk"}, nil),
		channels: prometheus.NewDesc("clubline_trunk_channels",
			"The trunk's max_channels: calls it may carry at once.", []string{"trunk"}, nil),
		outbound: prometheus.NewDesc("clubline_trunk_outbound_seconds_last_hour",
			"Time of calls placed through the trunk in the last hour, calls in progress included.", []string{"trunk"}, nil),
		limit: prometheus.NewDesc("clubline_trunk_outbound_limit_seconds",
			"The trunk's max_outbound_per_hour, in seconds: beyond it no call is placed until the hour has room.", []string{"trunk"}, nil),
	}
	for _, n := range names {
		for _, r := range []string{TrunkRefusedChannels, TrunkRefusedMinutes, TrunkRefusedNotRegistered} {
			t.refused.WithLabelValues(n, r)
		}
	}
	for _, c := range []prometheus.Collector{t, t.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Refused counts a call a trunk did not place.
func (t *Trunks) Refused(trunk, reason string) { t.refused.WithLabelValues(trunk, reason).Inc() }

// Describe implements prometheus.Collector.
func (t *Trunks) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{t.registered, t.ipAuth, t.inUse, t.channels, t.outbound, t.limit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (t *Trunks) Collect(ch chan<- prometheus.Metric) {
	for _, s := range t.stats() {
		reg := 0.0
		if s.Registered {
			reg = 1
		}
		ch <- prometheus.MustNewConstMetric(t.registered, prometheus.GaugeValue, reg, s.Name)
		ipAuth := 0.0
		if !s.Registers {
			ipAuth = 1
		}
		ch <- prometheus.MustNewConstMetric(t.ipAuth, prometheus.GaugeValue, ipAuth, s.Name)
		ch <- prometheus.MustNewConstMetric(t.inUse, prometheus.GaugeValue, float64(s.InUse), s.Name)
		ch <- prometheus.MustNewConstMetric(t.channels, prometheus.GaugeValue, float64(s.Channels), s.Name)
		ch <- prometheus.MustNewConstMetric(t.outbound, prometheus.GaugeValue, s.Outbound.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(t.limit, prometheus.GaugeValue, s.Limit.Seconds(), s.Name)
	}
}
