package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reading a WAV file: the RIFF chunks are walked here rather than by
// go-audio/wav, which allocates a LIST, smpl or fmt chunk's declared size
// in one piece: a 48-byte prompt that claimed a 4 GiB LIST chunk made it
// allocate 8 GiB and spend most of a minute zeroing it (found by
// FuzzDecodeWAV, issue 7). Here no declared size is allocated: chunks
// other than fmt and data are skipped with Seek, the fmt chunk's first 16
// bytes are read, and the data chunk goes through a reader limited to
// what the file holds.

// fmtSize is the part of the fmt chunk clubline reads: format, channels,
// rate, bytes per second, block alignment, bits per sample.
const fmtSize = 16

// DecodeWAV reads a whole WAV file of 8 kHz 16-bit linear PCM into frames.
// Mono is taken as is; stereo is mixed down to mono (the mean of the two
// channels). Any other format gives a *FormatError. The last frame is padded
// with silence. Extra bytes after the data chunk's declared size are ignored,
// so a recording cut short (see WAVRecorder) decodes up to its last header
// update; a data chunk that claims more than the file holds decodes what
// is there.
func DecodeWAV(r io.ReadSeeker) ([]Frame, error) {
	var magic [12]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || string(magic[:4]) != "RIFF" || string(magic[8:]) != "WAVE" {
		return nil, errors.New("not a WAV file: no RIFF/WAVE header")
	}
	var (
		fmtChunk  []byte
		dataAt    int64 = -1
		dataBytes int64
	)
	for fmtChunk == nil || dataAt < 0 {
		id, size, err := nextChunk(r)
		if err != nil {
			break // the end of the file, or a chunk header cut short
		}
		at, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading WAV file: %w", err)
		}
		switch {
		case id == "fmt " && fmtChunk == nil:
			if size < fmtSize {
				return nil, fmt.Errorf("not a valid WAV file: its fmt chunk has %d bytes, not %d", size, fmtSize)
			}
			fmtChunk = make([]byte, fmtSize)
			if _, err := io.ReadFull(r, fmtChunk); err != nil {
				return nil, errors.New("not a valid WAV file: the fmt chunk is cut short")
			}
		case id == "data" && dataAt < 0:
			dataAt, dataBytes = at, size
		}
		// RIFF chunks are word aligned: an odd size is followed by a pad byte.
		if _, err := r.Seek(at+size+size%2, io.SeekStart); err != nil {
			return nil, fmt.Errorf("reading WAV file: %w", err)
		}
	}
	if fmtChunk == nil {
		return nil, errors.New("not a WAV file: no fmt chunk")
	}
	le := binary.LittleEndian
	format, channels := int(le.Uint16(fmtChunk)), int(le.Uint16(fmtChunk[2:]))
	rate, bits := int(le.Uint32(fmtChunk[4:])), int(le.Uint16(fmtChunk[14:]))
	if rate == 0 || bits == 0 {
		return nil, errors.New("not a valid WAV file: the fmt chunk gives no sample rate or sample size")
	}
	pcm := format == wavFormatPCM || format == wavFormatExtensible
	if !pcm || rate != SampleRate || bits != 16 || channels < 1 || channels > 2 {
		return nil, &FormatError{Rate: rate, Channels: channels, Bits: bits, AudioFormat: format}
	}
	if dataAt < 0 {
		return nil, errors.New("WAV file has no data chunk")
	}
	if _, err := r.Seek(dataAt, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading WAV data: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, dataBytes))
	if err != nil {
		return nil, fmt.Errorf("reading WAV data: %w", err)
	}
	return pcmToFrames(data, channels), nil
}

// nextChunk reads a chunk header: its four-letter id and declared size.
func nextChunk(r io.Reader) (string, int64, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", 0, err
	}
	return string(h[:4]), int64(binary.LittleEndian.Uint32(h[4:])), nil
}

// pcmToFrames converts little-endian 16-bit samples, interleaved over
// channels (1 or 2), to frames. A trailing partial sample is dropped.
func pcmToFrames(data []byte, channels int) []Frame {
	step := 2 * channels
	n := len(data) / step
	frames := make([]Frame, (n+FrameSamples-1)/FrameSamples)
	for i := 0; i < n; i++ {
		p := data[i*step:]
		s := int32(int16(binary.LittleEndian.Uint16(p)))
		if channels == 2 {
			s = (s + int32(int16(binary.LittleEndian.Uint16(p[2:])))) / 2
		}
		frames[i/FrameSamples][i%FrameSamples] = int16(s)
	}
	return frames
}
