package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline/media"
)

// Ringing people while the caller waits. The caller's goroutine plays to
// the caller and watches their keys and the clock (holdAndRing); a ringer
// goroutine rings phones and reports to it. The ringer never touches the
// record: it sends notes for the trace.

// answer is a phone that answered, with whom it belongs to.
type answer struct {
	leg      StaffLeg
	target   Target
	released bool // hung up and its staff member available again (call.release)
}

// ringReport is what a ringer tells the caller's goroutine.
type ringReport struct {
	note   string  // a line for the trace, or ""
	ans    *answer // someone answered (the ringer has stopped)
	nobody bool    // nobody can be rung: no phone registered (the ringer has stopped)
	gaveUp bool    // everyone was rung, nobody answered (the ringer has stopped)
}

// ringer rings phones until someone answers or it gives up, and reports
// through report, which returns false when nobody listens any more (the
// caller left): the ringer must then hang up any leg it holds.
type ringer func(ctx context.Context, report func(ringReport) bool)

// waitResult is how a wait with hold music ended.
type waitResult int

const (
	waitAnswered waitResult = iota + 1
	waitExit                // the caller pressed the exit key
	waitTimeout             // maxWait elapsed
	waitNobody              // nobody can be rung
	waitGaveUp              // the ringer rang everyone without an answer
	waitCallback            // the caller pressed the callback key
)

// waitOptions describe one wait: what the caller hears and how it ends.
type waitOptions struct {
	intro         phrase        // said first, then hold music
	announce      func() phrase // said every announceEvery between music; nil: never
	announceEvery time.Duration
	maxWait       time.Duration // 0: no limit
	exitKey       rune          // 0: none
	callbackKey   rune          // 0: none
	ring          ringer
}

// holdAndRing plays the intro, then hold music with the announcements,
// while the ringer rings. It returns when someone answers (with the
// answer), the caller presses the exit key, maxWait elapses or the ringer
// gives up; errEnded when the caller hung up. The ringer has ended when it
// returns.
func (c *call) holdAndRing(o waitOptions) (waitResult, *answer, error) {
	rctx, stopRing := context.WithCancel(c.ctx)
	reports := make(chan ringReport)
	ringDone := make(chan struct{})
	go func() {
		defer close(ringDone)
		o.ring(rctx, func(r ringReport) bool {
			select {
			case reports <- r:
				return true
			case <-rctx.Done():
				return false
			}
		})
	}()
	defer func() {
		stopRing()
		<-ringDone
	}()

	var maxC, announceC <-chan time.Time
	if o.maxWait > 0 {
		t := time.NewTimer(o.maxWait)
		defer t.Stop()
		maxC = t.C
	}
	if o.announce != nil && o.announceEvery > 0 {
		t := time.NewTicker(o.announceEvery)
		defer t.Stop()
		announceC = t.C
	}

	next := o.intro
	for {
		var src media.Source
		if len(next) > 0 {
			ph, err := c.available(next)
			if err != nil {
				return 0, nil, err
			}
			src = c.source(ph)
		} else {
			ph, err := c.available(c.clips("hold_music"))
			if err != nil {
				return 0, nil, err
			}
			src = &loop{open: func() media.Source { return c.source(ph) }}
		}
		speaking := len(next) > 0
		next = nil
		announceDue := false

		pctx, cancelPlay := context.WithCancel(c.ctx)
		done := make(chan error, 1)
		go func() { done <- c.leg.Play(pctx, src) }()
		stop := func() {
			cancelPlay()
			<-done
		}
	playing:
		for {
			select {
			case err := <-done:
				cancelPlay()
				if c.gone() {
					return 0, nil, errEnded
				}
				if err != nil {
					return 0, nil, failf("playing to a waiting caller: %v", err)
				}
				if announceDue && o.announce != nil {
					next = o.announce()
				}
				if !speaking && len(next) == 0 {
					return 0, nil, failf("hold music ended") // the loop never ends unless the clip is empty
				}
				break playing
			case k, ok := <-c.digits:
				if !ok {
					c.digits = nil
					continue
				}
				if o.exitKey != 0 && k == o.exitKey {
					stop()
					return waitExit, nil, nil
				}
				if o.callbackKey != 0 && k == o.callbackKey {
					stop()
					return waitCallback, nil, nil
				}
			case r := <-reports:
				if r.note != "" {
					c.trace("%s", r.note)
				}
				switch {
				case r.ans != nil:
					stop()
					return waitAnswered, r.ans, nil
				case r.nobody:
					stop()
					return waitNobody, nil, nil
				case r.gaveUp:
					stop()
					return waitGaveUp, nil, nil
				}
			case <-announceC:
				if speaking {
					announceDue = true // after what is being said
					continue
				}
				stop()
				next = o.announce()
				if len(next) == 0 {
					next = nil
				}
				break playing
			case <-maxC:
				stop()
				return waitTimeout, nil, nil
			case <-c.leg.Done():
				stop()
				return 0, nil, errEnded
			case <-c.ctx.Done():
				stop()
				return 0, nil, errEnded
			}
		}
	}
}

// loop plays a source again and again (hold music).
type loop struct {
	open  func() media.Source
	cur   media.Source
	empty bool // the last source opened gave nothing
}

func (l *loop) ReadFrame(f *media.Frame) error {
	for {
		if l.cur == nil {
			l.cur = l.open()
		}
		err := l.cur.ReadFrame(f)
		if !errors.Is(err, io.EOF) {
			l.empty = false
			return err
		}
		if l.empty {
			return io.EOF // an empty clip would loop for ever
		}
		l.cur, l.empty = nil, true
	}
}

// ringAll rings every target at once with the call's context in the
// headers. The first phone to answer (and, for a Confirm target, to press
// 1) wins; the others are cancelled. It returns the winner, or nil with
// why each target failed. Phones still ringing when it returns are being
// cancelled; one that answers meanwhile is hung up.
func (c *call) ringAll(ctx context.Context, targets []Target, timeout time.Duration, waited time.Duration) (*answer, map[Target]error) {
	if c.s.dialer == nil {
		errs := make(map[Target]error, len(targets))
		for _, t := range targets {
			errs[t] = errors.New("no dialer")
		}
		return nil, errs
	}
	rctx, cancel := context.WithCancel(ctx)
	type result struct {
		t   Target
		leg StaffLeg
		err error
	}
	results := make(chan result, len(targets))
	req := c.dialRequest(timeout, waited)
	for _, t := range targets {
		go func() {
			r := req
			r.Target = t
			leg, err := c.dial(rctx, r)
			results <- result{t, leg, err}
		}()
	}
	errs := make(map[Target]error)
	var won *answer
	pending := len(targets)
	for pending > 0 && won == nil {
		r := <-results
		pending--
		if r.err != nil {
			errs[r.t] = r.err
			continue
		}
		won = &answer{leg: r.leg, target: r.t}
	}
	cancel()
	if pending > 0 {
		// The others are being cancelled: hang up any that answered anyway,
		// off the caller's path; finish waits for it.
		c.async(func() {
			for range pending {
				if r := <-results; r.err == nil {
					hangupQuietly(r.leg)
				}
			}
		})
	}
	return won, errs
}

// dial rings one target; for a Confirm target the person must press 1
// after call_confirm, or the leg is hung up.
func (c *call) dial(ctx context.Context, r DialRequest) (StaffLeg, error) {
	leg, err := c.s.dialer.Dial(ctx, r)
	if err != nil {
		return nil, err
	}
	if !r.Target.Confirm {
		return leg, nil
	}
	if err := c.confirm(ctx, leg); err != nil {
		hangupQuietly(leg)
		return nil, err
	}
	return leg, nil
}

// errNotConfirmed: the phone answered but nobody pressed 1 (a mobile's
// voicemail, most likely).
var errNotConfirmed = errors.New("answered but not confirmed with 1")

// confirmTimeout is how long a person has to press 1 after call_confirm.
const confirmTimeout = 6 * time.Second

// answerSettle is the silence played to a person who just answered
// before the first words: a mobile network connects the audio a moment
// after the answer, and a phone whose ACK was late starts listening late;
// without it "Appel du club…" reaches them as "…club". Asterisk's confirm
// macros wait a second for the same reason.
const answerSettle = 800 * time.Millisecond

// settle plays answerSettle of silence to a leg that just answered.
func settle(ctx context.Context, leg Leg) error {
	return leg.Play(ctx, media.Silence(answerSettle))
}

// confirm says "call from the club about <category>, press 1 to answer"
// to the staff leg, twice at most, and waits for the 1.
func (c *call) confirm(ctx context.Context, leg StaffLeg) error {
	if err := settle(ctx, leg); err != nil {
		return err
	}
	names := []string{"call_confirm", c.categoryPrompt(), "call_confirm_answer"}
	src := func() media.Source { return c.s.prompts.Source(c.s.o.Languages[0], names...) }
	digits := leg.Digits()
	for range 2 {
		pctx, cancel := context.WithTimeout(ctx, confirmTimeout+10*time.Second)
		played := make(chan error, 1)
		go func() { played <- leg.Play(pctx, src()) }()
		deadline := time.NewTimer(confirmTimeout + 10*time.Second)
		ok, err := func() (bool, error) {
			defer deadline.Stop()
			for {
				select {
				case err := <-played:
					if err != nil {
						return false, err
					}
					played = nil
					deadline.Reset(confirmTimeout)
				case k := <-digits:
					if k == '1' {
						return true, nil
					}
				case <-deadline.C:
					return false, nil
				case <-leg.Done():
					return false, errors.New("hung up before confirming")
				case <-ctx.Done():
					return false, ctx.Err()
				}
			}
		}()
		cancel()
		if played != nil {
			<-played
		}
		if err != nil || ok {
			return err
		}
	}
	return errNotConfirmed
}

// categoryPrompt is the clip that says the call's category.
func (c *call) categoryPrompt() string {
	for _, o := range c.s.o.Menu.Options {
		if o.Category == c.rec.Category && o.Prompt != "" {
			return o.Prompt
		}
	}
	if c.rec.Category == "" {
		return "category_message"
	}
	return "category_" + c.rec.Category
}

// dialRequest carries the call's context to the staff phone: the caller's
// number as caller id, the category as the name shown, and the headers.
// A callback rings the staff with the number to be called back, "RAPPEL"
// before the category and X-Clubline-Callback: 1.
func (c *call) dialRequest(timeout, waited time.Duration) DialRequest {
	display := c.rec.Category
	if c.urgent && !strings.EqualFold(display, "urgent") {
		display = strings.TrimSpace("URGENT " + display) // not "URGENT urgent"
	} else if c.urgent {
		display = "URGENT"
	}
	r := DialRequest{
		CallerID: c.rec.From,
		Display:  display,
		Headers: map[string]string{
			"X-Clubline-Category": c.rec.Category,
			"X-Clubline-Call-Id":  c.rec.ID,
			"X-Clubline-Waited":   strconv.Itoa(int(waited / time.Second)),
		},
		RingTimeout: timeout,
	}
	if c.callbackTo != "" {
		r.CallerID = c.callbackTo
		r.Display = "RAPPEL " + display
		r.Headers["X-Clubline-Callback"] = "1"
	} else if h := c.lookupHistory().text(c.s.o.Languages[0], c.s.loc()); h != "" {
		r.Display = display + " — " + h
		r.Headers["X-Clubline-History"] = h
		if open := c.hist.open; len(open) > 0 {
			r.Headers["X-Clubline-Open-Message"] = open[0].ID
		}
	}
	return r
}

// targets is where each of the staff members can be rung now: their
// registered phones, and their outside number when there is a trunk. An
// error of Phones is returned; staff with nowhere to ring are left out.
func (c *call) targets(ctx context.Context, ids []string) (map[string][]Target, error) {
	found, err := c.s.phones.Where(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Target, len(ids))
	for _, id := range ids {
		if ts := found[id]; len(ts) > 0 {
			out[id] = append([]Target(nil), ts...)
		}
	}
	if c.s.o.Trunk {
		for _, id := range ids {
			if st := c.s.staff[id]; st != nil && st.Phone != "" {
				out[id] = append(out[id], Target{Staff: id, Number: st.Phone, Confirm: true})
			}
		}
	}
	return out, nil
}

// whyNot says in a few words why a phone was not answered, for the trace.
func whyNot(err error) string {
	var se interface{ StatusCode() int }
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("refused (%d)", se.StatusCode())
	case errors.Is(err, ErrNoTrunk):
		return "no trunk for an outside number"
	case errors.Is(err, errNotConfirmed):
		return "answered, not confirmed"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return err.Error()
	}
}

func hangupQuietly(l Leg) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_ = l.Hangup(ctx)
}
