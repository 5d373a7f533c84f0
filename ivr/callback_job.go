package ivr

import (
	"context"
	"errors"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/metrics"
)

// A queued callback once its caller hung up (the decisions are in
// callback.go).

// callbackJob is one queued callback, once its caller hung up: it waits
// for the ticket's turn, rings the staff, then dials the caller. Its call
// carries the caller's record on under the same id; it has no leg until
// the caller answers.
type callbackJob struct {
	*pendingCallback
	c       *call
	attempt int
}

// startCallback runs the callback the call's caller confirmed, now that
// the call has ended and its record is written.
func (s *Script) startCallback(caller *call) {
	c := &call{
		s: s, ctx: s.callbacks.talk, log: caller.log.With("callback", true),
		rec: *caller.snapshot(), status: caller.status, lang: caller.lang, urgent: caller.urgent,
		callbackTo: caller.cb.number,
	}
	j := &callbackJob{pendingCallback: caller.cb, c: c}
	if !j.reserved {
		j.giveUp("clubline is stopping")
		return
	}
	go func() {
		defer s.callbacks.done()
		j.run()
	}()
}

// run is the callback from its start to its end: it is put through, or
// given up for a follow-up.
func (j *callbackJob) run() {
	c, o := j.c, j.c.s.o.Callback
	c.s.acd.Unpark(j.ticket)
	for {
		ans, why := j.waitTurn()
		if ans == nil {
			j.giveUp(why)
			return
		}
		j.attempt++
		if j.attempt == 1 {
			c.s.acd.AddWait(j.group.ID, c.s.now().Sub(j.ticket.JoinedAt))
		}
		leg, err := j.dialCaller(ans)
		if leg != nil {
			j.putThrough(ans, leg)
			return
		}
		staff := ans.target.Staff
		last := j.attempt >= o.Attempts
		switch {
		case errors.Is(err, errStaffLeft):
			c.trace("callback %d: %s hung up before the caller answered", j.attempt, staff)
			c.release(ans)
		default:
			why := "no answer"
			if isRefusal(err) {
				why = whyNot(err) // "refused (486)", "no trunk…": never the number
				c.trace("callback %d: %s answered, caller not reached: %s", j.attempt, staff, why)
			} else {
				c.trace("callback %d: %s answered, caller did not answer", j.attempt, staff)
			}
			c.log.Info("callback not answered", "attempt", j.attempt, "staff", staff, "why", why)
			c.s.countCallback(j.group.ID, metrics.CallbackNoAnswer)
			told := []string{"callback_no_answer"}
			if !last {
				told = append(told, "callback_retry")
			}
			j.tellStaff(ans.leg, told...)
			c.release(ans)
		}
		c.s.acd.Park(j.ticket) // back at its place, holding nobody back
		if last {
			j.giveUp("")
			return
		}
		c.saveNow()
		if !sleep(c.s.callbacks.wait, o.RetryAfter) {
			j.giveUp("clubline is stopping")
			return
		}
		c.s.acd.Unpark(j.ticket)
	}
}

// callbackHoursEvery is how often a callback waiting for its turn checks
// that the office is still open.
const callbackHoursEvery = 30 * time.Second

// waitTurn waits for the ticket's turn and rings the group's staff as a
// waiting caller would (ringQueue). It returns the staff member who
// answered, or nil and why the callback cannot wait any more: the office
// closed, nobody is registered, shutdown.
func (j *callbackJob) waitTurn() (*answer, string) {
	c := j.c
	if !c.s.sched.At(c.s.now()).Open {
		return nil, "office closed"
	}
	ctx, cancel := context.WithCancel(c.s.callbacks.wait)
	reports := make(chan ringReport)
	ringDone := make(chan struct{})
	go func() {
		defer close(ringDone)
		c.ringQueue(ctx, j.group, j.ticket, func(r ringReport) bool {
			select {
			case reports <- r:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	defer func() {
		cancel()
		<-ringDone
	}()
	hours := time.NewTicker(callbackHoursEvery)
	defer hours.Stop()
	last := "" // a note said again and again (registrations unreadable) is traced once
	for {
		select {
		case r := <-reports:
			switch {
			case r.ans != nil:
				return r.ans, ""
			case r.nobody:
				return nil, "nobody registered"
			case r.note != "" && r.note != last:
				last = r.note
				c.trace("callback: %s", r.note)
			}
		case <-hours.C:
			if !c.s.sched.At(c.s.now()).Open {
				return nil, "office closed"
			}
		case <-ctx.Done():
			return nil, "clubline is stopping"
		}
	}
}

// errStaffLeft: the staff member hung up before the caller answered.
var errStaffLeft = errors.New("the staff member hung up")

// isRefusal reports whether a Dial error is a refusal (busy, declined, no
// trunk) rather than a ring nobody answered.
func isRefusal(err error) bool {
	var se interface{ StatusCode() int }
	return errors.As(err, &se) || errors.Is(err, ErrNoTrunk)
}

// dialCaller tells the staff member whom they are calling back, then
// dials the caller while the staff member hears hold music. It returns
// the caller's leg once they answered, or why not.
func (j *callbackJob) dialCaller(ans *answer) (StaffLeg, error) {
	c := j.c
	staff := ans.leg
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	if !j.tellStaff(staff, "callback_staff", c.categoryPrompt(), "callback_staff_dialing") {
		return nil, errStaffLeft
	}
	played := make(chan error, 1)
	music := c.s.o.Languages[0]
	go func() {
		played <- staff.Play(ctx, &loop{open: func() media.Source { return c.s.prompts.Source(music, "hold_music") }})
	}()
	defer func() {
		cancel()
		if played != nil {
			<-played
		}
	}()
	type result struct {
		leg StaffLeg
		err error
	}
	dialed := make(chan result, 1)
	go func() {
		leg, err := c.s.dialer.Dial(ctx, DialRequest{
			Target:   Target{Number: j.number},
			CallerID: c.rec.To, // the club's number, the one the caller dialled
			Headers: map[string]string{
				"X-Clubline-Call-Id":  c.rec.ID,
				"X-Clubline-Callback": "1",
			},
			RingTimeout: j.group.RingTimeout,
		})
		dialed <- result{leg, err}
	}()
	for {
		select {
		case r := <-dialed:
			return r.leg, r.err
		case <-played:
			played = nil // the music stopped (an empty clip): go on in silence
		case <-staff.Done():
			cancel()
			if r := <-dialed; r.err == nil {
				hangupQuietly(r.leg)
			}
			return nil, errStaffLeft
		}
	}
}

// tellStaff says clips to a staff leg in the line's first language; false
// when the staff member hung up (or the callback was cut).
func (j *callbackJob) tellStaff(leg StaffLeg, names ...string) bool {
	c := j.c
	if err := leg.Play(c.ctx, c.s.prompts.Source(c.s.o.Languages[0], names...)); err != nil {
		return false
	}
	select {
	case <-leg.Done():
		return false
	default:
		return true
	}
}

// putThrough greets the caller who answered and bridges them to the
// staff member, then ends the record as a call does.
func (j *callbackJob) putThrough(ans *answer, leg StaffLeg) {
	c := j.c
	c.leg, c.digits = leg, leg.Digits()
	c.s.gauge(1)
	defer c.s.gauge(-1)
	c.trace("callback %d: bridged", j.attempt)
	c.log.Info("callback put through", "attempt", j.attempt, "staff", ans.target.Staff)
	c.s.countCallback(j.group.ID, metrics.CallbackAnswered)
	err := settle(c.ctx, leg) // the caller just answered (ring.go)
	if err == nil {
		_, err = c.play(c.clips("callback_hello"), noKeys)
	}
	if err == nil {
		err = c.connected(ans)
	} else {
		c.release(ans)
	}
	c.finish(err)
}

// giveUp ends a callback that could not be put through: the ticket leaves
// the line and the group gets a follow-up, as for a message, so that
// somebody calls the caller back. why is "" after the last attempt.
func (j *callbackJob) giveUp(why string) {
	c := j.c
	c.s.acd.Leave(j.ticket)
	if why == "" {
		attempts := "attempts"
		if j.attempt == 1 {
			attempts = "attempt"
		}
		c.trace("callback: gave up after %d %s → follow-up", j.attempt, attempts)
	} else {
		c.trace("callback: %s → follow-up", why)
	}
	c.s.countCallback(j.group.ID, metrics.CallbackGaveUp)
	now := c.s.now()
	vm := &clubline.Voicemail{
		ID: c.s.newID(), CallID: c.rec.ID, From: j.number, Category: c.rec.Category, Urgent: c.urgent,
		RecordedAt: now, FollowUpDue: now.Add(c.followUpWithin()), Status: clubline.VoicemailNew,
		Group: j.group.ID, Language: c.lang,
	}
	c.rec.VoicemailID = vm.ID
	c.rec.Outcome = clubline.OutcomeVoicemail
	c.rec.EndedAt = now
	c.rec.Duration = now.Sub(c.rec.StartedAt)
	c.writes.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := c.s.store.SaveVoicemail(ctx, vm); err != nil {
		c.log.Error("saving the follow-up of a callback given up", "voicemail", vm.ID, "err", err)
	} else {
		if m := c.s.metrics; m != nil {
			m.FollowUpsOpen.Inc()
		}
		c.s.messageChanged(nil, vm)
	}
	c.save(c.snapshot())
	if m := c.s.metrics; m != nil {
		m.CallEnded(&c.rec)
	}
	c.log.Info("callback given up: follow-up created", "voicemail", vm.ID, "attempts", j.attempt)
}

// countCallback counts one event of a group's callback.
func (s *Script) countCallback(group, result string) {
	if s.metrics != nil {
		s.metrics.Callback(group, result)
	}
}

// saveNow writes the record as it is now, waiting for the store.
func (c *call) saveNow() {
	c.writes.Wait()
	c.save(c.snapshot())
}
