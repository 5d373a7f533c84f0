package ivr

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clubline/clubline"
)

// A caller who calls again: the club's policy asks that their history be
// at hand and their complaint followed to its end. Before a staff phone
// rings, the line looks up the caller's open messages and the calls it
// could not answer in the last days; the staff phone shows them before
// hello ("rappel — message du 3 déc. non traité"). When the caller then
// reaches a person, their open messages are closed as followed up.

// historyDays is how far back an unanswered call counts as one the
// caller is calling about again.
const historyDays = 3

// historyTimeout bounds the look-up: a caller is not kept waiting for
// their history; without it the phone rings as before.
const historyTimeout = 500 * time.Millisecond

// history is what the line knows of the caller.
type history struct {
	open   []*clubline.Voicemail // their open messages, oldest first
	missed time.Time             // their latest call not answered, in the last days (zero: none)
}

// lookupHistory reads the caller's history once per call.
func (c *call) lookupHistory() *history {
	if c.hist != nil {
		return c.hist
	}
	c.hist = &history{}
	from := c.rec.From
	if c.callbackTo != "" || len(clubline.Digits(from)) < 7 {
		return c.hist // an anonymous or internal caller has no history to show
	}
	ctx, cancel := context.WithTimeout(c.ctx, historyTimeout)
	defer cancel()
	fus, err := c.s.store.FollowUps(ctx, time.Time{})
	if err != nil {
		c.log.Warn("caller's history not read: the staff phone rings without it", "err", err)
		return c.hist
	}
	for _, f := range fus {
		v, err := c.s.store.Voicemail(ctx, f.VoicemailID)
		if err != nil || v.Status != clubline.VoicemailNew || !clubline.SameNumber(v.From, from) {
			continue
		}
		c.hist.open = append(c.hist.open, v)
	}
	now := c.s.now()
	calls, err := c.s.store.Calls(ctx, now.AddDate(0, 0, -historyDays), c.rec.StartedAt, 0)
	if err == nil {
		for _, p := range calls {
			if p.ID != c.rec.ID && p.AnsweredAt.IsZero() && p.Outcome == clubline.OutcomeAbandoned && clubline.SameNumber(p.From, from) {
				c.hist.missed = p.StartedAt
			}
		}
	}
	if len(c.hist.open) > 0 {
		c.trace("history: %d open message(s) from this caller, the first of %s", len(c.hist.open), c.hist.open[0].RecordedAt.In(c.s.loc()).Format("2006-01-02 15:04"))
	} else if !c.hist.missed.IsZero() {
		c.trace("history: an unanswered call from this caller on %s", c.hist.missed.In(c.s.loc()).Format("2006-01-02 15:04"))
	}
	return c.hist
}

// text is the history in the words a staff phone shows, in the line's
// first language; "" when there is none.
func (h *history) text(lang string, loc *time.Location) string {
	switch {
	case h == nil:
		return ""
	case len(h.open) > 0:
		d := shortDay(h.open[0].RecordedAt.In(loc), lang)
		if lang == "en" {
			return "calling again — message of " + d + " not handled"
		}
		return "rappel — message du " + d + " non traité"
	case !h.missed.IsZero():
		d := shortDay(h.missed.In(loc), lang)
		if lang == "en" {
			return "calling again — missed call of " + d
		}
		return "rappel — appel manqué du " + d
	}
	return ""
}

var frMonths = [...]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// shortDay: "3 déc." in French, "Dec 3" in English.
func shortDay(t time.Time, lang string) string {
	if lang == "en" {
		return t.Format("Jan 2")
	}
	return fmt.Sprintf("%d %s", t.Day(), frMonths[t.Month()-1])
}

// loc is the club's time zone (Options.Location; UTC when unset).
func (s *Script) loc() *time.Location {
	if s.o.Location != nil {
		return s.o.Location
	}
	return time.UTC
}

// followedUp closes the caller's open messages once they reached a
// person: the call back the club owed them has happened. Each is marked
// done by the staff member who answered, with a note, and counted.
func (c *call) followedUp(staffID string) {
	h := c.hist
	if h == nil || len(h.open) == 0 || staffID == "" {
		return
	}
	open := h.open
	h.open = nil
	now := c.s.now()
	c.async(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), storeTimeout)
		defer cancel()
		for _, seen := range open {
			// Read it again under the lock every writer of messages
			// holds: the office may have closed it meanwhile.
			c.s.msgLock.Lock()
			v, err := c.s.store.Voicemail(ctx, seen.ID)
			if err != nil || v.Status != clubline.VoicemailNew {
				c.s.msgLock.Unlock()
				continue
			}
			before := *v
			after := *v
			after.Notes = append(append([]clubline.Note(nil), v.Notes...), clubline.Note{By: staffID, At: now,
				Text: "Closed by clubline: the caller reached " + staffID + " on call " + c.rec.ID})
			after.Status, after.DoneAt, after.DoneBy, after.DoneHow = clubline.VoicemailDone, now, staffID, clubline.FollowUpClosedCallback
			err = c.s.store.SaveVoicemail(ctx, &after)
			c.s.msgLock.Unlock()
			if err != nil {
				c.log.Error("the caller's open message could not be closed: it stays open", "voicemail", v.ID, "err", err)
				continue
			}
			c.trace("follow-up: message %s closed, the caller reached %s", v.ID, staffID)
			if m := c.s.metrics; m != nil {
				m.FollowUpsOpen.Dec()
				m.FollowUpClosed(clubline.FollowUpClosedCallback)
			}
			c.s.messageChanged(&before, &after)
		}
	})
}

// messageChanged tells the hook (WithMessageHook) of a message saved or
// changed.
func (s *Script) messageChanged(before, after *clubline.Voicemail) {
	if s.onMessage != nil {
		s.onMessage(before, after)
	}
}

// WithMessageLock sets the lock every writer of messages holds from
// reading a message to saving it (the web page, the reminders), so that
// none undoes another's change; default: the script's own.
func WithMessageLock(l sync.Locker) Option { return func(s *Script) { s.msgLock = l } }

// WithMessageHook sets a function told of every message the script saves
// (before is nil) or closes: the notifications and the message-waiting
// lights follow it. It is called off the call's media path, after the
// store took the change.
func WithMessageHook(fn func(before, after *clubline.Voicemail)) Option {
	return func(s *Script) { s.onMessage = fn }
}

// messageGroup is the staff group a message is for: the queue the caller
// was in, else the group the menu option led to ("" for neither: the
// voicemail route, the urgent line).
func (c *call) messageGroup() string {
	if c.rec.Group != "" {
		return c.rec.Group
	}
	if _, ok := c.s.groups[c.rec.Route]; ok {
		return c.rec.Route
	}
	return ""
}
