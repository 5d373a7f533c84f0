// Package metrics names every Prometheus collector clubline exports, in one
// place. Collectors are registered on a registry passed in, never the global
// one. Labels come from small fixed sets: no phone number, no call id.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds clubline's collectors.
type Metrics struct {
	Calls            *prometheus.CounterVec
	ActiveCalls      prometheus.Gauge
	CallsAwaitingAck prometheus.Gauge
	Voicemails       *prometheus.CounterVec
	FollowUpsOpen    prometheus.Gauge
	ConfigReloads    *prometheus.CounterVec
	ConfigLoaded     prometheus.Gauge
	StoreSpooled     prometheus.Gauge
	QueueCalls       *prometheus.CounterVec
	QueueWait        *prometheus.HistogramVec
	QueueWaiting     *prometheus.GaugeVec
	QueueShort       *prometheus.CounterVec
	QueueInSL        *prometheus.CounterVec
	StaffBusy        prometheus.Gauge
	SIPRejected      *prometheus.CounterVec
	StaffRegistered  prometheus.Gauge
	RetentionDeleted *prometheus.CounterVec
	SIPBlocked       *prometheus.CounterVec
	// VoicemailWriteErrors counts messages the disk did not take in full.
	VoicemailWriteErrors prometheus.Counter

	callbacks *prometheus.CounterVec // callback.go
	followUps followUps              // followup.go
	line      line                   // line.go
	probes    probes                 // probe.go
}

// QueueWaitBuckets resolve waits from 5 seconds to 5 minutes.
var QueueWaitBuckets = []float64{5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300}

// New builds the collectors and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_calls_total",
			Help: "Inbound calls that have ended, by whether the office was open when they arrived (hours: open, closed) and how they ended (outcome: answered, voicemail, abandoned, rejected, failed). Rejected calls never reached the greeting.",
		}, []string{"hours", "outcome"}),
		ActiveCalls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_active_calls",
			Help: "Inbound calls answered by clubline, acknowledged by the caller (ACK) and not yet ended: calls whose script runs. Calls still awaiting their ACK are in clubline_calls_awaiting_ack.",
		}),
		CallsAwaitingAck: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_calls_awaiting_ack",
			Help: "Inbound calls clubline is setting up or has answered (200 OK) whose ACK has not arrived; they are not in clubline_active_calls. A caller's ACK comes within a round trip: a value that stays up is INVITEs never ACKed, a flood.",
		}),
		Voicemails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_voicemails_total",
			Help: "Voicemail messages saved (at least the minimum length of audio), by whether the caller flagged them urgent (urgent: true, false).",
		}, []string{"urgent"}),
		FollowUpsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_followups_open",
			Help: "Voicemail messages still waiting for a follow-up (status new).",
		}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_config_reloads_total",
			Help: "Attempts to reload the configuration file after an edit or SIGHUP, by result (success: the new file is in force; failure: it was invalid and the running configuration stayed).",
		}, []string{"result"}),
		ConfigLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_config_last_reload_success_timestamp_seconds",
			Help: "Unix time at which the configuration in force was loaded.",
		}),
		StoreSpooled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_store_spooled_records",
			Help: "Call and voicemail records waiting on local disk because the store (Redis) could not be written; they are written when it is back.",
		}),
		QueueCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_queue_calls_total",
			Help: "Callers who left a staff group's queue, by group and result (answered: a staff member answered; abandoned: the caller hung up while waiting; voicemail: the caller chose to leave a message; timeout: the maximum wait was reached or nobody was available; callback: the caller asked to be called back, keeping their place: see clubline_callbacks_total).",
		}, []string{"group", "result"}),
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clubline_queue_wait_seconds",
			Help:    "Time callers spent in a staff group's queue, from entering it to a staff answer or to leaving it, by group and result (as clubline_queue_calls_total).",
			Buckets: QueueWaitBuckets,
		}, []string{"group", "result"}),
		QueueWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clubline_queue_waiting",
			Help: "Callers waiting in a staff group's queue now, by group.",
		}, []string{"group"}),
		QueueShort: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_queue_short_abandoned_total",
			Help: "Callers who hung up in a staff group's queue sooner than the group's short_abandon threshold, by group. They are also counted in clubline_queue_calls_total{result=\"abandoned\"}; the recording rules leave them out of the abandonment rate.",
		}, []string{"group"}),
		QueueInSL: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_queue_answered_within_service_level_total",
			Help: "Callers a staff member answered within the group's service_level target, by group (the numerator of the service level; the denominator is every caller who entered the queue).",
		}, []string{"group"}),
		StaffBusy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_staff_busy",
			Help: "Staff members on a call put through by clubline now (they are not rung for another).",
		}),
		SIPRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_sip_rejected_total",
			Help: "INVITEs refused before answer, by SIP status code (e.g. 404 unknown number, 488 no common codec, 503 over capacity, draining or too many calls awaiting their ACK, 487 cancelled by the caller; also 400, 415, 420, 422, 500). Refusals other than 487 keep no call record: this is where they are counted.",
		}, []string{"code"}),
		StaffRegistered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_staff_registered",
			Help: "Staff members with at least one registered phone.",
		}),
		RetentionDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_retention_deleted_total",
			Help: "Records deleted because they were older than the retention limit of the config file, by kind (call: a call record, older than retention.calls; voicemail: a message with its follow-up and its WAV file, older than retention.voicemail).",
		}, []string{"kind"}),
		SIPBlocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_sip_blocked_total",
			Help: "SIP requests refused by a protection limit, by reason (invite_rate, options_rate, request_rate: the request that took an address over its limit, answered 503; blocked: a request dropped unanswered while its address is blocked; register_rate: too many REGISTERs from one address; register_auth_source: too many wrong passwords from one address; register_auth_user: too many wrong passwords for one staff member; register_replay: a REGISTER whose credentials were used before).",
		}, []string{"reason"}),
		VoicemailWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clubline_voicemail_write_errors_total",
			Help: "Voicemail messages that could not be written to disk in full (voicemail.dir missing or read-only, disk full, I/O error): what reached the disk is kept if it is at least the minimum length, and the caller is told the message could not be recorded.",
		}),
		callbacks: newCallbacks(),
		followUps: newFollowUps(),
		line:      newLine(),
		probes:    newProbes(),
	}
	for _, c := range []prometheus.Collector{
		m.Calls, m.ActiveCalls, m.CallsAwaitingAck, m.Voicemails, m.FollowUpsOpen, m.ConfigReloads,
		m.ConfigLoaded, m.StoreSpooled, m.QueueCalls, m.QueueWait, m.QueueWaiting,
		m.QueueShort, m.QueueInSL, m.StaffBusy,
		m.SIPRejected, m.StaffRegistered, m.RetentionDeleted, m.SIPBlocked, m.VoicemailWriteErrors,
		m.callbacks,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, c := range append(append(m.followUps.collectors(), m.line.collectors()...), m.probes.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.followUps.zero()
	m.zeroLine()
	for _, kind := range []string{RetentionCall, RetentionVoicemail} {
		m.RetentionDeleted.WithLabelValues(kind) // shown at 0 before the first deletion
	}
	return m, nil
}

// Kinds of record in clubline_retention_deleted_total.
const (
	RetentionCall      = "call"
	RetentionVoicemail = "voicemail"
)

// Results of a caller's time in a queue, the result label of
// clubline_queue_calls_total and clubline_queue_wait_seconds.
const (
	QueueAnswered  = "answered"  // a staff member answered
	QueueAbandoned = "abandoned" // the caller hung up while waiting
	QueueVoicemail = "voicemail" // the caller chose to leave a message (the exit key)
	QueueTimeout   = "timeout"   // max_wait reached or nobody available: voicemail
)

// QueueResults lists the results, in the order the docs give them.
var QueueResults = []string{QueueAnswered, QueueAbandoned, QueueVoicemail, QueueTimeout, QueueCallback}

// Groups makes the queue series of these groups exist at zero, so that
// rates and ratios are defined before a group's first call.
func (m *Metrics) Groups(ids ...string) {
	for _, g := range ids {
		for _, r := range QueueResults {
			m.QueueCalls.WithLabelValues(g, r)
			m.QueueWait.WithLabelValues(g, r)
		}
		m.QueueWaiting.WithLabelValues(g)
		m.QueueShort.WithLabelValues(g)
		m.QueueInSL.WithLabelValues(g)
		m.callbackGroup(g)
	}
}

// QueueLeft counts one caller leaving a group's queue after wait: the
// result, the wait, an answer within serviceLevel, an abandon sooner than
// shortAbandon.
func (m *Metrics) QueueLeft(group, result string, wait, serviceLevel, shortAbandon time.Duration) {
	m.QueueCalls.WithLabelValues(group, result).Inc()
	m.QueueWait.WithLabelValues(group, result).Observe(wait.Seconds())
	switch {
	case result == QueueAnswered && wait <= serviceLevel:
		m.QueueInSL.WithLabelValues(group).Inc()
	case result == QueueAbandoned && wait < shortAbandon:
		m.QueueShort.WithLabelValues(group).Inc()
	}
}

// RetentionPurged counts records deleted for their age.
func (m *Metrics) RetentionPurged(kind string, n int) {
	m.RetentionDeleted.WithLabelValues(kind).Add(float64(n))
}

// VoicemailSaved counts one saved message.
func (m *Metrics) VoicemailSaved(urgent bool) {
	v := "false"
	if urgent {
		v = "true"
	}
	m.Voicemails.WithLabelValues(v).Inc()
}

// VoicemailWriteFailed counts one message the disk did not take in full.
func (m *Metrics) VoicemailWriteFailed() { m.VoicemailWriteErrors.Inc() }

// ConfigReloaded counts one reload attempt.
func (m *Metrics) ConfigReloaded(ok bool) {
	if ok {
		m.ConfigReloads.WithLabelValues("success").Inc()
		return
	}
	m.ConfigReloads.WithLabelValues("failure").Inc()
}
