package ivr

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/clubline/clubline/media"
)

// clip is one prompt in one language.
type clip struct{ lang, name string }

// phrase is what one Play says: clips, possibly of several languages.
type phrase []clip

// clips is a phrase of the call's current language.
func (c *call) clips(names ...string) phrase {
	return clipsIn(c.lang, names...)
}

func clipsIn(lang string, names ...string) phrase {
	p := make(phrase, len(names))
	for i, n := range names {
		p[i] = clip{lang, n}
	}
	return p
}

// keySet decides which keys stop a prompt (barge-in); other keys are
// dropped.
type keySet func(k rune) bool

func anyKey(rune) bool { return true }
func noKeys(rune) bool { return false }

// play says ph to the caller. A key accepted by stop ends it at once and is
// returned; without one it returns 0 once ph has been said. It returns
// errEnded when the call is over, a *failure when a clip is missing (once
// the call has failed, missing clips are skipped) or the leg fails.
func (c *call) play(ph phrase, stop keySet) (rune, error) {
	ph, err := c.available(ph)
	if err != nil {
		return 0, err
	}
	if len(ph) == 0 {
		return 0, nil
	}
	return c.playSource(c.source(ph), ph.String(), stop)
}

// playSource plays src as play plays a phrase; what names it in errors.
func (c *call) playSource(src media.Source, what string, stop keySet) (rune, error) {
	if c.gone() {
		return 0, errEnded
	}
	pctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.leg.Play(pctx, src) }()
	var key rune
	digits := c.digits // nil once a key is taken: later keys wait for the next step
	for {
		select {
		case err := <-done:
			if c.gone() {
				return key, errEnded
			}
			if err != nil && key == 0 {
				return 0, failf("playing %s: %v", what, err)
			}
			return key, nil
		case k, ok := <-digits:
			if !ok {
				c.digits, digits = nil, nil // the leg closed it: the call is ending
				continue
			}
			if stop(k) {
				key = k
				digits = nil
				cancel()
			}
		case <-c.leg.Done():
			cancel()
			<-done
			return 0, errEnded
		case <-c.ctx.Done():
			<-done
			return 0, errEnded
		}
	}
}

// available checks that every clip of ph exists. After a failure the
// missing ones are dropped rather than failing again.
func (c *call) available(ph phrase) (phrase, error) {
	out := ph[:0:0]
	for _, cl := range ph {
		if c.s.prompts.Has(cl.lang, cl.name) {
			out = append(out, cl)
			continue
		}
		if !c.failed {
			return nil, failf("prompt %s missing in %s", cl.name, cl.lang)
		}
		c.log.Warn("prompt missing", "prompt", cl.name, "language", cl.lang)
	}
	return out, nil
}

// source joins the clips of ph, one Source per run of one language.
func (c *call) source(ph phrase) media.Source {
	var parts []media.Source
	for i := 0; i < len(ph); {
		j := i
		var names []string
		for j < len(ph) && ph[j].lang == ph[i].lang {
			names = append(names, ph[j].name)
			j++
		}
		parts = append(parts, c.s.prompts.Source(ph[i].lang, names...))
		i = j
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return &concat{parts: parts}
}

func (ph phrase) String() string {
	s := ""
	for i, cl := range ph {
		if i > 0 {
			s += " "
		}
		s += cl.lang + "/" + cl.name
	}
	return s
}

// concat plays sources one after the other.
type concat struct{ parts []media.Source }

func (s *concat) ReadFrame(f *media.Frame) error {
	for len(s.parts) > 0 {
		err := s.parts[0].ReadFrame(f)
		if !errors.Is(err, io.EOF) {
			return err
		}
		s.parts = s.parts[1:]
	}
	return io.EOF
}

// waitKey waits up to d for a key, after a prompt has been said. It returns
// 0 when none came.
func (c *call) waitKey(d time.Duration, accept keySet) (rune, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case k, ok := <-c.digits:
			if !ok {
				c.digits = nil
				continue
			}
			if accept(k) {
				return k, nil
			}
		case <-t.C:
			return 0, nil
		case <-c.leg.Done():
			return 0, errEnded
		case <-c.ctx.Done():
			return 0, errEnded
		}
	}
}
