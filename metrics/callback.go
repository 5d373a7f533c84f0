package metrics

import "github.com/prometheus/client_golang/prometheus"

// Queued callbacks: a caller waiting in a group's queue asks to be called
// back and hangs up, keeping their place. They leave the queue's line with
// the result callback (clubline_queue_calls_total); what became of their
// callback is counted in clubline_callbacks_total.

// QueueCallback is the result of a caller who left a queue's line by
// asking to be called back (clubline_queue_calls_total).
const QueueCallback = "callback"

// Results of clubline_callbacks_total. Each counts an event, not a caller:
// a callback the caller answered at the third attempt counts two
// no_answer and one answered.
const (
	CallbackAnswered      = "answered"       // the caller answered and was put through to the staff member
	CallbackNoAnswer      = "no_answer"      // one attempt: a staff member waited, the caller did not answer (or was busy)
	CallbackGaveUp        = "gave_up"        // every attempt failed (or shutdown came first): a follow-up was created
	CallbackRefusedNumber = "refused_number" // a number the caller typed cannot be called back
)

// CallbackResults lists the results, in the order the docs give them.
var CallbackResults = []string{CallbackAnswered, CallbackNoAnswer, CallbackGaveUp, CallbackRefusedNumber}

func newCallbacks() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clubline_callbacks_total",
		Help: "Queued callbacks, by group and result (answered: the caller was called back and put through to a staff member; no_answer: one attempt the caller did not answer, a staff member waiting; gave_up: every attempt failed, a follow-up was created; refused_number: a number the caller typed cannot be called back). Events, not callers: one callback may count several no_answer.",
	}, []string{"group", "result"})
}

// Callback counts one event of a group's queued callback (a
// Callback… result).
func (m *Metrics) Callback(group, result string) {
	m.callbacks.WithLabelValues(group, result).Inc()
}

// callbackGroup makes the callback series of a group exist at zero.
func (m *Metrics) callbackGroup(group string) {
	for _, r := range CallbackResults {
		m.callbacks.WithLabelValues(group, r)
	}
}
