package hearing

import (
	"fmt"
	"math"
	"time"

	"github.com/clubline/clubline/media"
)

// Segment is a stretch of sound (speech, a tone, music) between silences
// in what the phone heard.
type Segment struct {
	Start    time.Duration // from the answer
	Duration time.Duration
	Level    float64 // RMS level in dBFS (0 is full scale)
}

func (s Segment) String() string {
	return fmt.Sprintf("%s +%s (%.0f dBFS)", s.Start.Round(10*time.Millisecond),
		s.Duration.Round(10*time.Millisecond), s.Level)
}

// End is when the segment stops.
func (s Segment) End() time.Duration { return s.Start + s.Duration }

// Samples returns the part of samples (as from Heard) the segment spans.
func (s Segment) Samples(samples []int16) []int16 {
	from := min(len(samples), int(s.Start/time.Millisecond)*media.SampleRate/1000)
	to := min(len(samples), int(s.End()/time.Millisecond)*media.SampleRate/1000)
	return samples[from:to]
}

// How Segments splits sound from silence.
const (
	// SilenceLevel: a 20 ms frame quieter than this (dBFS RMS) is silence.
	// G.711 silence and comfort noise sit far below; speech and prompts above.
	SilenceLevel = -45.0
	// MinGap: silences shorter than this (pauses between words) do not end
	// a segment.
	MinGap = 300 * time.Millisecond
	// MinSegment: sound shorter than this (a click) is not a segment.
	MinSegment = 60 * time.Millisecond
)

// Segments splits 8 kHz samples into sounds and silences and returns the
// sounds, in order: a prompt, a tone, a beep each give one segment.
func Segments(samples []int16) []Segment {
	const frame = media.FrameSamples
	frameDur := media.FrameDuration
	var out []Segment
	var cur *Segment
	var sumSquares float64
	var curFrames int
	var silentRun time.Duration
	closeCur := func() {
		if cur != nil && cur.Duration >= MinSegment {
			cur.Level = dBFS(sumSquares / float64(curFrames*frame))
			out = append(out, *cur)
		}
		cur, sumSquares, curFrames = nil, 0, 0
	}
	for i := 0; i+frame <= len(samples); i += frame {
		at := time.Duration(i/frame) * frameDur
		var sq float64
		for _, x := range samples[i : i+frame] {
			v := float64(x) / 32768
			sq += v * v
		}
		loud := dBFS(sq/frame) > SilenceLevel
		switch {
		case loud && cur == nil:
			cur = &Segment{Start: at}
			fallthrough
		case loud:
			cur.Duration = at + frameDur - cur.Start
			sumSquares += sq
			curFrames = int(cur.Duration / frameDur)
			silentRun = 0
		case cur != nil:
			silentRun += frameDur
			if silentRun >= MinGap {
				closeCur()
			}
		}
	}
	closeCur()
	return out
}

func dBFS(meanSquare float64) float64 {
	if meanSquare <= 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(meanSquare)
}

// DetectTone reports whether samples hold a tone at freq Hz (it is
// media.DetectTone, here so callers of the phone need one import).
func DetectTone(samples []int16, freq float64) bool { return media.DetectTone(samples, freq) }
