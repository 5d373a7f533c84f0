// Package media carries audio on the wire: RTP legs, SDP offer/answer,
// G.711, RFC 4733 DTMF, pacing, WAV play and record, and bridging two legs.
// Inside clubline audio is 20 ms frames of 8 kHz linear PCM; codecs sit at
// the edge of a leg. media knows nothing of calls or config.
package media

import "time"

const (
	// SampleRate is the rate of every frame inside clubline.
	SampleRate = 8000
	// FrameDuration is the length of one frame.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples in one frame.
	FrameSamples = SampleRate / 50
)

// Frame is 20 ms of 8 kHz mono signed 16-bit linear PCM.
type Frame [FrameSamples]int16

// Source produces frames, one per call. It returns io.EOF after the last frame.
type Source interface {
	ReadFrame(f *Frame) error
}

// Sink consumes frames.
type Sink interface {
	WriteFrame(f *Frame) error
}
