package routing

import (
	"slices"
	"time"
)

// Strategy is how a group's queue picks whom to ring.
type Strategy string

const (
	RingAll     Strategy = "ring-all"     // every available agent at once; the first to answer gets the call
	LongestIdle Strategy = "longest-idle" // the agent whose last call ended longest ago
	InOrder     Strategy = "in-order"     // the first available agent in the group's order
)

// A group's queue defaults, as docs/config.md lists them.
const (
	// DefaultRingTimeout bounds one ring of one staff member.
	DefaultRingTimeout = 20 * time.Second
	// DefaultMaxWait sends a caller still waiting to voicemail.
	DefaultMaxWait = 3 * time.Minute
	// DefaultAnnounceEvery is how often a waiting caller hears their place
	// and the estimated wait.
	DefaultAnnounceEvery = 45 * time.Second
	// DefaultServiceLevel: answered within it counts towards the service
	// level.
	DefaultServiceLevel = 30 * time.Second
	// DefaultShortAbandon: a hang-up in the queue sooner than this is
	// counted apart (a wrong number, not a caller who gave up).
	DefaultShortAbandon = 5 * time.Second
	// DefaultRetry is the pause after every available staff member was
	// rung without an answer, before they are rung again (Asterisk's
	// retry).
	DefaultRetry = 5 * time.Second
)

// Strategies lists the strategies, the default first.
var Strategies = []Strategy{RingAll, LongestIdle, InOrder}

// Agent is a group member as the queue sees them at one moment.
type Agent struct {
	ID string
	// Available: registered and not on a call.
	Available bool
	// LastCallEnded is when their last call ended; zero when they have
	// not had one.
	LastCallEnded time.Time
}

// Pick is the ids of the agents to ring now, given in the group's order:
// ring-all, every available agent; longest-idle, the one available agent
// whose last call ended earliest (one who never had a call first, ties in
// the group's order); in-order, the first available agent. Nil when nobody
// is available. An unknown strategy rings all.
func Pick(s Strategy, agents []Agent) []string {
	var avail []Agent
	for _, a := range agents {
		if a.Available {
			avail = append(avail, a)
		}
	}
	if len(avail) == 0 {
		return nil
	}
	switch s {
	case InOrder:
		return []string{avail[0].ID}
	case LongestIdle:
		best := avail[0]
		for _, a := range avail[1:] {
			if a.LastCallEnded.Before(best.LastCallEnded) {
				best = a
			}
		}
		return []string{best.ID}
	}
	ids := make([]string, len(avail))
	for i, a := range avail {
		ids[i] = a.ID
	}
	return ids
}

// WaitEstimator estimates a caller's wait from the recent answered waits of
// a group, as Asterisk's queue holdtime does: an exponentially weighted
// moving average in which each new answered wait counts for a quarter,
//
//	average = (average*3 + wait) / 4
//
// so that a wait 4 answers ago weighs (3/4)^4 ≈ 32% as much as the newest.
// Unlike Asterisk, whose average starts at zero, the first wait is taken
// as the average. Only answered calls feed it: abandons and voicemail
// would bias it towards the patience of callers, not the speed of staff.
//
// A WaitEstimator is a plain value, kept in the ACD's State (shared by
// the instances of a line when there are several); its zero value is
// ready. It is not safe for concurrent use: the ACD's Board serializes it.
type WaitEstimator struct {
	Avg     time.Duration `json:"average"`
	Samples int           `json:"samples"`
}

// Add records the wait of a call a staff member answered.
func (w *WaitEstimator) Add(wait time.Duration) {
	if wait < 0 {
		wait = 0
	}
	if w.Samples == 0 {
		w.Avg = wait
	} else {
		w.Avg = (w.Avg*3 + wait) / 4
	}
	w.Samples++
}

// Average is the weighted average wait; ok is false before the first
// answered call.
func (w WaitEstimator) Average() (avg time.Duration, ok bool) {
	return w.Avg, w.Samples > 0
}

// Estimate is the expected wait of a caller at position (1 = next to be
// answered): the average answered wait times the position, each caller
// ahead taking about as long as one average wait. Zero when nothing is
// known yet (no answered call) or position < 1: then say nothing about
// the wait.
func (w WaitEstimator) Estimate(position int) time.Duration {
	avg, ok := w.Average()
	if !ok || position < 1 {
		return 0
	}
	return avg * time.Duration(position)
}

// ValidStrategy reports whether s is one of Strategies.
func ValidStrategy(s Strategy) bool { return slices.Contains(Strategies, s) }
