package ivr

// Decisions (recording prompts by phone, the PBX feature):
//   - Who: a call whose phone the registrar authenticated as a staff
//     member's (Inbound.Staff) to Options.Studio.Code ("*77"), from a
//     staff member with Admin. Anyone else who reaches the code hears
//     studio_denied and is hung up: the sip package refuses the code to
//     strangers already, this is the second lock.
//   - One prompt at a time rather than a menu of prompts by key: there are
//     more prompts in more languages than keys, and an admin walking
//     through them hears what each is for ("Message à enregistrer :
//     l'accueil, en français"). 1 records, 2 plays the version callers
//     hear now, 3 goes to the next; hanging up ends. The prompts are
//     prompts.Recordables() marked Phone, each in every language of the
//     line, a prompt's languages one after the other.
//   - Recording reuses the voicemail's machinery (messageSink, capture):
//     # ends it, so do the voicemail's silence timeout and a length just
//     under the 30 s a prompt may last; it is kept in memory, not on disk,
//     until the admin keeps it.
//   - What is played back is what callers will hear (prompts.Prepare:
//     trimmed, levelled, faded); 1 keeps it as a new version
//     (PromptRecordings.Save), 2 records again, 3 goes on without it.
//     New calls hear a kept recording at once: the recordings announce the
//     change and the process builds the script again; this call keeps its
//     own prompts.
//   - The session is not a caller's call: no call record, no call metric.
//     The log says who recorded which prompt, never a digit pressed.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// StudioOptions let staff with the admin role record prompts by phone.
type StudioOptions struct {
	// Code is what they dial ("*77"); "": no recording by phone.
	Code string
}

// PromptRecordings keeps the club's recordings of its prompts
// (*prompts.Recordings).
type PromptRecordings interface {
	// Save keeps frames (8 kHz, prepared by prompts.Prepare) as the new
	// current version of lang/name.
	Save(lang, name string, frames []media.Frame, m prompts.Meta) (prompts.Version, error)
}

// WithRecordings sets where prompts recorded by phone are kept.
func WithRecordings(r PromptRecordings) Option { return func(s *Script) { s.recordings = r } }

func (s *Script) isStudioCall(in Inbound) bool {
	return s.o.Studio.Code != "" && in.Staff != "" && in.To == s.o.Studio.Code
}

// studioItem is one prompt to record in one language.
type studioItem struct{ lang, name string }

func (it studioItem) String() string { return it.lang + "/" + it.name }

// studioItems are the prompts offered by phone, each in every language of
// the line, that the instructions can name.
func (c *call) studioItems() []studioItem {
	var items []studioItem
	for _, r := range prompts.Recordables() {
		if !r.Phone || !c.s.prompts.Has(c.lang, "studio_name_"+r.Name) {
			continue
		}
		for _, lang := range c.s.o.Languages {
			if c.s.prompts.Has(c.lang, "studio_lang_"+lang) {
				items = append(items, studioItem{lang, r.Name})
			}
		}
	}
	return items
}

// Keys of the studio.
const (
	studioRecord = '1' // record it; after a recording: keep it
	studioListen = '2' // hear the current version; after a recording: record again
	studioNext   = '3' // the next prompt; after a recording: without keeping it
)

func studioKeys(k rune) bool { return k == studioRecord || k == studioListen || k == studioNext }

// studio runs a staff member's session of recording prompts, and hangs
// up at its end.
func (s *Script) studio(ctx context.Context, in Inbound) {
	c := s.newCall(ctx, in)
	c.log = c.log.With("staff", in.Staff)
	err := c.studioSession(in.Staff)
	var f *failure
	if errors.As(err, &f) {
		c.log.Error("recording prompts by phone failed", "err", f.what)
		c.failed = true
		_, _ = c.play(c.clips("technical_difficulty", "goodbye"), noKeys)
	}
	if !c.gone() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		if herr := c.leg.Hangup(hctx); herr != nil {
			c.log.Warn("hanging up", "err", herr)
		}
		cancel()
	}
	c.log.Info("recording prompts by phone ended")
}

func (c *call) studioSession(staff string) error {
	st := c.s.staff[staff]
	if st == nil || !st.Admin || c.s.recordings == nil {
		c.log.Warn("recording prompts by phone refused: not a staff member with the admin role, or nowhere to keep them",
			"known", st != nil, "admin", st != nil && st.Admin)
		_, err := c.play(c.clips("studio_denied"), noKeys)
		return err
	}
	c.log.Info("recording prompts by phone")
	if _, err := c.play(c.clips("studio_welcome"), noKeys); err != nil {
		return err
	}
	items := c.studioItems()
	tries := 0
	var next rune // a key pressed while the current version played
	for i := 0; i < len(items); {
		it := items[i]
		key := next
		if next = 0; key == 0 {
			var err error
			ph := append(c.clips("studio_item", "studio_name_"+it.name, "studio_lang_"+it.lang), c.clips("studio_choose")...)
			key, err = c.play(ph, studioKeys)
			if err == nil && key == 0 {
				key, err = c.waitKey(c.s.o.Menu.Timeout, studioKeys)
			}
			if err != nil {
				return err
			}
		}
		switch key {
		case studioRecord:
			tries = 0
			if err := c.studioRecord(it, staff); err != nil {
				return err
			}
			i++
		case studioListen:
			tries = 0
			k, err := c.play(c.nowHeard(it), studioKeys)
			if err != nil {
				return err
			}
			next = k
		case studioNext:
			tries = 0
			i++
		default:
			if tries++; tries > c.s.o.Menu.Retries {
				_, err := c.play(c.clips("goodbye"), noKeys)
				return err
			}
		}
	}
	_, err := c.play(c.clips("studio_done"), noKeys)
	return err
}

// nowHeard is what callers hear of a prompt now: its clip, or for the
// whole voicemail instruction, which the built-in set lacks, the one
// said from the configuration.
func (c *call) nowHeard(it studioItem) phrase {
	switch {
	case c.s.prompts.Has(it.lang, it.name):
		return clipsIn(it.lang, it.name)
	case it.name == fullInstruction:
		return clipsIn(it.lang, prompts.VoicemailInstruction(it.lang, c.s.o.Voicemail.FollowUpWithin)...)
	}
	return nil
}

// studioLimits are the voicemail's, with a length a prompt may have.
func (c *call) studioLimits() VoicemailOptions {
	vo := c.s.o.Voicemail
	vo.MaxLength = min(vo.MaxLength, prompts.MaxDuration-time.Second)
	return vo
}

// studioRecord records one prompt until it is kept or given up; it
// returns nil to go on to the next prompt.
func (c *call) studioRecord(it studioItem, staff string) error {
	unheard := 0 // recordings that held nothing usable, in a row
	for {
		if _, err := c.play(c.clips("studio_record", "beep"), noKeys); err != nil {
			return err
		}
		frames, why, err := c.recordPrompt()
		if err != nil {
			return err
		}
		prepared, perr := prompts.Prepare(it.name, frames)
		if perr != nil {
			c.log.Info("prompt recorded by phone is not usable", "prompt", it.String(), "why", perr)
			if _, err := c.play(c.clips("studio_not_heard"), noKeys); err != nil {
				return err
			}
			if unheard++; unheard > c.s.o.Menu.Retries {
				return nil
			}
			continue
		}
		unheard = 0
		ph := c.clips("studio_playback")
		if why == stopMax {
			ph = append(c.clips("studio_too_long"), ph...)
		}
		key, err := c.review(ph, prepared)
		switch {
		case err != nil:
			return err
		case key == studioListen:
			continue
		case key != studioRecord:
			return nil
		}
		v, err := c.s.recordings.Save(it.lang, it.name, prepared, prompts.Meta{By: staff, Via: prompts.ViaPhone})
		if err != nil {
			c.log.Error("saving a prompt recorded by phone", "prompt", it.String(), "err", err)
			_, err := c.play(c.clips("studio_not_saved"), noKeys)
			return err
		}
		c.log.Info("prompt recorded by phone: new calls hear it", "prompt", it.String(), "version", v.N,
			"duration", v.Duration.Round(10*time.Millisecond))
		_, err = c.play(c.clips("studio_saved"), noKeys)
		return err
	}
}

// review plays back a recording after ph and asks what to do with it: 1
// keep, 2 again, 3 next; no key after the menu's retries is 3.
func (c *call) review(ph phrase, frames []media.Frame) (rune, error) {
	key, err := c.play(ph, noKeys)
	if err == nil {
		key, err = c.playSource(media.NewFramesSource(frames), "the recording", studioKeys)
	}
	for tries := 0; err == nil && key == 0; tries++ {
		if tries > c.s.o.Menu.Retries {
			return studioNext, nil
		}
		if key, err = c.play(c.clips("studio_review"), studioKeys); err == nil && key == 0 {
			key, err = c.waitKey(c.s.o.Menu.Timeout, studioKeys)
		}
	}
	return key, err
}

// recordPrompt records the staff member after the beep, into memory.
func (c *call) recordPrompt() ([]media.Frame, string, error) {
	vo := c.studioLimits()
	w := &memRecorder{}
	why, err := c.capture(newMessageSink(w, vo), vo)
	switch {
	case why == stopHangup || why == stopEnded || c.gone():
		return nil, why, errEnded
	case err != nil:
		return nil, why, failf("recording a prompt: %v", err)
	}
	c.log.Debug("prompt recorded", "stopped", why, "duration", w.Duration(), slog.Int("frames", len(w.frames)))
	return w.frames, why, nil
}

// memRecorder keeps a recording in memory (a Recorder).
type memRecorder struct{ frames []media.Frame }

func (m *memRecorder) WriteFrame(f *media.Frame) error {
	m.frames = append(m.frames, *f)
	return nil
}

func (m *memRecorder) Close() error { return nil }

func (m *memRecorder) Duration() time.Duration {
	return time.Duration(len(m.frames)) * media.FrameDuration
}
