package ivr

import (
	"github.com/clubline/clubline"
)

// open is the script while the office is open: greeting, language offer,
// menu, then the chosen route. A key pressed during the greeting is taken
// as the menu choice.
func (c *call) open() error {
	key, err := c.play(append(c.clips("greeting"), c.languageOffer()...), anyKey)
	if err != nil {
		return err
	}
	return c.menu(key)
}

// languageOffer offers the next language, in that language: its
// language_offer then its digit for the language key.
func (c *call) languageOffer() phrase {
	next, ok := c.nextLanguage()
	if !ok {
		return nil
	}
	ph := clipsIn(next, "language_offer")
	return append(ph, clipsIn(next, digitClips(next, c.s.o.LanguageKey)...)...)
}

// nextLanguage is the language the language key switches to: the next one
// in Options.Languages, round the list.
func (c *call) nextLanguage() (string, bool) {
	langs := c.s.o.Languages
	if len(langs) < 2 || c.s.o.LanguageKey == "" {
		return "", false
	}
	for i, l := range langs {
		if l == c.lang {
			return langs[(i+1)%len(langs)], true
		}
	}
	return langs[0], true
}

func (c *call) isLanguageKey(k rune) bool {
	_, ok := c.nextLanguage()
	return ok && string(k) == c.s.o.LanguageKey
}

func (c *call) switchLanguage() {
	next, ok := c.nextLanguage()
	if !ok {
		return
	}
	c.lang = next
	c.rec.Language = next
	c.trace("language: %s", next)
}

// menuPhrase says every option: "for <category> press <key>", the urgent
// and message options in their own words.
func (c *call) menuPhrase() phrase {
	ph := c.clips("menu_intro")
	for _, opt := range c.s.o.Menu.Options {
		digit := digitClips(c.lang, opt.Key)
		switch opt.Route {
		case clubline.RouteUrgency:
			ph = append(ph, c.clips(append([]string{"urgent_option"}, digit...)...)...)
		case clubline.RouteVoicemail:
			ph = append(ph, c.clips(append([]string{"message_option"}, digit...)...)...)
		default:
			prompt := opt.Prompt
			if prompt == "" {
				prompt = "category_" + opt.Category
			}
			ph = append(ph, c.clips(append([]string{"for", prompt, "press"}, digit...)...)...)
		}
	}
	return ph
}

// menu says the menu and takes the caller's choice. key is a key already
// pressed (type-ahead), or 0. No key within the timeout or an invalid key
// costs one try; after Retries more tries the call takes the default route.
func (c *call) menu(key rune) error {
	c.stage(clubline.StageMenu)
	tries := 0
	for {
		if key == 0 {
			k, err := c.play(c.menuPhrase(), anyKey)
			if err != nil {
				return err
			}
			if k == 0 {
				if k, err = c.waitKey(c.s.o.Menu.Timeout, anyKey); err != nil {
					return err
				}
			}
			key = k
		}
		if key != 0 && c.isLanguageKey(key) {
			c.switchLanguage()
			key = 0
			continue
		}
		var feedback string
		if key == 0 {
			c.trace("menu: no input")
			feedback = "no_input"
		} else if opt, ok := c.s.keys[key]; ok {
			return c.choose(opt)
		} else {
			c.trace("menu: invalid key")
			feedback = "invalid"
		}
		tries++
		k, err := c.play(c.clips(feedback), anyKey)
		if err != nil {
			return err
		}
		if tries > c.s.o.Menu.Retries {
			if opt, ok := c.s.keys[k]; ok && k != 0 {
				return c.choose(opt) // pressed during the last feedback
			}
			return c.defaultRoute()
		}
		key = k // a key pressed during the feedback is the next choice
	}
}

func (c *call) choose(opt MenuOption) error {
	c.rec.Choice = opt.Key
	c.trace("menu: %s %s → %s", opt.Key, opt.Category, opt.Route)
	return c.route(opt.Route, opt.Category)
}

// defaultRoute is where a caller who never chose goes, with the category
// of the first option that leads there.
func (c *call) defaultRoute() error {
	route := c.s.o.Menu.Default
	category := ""
	for _, opt := range c.s.o.Menu.Options {
		if opt.Route == route {
			category = opt.Category
			break
		}
	}
	c.trace("menu: no choice → %s (default)", route)
	return c.route(route, category)
}

// route takes the call where a choice leads: a message, the urgent line,
// or a staff group's queue; the category is kept whatever happens.
func (c *call) route(route, category string) error {
	c.rec.Route = route
	c.rec.Category = category
	switch {
	case route == clubline.RouteVoicemail:
		return c.voicemail(false)
	case route == clubline.RouteUrgency:
		return c.urgencyLine()
	case c.s.groups[route] != nil:
		return c.queue(c.s.groups[route], false)
	default:
		return failf("unknown route %q", route)
	}
}
