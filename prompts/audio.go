package prompts

// Decisions (how a clip is shaped, in Go, as generate.sh shapes it with
// sox):
//   - Speech from espeak-ng goes through what generate.sh does, in the same
//     order: 8 kHz mono; "silence 1 0.005 0.1% reverse silence 1 0.005
//     0.1% reverse" (the sound starts at the first 5 ms whose 20 ms RMS is
//     over 0.1% of full scale, from each end); "gain -n -3" (peak at
//     -3 dBFS); "fade t 0.04 -0 0.04" (linear, 40 ms each end); "pad 0
//     0.06" (60 ms of silence after, the only gap between two clips played
//     in a row). sox's dither is left out: at 16 bits it is noise 90 dB
//     down, and leaving it out keeps silence silent.
//   - A recording (by phone or uploaded) gets the same treatment with a
//     threshold for a room or a phone line rather than a synthesizer:
//     sound is 30 ms over -45 dBFS RMS (the level under which ivr counts a
//     frame as silence), 100 ms are kept before and after so a soft first
//     consonant is not cut, and the gain is capped at +20 dB so a quiet
//     line's hiss is not raised to the level of speech. Callers then hear
//     recordings at the level of the built-in prompts, with the same gap.
//   - Hold music is brought to -9 dBFS like the built-in loop, with a
//     10 ms fade in and 300 ms fade out so the loop restarts cleanly, and
//     no gap.

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/clubline/clubline/media"
)

// shaping says how a clip is trimmed, brought to level and faded.
type shaping struct {
	level   float64 // 20 ms RMS (full scale 1) at or under which is silence
	run     int     // samples in a row over level that end a silence
	margin  int     // samples kept before and after the sound
	peak    float64 // dBFS the highest sample is brought to
	maxGain float64 // dB the gain stays under; 0: no limit
	fadeIn  int     // samples
	fadeOut int     // samples
	gap     int     // samples of silence after
}

func samplesIn(d time.Duration) int { return int(d * media.SampleRate / time.Second) }

func fromDB(db float64) float64 { return math.Pow(10, db/20) }

var (
	// synthesized is generate.sh's speak().
	synthesized = shaping{level: 0.001, run: samplesIn(5 * time.Millisecond), peak: -3,
		fadeIn: samplesIn(40 * time.Millisecond), fadeOut: samplesIn(40 * time.Millisecond),
		gap: samplesIn(60 * time.Millisecond)}
	// recordedSpeech is a person's recording of a spoken prompt.
	recordedSpeech = shaping{level: fromDB(-45), run: samplesIn(30 * time.Millisecond),
		margin: samplesIn(100 * time.Millisecond), peak: -3, maxGain: 20,
		fadeIn: samplesIn(40 * time.Millisecond), fadeOut: samplesIn(40 * time.Millisecond),
		gap: samplesIn(60 * time.Millisecond)}
	// recordedMusic is an uploaded hold music loop.
	recordedMusic = shaping{level: fromDB(-60), run: samplesIn(5 * time.Millisecond), peak: -9, maxGain: 20,
		fadeIn: samplesIn(10 * time.Millisecond), fadeOut: samplesIn(300 * time.Millisecond)}
)

// shape trims x (8 kHz, full scale 1) to its sound, brings its peak to
// level, fades it and adds the gap. It returns nil when x holds no sound.
func (sh shaping) shape(x []float64) []float64 {
	start := soundStart(x, sh.level, sh.run, false)
	if start < 0 {
		return nil
	}
	end := len(x) - soundStart(x, sh.level, sh.run, true)
	start, end = max(0, start-sh.margin), min(len(x), end+sh.margin)
	y := make([]float64, end-start, end-start+sh.gap)
	copy(y, x[start:end])

	peak := 0.0
	for _, v := range y {
		peak = max(peak, math.Abs(v))
	}
	gain := fromDB(sh.peak) / peak
	if sh.maxGain > 0 {
		gain = min(gain, fromDB(sh.maxGain))
	}
	for i := range y {
		y[i] *= gain
	}
	for i := 0; i < sh.fadeIn && i < len(y); i++ {
		y[i] *= float64(i) / float64(sh.fadeIn)
	}
	for i := 0; i < sh.fadeOut && i < len(y); i++ {
		y[len(y)-1-i] *= float64(i) / float64(sh.fadeOut)
	}
	return append(y, make([]float64, sh.gap)...)
}

// soundStart is sox's silence effect: the index of the first of run
// samples in a row whose RMS over the 20 ms that end with them is over
// level; -1 when there is none. reverse reads x from its end and counts
// from there.
func soundStart(x []float64, level float64, run int, reverse bool) int {
	window := samplesIn(20 * time.Millisecond)
	at := func(i int) float64 {
		if reverse {
			return x[len(x)-1-i]
		}
		return x[i]
	}
	var sum float64
	limit := level * level * float64(window)
	above := 0
	for i := range x {
		v := at(i)
		sum += v * v
		if i >= window {
			old := at(i - window)
			sum -= old * old
		}
		if sum > limit {
			above++
			if above >= run {
				return i - run + 1
			}
		} else {
			above = 0
		}
	}
	return -1
}

// toFrames rounds x (full scale 1) to 16-bit frames; the last frame is
// padded with silence.
func toFrames(x []float64) []media.Frame {
	frames := make([]media.Frame, (len(x)+media.FrameSamples-1)/media.FrameSamples)
	for i, v := range x {
		s := math.Round(v * 32768)
		frames[i/media.FrameSamples][i%media.FrameSamples] = int16(max(-32768, min(32767, s)))
	}
	return frames
}

// fromFrames is the inverse of toFrames.
func fromFrames(frames []media.Frame) []float64 {
	x := make([]float64, 0, len(frames)*media.FrameSamples)
	for i := range frames {
		for _, s := range frames[i] {
			x = append(x, float64(s)/32768)
		}
	}
	return x
}

// duration is how long n samples at 8 kHz last.
func duration(n int) time.Duration { return time.Duration(n) * time.Second / media.SampleRate }

// readClip reads an 8 kHz mono 16-bit WAV clubline wrote.
func readClip(path string) ([]media.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err == nil && len(frames) == 0 {
		err = errors.New("no audio")
	}
	return frames, err
}

// writeClip writes frames to path as an 8 kHz mono 16-bit WAV, through a
// temporary file renamed in place, so a reader never sees half of it.
func writeClip(path string, frames []media.Frame) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.wav")
	if err != nil {
		return err
	}
	name := tmp.Name()
	w, err := media.NewWAVRecorder(tmp)
	for i := 0; err == nil && i < len(frames); i++ {
		err = w.WriteFrame(&frames[i])
	}
	if err == nil {
		err = w.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}
