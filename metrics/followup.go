package metrics

import "github.com/prometheus/client_golang/prometheus"

// Follow-ups and the notifications that get them done: a message owes a
// call back (clubline_followups_open); someone is told of it (e-mail,
// webhook, the message light); it is closed one way or another
// (clubline_followups_closed_total{how}), so that the share answered
// within 48 h can be computed honestly.

// How a follow-up was closed (clubline_followups_closed_total): the
// clubline.FollowUpClosed* values.
var FollowUpHows = []string{"web", "called_back"}

// Channels and results of clubline_notifications_total.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"

	NotifySent   = "sent"   // delivered
	NotifyRetry  = "retry"  // a temporary failure: tried again later
	NotifyFailed = "failed" // a permanent failure, or retried for too long: logged, given up
)

type followUps struct {
	closed        *prometheus.CounterVec
	notifications *prometheus.CounterVec
	overdue       prometheus.Gauge
	survey        *prometheus.HistogramVec
}

func newFollowUps() followUps {
	return followUps{
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_followups_closed_total",
			Help: "Messages whose follow-up was closed, by how (web: marked done on the web page or the API; called_back: the caller reached a person on a later call).",
		}, []string{"how"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clubline_notifications_total",
			Help: "Notifications of messages (new, reminder, escalation), by channel (email, webhook) and result (sent; retry: a temporary failure, tried again later; failed: given up, see the log).",
		}, []string{"channel", "result"}),
		survey: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clubline_survey_score",
			Help:    "Callers' answers to the post-call survey (survey.enabled), 1 (poor) to 5 (excellent), by the group that answered them. Never tied to a number.",
			Buckets: []float64{1, 2, 3, 4, 5},
		}, []string{"group"}),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clubline_followups_overdue",
			Help: "Open follow-ups past their due time, as of the last check (every minute).",
		}),
	}
}

func (f followUps) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.closed, f.notifications, f.overdue, f.survey}
}

func (f followUps) zero() {
	for _, h := range FollowUpHows {
		f.closed.WithLabelValues(h)
	}
	for _, c := range []string{ChannelEmail, ChannelWebhook} {
		for _, r := range []string{NotifySent, NotifyRetry, NotifyFailed} {
			f.notifications.WithLabelValues(c, r)
		}
	}
}

// FollowUpClosed counts one message closed, how (a clubline.FollowUpClosed… value).
func (m *Metrics) FollowUpClosed(how string) { m.followUps.closed.WithLabelValues(how).Inc() }

// Notification counts one delivery attempt's result on a channel.
func (m *Metrics) Notification(channel, result string) {
	m.followUps.notifications.WithLabelValues(channel, result).Inc()
}

// FollowUpsOverdue sets the count of open follow-ups past due.
func (m *Metrics) FollowUpsOverdue(n int) { m.followUps.overdue.Set(float64(n)) }

// SurveyAnswered counts one caller's answer to the post-call survey.
func (m *Metrics) SurveyAnswered(group string, score int) {
	m.followUps.survey.WithLabelValues(group).Observe(float64(score))
}
