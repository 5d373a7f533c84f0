package routing

import (
	"math/rand/v2"
	"slices"
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
// The state itself is on a Board: in the process (NewACD), or shared by
// the instances of one line (NewSharedACD with store/redis's board), so
// that a staff member is never rung by two instances at once and a caller
// on one instance is not overtaken by a later caller on the other. Each
// ticket and each call a staff member is on belongs to the instance that
// made it (its Owner); a Board forgets what belonged to an instance that
// died.
//
// An ACD is safe for concurrent use.
type ACD struct {
	board Board
	owner string
}

// Ticket is one caller's place in a group's line: a handle on the
// ticket's State, which lives on the Board.
type Ticket struct {
	Group    string
	CallID   string
	Urgent   bool
	JoinedAt time.Time

	id  uint64 // its id on the board
	seq uint64 // its number in arrival order
}

// newTicketID draws a ticket's id: random, so that instances that ran
// apart while their shared board was away do not collide when it is back.
func newTicketID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

// NewACD returns an empty ACD whose state is in this process.
func NewACD() *ACD { return NewSharedACD(NewMemoryBoard(), "") }

// NewSharedACD returns an ACD whose state is on b, shared with the other
// instances of the line; instance names this one on the board.
func NewSharedACD(b Board, instance string) *ACD {
	return &ACD{board: b, owner: instance}
}

// Changed is closed at the next change: a caller joined, left or started
// or stopped ringing, a staff member was reserved, released, answered or
// hung up (on any instance sharing the board). Take it before reading the
// state, then wait on it.
func (q *ACD) Changed() <-chan struct{} { return q.board.Changed() }

// Join puts a caller at the end of a group's line, or ahead of every
// caller who is not urgent when urgent.
func (q *ACD) Join(group, callID string, urgent bool, at time.Time) *Ticket {
	t := &Ticket{Group: group, CallID: callID, Urgent: urgent, JoinedAt: at, id: newTicketID()}
	q.board.Update(func(s *State) bool {
		s.Seq++
		t.seq = s.Seq
		s.Tickets = append(s.Tickets, TicketState{ID: t.id, Seq: t.seq, Owner: q.owner, Group: group,
			CallID: callID, Urgent: urgent, JoinedAt: at})
		return true
	})
	return t
}

// Leave takes the caller out of the line and releases the staff members
// still rung for them. It may be called more than once.
func (q *ACD) Leave(t *Ticket) {
	q.board.Update(func(s *State) bool { return s.leave(t.id) })
}

// Park keeps t's place in its line without serving it: Reserve gives it
// nobody, and the callers behind it ring staff as if it were ringing
// someone. A ticket that has left the line (Leave, or Answered) goes back
// to the place it had: ahead of every ticket that joined after it, an
// urgent one among the urgent ones. A queued callback is parked while its
// caller chooses it, and between two attempts; Unpark serves it again.
func (q *ACD) Park(t *Ticket) {
	q.board.Update(func(s *State) bool {
		s.unring(t.id)
		tk := s.ticket(t.id)
		if tk == nil { // back at its place: lines are in arrival order
			s.Tickets = append(s.Tickets, TicketState{ID: t.id, Seq: t.seq, Owner: q.owner, Group: t.Group,
				CallID: t.CallID, Urgent: t.Urgent, JoinedAt: t.JoinedAt})
			tk = &s.Tickets[len(s.Tickets)-1]
		}
		tk.Ringing = 0
		tk.Parked = true
		return true
	})
}

// Unpark serves a parked ticket again, at its place.
func (q *ACD) Unpark(t *Ticket) {
	q.board.Update(func(s *State) bool {
		if tk := s.ticket(t.id); tk != nil && tk.Parked {
			tk.Parked = false
			return true
		}
		return false
	})
}

// Position is the caller's place in the line, 1 for the next to be
// answered; 0 once they have left it.
func (q *ACD) Position(t *Ticket) int {
	pos := 0
	q.board.View(func(s *State) {
		pos = slices.IndexFunc(s.Line(t.Group), func(o TicketState) bool { return o.ID == t.id }) + 1
	})
	return pos
}

// Waiting is how many callers are in a group's line.
func (q *ACD) Waiting(group string) int {
	n := 0
	q.board.View(func(s *State) { n = len(s.Line(group)) })
	return n
}

// Reserve picks the staff members to ring for the caller now, by strategy
// among members (in the group's order) who are available: in registered,
// not on a call, not rung for someone else, not in skip. It marks them as
// rung for this caller and returns them; nil when the caller must wait:
// someone ahead is not ringing anyone yet (and not parked), nobody is
// available, or the caller's own ticket is parked or gone.
func (q *ACD) Reserve(t *Ticket, strategy Strategy, members []string, registered, skip map[string]bool) []string {
	var ids []string
	q.board.Update(func(s *State) bool {
		ids = nil
		tk := s.ticket(t.id)
		if tk == nil || tk.Parked {
			return false
		}
		for _, o := range s.Line(t.Group) {
			if o.ID == t.id {
				break
			}
			if o.Ringing == 0 && !o.Parked {
				return false
			}
		}
		agents := make([]Agent, 0, len(members))
		for _, id := range members {
			a := s.Agents[id]
			agents = append(agents, Agent{
				ID:            id,
				Available:     registered[id] && !skip[id] && a.free(),
				LastCallEnded: a.lastEnded(),
			})
		}
		ids = Pick(strategy, agents)
		for _, id := range ids {
			s.agent(id).Ringing = t.id
		}
		tk.Ringing += len(ids)
		return len(ids) > 0
	})
	return ids
}

// Free reports whether a staff member could be rung now: not on a call
// and not rung for a caller.
func (q *ACD) Free(id string) bool {
	free := true
	q.board.View(func(s *State) { free = s.Agents[id].free() })
	return free
}

// Release ends the ringing of a staff member for the caller (they did not
// answer, or someone else did).
func (q *ACD) Release(t *Ticket, id string) {
	q.board.Update(func(s *State) bool {
		a := s.Agents[id]
		if a == nil || a.Ringing != t.id {
			return false
		}
		a.Ringing = 0
		if tk := s.ticket(t.id); tk != nil && tk.Ringing > 0 {
			tk.Ringing--
		}
		return true
	})
}

// Answered puts a staff member on a call: the one rung for t (which then
// leaves the line), or, with a nil t, one rung directly (the on-call
// person, a transfer).
func (q *ACD) Answered(t *Ticket, id string) {
	q.board.Update(func(s *State) bool {
		a := s.agent(id)
		if t != nil && a.Ringing == t.id {
			a.Ringing = 0
		}
		if a.Calls == nil {
			a.Calls = make(map[string]int)
		}
		a.Calls[q.owner]++
		if t != nil {
			s.leave(t.id)
		}
		return true
	})
}

// Hungup ends a staff member's call at the given time: they are available
// again, and longest-idle counts from then.
func (q *ACD) Hungup(id string, at time.Time) {
	q.board.Update(func(s *State) bool {
		a := s.agent(id)
		if a.Calls[q.owner] > 0 {
			a.Calls[q.owner]--
		}
		if a.Calls[q.owner] == 0 {
			delete(a.Calls, q.owner)
		}
		a.LastEnded = at
		return true
	})
}

// OnCall reports whether a staff member is on a call now.
func (q *ACD) OnCall(id string) bool {
	on := false
	q.board.View(func(s *State) { on = s.Agents[id].calls() > 0 })
	return on
}

// Busy is how many staff members are on a call.
func (q *ACD) Busy() int {
	n := 0
	q.board.View(func(s *State) {
		for _, a := range s.Agents {
			if a.calls() > 0 {
				n++
			}
		}
	})
	return n
}

// AddWait feeds a group's wait estimator with an answered call's wait.
func (q *ACD) AddWait(group string, wait time.Duration) {
	q.board.Update(func(s *State) bool {
		if s.Waits == nil {
			s.Waits = make(map[string]WaitEstimator)
		}
		w := s.Waits[group]
		w.Add(wait)
		s.Waits[group] = w
		return true
	})
}

// EstimateWait is the expected wait of a caller at position in a group's
// line (WaitEstimator.Estimate); zero when nothing is known yet.
func (q *ACD) EstimateWait(group string, position int) time.Duration {
	var est time.Duration
	q.board.View(func(s *State) { est = s.Waits[group].Estimate(position) })
	return est
}

// Queued returns copies of the tickets of callers in the lines now, group
// by group in line order: the calls waiting that the office page shows
// (every instance's, on a shared board).
func (q *ACD) Queued() []Ticket {
	var out []Ticket
	q.board.View(func(s *State) {
		groups := make([]string, 0)
		for _, t := range s.Tickets {
			if !slices.Contains(groups, t.Group) {
				groups = append(groups, t.Group)
			}
		}
		slices.Sort(groups)
		for _, g := range groups {
			for _, t := range s.Line(g) {
				out = append(out, Ticket{Group: t.Group, CallID: t.CallID, Urgent: t.Urgent, JoinedAt: t.JoinedAt, id: t.ID, seq: t.Seq})
			}
		}
	})
	return out
}
