package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/vmdir"
)

// errEnded says the call is over: the caller hung up or ctx is done.
// Every step returns it at once and the script unwinds to finish.
var errEnded = errors.New("call ended")

// failure is something clubline could not do (a missing prompt, a leg or
// disk error). The caller hears technical_difficulty and is offered the
// voicemail; the call's outcome is failed unless a message is left.
type failure struct{ what string }

func (f *failure) Error() string { return f.what }

func failf(format string, args ...any) error { return &failure{fmt.Sprintf(format, args...)} }

// call is one run of the script: owned by the goroutine in Run, which is
// the only one to read digits and touch the record.
type call struct {
	s      *Script
	ctx    context.Context
	leg    Leg
	log    *slog.Logger
	digits <-chan rune

	rec    clubline.Call
	status routing.Status
	lang   string
	urgent bool
	// failed is set once clubline failed the caller; from then on missing
	// clips are skipped instead of failing again.
	failed bool
	// recorded is set once a recording was attempted: a failure after it
	// ends the call rather than offering the voicemail again.
	recorded bool
	// closedMessage is set when the caller heard the closed message: the
	// callback delay and the office hours are said after their message
	// instead of before the beep (closed.go).
	closedMessage bool
	// answered is set once a staff member answered; transfers counts the
	// transfers of the call.
	answered  bool
	transfers int
	// cb is the callback the caller confirmed: Run starts it once the
	// call has ended.
	cb *pendingCallback
	// callbackTo is set on the call of a callback (callback.go): the
	// number the caller is called back at.
	callbackTo string
	// hist is the caller's history, read before the first ring (history.go).
	hist *history

	writes sync.WaitGroup // store writes still running
}

func (s *Script) newCall(ctx context.Context, in Inbound) *call {
	now := s.now()
	st := s.sched.At(now)
	log := in.Log
	if log == nil {
		log = s.log.With("call", in.ID)
	}
	c := &call{
		s: s, ctx: ctx, leg: in.Leg, log: log, digits: in.Leg.Digits(),
		status: st, lang: s.o.Languages[0],
	}
	c.rec = clubline.Call{
		ID: in.ID, From: in.From, To: in.To, Trunk: in.Trunk, StartedAt: now,
		Language: c.lang, Stage: clubline.StageGreeting, Probe: in.Probe,
	}
	c.rec.Hours, c.rec.HoursReason = hoursOf(st)
	c.trace("%s", st.String())
	return c
}

func (c *call) trace(format string, args ...any) {
	c.rec.AddTrace(fmt.Sprintf(format, args...))
}

func (c *call) stage(st clubline.Stage) { c.rec.Stage = st }

// script runs the open or closed script, and the technical difficulty
// path when one of them fails.
func (c *call) script() error {
	var err error
	if c.status.Open {
		err = c.open()
	} else {
		err = c.closed()
	}
	var f *failure
	if !errors.As(err, &f) {
		return err
	}
	return c.recover(f)
}

// recover tells the caller about a failure and offers the voicemail, or
// says goodbye when the voicemail itself failed.
func (c *call) recover(f *failure) error {
	c.failed = true
	c.trace("technical difficulty: %s", f.what)
	c.log.Error("call script failed", "stage", string(c.rec.Stage), "err", f.what)
	if _, err := c.play(c.clips("technical_difficulty"), noKeys); err != nil {
		return err
	}
	if c.recorded {
		_, err := c.play(c.clips("goodbye"), noKeys)
		return err
	}
	if c.rec.Route == "" {
		c.rec.Route = clubline.RouteVoicemail
	}
	err := c.voicemail(false)
	if errors.As(err, &f) {
		c.trace("technical difficulty: %s", f.what)
		c.log.Error("voicemail failed", "err", f.what)
		_, err = c.play(c.clips("goodbye"), noKeys)
	}
	return err
}

// gone reports whether the caller hung up or the call's context is done.
func (c *call) gone() bool {
	select {
	case <-c.leg.Done():
		return true
	case <-c.ctx.Done():
		return true
	default:
		return false
	}
}

// finish hangs up if the caller is still there, then writes the final
// record and counts the call.
func (c *call) finish(err error) {
	switch {
	case c.answered:
		c.rec.Outcome = clubline.OutcomeAnswered
	case c.rec.VoicemailID != "":
		c.rec.Outcome = clubline.OutcomeVoicemail
	case c.failed:
		c.rec.Outcome = clubline.OutcomeFailed
	default:
		// Hung up before a message, or left none: the caller gave up.
		c.rec.Outcome = clubline.OutcomeAbandoned
	}
	select {
	case <-c.leg.Done():
		if errors.Is(err, errEnded) {
			c.trace("caller hung up in %s", c.rec.Stage)
		}
	default:
		if c.ctx.Err() != nil {
			c.trace("call cut in %s: %v", c.rec.Stage, context.Cause(c.ctx))
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), storeTimeout)
		if herr := c.leg.Hangup(hctx); herr != nil {
			c.log.Warn("hanging up", "err", herr)
		}
		cancel()
	}
	c.rec.EndedAt = c.s.now()
	c.rec.Duration = c.rec.EndedAt.Sub(c.rec.StartedAt)

	c.writes.Wait() // the first record before the last
	c.save(c.snapshot())
	// A call that asked for a callback is counted when its callback ends,
	// with the outcome it ends with.
	if c.s.metrics != nil && c.cb == nil {
		c.s.metrics.CallEnded(&c.rec)
	}
	c.log.Info("call ended", "hours", string(c.rec.Hours), "outcome", string(c.rec.Outcome),
		"stage", string(c.rec.Stage), "language", c.rec.Language, "duration", c.rec.Duration.Round(time.Millisecond))
}

// snapshot copies the record so a store write never shares it with the
// script.
func (c *call) snapshot() *clubline.Call {
	r := c.rec
	r.Trace = append([]string(nil), c.rec.Trace...)
	return &r
}

// saveCall writes the record as it is now without waiting for the store.
func (c *call) saveCall() {
	r := c.snapshot()
	c.async(func() { c.save(r) })
}

func (c *call) save(r *clubline.Call) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), storeTimeout)
	defer cancel()
	if err := c.s.store.SaveCall(ctx, r); err != nil {
		c.log.Error("saving call record", "err", err)
	}
}

// saveVoicemail writes the message's record without waiting for the
// store, then deletes its recovery note (meta): once the store has the
// record, a restart has nothing to recover. On a store error the note
// stays, and the next start saves the message from it.
func (c *call) saveVoicemail(v *clubline.Voicemail, meta string) {
	c.async(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), storeTimeout)
		defer cancel()
		if err := c.s.store.SaveVoicemail(ctx, v); err != nil {
			c.log.Error("saving voicemail record; the next start saves it from its note", "voicemail", v.ID, "err", err)
			return
		}
		c.s.messageChanged(nil, v)
		if err := vmdir.RemoveMeta(meta); err != nil {
			c.log.Error("removing the voicemail's recovery note", "voicemail", v.ID, "err", err)
		}
	})
}

// async runs a store write off the call's path; finish waits for it.
func (c *call) async(f func()) {
	c.writes.Add(1)
	go func() {
		defer c.writes.Done()
		f()
	}()
}
