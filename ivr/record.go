package ivr

import (
	"errors"
	"sync"
	"time"

	"github.com/clubline/clubline/media"
)

// errStopped is what messageSink returns once the recording is over.
var errStopped = errors.New("recording stopped")

// messageSink receives a message, frame by frame, from the leg's Record
// goroutine. It times the recording by counting frames (one per 20 ms),
// so it stops at MaxLength and after SilenceTimeout of silence whatever
// the pace of delivery. Silent frames are held back and written only when
// speech follows, so the file never ends in silence and its length is the
// message's.
type messageSink struct {
	w          Recorder
	level      int64 // squared RMS level under which a frame is silence
	maxFrames  int
	quietLimit int
	// held are silent frames not written yet.
	held []media.Frame

	frames int // frames received
	quiet  int // consecutive silent frames received

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
		stop:       make(chan struct{}),
	}
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
