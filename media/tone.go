package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Sources for prompts-free audio (tests, the test phone, beeps) and a tone
// detector to check what a leg heard by frequency, never by bytes.

// framesFor is the number of whole frames that cover d.
func framesFor(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + FrameDuration - 1) / FrameDuration)
}

type toneSource struct {
	step, phase float64 // radians per sample, current phase
	amp         float64
	left        int // frames
}

// Tone is a sine at freq Hz and the given peak amplitude, lasting dur
// rounded up to whole frames.
func Tone(freq float64, dur time.Duration, amplitude int16) Source {
	return &toneSource{step: 2 * math.Pi * freq / SampleRate, amp: float64(amplitude), left: framesFor(dur)}
}

func (t *toneSource) ReadFrame(f *Frame) error {
	if t.left <= 0 {
		return io.EOF
	}
	t.left--
	for i := range f {
		f[i] = int16(math.Round(t.amp * math.Sin(t.phase)))
		t.phase += t.step
	}
	t.phase = math.Mod(t.phase, 2*math.Pi)
	return nil
}

type silenceSource struct{ left int }

// Silence is dur of zero samples, rounded up to whole frames.
func Silence(dur time.Duration) Source { return &silenceSource{left: framesFor(dur)} }

func (s *silenceSource) ReadFrame(f *Frame) error {
	if s.left <= 0 {
		return io.EOF
	}
	s.left--
	clear(f[:])
	return nil
}

type concatSource struct{ srcs []Source }

// Concat plays the sources one after the other.
func Concat(srcs ...Source) Source { return &concatSource{srcs: srcs} }

func (c *concatSource) ReadFrame(f *Frame) error {
	for len(c.srcs) > 0 {
		err := c.srcs[0].ReadFrame(f)
		if !errors.Is(err, io.EOF) {
			return err
		}
		c.srcs = c.srcs[1:]
	}
	return io.EOF
}

type loopSource struct {
	frames []Frame
	pos    int
}

// Loop plays decoded frames again and again (hold music); it never ends, so
// stop it with the context given to Play. An empty slice ends at once. The
// slice is shared, not copied. (NewFramesSource plays frames once.)
func Loop(frames []Frame) Source { return &loopSource{frames: frames} }

func (s *loopSource) ReadFrame(f *Frame) error {
	if len(s.frames) == 0 {
		return io.EOF
	}
	if s.pos >= len(s.frames) {
		s.pos = 0
	}
	*f = s.frames[s.pos]
	s.pos++
	return nil
}

// ReadAll reads src to its end, at most max frames (max <= 0: no limit).
func ReadAll(src Source, max int) ([]Frame, error) {
	var out []Frame
	for max <= 0 || len(out) < max {
		var f Frame
		err := src.ReadFrame(&f)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("media: read frame %d: %w", len(out), err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Flatten concatenates the samples of frames.
func Flatten(frames []Frame) []int16 {
	out := make([]int16, 0, len(frames)*FrameSamples)
	for i := range frames {
		out = append(out, frames[i][:]...)
	}
	return out
}

// ToneLevel measures the component of samples at freq Hz with the Goertzel
// algorithm. It returns its peak amplitude as a fraction of full scale: a
// full-scale sine at freq gives about 1, a 8000-peak sine about 0.24.
// Measure at least 100 ms (800 samples) for a selectivity of ~10 Hz.
func ToneLevel(samples []int16, freq float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if power < 0 {
		power = 0
	}
	return 2 * math.Sqrt(power) / float64(len(samples)) / 32768
}

// DetectTone reports whether samples hold a tone at freq Hz: at least
// -40 dBFS, and carrying most of the energy of the signal (so speech, noise
// or a tone at another frequency do not count).
func DetectTone(samples []int16, freq float64) bool {
	level := ToneLevel(samples, freq)
	if level < 0.01 {
		return false
	}
	var energy float64
	for _, x := range samples {
		v := float64(x) / 32768
		energy += v * v
	}
	// A sine of peak A has mean power A*A/2.
	return level*level/2 >= 0.5*energy/float64(len(samples))
}
