package routing

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// State is the queues' state as plain values, so that a Board can keep it
// in the process or share it between the instances of a line (store/redis
// keeps it as JSON). The ACD's methods are its only writers.
type State struct {
	// Seq is the number of the last ticket: tickets are numbered in
	// arrival order across every instance on the board.
	Seq     uint64                   `json:"seq"`
	Tickets []TicketState            `json:"tickets,omitempty"` // the callers in a line, any group, any order
	Agents  map[string]*AgentState   `json:"agents,omitempty"`  // by staff id
	Waits   map[string]WaitEstimator `json:"waits,omitempty"`   // by group
}

// TicketState is a caller in a group's line.
type TicketState struct {
	ID       uint64    `json:"id"`
	Seq      uint64    `json:"seq"`             // arrival order (ties, after a shared board was away: by ID)
	Owner    string    `json:"owner,omitempty"` // the instance the caller is on
	Group    string    `json:"group"`
	CallID   string    `json:"call"`
	Urgent   bool      `json:"urgent,omitempty"`
	JoinedAt time.Time `json:"joined"`
	Ringing  int       `json:"ringing,omitempty"` // staff members being rung for the caller
	Parked   bool      `json:"parked,omitempty"`
}

// AgentState is a staff member as the queues see them.
type AgentState struct {
	// Ringing is the ID of the ticket a phone of theirs rings for; 0
	// when none.
	Ringing uint64 `json:"ringing,omitempty"`
	// Calls counts the calls they are on, by the instance that carries
	// each: an instance that dies takes its count with it.
	Calls     map[string]int `json:"calls,omitempty"`
	LastEnded time.Time      `json:"last_ended,omitzero"`
}

func (a *AgentState) calls() int {
	if a == nil {
		return 0
	}
	n := 0
	for _, c := range a.Calls {
		n += c
	}
	return n
}

func (a *AgentState) free() bool { return a == nil || (a.calls() == 0 && a.Ringing == 0) }

func (a *AgentState) lastEnded() time.Time {
	if a == nil {
		return time.Time{}
	}
	return a.LastEnded
}

// Line is a group's line in order: urgent callers first, then by arrival.
func (s *State) Line(group string) []TicketState {
	var line []TicketState
	for _, t := range s.Tickets {
		if t.Group == group {
			line = append(line, t)
		}
	}
	slices.SortFunc(line, func(a, b TicketState) int {
		if a.Urgent != b.Urgent {
			if a.Urgent {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.ID, b.ID))
	})
	return line
}

func (s *State) ticket(id uint64) *TicketState {
	for i := range s.Tickets {
		if s.Tickets[i].ID == id {
			return &s.Tickets[i]
		}
	}
	return nil
}

func (s *State) agent(id string) *AgentState {
	if s.Agents == nil {
		s.Agents = make(map[string]*AgentState)
	}
	a := s.Agents[id]
	if a == nil {
		a = &AgentState{}
		s.Agents[id] = a
	}
	return a
}

// unring frees every staff member rung for the ticket.
func (s *State) unring(id uint64) {
	for _, a := range s.Agents {
		if a.Ringing == id {
			a.Ringing = 0
		}
	}
}

// leave takes a ticket out of its line and frees whoever was rung for
// it; false when it was not in a line.
func (s *State) leave(id uint64) bool {
	i := slices.IndexFunc(s.Tickets, func(t TicketState) bool { return t.ID == id })
	if i < 0 {
		return false
	}
	s.unring(id)
	s.Tickets = slices.Delete(s.Tickets, i, i+1)
	return true
}

// Forget drops what belonged to the instances that are not alive: their
// callers' tickets, the calls they carried and the ringing for those
// tickets. A Board calls it when an instance stopped beating; it reports
// whether anything was dropped.
func (s *State) Forget(alive func(instance string) bool) bool {
	dropped := false
	for _, t := range slices.Clone(s.Tickets) {
		if !alive(t.Owner) {
			s.leave(t.ID)
			dropped = true
		}
	}
	for _, a := range s.Agents {
		for inst := range a.Calls {
			if !alive(inst) {
				delete(a.Calls, inst)
				dropped = true
			}
		}
		if a.Ringing != 0 && s.ticket(a.Ringing) == nil {
			a.Ringing = 0
			dropped = true
		}
	}
	return dropped
}

// Owners lists the instances that own something on the board.
func (s *State) Owners() []string {
	var out []string
	add := func(o string) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, t := range s.Tickets {
		add(t.Owner)
	}
	for _, a := range s.Agents {
		for inst := range a.Calls {
			add(inst)
		}
	}
	return out
}

// Board keeps the ACD's State. Update runs f with the state to itself
// (no other Update, here or on another instance, in between) and keeps
// what f changed when f reports a change; then Changed's channel is
// closed, here and on every instance sharing the board. View runs f on
// the state as it is; f must not change it.
//
// A Board deals with its own failures (store/redis's falls back to the
// process's own copy while Redis is away): the line goes on.
type Board interface {
	Update(f func(*State) bool)
	View(f func(*State))
	Changed() <-chan struct{}
}

// MemoryBoard is a Board in the process: the state of a line that runs
// on one instance.
type MemoryBoard struct {
	mu      sync.Mutex
	state   State
	changed chan struct{}
}

// NewMemoryBoard returns an empty board.
func NewMemoryBoard() *MemoryBoard { return &MemoryBoard{changed: make(chan struct{})} }

// Update implements Board.
func (b *MemoryBoard) Update(f func(*State) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f(&b.state) {
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// View implements Board.
func (b *MemoryBoard) View(f func(*State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.state)
}

// Changed implements Board.
func (b *MemoryBoard) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// Adopt makes s hold what mine says of instance: its callers' tickets,
// the calls it carries and whom it rings for them. A Board calls it when
// the shared state is back after the instance ran on its own copy (mine)
// while it was away; the instance is the authority on its own entries.
// A staff member rung meanwhile for a caller on another instance stays
// rung for that one.
func (s *State) Adopt(mine *State, instance string) {
	for _, t := range slices.Clone(s.Tickets) {
		if t.Owner == instance && mine.ticket(t.ID) == nil {
			s.leave(t.ID)
		}
	}
	for _, t := range mine.Tickets {
		if t.Owner == instance && s.ticket(t.ID) == nil {
			s.Tickets = append(s.Tickets, t)
		}
	}
	s.Seq = max(s.Seq, mine.Seq)
	for id, a := range s.Agents {
		if _, ok := mine.Agents[id]; !ok {
			delete(a.Calls, instance)
		}
	}
	for id, a := range mine.Agents {
		sa := s.agent(id)
		if n := a.Calls[instance]; n > 0 {
			if sa.Calls == nil {
				sa.Calls = make(map[string]int)
			}
			sa.Calls[instance] = n
		} else {
			delete(sa.Calls, instance)
		}
		if t := s.ticket(a.Ringing); t != nil && t.Owner == instance && sa.Ringing == 0 {
			sa.Ringing = a.Ringing
		}
		if a.LastEnded.After(sa.LastEnded) {
			sa.LastEnded = a.LastEnded
		}
	}
}
