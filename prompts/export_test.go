package prompts

import (
	"context"

	"github.com/clubline/clubline/media"
)

// Resample is resample, for the tests of the resampler.
var Resample = resample

// SaySentence says the club-naming prompt lang/name for club, as Apply
// does, even for the built-in club (which Apply leaves alone).
func SaySentence(ctx context.Context, sy *Synth, lang, name string, club Club) ([]media.Frame, string, error) {
	s, err := club.spoken()
	if err != nil {
		return nil, "", err
	}
	text := sentence(lang, templates()[lang][name], s)
	frames, err := sy.say(ctx, voiceOf(lang), text)
	return frames, text, err
}

// Spoken is how the French templates say c: "le Club X", "du Club X".
func Spoken(c Club) (leClub, duClub string, err error) {
	s, err := c.spoken()
	return s.leClub, s.duClub, err
}
