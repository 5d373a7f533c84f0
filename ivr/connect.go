package ivr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/routing"
)

// The caller put through: the bridged call, the staff member's hold and
// transfer, and the urgent line.

// maxTransfers bounds how often one call may be transferred.
const maxTransfers = 5

// connected puts the caller through to a staff leg that answered and
// stays with them until the call ends. The staff member is on a call
// (routing.ACD) until then.
func (c *call) connected(ans *answer) error {
	now := c.s.now()
	c.stage(clubline.StageBridged)
	c.answered = true
	if c.rec.AnsweredAt.IsZero() {
		c.rec.AnsweredAt = now
		c.rec.AnsweredBy = ans.target.Staff
		if !c.rec.QueuedAt.IsZero() {
			c.rec.Wait = now.Sub(c.rec.QueuedAt)
		}
	}
	c.saveCall()
	c.followedUp(ans.target.Staff)
	return c.bridged(ans)
}

// release hangs up a staff leg and makes its staff member available again,
// once.
func (c *call) release(ans *answer) {
	if ans.released {
		return
	}
	ans.released = true
	hangupQuietly(ans.leg)
	if ans.target.Staff != "" {
		c.s.acd.Hungup(ans.target.Staff, c.s.now())
		c.busyGauge()
	}
}

// bridged relays the call between the caller and the staff leg until one
// of them hangs up (then the other is hung up too). A staff hold plays hold
// music to the caller; a transfer rings its target.
func (c *call) bridged(ans *answer) error {
	leg := ans.leg
	defer c.release(ans)
	events := leg.Events()
	var ev *StaffEvent
	held := false // the staff phone holds the call (many hold before a transfer)
	for {
		if ev == nil {
			var err error
			if ev, err = c.relay(leg, events); err != nil {
				return err
			}
			if ev == nil { // the staff member hung up
				c.release(ans) // free for the next caller while this one answers the survey
				return c.survey()
			}
		}
		switch ev.Kind {
		case StaffHold:
			c.trace("%s: hold", who(ans.target))
			held = true
			var err error
			if ev, err = c.holdMusic(leg, events); err != nil || ev == nil {
				return err
			}
		case StaffResume:
			c.trace("%s: resume", who(ans.target))
			held = false
			ev = nil
		case StaffTransfer:
			next, err := c.transfer(ans, *ev)
			if err != nil || next == nil {
				return err
			}
			// The transfer failed, the staff member is still there; a
			// phone that held the call first still holds it.
			ev = nil
			if held {
				if ev, err = c.holdMusic(leg, events); err != nil || ev == nil {
					return err
				}
			}
		default:
			ev = nil
		}
	}
}

// relay bridges the two legs until the staff phone sends an event (it is
// returned) or a leg ends: errEnded when the caller hung up, nil when the
// staff member did.
func (c *call) relay(leg StaffLeg, events <-chan StaffEvent) (*StaffEvent, error) {
	bctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.s.bridge(bctx, c.leg, leg) }()
	select {
	case ev := <-events:
		cancel()
		<-done
		return &ev, nil
	case err := <-done:
		if c.gone() {
			return nil, errEnded // finish says the caller hung up
		}
		select {
		case <-leg.Done():
			c.trace("staff hung up")
			return nil, nil
		default:
		}
		var le *media.LegEndedError
		if errors.As(err, &le) {
			if le.Leg == "a" {
				c.trace("caller leg ended: %v", le.Err)
				return nil, errEnded
			}
			c.trace("staff leg ended: %v", le.Err)
			return nil, nil
		}
		return nil, failf("bridge: %v", err)
	}
}

// holdMusic plays hold music to the caller while the staff member holds
// the call, until the next event from the staff phone (returned), or the
// end of either leg: errEnded when the caller hung up, nil when the staff
// member did.
func (c *call) holdMusic(leg StaffLeg, events <-chan StaffEvent) (*StaffEvent, error) {
	ph, err := c.available(c.clips("hold_music"))
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.leg.Play(pctx, &loop{open: func() media.Source { return c.source(ph) }}) }()
	defer func() {
		cancel()
		<-done
	}()
	for {
		select {
		case ev := <-events:
			return &ev, nil
		case <-leg.Done():
			c.trace("staff hung up while holding")
			return nil, nil
		case <-c.leg.Done():
			return nil, errEnded
		case <-c.ctx.Done():
			return nil, errEnded
		case err := <-done:
			done <- err // for the deferred wait
			if c.gone() {
				return nil, errEnded
			}
			return nil, failf("hold music: %v", err)
		}
	}
}

func who(t Target) string {
	if t.Staff == "" {
		return "fallback"
	}
	return t.Staff
}

// transfer carries out a staff member's blind transfer: to a person (by
// extension or id) who is rung while the caller hears hold music, or to a
// group whose queue the caller joins. It returns the staff leg to go on
// with when the transfer failed and the staff member is still there, nil
// when the call went on elsewhere (and has ended).
func (c *call) transfer(from *answer, ev StaffEvent) (*answer, error) {
	progress := ev.Progress
	if progress == nil {
		progress = func(int, string) {}
	}
	c.transfers++
	if c.transfers > maxTransfers {
		progress(403, "Forbidden")
		c.trace("transfer to %s refused: %d transfers already", ev.To, maxTransfers)
		return from, nil
	}
	if g := c.s.groups[ev.To]; g != nil {
		c.trace("transfer: %s → group %s", who(from.target), g.ID)
		c.rec.TransferredTo = g.ID
		progress(200, "OK")
		c.release(from)
		if _, err := c.play(c.clips("transfer"), noKeys); err != nil {
			return nil, err
		}
		return nil, c.queue(g, c.urgent)
	}
	st := c.staffByName(ev.To)
	if st == nil {
		c.trace("transfer to %q: no such person or group", ev.To)
		progress(404, "Not Found")
		return from, nil
	}
	c.trace("transfer: %s → %s", who(from.target), st.ID)
	ctx, cancel := context.WithTimeout(c.ctx, queueStoreTimeout)
	reachable, err := c.targets(ctx, []string{st.ID})
	cancel()
	if err != nil || len(reachable[st.ID]) == 0 {
		c.trace("transfer: %s has no phone registered", st.ID)
		progress(480, "Temporarily Unavailable")
		return c.transferFailed(from)
	}
	progress(180, "Ringing")
	res, ans, err := c.holdAndRing(waitOptions{
		intro: c.clips("transfer"),
		ring:  c.ringDirect(reachable[st.ID], c.transferRingTimeout()),
	})
	if err != nil {
		progress(487, "Request Terminated")
		return nil, err
	}
	if res != waitAnswered {
		progress(480, "Temporarily Unavailable")
		return c.transferFailed(from)
	}
	progress(200, "OK")
	c.rec.TransferredTo = st.ID // only once it happened: a failed transfer stays in the trace
	c.release(from)
	return nil, c.bridged(ans)
}

// transferFailed goes back to the staff member who transferred, when they
// are still on the line, else to the voicemail.
func (c *call) transferFailed(from *answer) (*answer, error) {
	select {
	case <-from.leg.Done():
		c.trace("transfer failed → voicemail")
		c.release(from)
		return nil, c.voicemail(false)
	default:
		c.trace("transfer failed → back to %s", who(from.target))
		return from, nil
	}
}

// transferRingTimeout is how long a transfer rings a person: the ring
// timeout of the call's group, or the default.
func (c *call) transferRingTimeout() time.Duration {
	if g := c.s.groups[c.rec.Group]; g != nil {
		return g.RingTimeout
	}
	return routing.DefaultRingTimeout
}

// staffByName finds a staff member by extension or id.
func (c *call) staffByName(name string) *Staff {
	if st := c.s.staff[name]; st != nil {
		return st
	}
	i := slices.IndexFunc(c.s.o.Staff, func(s Staff) bool { return s.Extension == name })
	if i < 0 {
		return nil
	}
	return c.s.staff[c.s.o.Staff[i].ID]
}

// urgencyLine takes an urgent call. In office hours it jumps the queue of
// the default group. Outside them it rings the urgency target (the person
// on call now, or every registered member of a group), then the fallback,
// then takes a message flagged urgent.
func (c *call) urgencyLine() error {
	c.urgent = true
	if c.status.Open {
		if g := c.defaultGroup(); g != nil {
			c.trace("urgency: office open → %s queue, ahead of the others", g.ID)
			return c.queue(g, true)
		}
	}
	u := c.s.o.Urgency
	var targets []Target
	if g := c.s.groups[u.Target]; g != nil {
		targets = c.urgencyTargets(g.ID, g.Members...)
	} else if u.Roster != nil {
		if id, why, ok := u.Roster.OnCall(c.s.now()); ok {
			c.trace("urgency: %s on call (%s)", id, why)
			targets = c.urgencyTargets(id, id)
		} else {
			c.trace("urgency: nobody on call")
		}
	} else {
		c.trace("urgency: no on-call roster")
	}
	// One wait from the on-call person to the fallback: the caller hears
	// "connecting" once, then hold music, whoever refuses or does not answer.
	var steps []ringStep
	if len(targets) > 0 {
		steps = append(steps, ringStep{ring: c.ringDirect(targets, u.RingTimeout)})
	}
	if u.Fallback != "" {
		t := Target{URI: u.Fallback}
		if !strings.HasPrefix(u.Fallback, "sip:") && !strings.HasPrefix(u.Fallback, "sips:") {
			t = Target{Number: u.Fallback, Confirm: true}
		}
		steps = append(steps, ringStep{note: "urgency: fallback", ring: c.ringDirect([]Target{t}, u.RingTimeout)})
	}
	if len(steps) > 0 {
		res, ans, err := c.holdAndRing(waitOptions{intro: c.clips("connecting"), ring: ringInTurn(steps...)})
		if err != nil {
			return err
		}
		if res == waitAnswered {
			return c.connected(ans)
		}
	}
	c.trace("urgency: nobody answered → voicemail (urgent)")
	return c.voicemail(false)
}

// urgencyTargets is where the people of the urgent line can be rung; what
// names them in the trace.
func (c *call) urgencyTargets(what string, ids ...string) []Target {
	ctx, cancel := context.WithTimeout(c.ctx, queueStoreTimeout)
	defer cancel()
	reachable, err := c.targets(ctx, ids)
	if err != nil {
		c.log.Error("reading registrations", "err", err)
		c.trace("urgency: registrations unreadable")
		return nil
	}
	var out []Target
	for _, id := range ids {
		out = append(out, reachable[id]...)
	}
	if len(out) == 0 {
		c.trace("urgency: %s has no phone registered", what)
	}
	return out
}

// defaultGroup is the group the urgent key queues for in office hours: the
// menu's default route when it is a group, else the first group.
func (c *call) defaultGroup() *Group {
	if g := c.s.groups[c.s.o.Menu.Default]; g != nil {
		return g
	}
	if len(c.s.o.Groups) > 0 {
		return c.s.groups[c.s.o.Groups[0].ID]
	}
	return nil
}
