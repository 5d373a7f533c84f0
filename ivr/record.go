package ivr

// Decisions (how a message's silence is measured):
//   - Two clocks, whichever says stop first. Frames received count media
//     time: 20 ms each, so SilenceTimeout of silent frames ends the
//     message however fast they are delivered (a burst after a network
//     stall, a test's fake leg). The wall clock counts the time since the
//     last frame of sound: a phone with voice activity detection sends no
//     packet while the caller is silent, and one that sends RFC 3389
//     comfort noise sends a packet now and then that carries no audio
//     (media turns neither into frames). Counting frames alone, such a
//     caller waited for the RTP timeout (30 s) and was hung up without
//     hearing that the message was saved.
//   - Comfort noise keeps the call up (media restarts the RTP timeout on
//     it) but is never sound: it cannot push the silence back.
//   - The wall clock is the monotonic time.Now, not the script's clock
//     (Script.now dates records and may be a test's fixed moment).

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline/media"
)

// errStopped is what messageSink returns once the recording is over.
var errStopped = errors.New("recording stopped")

// messageSink receives a message, frame by frame, from the leg's Record
// goroutine. It times the recording by counting frames (one per 20 ms),
// so it stops at MaxLength and after SilenceTimeout of silent frames
// whatever the pace of delivery; it also notes when the last frame of
// sound came, for capture to end a silence in which no frame comes at
// all. Silent frames are held back and written only when speech follows,
// so the file never ends in silence and its length is the message's.
type messageSink struct {
	w          Recorder
	level      int64 // squared RMS level under which a frame is silence
	maxFrames  int
	quietLimit int
	// held are silent frames not written yet.
	held []media.Frame

	frames int // frames received
	quiet  int // consecutive silent frames received

	// start is when the recording started; lastSound is when the last
	// frame of sound came, as nanoseconds since start (0: none yet, the
	// initial silence counts).
	start     time.Time
	lastSound atomic.Int64

	stop     chan struct{} // closed once, when the sink wants to stop
	once     sync.Once
	why      string // set before stop is closed
	writeErr error  // set before stop is closed
}

func newMessageSink(w Recorder, vo VoicemailOptions) *messageSink {
	lvl := int64(vo.SilenceLevel)
	return &messageSink{
		w:          w,
		level:      lvl * lvl,
		maxFrames:  framesIn(vo.MaxLength),
		quietLimit: framesIn(vo.SilenceTimeout),
		start:      time.Now(),
		stop:       make(chan struct{}),
	}
}

// quietFor is how long, on the clock, no frame of sound has come.
func (s *messageSink) quietFor(now time.Time) time.Duration {
	return now.Sub(s.start) - time.Duration(s.lastSound.Load())
}

func framesIn(d time.Duration) int {
	n := int(d / media.FrameDuration)
	if n < 1 {
		n = 1
	}
	return n
}

// WriteFrame takes one frame of the caller's audio.
func (s *messageSink) WriteFrame(f *media.Frame) error {
	select {
	case <-s.stop:
		return errStopped
	default:
	}
	s.frames++
	if silent(f, s.level) {
		s.quiet++
		s.held = append(s.held, *f)
	} else {
		s.quiet = 0
		s.lastSound.Store(int64(time.Since(s.start)))
		for i := range s.held {
			if err := s.w.WriteFrame(&s.held[i]); err != nil {
				return s.fail(err)
			}
		}
		s.held = s.held[:0]
		if err := s.w.WriteFrame(f); err != nil {
			return s.fail(err)
		}
	}
	switch {
	case s.quiet >= s.quietLimit:
		s.end(stopSilence)
	case s.frames >= s.maxFrames:
		s.end(stopMax)
	}
	return nil
}

func (s *messageSink) fail(err error) error {
	s.once.Do(func() {
		s.writeErr = err
		s.why = stopFailed
		close(s.stop)
	})
	return err
}

func (s *messageSink) end(why string) {
	s.once.Do(func() {
		s.why = why
		close(s.stop)
	})
}

// stopped reports whether the sink asked to stop, and why.
func (s *messageSink) stopped() (string, bool) {
	select {
	case <-s.stop:
		return s.why, true
	default:
		return "", false
	}
}

// err is the write error that stopped the sink, if any.
func (s *messageSink) err() error {
	if _, ok := s.stopped(); ok {
		return s.writeErr
	}
	return nil
}

// silent reports whether the frame's mean square is under level.
func silent(f *media.Frame, level int64) bool {
	var sum int64
	for _, v := range f {
		sum += int64(v) * int64(v)
	}
	return sum < level*int64(len(f))
}
