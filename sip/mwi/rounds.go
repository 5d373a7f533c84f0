package mwi

import "sync"

// Round is what one round of a staff member's NOTIFYs sends.
type Round struct {
	// Changed: the counts changed; every live subscription hears it, and
	// the unsolicited contacts.
	Changed bool
	// Subs are the subscriptions owed a NOTIFY (made or refreshed), by key.
	Subs map[string]bool
	// Final are the subscriptions that ended, owed their last NOTIFY.
	Final []Ended
}

// Rounds schedules each staff member's NOTIFYs in rounds, one at a time
// per staff member: a phone never hears an older state after a newer
// one, and what is asked while a round goes out is sent, once, in the
// next. Add never waits. Set Go and Send before use; it is safe for
// concurrent use.
type Rounds struct {
	// Go runs f on a goroutine the caller accounts for, or reports false
	// when none may start (shutting down: the round is dropped).
	Go func(f func()) bool
	// Send sends one round of a staff member's; it is never called twice
	// at once for one staff member.
	Send func(staff string, r *Round)

	mu      sync.Mutex
	queued  map[string]*Round // by staff id: what their next round sends
	running map[string]bool   // staff ids whose goroutine is sending
}

// Add adds to a staff member's next round and starts their goroutine
// unless it is running.
func (q *Rounds) Add(staff string, add func(*Round)) {
	q.mu.Lock()
	if q.queued == nil {
		q.queued, q.running = make(map[string]*Round), make(map[string]bool)
	}
	r := q.queued[staff]
	if r == nil {
		r = &Round{Subs: make(map[string]bool)}
		q.queued[staff] = r
	}
	add(r)
	start := !q.running[staff]
	q.running[staff] = true
	q.mu.Unlock()
	if start && !q.Go(func() { q.run(staff) }) {
		q.mu.Lock()
		delete(q.running, staff)
		delete(q.queued, staff)
		q.mu.Unlock()
	}
}

// run sends a staff member's rounds until none is queued.
func (q *Rounds) run(staff string) {
	for {
		q.mu.Lock()
		r := q.queued[staff]
		delete(q.queued, staff)
		if r == nil {
			delete(q.running, staff)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.Send(staff, r)
	}
}
