package ivr

import (
	"github.com/clubline/clubline"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
)

// closed is the script while the office is closed. Before the beep a
// caller hears only what they need, first (issue 10): the greeting, the
// language offer, why it is closed, when it reopens, the urgent key, and
// one sentence that says # goes to the beep at once (closed_skip: "Pour
// laisser un message, faites le carré ou attendez le signal."). With the
// built-in clips that is under 15 s to the beep in either language
// (TestClosedDefaultReachesBeepQuickly). The callback delay and the
// weekly hours, the longest parts, are said after the message
// (closedGoodbye). During the message the urgency key reaches the urgent
// line, the language key says it again in the next language, and # or 0
// skip to the beep.
func (c *call) closed() error {
	c.closedMessage = true
	ph := append(c.clips("greeting"), c.languageOffer()...)
	ph = append(ph, c.closedMessageClips()...)
	for {
		key, err := c.play(ph, c.closedKeys)
		if err != nil {
			return err
		}
		switch {
		case key == 0: // closed_skip was the instruction: the beep follows
			c.rec.Route = clubline.RouteVoicemail
			return c.voicemail(true)
		case c.isUrgencyKey(key):
			return c.urgencyKey()
		case c.isLanguageKey(key):
			c.switchLanguage()
			ph = c.closedMessageClips()
		default: // # or 0
			c.trace("closed: skipped to the voicemail")
			c.rec.Route = clubline.RouteVoicemail
			return c.voicemail(true)
		}
	}
}

// closedKeys are the keys that cut the closed message.
func (c *call) closedKeys(k rune) bool {
	return k == '#' || k == '0' || c.isUrgencyKey(k) || c.isLanguageKey(k)
}

// isUrgencyKey reports whether k is the urgent key, while the office is
// closed and the call is not urgent yet.
func (c *call) isUrgencyKey(k rune) bool {
	return !c.status.Open && !c.urgent && c.s.o.UrgencyKey != "" && string(k) == c.s.o.UrgencyKey
}

// urgencyKey routes to the urgent line, keeping the urgent option's
// category.
func (c *call) urgencyKey() error {
	c.rec.Choice = c.s.o.UrgencyKey
	c.trace("urgent key → urgency")
	category := ""
	if r, ok := keyRune(c.s.o.UrgencyKey); ok {
		category = c.s.keys[r].Category
	}
	return c.route(clubline.RouteUrgency, category)
}

// closedMessageClips says why the office is closed, when it reopens,
// the urgent key, and how to leave a message (# at once, or wait for the
// beep). The office hours come after the message (closedGoodbye).
func (c *call) closedMessageClips() phrase {
	ph := c.closedReason()
	if !c.status.NextOpen.IsZero() {
		now := c.rec.StartedAt.In(c.status.NextOpen.Location())
		ph = append(ph, c.clips(reopeningClips(c.lang, c.status.NextOpen, now)...)...)
	}
	if c.s.o.UrgencyKey != "" {
		ph = append(ph, c.clips("urgent_offer")...)
		ph = append(ph, c.clips(digitClips(c.lang, c.s.o.UrgencyKey)...)...)
	}
	return append(ph, c.clips("closed_skip")...)
}

// closedGoodbye is what a caller who heard the closed message hears after
// their message, before the last clip (voicemail_saved or no_message):
// the callback delay when a message was saved ("Nous vous rappellerons
// dans les 48 heures."), then the weekly hours. A caller who went to the
// urgent line heard the urgent instruction, delay included, and wants no
// hours read to them: nothing.
func (c *call) closedGoodbye(saved bool) phrase {
	if !c.closedMessage || c.urgent {
		return nil
	}
	var ph phrase
	if saved {
		if d := prompts.Delay(c.lang, c.followUpWithin()); d != nil {
			ph = c.clips(append([]string{"voicemail_callback"}, d...)...)
		}
	}
	return append(ph, c.hours(c.status.Hours)...)
}

// closedReason names the holiday or closure when a prompt says its name
// ("closed today for Fête nationale"), says "closed today" for one that has
// none, and "closed" otherwise (out of hours, override).
func (c *call) closedReason() phrase {
	st := c.status
	var candidates []string
	switch st.Reason {
	case routing.ReasonHoliday:
		candidates = []string{"holiday_" + st.Key}
	case routing.ReasonClosure:
		// A closure's key names its prompt, with or without the prefix.
		candidates = []string{st.Key, "closure_" + st.Key}
	default:
		return c.clips("closed")
	}
	for _, p := range candidates {
		if st.Key != "" && c.s.prompts.Has(c.lang, p) {
			return c.clips("closed_today_for", p)
		}
	}
	return c.clips("closed_today")
}

// hours says the weekly hours: "our hours are Monday to Thursday from
// 9:00 to 12:00 and from 13:00 to 17:00 and Saturday from 9:00 to 12:00".
// Ranges within a span, and spans, are joined by hours_and.
func (c *call) hours(spans []routing.DaySpan) phrase {
	if len(spans) == 0 {
		return nil
	}
	names := []string{"hours_intro"}
	for i, sp := range spans {
		if i > 0 {
			names = append(names, "hours_and")
		}
		names = append(names, dayRangeClips(c.lang, sp.First, sp.Last)...)
		for i, r := range sp.Ranges {
			if i > 0 {
				names = append(names, "hours_and")
			}
			names = append(names, "hours_from")
			names = append(names, timeClips(c.lang, r.Start)...)
			names = append(names, "hours_to")
			names = append(names, timeClips(c.lang, r.End)...)
		}
	}
	return c.clips(names...)
}
