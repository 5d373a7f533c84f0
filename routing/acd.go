package routing

import (
	"slices"
	"sync"
	"time"
)

// A queued callback's defaults (ivr.CallbackOptions): a caller waiting in
// a group's line may ask to be called back and hang up, keeping their
// place. They sit beside the ACD, which keeps that place, rather than in
// queue.go with the queue's timeouts, only because they came later.
const (
	// DefaultCallbackKey asks for a callback while waiting.
	DefaultCallbackKey = '2'
	// DefaultCallbackAttempts is how many times the caller is called back
	// (a staff member waiting on the line each time) before the callback
	// is given up for a follow-up.
	DefaultCallbackAttempts = 3
	// DefaultCallbackRetryAfter is the pause after a callback the caller
	// did not answer, before the next attempt.
	DefaultCallbackRetryAfter = 2 * time.Minute
)

// ACD is the state the queues share: the callers waiting in each group's
// line, the staff members being rung or on a call, when each one's last
// call ended, and each group's recent waits. It holds no policy of its
// own beyond the order of the lines and the strategies of Pick; callers
// of its methods pass the time and the group's settings, which may change
// with each config snapshot while the state lives on.
//
// Fairness: a caller may ring staff only while every caller ahead of them
// is already ringing someone (Asterisk's autofill), so a staff member
// who frees up goes to the caller who has waited longest, and two free
// staff members serve the first two callers at once. An urgent caller
// joins ahead of every caller who is not urgent. A parked ticket (a
// queued callback between two attempts) keeps its place but holds
// nobody back.
//
// An ACD is safe for concurrent use.
type ACD struct {
	mu      sync.Mutex
	agents  map[string]*agentState
	lines   map[string][]*Ticket
	waits   map[string]*WaitEstimator
	seq     uint64
	changed chan struct{}
}

type agentState struct {
	ringing   *Ticket // the caller ringing them, or nil
	calls     int     // calls they are on
	lastEnded time.Time
}

// Ticket is one caller's place in a group's line.
type Ticket struct {
	Group    string
	CallID   string
	Urgent   bool
	JoinedAt time.Time

	seq     uint64
	ringing int // staff members being rung for this caller
	left    bool
	parked  bool
}

// NewACD returns an empty ACD.
func NewACD() *ACD {
	return &ACD{
		agents:  make(map[string]*agentState),
		lines:   make(map[string][]*Ticket),
		waits:   make(map[string]*WaitEstimator),
		changed: make(chan struct{}),
	}
}

// Changed is closed at the next change: a caller joined, left or started
// or stopped ringing, a staff member was reserved, released, answered or
// hung up. Take it before reading the state, then wait on it.
func (q *ACD) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// notify wakes everyone waiting on Changed; q.mu is held.
func (q *ACD) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *ACD) agent(id string) *agentState {
	a := q.agents[id]
	if a == nil {
		a = &agentState{}
		q.agents[id] = a
	}
	return a
}

// Join puts a caller at the end of a group's line, or ahead of every
// caller who is not urgent when urgent.
func (q *ACD) Join(group, callID string, urgent bool, at time.Time) *Ticket {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	t := &Ticket{Group: group, CallID: callID, Urgent: urgent, JoinedAt: at, seq: q.seq}
	line := q.lines[group]
	i := len(line)
	if urgent {
		i = slices.IndexFunc(line, func(o *Ticket) bool { return !o.Urgent })
		if i < 0 {
			i = len(line)
		}
	}
	q.lines[group] = slices.Insert(line, i, t)
	q.notify()
	return t
}

// Leave takes the caller out of the line and releases the staff members
// still rung for them. It may be called more than once.
func (q *ACD) Leave(t *Ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.left {
		return
	}
	t.left = true
	for _, a := range q.agents {
		if a.ringing == t {
			a.ringing = nil
		}
	}
	t.ringing = 0
	line := q.lines[t.Group]
	if i := slices.Index(line, t); i >= 0 {
		q.lines[t.Group] = slices.Delete(line, i, i+1)
	}
	if len(q.lines[t.Group]) == 0 {
		delete(q.lines, t.Group)
	}
	q.notify()
}

// Park keeps t's place in its line without serving it: Reserve gives it
// nobody, and the callers behind it ring staff as if it were ringing
// someone. A ticket that has left the line (Leave, or Answered) goes back
// to the place it had: ahead of every ticket that joined after it, an
// urgent one among the urgent ones. A queued callback is parked while its
// caller chooses it, and between two attempts; Unpark serves it again.
func (q *ACD) Park(t *Ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range q.agents {
		if a.ringing == t {
			a.ringing = nil
		}
	}
	t.ringing = 0
	t.parked = true
	if t.left {
		t.left = false
		line := q.lines[t.Group]
		i := slices.IndexFunc(line, func(o *Ticket) bool {
			if t.Urgent {
				return !o.Urgent || o.seq > t.seq
			}
			return !o.Urgent && o.seq > t.seq
		})
		if i < 0 {
			i = len(line)
		}
		q.lines[t.Group] = slices.Insert(line, i, t)
	}
	q.notify()
}

// Unpark serves a parked ticket again, at its place.
func (q *ACD) Unpark(t *Ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.parked {
		t.parked = false
		q.notify()
	}
}

// Position is the caller's place in the line, 1 for the next to be
// answered; 0 once they have left it.
func (q *ACD) Position(t *Ticket) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Index(q.lines[t.Group], t) + 1
}

// Waiting is how many callers are in a group's line.
func (q *ACD) Waiting(group string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines[group])
}

// Reserve picks the staff members to ring for the caller now, by strategy
// among members (in the group's order) who are available: in registered,
// not on a call, not rung for someone else, not in skip. It marks them as
// rung for this caller and returns them; nil when the caller must wait:
// someone ahead is not ringing anyone yet (and not parked), nobody is
// available, or the caller's own ticket is parked.
func (q *ACD) Reserve(t *Ticket, s Strategy, members []string, registered, skip map[string]bool) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.left || t.parked {
		return nil
	}
	for _, o := range q.lines[t.Group] {
		if o == t {
			break
		}
		if o.ringing == 0 && !o.parked {
			return nil
		}
	}
	agents := make([]Agent, 0, len(members))
	for _, id := range members {
		a := q.agent(id)
		agents = append(agents, Agent{
			ID:            id,
			Available:     registered[id] && !skip[id] && a.calls == 0 && a.ringing == nil,
			LastCallEnded: a.lastEnded,
		})
	}
	ids := Pick(s, agents)
	for _, id := range ids {
		q.agents[id].ringing = t
	}
	if len(ids) > 0 {
		t.ringing += len(ids)
		q.notify()
	}
	return ids
}

// Free reports whether a staff member could be rung now: not on a call
// and not rung for a caller.
func (q *ACD) Free(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[id]
	return a == nil || (a.calls == 0 && a.ringing == nil)
}

// Release ends the ringing of a staff member for the caller (they did not
// answer, or someone else did).
func (q *ACD) Release(t *Ticket, id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if a := q.agents[id]; a != nil && a.ringing == t {
		a.ringing = nil
		if t.ringing > 0 {
			t.ringing--
		}
		q.notify()
	}
}

// Answered puts a staff member on a call: the one rung for t (which then
// leaves the line), or, with a nil t, one rung directly (the on-call
// person, a transfer).
func (q *ACD) Answered(t *Ticket, id string) {
	q.mu.Lock()
	a := q.agent(id)
	if t != nil && a.ringing == t {
		a.ringing = nil
		if t.ringing > 0 {
			t.ringing--
		}
	}
	a.calls++
	q.notify()
	q.mu.Unlock()
	if t != nil {
		q.Leave(t)
	}
}

// Hungup ends a staff member's call at the given time: they are available
// again, and longest-idle counts from then.
func (q *ACD) Hungup(id string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agent(id)
	if a.calls > 0 {
		a.calls--
	}
	a.lastEnded = at
	q.notify()
}

// OnCall reports whether a staff member is on a call now.
func (q *ACD) OnCall(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[id]
	return a != nil && a.calls > 0
}

// Busy is how many staff members are on a call.
func (q *ACD) Busy() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, a := range q.agents {
		if a.calls > 0 {
			n++
		}
	}
	return n
}

// Waits is the estimator of a group's waits, fed by its answered calls.
func (q *ACD) Waits(group string) *WaitEstimator {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.waits[group]
	if w == nil {
		w = &WaitEstimator{}
		q.waits[group] = w
	}
	return w
}

// Queued returns copies of the tickets of callers in the lines now, group
// by group in line order: the calls waiting that the office page shows.
func (q *ACD) Queued() []Ticket {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Ticket
	groups := make([]string, 0, len(q.lines))
	for g := range q.lines {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		for _, t := range q.lines[g] {
			if !t.left {
				out = append(out, Ticket{Group: t.Group, CallID: t.CallID, Urgent: t.Urgent, JoinedAt: t.JoinedAt})
			}
		}
	}
	return out
}
