package ivr

import (
	"context"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
)

// The queue of a staff group: the caller waits with hold music and hears
// their position and the estimated wait every AnnounceEvery; the staff
// members are rung by the group's strategy; the first to answer is put
// through. 0 leaves for the voicemail, MaxWait sends there, and so does a
// group with nobody registered.

// exitKey leaves a queue for the voicemail.
const exitKey = '0'

// queueStoreTimeout bounds the read of the registrations while ringing.
const queueStoreTimeout = 2 * time.Second

// pollEvery is how often a waiting caller's ringer looks again at the
// registrations when nothing else changed (a phone may have registered).
const pollEvery = time.Second

// queue puts the caller in the group's line until a staff member answers
// (then through the whole call), and sends them to the voicemail when they
// press 0, wait MaxWait, or nobody in the group is registered. A caller
// who may be called back hears how after how to leave, and keeps their
// place when they choose it (callback.go).
func (c *call) queue(g *Group, urgent bool) error {
	now := c.s.now()
	if c.rec.QueuedAt.IsZero() {
		c.rec.Group = g.ID
		c.rec.QueuedAt = now
	}
	c.stage(clubline.StageQueue)

	ctx, cancel := context.WithTimeout(c.ctx, queueStoreTimeout)
	reachable, err := c.targets(ctx, g.Members)
	cancel()
	if err != nil {
		c.log.Error("reading registrations", "err", err)
		c.trace("%s: registrations unreadable → voicemail", g.ID)
		c.queueLeft(g, now, metrics.QueueTimeout)
		return c.voicemail(false)
	}
	if len(reachable) == 0 {
		c.trace("%s: nobody registered → voicemail", g.ID)
		c.queueLeft(g, now, metrics.QueueTimeout)
		return c.nobodyFree()
	}

	t := c.s.acd.Join(g.ID, c.rec.ID, urgent, now)
	joined := time.Now() // MaxWait is on the monotonic clock, as the wait's timers are
	c.waitingGauge(g.ID, 1)
	left := false
	leave := func(result string) {
		if !left {
			left = true
			if result != metrics.QueueCallback { // a callback keeps the caller's place
				c.s.acd.Leave(t)
			}
			c.waitingGauge(g.ID, -1)
			c.queueLeft(g, now, result)
		}
	}
	defer leave(metrics.QueueAbandoned) // the caller hung up, or the script failed

	pos := c.s.acd.Position(t)
	if urgent {
		c.trace("%s: queued ahead, urgent (position %d)", g.ID, pos)
	} else {
		c.trace("%s: queued (position %d)", g.ID, pos)
	}
	// The caller's number when they may ask to be called back, else "".
	callback := c.callbackOffer()
	var callbackKey rune
	if callback != "" {
		callbackKey = c.s.o.Callback.Key
	}
	// exit says how to leave the queue, and the callback offer.
	exit := func() phrase {
		ph := c.clips(append([]string{"queue_exit"}, digitClips(c.lang, "0")...)...)
		if callback != "" {
			ph = append(ph, c.callbackOfferClips()...)
		}
		return ph
	}
	said := 0 // the position last said: never say a higher one
	announce := func() phrase {
		p := c.s.acd.Position(t)
		if p < 1 {
			return nil
		}
		if said > 0 && p > said {
			p = said
		}
		said = p
		ph := c.clips(prompts.QueuePosition(c.lang, p)...)
		if est := c.s.acd.EstimateWait(g.ID, p); est > 0 {
			min := int((est + time.Minute - 1) / time.Minute)
			ph = append(ph, c.clips(append([]string{"queue_wait"}, prompts.Minutes(c.lang, min)...)...)...)
		}
		return append(ph, exit()...)
	}
	intro := c.clips("connecting")
	if pos > 1 {
		intro = append(intro, announce()...)
	} else {
		intro = append(intro, exit()...)
	}

	for {
		maxWait := g.MaxWait - time.Since(joined)
		if maxWait <= 0 {
			maxWait = time.Nanosecond // the wait times out at once
		}
		res, ans, err := c.holdAndRing(waitOptions{
			intro:         intro,
			announce:      announce,
			announceEvery: g.AnnounceEvery,
			maxWait:       maxWait,
			exitKey:       exitKey,
			callbackKey:   callbackKey,
			ring:          func(ctx context.Context, report func(ringReport) bool) { c.ringQueue(ctx, g, t, report) },
		})
		if err != nil {
			return err
		}
		switch res {
		case waitAnswered:
			leave(metrics.QueueAnswered)
			c.s.acd.AddWait(g.ID, c.s.now().Sub(now))
			return c.connected(ans)
		case waitCallback:
			number, err := c.chooseCallback(g, t, callback)
			if err != nil {
				return err
			}
			if number != "" {
				leave(metrics.QueueCallback)
				return c.callbackConfirmed(g, t, number)
			}
			c.trace("%s: no callback confirmed, back in the queue", g.ID)
			c.s.acd.Unpark(t)
			intro = nil // straight back to the hold music
			continue
		case waitExit:
			leave(metrics.QueueVoicemail)
			c.trace("%s: left the queue for a message (0)", g.ID)
			return c.voicemail(true)
		case waitTimeout:
			leave(metrics.QueueTimeout)
			c.trace("%s: waited %s, the maximum → voicemail", g.ID, g.MaxWait)
		default: // nobody registered any more
			leave(metrics.QueueTimeout)
			c.trace("%s: nobody registered any more → voicemail", g.ID)
			return c.nobodyFree()
		}
		return c.voicemail(false)
	}
}

// queueLeft records the wait and counts the caller leaving the queue. The
// record keeps the wait up to the first answer: a later queue (a transfer
// to a group) is counted, not recorded.
func (c *call) queueLeft(g *Group, since time.Time, result string) {
	wait := c.s.now().Sub(since)
	if c.rec.AnsweredAt.IsZero() {
		c.rec.Wait = wait
	}
	if c.s.metrics != nil && !c.rec.Probe { // the line's own mystery call is no caller
		c.s.metrics.QueueLeft(g.ID, result, wait, g.ServiceLevel, g.ShortAbandon)
	}
}

func (c *call) waitingGauge(group string, d float64) {
	if c.s.metrics != nil {
		c.s.metrics.QueueWaiting.WithLabelValues(group).Add(d)
	}
}

func (c *call) busyGauge() {
	if c.s.metrics != nil {
		c.s.metrics.StaffBusy.Set(float64(c.s.acd.Busy()))
	}
}

// ringQueue rings the group's staff for a waiting caller, by the group's
// strategy, whenever the line lets them (see routing.ACD). A staff member
// who refuses or does not answer within RingTimeout is skipped for this
// attempt; once every member who could be rung now was tried (the others
// are on a call or ringing for someone else), the attempt starts over
// after the group's Retry.
func (c *call) ringQueue(ctx context.Context, g *Group, t *routing.Ticket, report func(ringReport) bool) {
	skip := make(map[string]bool)
	for ctx.Err() == nil {
		changed := c.s.acd.Changed()
		sctx, cancel := context.WithTimeout(ctx, queueStoreTimeout)
		reachable, err := c.targets(sctx, g.Members)
		cancel()
		if err != nil {
			if !report(ringReport{note: "registrations unreadable: " + err.Error()}) || !sleep(ctx, pollEvery) {
				return
			}
			continue
		}
		if len(reachable) == 0 {
			report(ringReport{nobody: true})
			return
		}
		registered := make(map[string]bool, len(reachable))
		tried := len(skip) > 0
		for id := range reachable {
			registered[id] = true
			if !skip[id] && c.s.acd.Free(id) {
				tried = false // someone not yet tried could be rung now
			}
		}
		if tried { // everyone who could be rung was rung this attempt
			clear(skip)
			if !sleep(ctx, g.Retry) {
				return
			}
			continue
		}
		ids := c.s.acd.Reserve(t, g.Strategy, g.Members, registered, skip)
		if len(ids) == 0 {
			select { // wait for a change in the line or the staff, or poll
			case <-changed:
			case <-time.After(pollEvery):
			case <-ctx.Done():
				return
			}
			continue
		}
		var targets []Target
		for _, id := range ids {
			targets = append(targets, reachable[id]...)
		}
		won, errs := c.ringAll(ctx, targets, g.RingTimeout, c.s.now().Sub(t.JoinedAt))
		for _, id := range ids {
			if won != nil && won.target.Staff == id {
				continue
			}
			c.s.acd.Release(t, id)
			skip[id] = true
		}
		for tg, err := range errs {
			if ctx.Err() == nil {
				report(ringReport{note: tg.Staff + ": " + whyNot(err)})
			}
		}
		if won != nil {
			c.s.acd.Answered(t, won.target.Staff)
			c.busyGauge()
			if !report(ringReport{note: won.target.Staff + " answered", ans: won}) {
				hangupQuietly(won.leg)
				c.s.acd.Hungup(won.target.Staff, c.s.now())
				c.busyGauge()
			}
			return
		}
	}
}

// ringDirect rings a fixed set of targets once (the on-call person, the
// fallback, a transfer to a person) and reports the answer or gives up.
func (c *call) ringDirect(targets []Target, timeout time.Duration) ringer {
	return func(ctx context.Context, report func(ringReport) bool) {
		won, errs := c.ringAll(ctx, targets, timeout, 0)
		for tg, err := range errs {
			if ctx.Err() == nil {
				report(ringReport{note: tg.String() + ": " + whyNot(err)})
			}
		}
		if won == nil {
			report(ringReport{gaveUp: true})
			return
		}
		if won.target.Staff != "" {
			c.s.acd.Answered(nil, won.target.Staff)
			c.busyGauge()
		}
		if !report(ringReport{note: won.target.String() + " answered", ans: won}) {
			hangupQuietly(won.leg)
			if won.target.Staff != "" {
				c.s.acd.Hungup(won.target.Staff, c.s.now())
				c.busyGauge()
			}
		}
	}
}

// ringStep is one ringer of a sequence, with the trace note said when
// it starts.
type ringStep struct {
	note string
	ring ringer
}

// ringInTurn runs the steps one after the other: the next starts when one
// has rung everyone without an answer, and only the last one's giving up
// reaches the caller, so the wait goes on without a break between them.
func ringInTurn(steps ...ringStep) ringer {
	return func(ctx context.Context, report func(ringReport) bool) {
		for i, s := range steps {
			if s.note != "" && !report(ringReport{note: s.note}) {
				return
			}
			last := i == len(steps)-1
			next := false
			s.ring(ctx, func(r ringReport) bool {
				if !last && (r.gaveUp || r.nobody) {
					next = true
					if r.note == "" {
						return true
					}
					r.gaveUp, r.nobody = false, false
				}
				return report(r)
			})
			if !next {
				return
			}
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// nobodyFree tells a caller that nobody can answer now before the
// voicemail's instruction: they asked for a person, and must not think
// the line ignored their choice. # skips to the beep.
func (c *call) nobodyFree() error {
	key, err := c.play(c.clips("queue_nobody"), func(k rune) bool { return k == '#' })
	if err != nil {
		return err
	}
	return c.voicemail(key == '#')
}
