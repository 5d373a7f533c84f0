package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Bridging two legs. Each direction is the source leg's Record writing
// into a small ring and the other leg's Play reading from it:
//
//	a: RTP → PCMU → jitter buffer → Record → ring(10) → Play → clock → PCMA → RTP :b
//
// so each outbound stream keeps exactly one clock (its own session's), the
// ring absorbs the bursts Record delivers after a gap, and codecs stay at
// the edges: a PCMU leg bridged to a PCMA leg is transcoded for free.

const (
	// ringFrames bounds what waits between the legs in each direction
	// (200 ms): when full, the oldest frame is dropped.
	ringFrames = 10
	// ringTrimWindow and ringKeep: when after every read of the last
	// ringTrimWindow reads (1 s) more than ringKeep frames were left,
	// the oldest is dropped, so a standing delay left by a burst or by
	// clock drift shrinks back by 20 ms per second.
	ringTrimWindow = 50
	ringKeep       = 2
)

// BridgeOptions tune Bridge. The zero value relays audio and DTMF both ways.
type BridgeOptions struct {
	// LeaveDigits turns the DTMF relay off. By default Bridge reads each
	// leg's Digits and sends them to the other leg as RFC 4733 events
	// (SendDigit); with LeaveDigits it reads neither channel, and the caller
	// may (to catch a key the staff presses, say).
	LeaveDigits bool
}

// LegEndedError says that Bridge ended because one of its legs did.
type LegEndedError struct {
	// Leg is "a" or "b": the position of the leg in the call to Bridge.
	Leg string
	// Err is why the leg ended: ErrClosed (someone closed it: a BYE),
	// ErrTimeout (no RTP), or the socket's error.
	Err error
}

func (e *LegEndedError) Error() string {
	return "media: bridge: leg " + e.Leg + " ended: " + e.Err.Error()
}

func (e *LegEndedError) Unwrap() error { return e.Err }

// Bridge relays audio both ways between legs a and b, and DTMF unless
// opts.LeaveDigits, until ctx ends or either leg ends, and returns why:
// ctx.Err(), a *LegEndedError naming the leg (errors.Is(err, ErrTimeout)
// tells an RTP timeout from a hang-up), or the error of a Play or Record
// that failed, such as ErrReplaced when someone else starts a Play or a
// Record on a bridged leg. It never returns nil.
//
// Bridge uses Record and Play on both legs; while a leg may not send (hold)
// what is relayed to it is dropped in real time, as Play does. A digit the
// other leg cannot take (no telephone-event, or on hold) is dropped. When
// Bridge returns every goroutine it started has ended; the legs keep
// running (silence) until closed.
func Bridge(ctx context.Context, a, b *Session, opts BridgeOptions) error {
	if err := legEnded(a, b); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ab, ba := newRelay("a", a, "b", b), newRelay("b", b, "a", a)
	errc := make(chan error, 6) // one per worker at most: sends never block
	var wg sync.WaitGroup
	run := func(r *relay, what string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("media: bridge %v: %s: %w", r, what, err)
			}
		})
	}
	for _, r := range []*relay{ab, ba} {
		run(r, "record", func() error { return r.from.Record(ctx, &r.ring) })
		run(r, "play", func() error { return r.to.Play(ctx, &r.ring) })
		if !opts.LeaveDigits {
			run(r, "digits", func() error { return r.relayDigits(ctx) })
		}
	}

	var why error
	select {
	case <-parent.Done():
	case <-a.Done():
	case <-b.Done():
	case why = <-errc:
	}
	cancel()
	wg.Wait()
	// A Play or Record fails most often because ctx or a leg ended: say so.
	if err := parent.Err(); err != nil {
		return err
	}
	if err := legEnded(a, b); err != nil {
		return err
	}
	return why
}

// legEnded returns a *LegEndedError for the first of a and b that has ended.
func legEnded(a, b *Session) error {
	for _, l := range []struct {
		name string
		s    *Session
	}{{"a", a}, {"b", b}} {
		select {
		case <-l.s.Done():
			return &LegEndedError{Leg: l.name, Err: l.s.endErr()}
		default:
		}
	}
	return nil
}

// relay is one direction of a bridge.
type relay struct {
	from, to         *Session
	fromName, toName string
	ring             frameRing
}

func newRelay(fromName string, from *Session, toName string, to *Session) *relay {
	return &relay{from: from, to: to, fromName: fromName, toName: toName}
}

// String describes the chain, e.g. "a PCMU → ring(10) → b PCMA".
func (r *relay) String() string {
	return r.fromName + " " + r.from.codecName() + " → " + r.ring.String() + " → " +
		r.toName + " " + r.to.codecName()
}

// relayDigits sends the digits of one leg to the other until ctx ends or a
// leg does (the bridge then sees why).
func (r *relay) relayDigits(ctx context.Context) error {
	for {
		select {
		case d := <-r.from.Digits():
			err := r.to.SendDigit(ctx, d, 0)
			if errors.Is(err, ErrNoTelephoneEvent) || errors.Is(err, ErrNotSending) {
				continue // the other leg cannot take it now: dropped
			}
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-r.from.Done():
			return nil
		}
	}
}

func (s *Session) codecName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer.codec.Name
}

// frameRing is a bounded queue of frames between a Record (the Sink) and a
// Play (the Source). Writing to a full ring drops the oldest frame, so the
// delay stays bounded; reading an empty one gives silence, never io.EOF, so
// the reader's clock alone paces the stream. The lock is held only to copy
// a frame.
type frameRing struct {
	mu      sync.Mutex
	frames  [ringFrames]Frame
	head, n int
	reads   int // reads in the current trim window
	low     int // fewest frames left after a read in this window
	dropped uint64
	silent  uint64
}

// WriteFrame queues a copy of f, dropping the oldest frame when full.
func (r *frameRing) WriteFrame(f *Frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == len(r.frames) {
		r.dropOldest()
	}
	r.frames[(r.head+r.n)%len(r.frames)] = *f
	r.n++
	return nil
}

// ReadFrame takes the oldest frame, or gives silence when none waits.
func (r *frameRing) ReadFrame(f *Frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		clear(f[:])
		r.silent++
	} else {
		*f = r.frames[r.head]
		r.head = (r.head + 1) % len(r.frames)
		r.n--
	}
	if r.reads == 0 || r.n < r.low {
		r.low = r.n
	}
	if r.reads++; r.reads == ringTrimWindow {
		if r.low > ringKeep {
			r.dropOldest()
		}
		r.reads = 0
	}
	return nil
}

func (r *frameRing) dropOldest() {
	r.head = (r.head + 1) % len(r.frames)
	r.n--
	r.dropped++
}

// Len is the number of frames waiting.
func (r *frameRing) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *frameRing) String() string { return fmt.Sprintf("ring(%d)", len(r.frames)) }
