package prompts

// Decisions (the club's name said at run time):
//   - Whole sentences, not a name spliced into the built-in clips: the
//     club-naming lines of fr.txt and en.txt (embedded, so the wording has
//     one source) are filled for the configured club and said by
//     espeak-ng with generate.sh's voice and speed, then shaped as
//     generate.sh shapes them (audio.go). espeak-ng phrases a sentence as
//     a whole: its intonation falls at the end of "… le Club X." and a
//     name pasted between two clips cut from other sentences would sound
//     pasted, with a pitch jump and a gap at each cut. For the built-in
//     club the result is the built-in clip, near enough (a test compares
//     them), so a club hears the same voice in every prompt.
//   - Only prompts that are still the built-in ones are said: a clip in
//     the admin's prompts folder is the club's choice and stays, and the
//     club's recordings are laid over everything after (Recordings).
//   - espeak-ng runs as a subprocess with its arguments in a list (never
//     a shell) and the sentence on its standard input, so no name can be
//     read as an option; the name is escaped for SSML, its control
//     characters and brackets (phoneme input) dropped, its length capped.
//     Each run has a time limit and its output a size limit.
//   - Clips are cached as 8 kHz WAV in the data folder, named by a hash
//     of what makes the sound (voice, speed, SSML sentence, the shaping's
//     version): a restart reads them and runs nothing. Clips of a former
//     name stay until someone clears the folder: a few tens of KiB each.
//   - Without espeak-ng, the built-in clips stay and Apply says so
//     (ErrNoEspeak); `clubline check` then warns (CheckClub).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/clubline/clubline/media"
)

// generate.sh's voices and speed (FR_VOICE, EN_VOICE, SPEED).
const (
	frVoice = "fr-fr"
	enVoice = "en-us"
	speed   = 150
)

// shapingVersion changes when the shaping of synthesized clips does, so
// cached clips are made again.
const shapingVersion = "1"

// ErrNoEspeak says espeak-ng is not installed: the built-in clips stay.
var ErrNoEspeak = errors.New("espeak-ng is not installed: the prompts that name the club keep the built-in's " +
	BuiltinClub + "; install it (apt-get install -y espeak-ng), or record them")

// SynthOptions configure a Synth.
type SynthOptions struct {
	// CacheDir keeps the clips made (created if missing); "": none kept.
	CacheDir string
	// Espeak is the espeak-ng program; "": espeak-ng from PATH.
	Espeak string
	// Timeout bounds one run of espeak-ng; zero: 10 s.
	Timeout time.Duration
	Logger  *slog.Logger // nil: none
}

// Synth says the club-naming prompts for the configured club with
// espeak-ng. It is safe for concurrent use.
type Synth struct {
	o SynthOptions
}

// NewSynth returns a Synth.
func NewSynth(o SynthOptions) *Synth {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Synth{o: o}
}

// Apply returns base with each club-naming prompt (ClubPrompts) that is
// still the built-in one said for club, in every language of base; the
// clips are marked FromSynthesized. For the built-in club it returns
// base. The set it returns is always usable: when a clip cannot be made
// it is base, and the error says why (errors.Is ErrNoEspeak when
// espeak-ng is missing).
func (sy *Synth) Apply(ctx context.Context, base *Set, club Club) (*Set, error) {
	if club.isBuiltin() {
		return base, nil
	}
	s, err := club.spoken()
	if err != nil {
		return base, fmt.Errorf("prompts: saying the club's name: %w", err)
	}
	set := base.clone()
	for _, lang := range base.Languages() {
		byName := templates()[lang]
		names := make([]string, 0, len(byName))
		for name := range byName {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if o, ok := base.Origin(lang, name); !ok || o.Kind != FromBuiltin {
				continue
			}
			text := sentence(lang, byName[name], s)
			frames, err := sy.say(ctx, voiceOf(lang), text)
			if errors.Is(err, ErrNoEspeak) {
				return base, err
			}
			if err != nil {
				// espeak-ng stuck or failing fails every sentence:
				// the built-in clips stay, all of them, in one voice.
				return base, fmt.Errorf("prompts: saying %s/%s for the club: %w", lang, name, err)
			}
			set.put(lang, name, frames, Origin{Kind: FromSynthesized,
				Note: fmt.Sprintf("espeak-ng %s: « %s »", voiceOf(lang), text)})
		}
	}
	return set, nil
}

func voiceOf(lang string) string {
	if lang == French {
		return frVoice
	}
	return enVoice
}

// say returns the clip of one SSML sentence, from the cache or espeak-ng.
func (sy *Synth) say(ctx context.Context, voice, text string) ([]media.Frame, error) {
	sum := sha256.Sum256([]byte(voice + "\x00" + strconv.Itoa(speed) + "\x00" + text + "\x00" + shapingVersion))
	cached := ""
	if sy.o.CacheDir != "" {
		cached = filepath.Join(sy.o.CacheDir, hex.EncodeToString(sum[:12])+".wav")
		if frames, err := readClip(cached); err == nil {
			return frames, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			sy.o.Logger.Warn("prompts: a synthesized clip in the cache cannot be read: it is made again", "file", cached, "err", err)
		}
	}
	wav, err := sy.espeak(ctx, voice, text)
	if err != nil {
		return nil, err
	}
	x, rate, err := parseWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("reading espeak-ng's output: %w", err)
	}
	y := synthesized.shape(resample(x, rate, media.SampleRate))
	switch {
	case y == nil:
		return nil, errors.New("espeak-ng said nothing")
	case duration(len(y)) >= MaxDuration:
		return nil, fmt.Errorf("the sentence lasts %s: shorten club.name", duration(len(y)).Round(100*time.Millisecond))
	}
	frames := toFrames(y)
	if cached != "" {
		if err := writeClip(cached, frames); err != nil {
			sy.o.Logger.Warn("prompts: a synthesized clip cannot be kept: it will be made again at the next start", "file", cached, "err", err)
		}
	}
	return frames, nil
}

// maxSpeech bounds what espeak-ng may write: a minute at 22.05 kHz.
const maxSpeech = 4 << 20

// espeak runs espeak-ng on one SSML sentence and returns its WAV.
func (sy *Synth) espeak(ctx context.Context, voice, text string) ([]byte, error) {
	prog := sy.o.Espeak
	if prog == "" {
		prog = "espeak-ng"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, ErrNoEspeak
	}
	tctx, cancel := context.WithTimeout(ctx, sy.o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, path, "-v", voice, "-s", strconv.Itoa(speed), "-m", "--stdin", "--stdout")
	cmd.Stdin = bytes.NewBufferString(text)
	cmd.WaitDelay = 200 * time.Millisecond
	var out cappedBuffer
	out.max = maxSpeech
	var stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	switch {
	case out.over:
		return nil, fmt.Errorf("espeak-ng said more than a minute: shorten club.name")
	case err != nil && tctx.Err() != nil && ctx.Err() == nil:
		return nil, fmt.Errorf("espeak-ng took more than %s", sy.o.Timeout)
	case err != nil:
		return nil, fmt.Errorf("espeak-ng: %s", stderr.firstLine(err))
	}
	return out.Bytes(), nil
}

// cappedBuffer keeps up to max bytes and notes that more came.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return 0, io.ErrShortWrite // espeak-ng stops on a broken pipe
	}
	return b.Buffer.Write(p)
}
