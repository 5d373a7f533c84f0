package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WAV format tags (the audio format field of the fmt chunk).
const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatALaw       = 6
	wavFormatMuLaw      = 7
	wavFormatExtensible = 0xFFFE
)

// FormatError reports a WAV file whose audio is not 8 kHz 16-bit linear PCM,
// mono or stereo. Its message says what the file is and how to convert it.
type FormatError struct {
	Rate     int // samples per second
	Channels int
	Bits     int // bits per sample
	// AudioFormat is the WAV format tag: 1 linear PCM, 3 float, 6 A-law,
	// 7 µ-law, 0xFFFE extensible.
	AudioFormat int
}

// SoxCommand returns the command line that converts in to a WAV file clubline
// plays, written to out.
func (e *FormatError) SoxCommand(in, out string) string {
	return fmt.Sprintf("sox %s -r 8000 -c 1 -b 16 %s", ShellQuote(in), ShellQuote(out))
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("WAV file is %s; clubline needs 8000 Hz mono 16-bit linear PCM; convert it with: sox in.wav -r 8000 -c 1 -b 16 out.wav",
		e.Describe())
}

// Describe says what the file is, as in "44100 Hz stereo 16-bit linear PCM".
func (e *FormatError) Describe() string {
	ch := fmt.Sprintf("%d channels", e.Channels)
	switch e.Channels {
	case 1:
		ch = "mono"
	case 2:
		ch = "stereo"
	}
	enc := "linear PCM"
	switch e.AudioFormat {
	case wavFormatPCM, wavFormatExtensible:
	case wavFormatFloat:
		enc = "floating point"
	case wavFormatALaw:
		enc = "A-law"
	case wavFormatMuLaw:
		enc = "µ-law"
	default:
		enc = fmt.Sprintf("encoding %#x", e.AudioFormat)
	}
	return fmt.Sprintf("%d Hz %s %d-bit %s", e.Rate, ch, e.Bits, enc)
}

// ShellQuote quotes s for a POSIX shell when it holds anything but the
// characters of an ordinary path: for the commands error messages suggest.
func ShellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !strings.ContainsRune("/._-+,", r) && !('0' <= r && r <= '9') &&
			!('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FramesSource plays a decoded clip from memory. ReadFrame does not allocate.
// It is not safe for concurrent use.
type FramesSource struct {
	frames []Frame
	pos    int
}

// NewFramesSource returns a Source that plays frames once. The slice is
// shared, not copied: do not modify it while it plays.
func NewFramesSource(frames []Frame) *FramesSource {
	return &FramesSource{frames: frames}
}

// ReadFrame copies the next frame into f, or returns io.EOF after the last.
func (s *FramesSource) ReadFrame(f *Frame) error {
	if s.pos >= len(s.frames) {
		return io.EOF
	}
	*f = s.frames[s.pos]
	s.pos++
	return nil
}

// Rewind starts the clip again from its first frame (for loops such as hold
// music).
func (s *FramesSource) Rewind() { s.pos = 0 }

// Len returns the number of frames in the clip.
func (s *FramesSource) Len() int { return len(s.frames) }

const (
	wavHeaderSize = 44
	// headerEvery is how many frames are written between two header updates:
	// one second of audio.
	headerEvery = int(time.Second / FrameDuration)
	// maxDataBytes keeps the RIFF size within 32 bits.
	maxDataBytes = 1<<32 - 1 - (wavHeaderSize - 8)
)

// WAVRecorder writes frames to an 8 kHz mono 16-bit WAV file. The file is a
// valid WAV at every moment: the header is written first, and the RIFF and
// data sizes are brought up to date every second of audio and on Close, so a
// process killed mid-recording leaves a file that plays up to the last
// update. It implements Sink and is not safe for concurrent use.
type WAVRecorder struct {
	f        WAVFile
	w        *bufio.Writer
	buf      [FrameSamples * 2]byte
	samples  int
	pending  int // frames written since the last header update
	err      error
	closed   bool
	sizeBuf  [4]byte
	syncedAt int // samples covered by the header in the file
}

// WAVFile is what a WAVRecorder writes to: an *os.File opened for writing,
// or a stand-in for one in tests (a disk that fills up).
type WAVFile interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
	Name() string
}

// CreateWAV creates (or truncates) the file at path and writes its header.
// The file is readable by its owner only: recordings are personal
// information. When the header cannot be written (a full disk) the file
// is removed: no empty file is left behind.
func CreateWAV(path string) (*WAVRecorder, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	rec, err := NewWAVRecorder(f)
	if err != nil {
		_ = os.Remove(path) // the error that matters is the write's
		return nil, err
	}
	return rec, nil
}

// NewWAVRecorder writes the header of an empty recording to f, which must
// be empty, and returns a recorder that owns it. On error f is closed.
func NewWAVRecorder(f WAVFile) (*WAVRecorder, error) {
	rec := &WAVRecorder{f: f, w: bufio.NewWriterSize(f, headerEvery*len(Frame{})*2)}
	if _, err := f.Write(wavHeader(0)); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing WAV header to %s: %w", f.Name(), err)
	}
	return rec, nil
}

// wavHeader returns the canonical 44-byte header for dataBytes bytes of
// 8 kHz mono 16-bit PCM.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, 0, wavHeaderSize)
	le := binary.LittleEndian
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, wavHeaderSize-8+dataBytes)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)           // fmt chunk size
	h = le.AppendUint16(h, wavFormatPCM) // audio format
	h = le.AppendUint16(h, 1)            // channels
	h = le.AppendUint32(h, SampleRate)
	h = le.AppendUint32(h, SampleRate*2) // bytes per second
	h = le.AppendUint16(h, 2)            // block align
	h = le.AppendUint16(h, 16)           // bits per sample
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataBytes)
	return h
}

// WriteFrame appends one frame. After an error every call returns it.
func (r *WAVRecorder) WriteFrame(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	if r.closed {
		return os.ErrClosed
	}
	if int64(r.samples+FrameSamples)*2 > maxDataBytes {
		r.err = errors.New("WAV recording reached the 4 GiB size limit")
		return r.err
	}
	for i, s := range f {
		binary.LittleEndian.PutUint16(r.buf[2*i:], uint16(s))
	}
	if _, err := r.w.Write(r.buf[:]); err != nil {
		r.err = err
		return err
	}
	r.samples += FrameSamples
	r.pending++
	if r.pending >= headerEvery {
		return r.updateHeader()
	}
	return nil
}

// updateHeader flushes the buffered audio, then writes the RIFF and data
// sizes that cover it. The data reach the file before the sizes that claim
// them, so the header never promises more than the file holds.
func (r *WAVRecorder) updateHeader() error {
	if err := r.w.Flush(); err != nil {
		r.err = err
		return err
	}
	r.pending = 0
	if r.syncedAt == r.samples {
		return nil
	}
	dataBytes := uint32(r.samples) * 2
	le := binary.LittleEndian
	le.PutUint32(r.sizeBuf[:], wavHeaderSize-8+dataBytes)
	if _, err := r.f.WriteAt(r.sizeBuf[:], 4); err != nil {
		r.err = err
		return err
	}
	le.PutUint32(r.sizeBuf[:], dataBytes)
	if _, err := r.f.WriteAt(r.sizeBuf[:], 40); err != nil {
		r.err = err
		return err
	}
	r.syncedAt = r.samples
	return nil
}

// Close writes what is buffered and the final sizes, syncs the file (and,
// as far as the system allows, its directory entry) to disk and closes it.
// Calling Close again returns nil.
func (r *WAVRecorder) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.err
	if err == nil {
		err = r.updateHeader()
	}
	if err == nil {
		err = r.f.Sync()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		syncDir(filepath.Dir(r.f.Name()))
	}
	return err
}

// syncDir makes a new file's directory entry durable. It is best effort:
// some systems cannot sync a directory, and the data are already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Samples returns the number of samples written so far.
func (r *WAVRecorder) Samples() int { return r.samples }

// Duration returns the length of audio written so far. After a write
// error (a full disk) it is the length the file holds: what its header
// covers, which is what a player reads, not what WriteFrame was given.
func (r *WAVRecorder) Duration() time.Duration {
	n := r.samples
	if r.err != nil {
		n = r.syncedAt
	}
	return time.Duration(n) * time.Second / SampleRate
}

// Name returns the path of the file being written.
func (r *WAVRecorder) Name() string { return r.f.Name() }
