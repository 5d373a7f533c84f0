package sip

import "fmt"

// Limits on the calls that are answered but not confirmed yet.
//
// Decisions
//
//   - A call awaits its ACK from its admission (before the RTP port is
//     taken) until the ACK of its 200 OK arrives (RFC 3261 §13.3.1.4), or
//     until it ends. Answering costs clubline a call slot, an RTP port and
//     200 OK retransmissions for 32 s; it costs the sender one datagram, from
//     any source address and with no authentication. Without a limit of
//     their own, 200 INVITEs never ACKed filled max_calls and every caller
//     got 503 for 32 s (issue 7, finding 1).
//   - Such calls are limited per source IP address (MaxAwaitingAckPerSource,
//     default 10) and in all (MaxAwaitingAck, default MaxCalls/4 but at
//     least 4 (or MaxCalls, if smaller), so that a small line takes a
//     burst of calls whose ACKs a busy machine has not read yet; 50 when
//     MaxCalls is 0: no limit on calls is not a reason for none on this). Both stay well below max_calls, so a sender who never
//     ACKs holds a quarter of the line at most, and one address a handful of
//     slots. A phone or a carrier ACKs within a round trip: even a trunk
//     that brings every call from one address has one or two awaiting at
//     a time, never ten.
//   - The key is the source IP, not IP and port: a sender picks its ports
//     freely. Behind one NAT, an office shares the 10, which its phones do
//     not come near either.
//   - Over a limit the INVITE gets 503 with Retry-After, as over max_calls:
//     a carrier tries its next route, and the refusal costs nothing to keep.
//   - The slot is freed at the ACK, or at the ACK timeout (AckTimeout,
//     64*T1 = 32 s by default), when the call ends without a BYE (call.go).
//   - The number awaiting is reported through OnAwaitingAck, for the
//     clubline_calls_awaiting_ack gauge: clubline_active_calls counts calls
//     whose script runs, and stays at 0 during such a flood.
//   - cmd does not set them yet: the config's sip.limits will. Rates
//     (INVITEs per second per source) are another limit, not this one.
//   - Known gap: UDP source addresses can be forged, and a sender who
//     forges MaxAwaitingAck/10 of them fills the total for 32 s; callers
//     then get 503 meanwhile. The total protects the calls in progress and
//     the RTP ports, not new callers. Ending the call that has awaited its
//     ACK longest when the total is full would close the gap (a real
//     caller's ACK comes within a round trip); it is not done yet.

// Defaults of the limits.
const (
	defaultAwaitingAckPerSource = 10
	defaultAwaitingAckNoMax     = 50 // MaxAwaitingAck when MaxCalls is 0
	awaitingAckFloor            = 4  // MaxAwaitingAck's least default, for a line of 16 calls or fewer
)

// withLimits validates the limit options and fills in their defaults.
func (o Options) withLimits(errs []error) (Options, []error) {
	if o.MaxAwaitingAck < 0 || o.MaxAwaitingAckPerSource < 0 {
		errs = append(errs, fmt.Errorf("MaxAwaitingAck %d, MaxAwaitingAckPerSource %d: want 0 (the default) or more",
			o.MaxAwaitingAck, o.MaxAwaitingAckPerSource))
	}
	if o.MaxAwaitingAck == 0 {
		// A quarter of the line, but room for a burst of a few calls whose
		// ACKs a busy machine has not read yet, when the line is small.
		o.MaxAwaitingAck = min(o.MaxCalls, max(awaitingAckFloor, o.MaxCalls/4))
		if o.MaxCalls == 0 {
			o.MaxAwaitingAck = defaultAwaitingAckNoMax
		}
	}
	if o.MaxAwaitingAckPerSource == 0 {
		o.MaxAwaitingAckPerSource = defaultAwaitingAckPerSource
	}
	if o.OnAwaitingAck == nil {
		o.OnAwaitingAck = func(int) {}
	}
	return o, errs
}

// ticket is an admitted call's hold on the limits; Server.mu guards it.
type ticket struct {
	src      string // source IP address (sipx.SourceIP)
	awaiting bool   // counted among the calls awaiting their ACK
	// onRelease gives back what else the call held (a trunk's channel).
	onRelease func()
}

// awaitLocked counts one more call awaiting its ACK from src, or says
// why it cannot be taken. s.mu is held.
func (s *Server) awaitLocked(src string) (*ticket, *rejection) {
	if s.awaitingFrom == nil {
		s.awaitingFrom = make(map[string]int)
	}
	switch {
	case s.awaitingFrom[src] >= s.o.MaxAwaitingAckPerSource:
		return nil, rejectAwaitingAckFrom(s.o.MaxAwaitingAckPerSource, s.o.RetryAfter)
	case s.awaiting >= s.o.MaxAwaitingAck:
		return nil, rejectAwaitingAck(s.o.MaxAwaitingAck, s.o.RetryAfter)
	}
	s.awaiting++
	s.awaitingFrom[src]++
	s.o.OnAwaitingAck(1)
	return &ticket{src: src, awaiting: true}, nil
}

// unawaitLocked uncounts the call of t, if it still counts. s.mu is held.
func (s *Server) unawaitLocked(t *ticket) {
	if t == nil || !t.awaiting {
		return
	}
	t.awaiting = false
	s.awaiting--
	if s.awaitingFrom[t.src]--; s.awaitingFrom[t.src] <= 0 {
		delete(s.awaitingFrom, t.src)
	}
	s.o.OnAwaitingAck(-1)
}

// acked frees the call's place among those awaiting their ACK.
func (s *Server) acked(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unawaitLocked(t)
}
