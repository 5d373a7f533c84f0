package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrEmptyRecording is returned by RepairWAV for a file too short to hold
// even the header: a recording cut before its first write.
var ErrEmptyRecording = errors.New("media: the recording holds no header")

// RepairWAV makes whole a recording that WAVRecorder was writing when the
// process died: the header's sizes, brought up to date every second, are
// set to cover every whole frame the file holds (the audio written after
// the last update included), and a trailing partial frame is cut off. It
// returns the length of audio the file then holds. A file shorter than a
// header gives ErrEmptyRecording; a file whose header is not the one
// WAVRecorder writes (8 kHz mono 16-bit PCM, canonical 44 bytes) is left
// as it is, with an error.
func RepairWAV(path string) (time.Duration, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if info.Size() < wavHeaderSize {
		return 0, ErrEmptyRecording
	}
	var h [wavHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return 0, err
	}
	want := wavHeader(0)
	// Everything but the two sizes (bytes 4-7 and 40-43) must be ours.
	if !bytes.Equal(h[:4], want[:4]) || !bytes.Equal(h[8:40], want[8:40]) {
		return 0, fmt.Errorf("media: %s is not a recording clubline wrote (unexpected header)", path)
	}
	frameBytes := int64(FrameSamples * 2)
	data := min((info.Size()-wavHeaderSize)/frameBytes*frameBytes, maxDataBytes/frameBytes*frameBytes)
	le := binary.LittleEndian
	if int64(le.Uint32(h[40:])) != data || int64(le.Uint32(h[4:])) != wavHeaderSize-8+data {
		fixed := wavHeader(uint32(data))
		if _, err := f.WriteAt(fixed[4:8], 4); err != nil {
			return 0, err
		}
		if _, err := f.WriteAt(fixed[40:44], 40); err != nil {
			return 0, err
		}
	}
	if info.Size() != wavHeaderSize+data {
		if err := f.Truncate(wavHeaderSize + data); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return time.Duration(data/2) * time.Second / SampleRate, nil
}
