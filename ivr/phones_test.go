package ivr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
)

// Fakes of the staff side: the phones a Dialer rings, the legs they
// answer with, and the bridge between a caller and a staff member.

// ---- dialer ----------------------------------------------------------------

// phone is how a fake phone takes a ring.
type phone struct {
	answerAfter time.Duration // answers after this long…
	answerOn    chan struct{} // …or when this is closed, if set
	refuse      int           // refuses at once with this SIP status (486 busy)
	never       bool          // rings until the ring timeout or ctx ends
	confirm     bool          // the person who answers presses 1 when asked to
	// before runs when the ring starts (to change the world meanwhile).
	before func()
}

// dialError is a refusal, as the sip package's DialError (a final
// non-2xx answer to the INVITE).
type dialError struct{ code int }

func (e *dialError) Error() string   { return fmt.Sprintf("fake dial: refused: %d", e.code) }
func (e *dialError) StatusCode() int { return e.code }

// errNoAnswer is the error of a ring whose RingTimeout elapsed.
var errNoAnswer = errors.New("no answer")

// fakeDialer rings fake phones by Target.URI or Target.Number. A target it
// does not know refuses with 404.
type fakeDialer struct {
	prompts *fakePrompts

	mu        sync.Mutex
	phones    map[string]phone
	requests  []ivr.DialRequest
	cancelled []string // the targets whose ring was cancelled (ctx ended)
	legs      map[string][]*fakeStaffLeg
}

func newFakeDialer() *fakeDialer {
	return &fakeDialer{phones: map[string]phone{}, legs: map[string][]*fakeStaffLeg{}}
}

// set says how the phone at key (a URI or a number) takes its next rings.
func (d *fakeDialer) set(key string, p phone) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.phones[key] = p
}

func targetKey(t ivr.Target) string {
	if t.URI != "" {
		return t.URI
	}
	return t.Number
}

func (d *fakeDialer) Dial(ctx context.Context, r ivr.DialRequest) (ivr.StaffLeg, error) {
	key := targetKey(r.Target)
	r.Headers = maps.Clone(r.Headers)
	d.mu.Lock()
	d.requests = append(d.requests, r)
	p, ok := d.phones[key]
	prompts := d.prompts
	d.mu.Unlock()
	if p.before != nil {
		p.before()
	}
	switch {
	case !ok:
		return nil, &dialError{404}
	case p.refuse != 0:
		return nil, &dialError{p.refuse}
	}
	var timeout, answer <-chan time.Time
	if r.RingTimeout > 0 {
		t := time.NewTimer(r.RingTimeout)
		defer t.Stop()
		timeout = t.C
	}
	answerOn := p.answerOn
	if !p.never && answerOn == nil {
		t := time.NewTimer(p.answerAfter)
		defer t.Stop()
		answer = t.C
	}
	select {
	case <-answer:
	case <-answerOn:
	case <-timeout:
		return nil, errNoAnswer
	case <-ctx.Done():
		d.mu.Lock()
		d.cancelled = append(d.cancelled, key)
		d.mu.Unlock()
		return nil, ctx.Err()
	}
	leg := newFakeStaffLeg(key, prompts, p.confirm)
	d.mu.Lock()
	d.legs[key] = append(d.legs[key], leg)
	d.mu.Unlock()
	return leg, nil
}

func (d *fakeDialer) Requests() []ivr.DialRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ivr.DialRequest(nil), d.requests...)
}

// Rung lists the keys of the targets rung, in order.
func (d *fakeDialer) Rung() []string {
	var out []string
	for _, r := range d.Requests() {
		out = append(out, targetKey(r.Target))
	}
	return out
}

// waitRung waits (up to 5 s) until n rings have started; for events of the
// fake caller, which must not fail the test from their goroutine.
func (d *fakeDialer) waitRung(n int) {
	for deadline := time.Now().Add(5 * time.Second); len(d.Requests()) < n && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
}

func (d *fakeDialer) Cancelled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.cancelled...)
}

// Legs are the legs the phone at key answered with, in order.
func (d *fakeDialer) Legs(key string) []*fakeStaffLeg {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*fakeStaffLeg(nil), d.legs[key]...)
}

// ---- staff leg -------------------------------------------------------------

// fakeStaffLeg is an answered staff phone. The test drives its Events and
// hangs it up with end; it notes the clips it is played (call_confirm).
type fakeStaffLeg struct {
	key     string
	prompts *fakePrompts
	confirm bool // presses 1 on hearing call_confirm_answer
	digits  chan rune
	events  chan ivr.StaffEvent
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	heard    []string
	hungUpBy string // "staff" or "clubline"
}

func newFakeStaffLeg(key string, p *fakePrompts, confirm bool) *fakeStaffLeg {
	return &fakeStaffLeg{key: key, prompts: p, confirm: confirm,
		digits: make(chan rune, 4), events: make(chan ivr.StaffEvent, 4), done: make(chan struct{})}
}

func (l *fakeStaffLeg) Digits() <-chan rune           { return l.digits }
func (l *fakeStaffLeg) Done() <-chan struct{}         { return l.done }
func (l *fakeStaffLeg) Events() <-chan ivr.StaffEvent { return l.events }
func (l *fakeStaffLeg) Hangup(context.Context) error  { l.end("clubline"); return nil }
func (l *fakeStaffLeg) send(ev ivr.StaffEvent)        { l.events <- ev }
func (l *fakeStaffLeg) String() string                { return "staff leg " + l.key }
func (l *fakeStaffLeg) Record(ctx context.Context, _ media.Sink) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return nil
	}
}

func (l *fakeStaffLeg) end(by string) {
	l.once.Do(func() {
		l.mu.Lock()
		l.hungUpBy = by
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *fakeStaffLeg) HungUpBy() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hungUpBy
}

func (l *fakeStaffLeg) Heard() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.heard...)
}

// Play consumes src at once, noting each clip, except hold music, which
// takes holdMusicPace each time; a person who confirms presses 1 when
// asked to.
func (l *fakeStaffLeg) Play(ctx context.Context, src media.Source) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return errLegGone
		default:
		}
		var f media.Frame
		err := src.ReadFrame(&f)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if f[0] != clipMagic || f[2] != 0 {
			continue
		}
		clip := l.prompts.name(f[1])
		l.mu.Lock()
		l.heard = append(l.heard, clip)
		l.mu.Unlock()
		if l.confirm && strings.HasSuffix(clip, "/call_confirm_answer") {
			l.digits <- '1'
		}
		if strings.HasSuffix(clip, "/hold_music") { // it loops for ever (a callback's wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.done:
				return errLegGone
			case <-time.After(holdMusicPace):
			}
		}
	}
}

// ---- bridge ----------------------------------------------------------------

// fakeBridge stands for media.Bridge: it returns when ctx ends or either
// leg ends, as media.Bridge does (ctx.Err(), or a *media.LegEndedError
// naming the leg), or with an error the test injects with fail.
type fakeBridge struct {
	mu      sync.Mutex
	staff   []ivr.Leg // the staff leg of each bridge, in order
	running int
	failc   chan error
}

func (b *fakeBridge) bridge(ctx context.Context, caller, staff ivr.Leg) error {
	b.mu.Lock()
	b.staff = append(b.staff, staff)
	b.running++
	if b.failc == nil {
		b.failc = make(chan error, 1)
	}
	failc := b.failc
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-caller.Done():
		return &media.LegEndedError{Leg: "a", Err: media.ErrClosed}
	case <-staff.Done():
		return &media.LegEndedError{Leg: "b", Err: media.ErrClosed}
	case err := <-failc:
		return err
	}
}

// fail makes the running bridge return err.
func (b *fakeBridge) fail(err error) {
	b.mu.Lock()
	if b.failc == nil {
		b.failc = make(chan error, 1)
	}
	failc := b.failc
	b.mu.Unlock()
	failc <- err
}

// Bridged are the staff legs bridged so far, in order (one per bridge).
func (b *fakeBridge) Bridged() []ivr.Leg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ivr.Leg(nil), b.staff...)
}

func (b *fakeBridge) Running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// waitBridge waits until the n-th bridge (1-based) is running, and returns
// its staff leg.
func (b *fakeBridge) waitBridge(t *testing.T, n int) *fakeStaffLeg {
	t.Helper()
	waitFor(t, fmt.Sprintf("bridge #%d", n), func() bool {
		return len(b.Bridged()) >= n && b.Running() > 0
	})
	return b.Bridged()[n-1].(*fakeStaffLeg)
}

// waitFor polls cond until it holds, or fails the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
