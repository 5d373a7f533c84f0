package ivr

import (
	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
)

// closed is the script while the office is closed: greeting, language
// offer, then what a caller needs first — why it is closed, when it
// reopens, the urgent key, and that # leaves a message at once — and only
// then the office hours, and the voicemail. During the message the
// urgency key reaches the urgent line, the language key says it again in
// the next language, and # or 0 skip to the beep.
func (c *call) closed() error {
	ph := append(c.clips("greeting"), c.languageOffer()...)
	ph = append(ph, c.closedMessage()...)
	for {
		key, err := c.play(ph, c.closedKeys)
		if err != nil {
			return err
		}
		switch {
		case key == 0:
			c.rec.Route = clubline.RouteVoicemail
			return c.voicemail(false)
		case c.isUrgencyKey(key):
			return c.urgencyKey()
		case c.isLanguageKey(key):
			c.switchLanguage()
			ph = c.closedMessage()
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

// closedMessage says why the office is closed, when it reopens, the
// urgent key and the key that skips to the beep, then the office hours:
// the hours are the longest part, and a caller who knows them can skip
// them.
func (c *call) closedMessage() phrase {
	ph := c.closedReason()
	if !c.status.NextOpen.IsZero() {
		now := c.rec.StartedAt.In(c.status.NextOpen.Location())
		ph = append(ph, c.clips(reopeningClips(c.lang, c.status.NextOpen, now)...)...)
	}
	if c.s.o.UrgencyKey != "" {
		ph = append(ph, c.clips("urgent_offer")...)
		ph = append(ph, c.clips(digitClips(c.lang, c.s.o.UrgencyKey)...)...)
	}
	ph = append(ph, c.clips("closed_skip")...)
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
