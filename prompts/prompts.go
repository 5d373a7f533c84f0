// Package prompts holds what callers hear: the built-in French and English
// prompt set, embedded in the binary, with the clips an admin records to
// replace or add to it, decoded once at start-up into media frames.
//
// Prompts are named clips ("greeting", "press", "digit_8"); sentences that
// carry a runtime part (a key, a day, a time) are cut where that part goes,
// and the functions in compose.go return the names that say it, in each
// language's word order. The wording is in fr.txt and en.txt; generate.sh
// turns it into fr/*.wav and en/*.wav.
package prompts

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/media"
)

// The built-in languages.
const (
	French  = "fr"
	English = "en"
)

//go:embed fr/*.wav en/*.wav
var builtinFS embed.FS

// Set is a decoded prompt set: for each language, clips by name. A Set does
// not change once made, so one may be shared by every call.
type Set struct {
	clips map[string]map[string][]media.Frame
	// origins says where a clip comes from when it is not the built-in
	// one (origin.go).
	origins map[string]map[string]Origin
}

// Builtin returns the embedded prompt set. It is decoded on the first call;
// later calls return the same Set.
func Builtin() (*Set, error) { return builtin() }

var builtin = sync.OnceValues(decodeBuiltin)

func decodeBuiltin() (*Set, error) {
	s := &Set{clips: map[string]map[string][]media.Frame{}}
	for _, lang := range []string{French, English} {
		entries, err := builtinFS.ReadDir(lang)
		if err != nil {
			return nil, fmt.Errorf("prompts: built-in %s: %w", lang, err)
		}
		clips := make(map[string][]media.Frame, len(entries))
		for _, e := range entries {
			b, err := fs.ReadFile(builtinFS, path.Join(lang, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("prompts: built-in %s/%s: %w", lang, e.Name(), err)
			}
			frames, err := media.DecodeWAV(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("prompts: built-in %s/%s: %w", lang, e.Name(), err)
			}
			clips[strings.TrimSuffix(e.Name(), ".wav")] = frames
		}
		s.clips[lang] = clips
	}
	return s, nil
}

// Languages returns the languages of the set, sorted.
func (s *Set) Languages() []string {
	langs := make([]string, 0, len(s.clips))
	for lang := range s.clips {
		langs = append(langs, lang)
	}
	slices.Sort(langs)
	return langs
}

// Names returns the names of the clips of lang, sorted.
func (s *Set) Names(lang string) []string {
	names := make([]string, 0, len(s.clips[lang]))
	for name := range s.clips[lang] {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Has reports whether lang has a clip called name.
func (s *Set) Has(lang, name string) bool {
	_, ok := s.clips[lang][name]
	return ok
}

// Missing returns the names that lang has no clip for, in the order given.
func (s *Set) Missing(lang string, names ...string) []string {
	var missing []string
	for _, name := range names {
		if !s.Has(lang, name) {
			missing = append(missing, name)
		}
	}
	return missing
}

// Frames returns the frames of one clip, or nil. The slice is shared by
// every user of the set: read it, never write it.
func (s *Set) Frames(lang, name string) []media.Frame {
	return s.clips[lang][name]
}

// Duration returns how long the named clips last when played in a row.
func (s *Set) Duration(lang string, names ...string) time.Duration {
	n := 0
	for _, name := range names {
		n += len(s.clips[lang][name])
	}
	return time.Duration(n) * media.FrameDuration
}

// Source plays the named clips of lang one after the other, with no gap but
// the short one each clip ends with. A name the set does not have is
// skipped: check names with Missing when the configuration is loaded.
// Making the source allocates once for up to six names; ReadFrame never
// allocates.
func (s *Set) Source(lang string, names ...string) media.Source {
	src := &clipSource{}
	src.clips = src.inline[:0]
	byName := s.clips[lang]
	for _, name := range names {
		if frames := byName[name]; len(frames) > 0 {
			src.clips = append(src.clips, frames)
		}
	}
	return src
}

type clipSource struct {
	clips  [][]media.Frame
	inline [6][]media.Frame
	clip   int // index in clips
	pos    int // frame index in clips[clip]
}

func (c *clipSource) ReadFrame(f *media.Frame) error {
	for c.clip < len(c.clips) && c.pos >= len(c.clips[c.clip]) {
		c.clip++
		c.pos = 0
	}
	if c.clip >= len(c.clips) {
		return io.EOF
	}
	*f = c.clips[c.clip][c.pos]
	c.pos++
	return nil
}

// clone returns a copy of s whose maps may be changed; the frames are
// shared.
func (s *Set) clone() *Set {
	c := &Set{
		clips:   make(map[string]map[string][]media.Frame, len(s.clips)),
		origins: make(map[string]map[string]Origin, len(s.origins)),
	}
	for lang, clips := range s.clips {
		c.clips[lang] = maps.Clone(clips)
	}
	for lang, origins := range s.origins {
		c.origins[lang] = maps.Clone(origins)
	}
	return c
}

// put sets one clip of a set being made (a clone) and where it comes from.
func (s *Set) put(lang, name string, frames []media.Frame, o Origin) {
	if s.clips[lang] == nil {
		s.clips[lang] = map[string][]media.Frame{}
	}
	s.clips[lang][name] = frames
	if s.origins == nil {
		s.origins = map[string]map[string]Origin{}
	}
	if s.origins[lang] == nil {
		s.origins[lang] = map[string]Origin{}
	}
	s.origins[lang][name] = o
}

// Catalogue returns the names every built-in language has: the sentences,
// categories, holidays, days, months, numbers 0 to 59 (and 60, 80, 100),
// ordinals 1 to 31, keys, the sounds, and what recording by phone says. Each language also has the
// fragments its own word order needs (French hour_0..hour_23, English am
// and pm, ...), which the functions of compose.go return.
func Catalogue() []string {
	names := slices.Clone(catalogueWords)
	for _, d := range weekdays {
		names = append(names, "day_"+d)
	}
	for _, m := range months {
		names = append(names, "month_"+m)
	}
	for i := 0; i < 60; i++ {
		names = append(names, numName(i))
	}
	names = append(names, "num_60", "num_80", "num_100")
	for i := 1; i <= maxOrdinal; i++ {
		names = append(names, "ord_"+strconv.Itoa(i))
	}
	for i := 0; i < 10; i++ {
		names = append(names, "digit_"+strconv.Itoa(i))
	}
	// Recording by phone: each prompt offered and each language by name.
	for _, r := range recordables {
		if r.Phone {
			names = append(names, "studio_name_"+r.Name)
		}
	}
	return append(names, "studio_lang_"+French, "studio_lang_"+English)
}

var catalogueWords = []string{
	// greeting and menu
	"greeting", "language_offer", "menu_intro", "for", "press",
	"urgent_option", "message_option", "invalid", "no_input",
	// categories
	"category_registrations", "category_programs", "category_schedules",
	"category_equipment", "category_coaching", "category_sponsors",
	"category_development", "category_urgent", "category_message",
	// closed office, hours, reopening
	"closed", "hours_intro", "hours_from", "hours_to", "hours_and",
	"closed_today_for", "closed_today", "reopening", "at", "tomorrow",
	"later_today", "urgent_offer", "day_to", "midi", "minuit",
	// holidays and closures
	"holiday_new_year", "holiday_good_friday", "holiday_easter_monday",
	"holiday_patriots_day", "holiday_victoria_day", "holiday_fete_nationale",
	"holiday_canada_day", "holiday_labour_day", "holiday_truth_reconciliation",
	"holiday_thanksgiving", "holiday_remembrance_day", "holiday_christmas",
	"holiday_boxing_day", "closure_holidays",
	// keys
	"digit_star", "digit_pound",
	// voicemail and goodbyes
	"voicemail", "voicemail_callback", "voicemail_end", "hours", "days",
	"beep", "voicemail_saved", "no_message", "goodbye",
	"technical_difficulty", "voicemail_failed", "voicemail_partial",
	// queue, transfer, staff phones
	"queue_position", "queue_position_suffix", "queue_many", "queue_wait",
	"minutes", "minute", "queue_exit", "queue_nobody", "closed_skip", "connecting", "transfer",
	"hold_music", "call_confirm", "call_confirm_answer",
	// queued callback
	"callback_offer", "callback_number", "callback_confirm", "callback_refused",
	"callback_noted", "callback_hello", "callback_staff", "callback_staff_dialing",
	"callback_no_answer", "callback_retry",
	// recording prompts by phone
	"studio_welcome", "studio_item", "studio_choose", "studio_record",
	"studio_playback", "studio_review", "studio_saved", "studio_not_heard",
	"studio_too_long", "studio_not_saved", "studio_done", "studio_denied",
	// the post-call survey
	"survey_question", "survey_thanks",
}
