package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/clubline/clubline/media"
)

// FuzzDecodeWAV: an admin's prompt file, whatever its bytes, decodes to
// whole 20 ms frames that hold no more audio than the file has bytes and
// that record and decode again unchanged, or gives an error; a
// FormatError only for a format clubline does not play. Decoding never
// allocates far more than the file's size.
func FuzzDecodeWAV(f *testing.F) {
	for _, seed := range wavSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		frames, err := media.DecodeWAV(bytes.NewReader(file))
		runtime.ReadMemStats(&after)
		// TotalAlloc counts the whole process, the fuzzing engine's own
		// goroutines included: the bound catches a chunk size taken at
		// its word (gigabytes), not the engine's noise.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+64*uint64(len(file)) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(file), alloc)
		}
		if err != nil {
			var fe *media.FormatError
			if errors.As(err, &fe) {
				pcm := fe.AudioFormat == 1 || fe.AudioFormat == 0xFFFE
				if pcm && fe.Rate == media.SampleRate && fe.Bits == 16 && fe.Channels >= 1 && fe.Channels <= 2 {
					t.Fatalf("FormatError for a format clubline plays: %+v", *fe)
				}
				if !strings.Contains(err.Error(), "sox ") {
					t.Fatalf("FormatError without the command that converts: %v", err)
				}
			}
			if frames != nil {
				t.Fatalf("frames came with the error %v", err)
			}
			return
		}
		if max := (len(file)/2 + media.FrameSamples - 1) / media.FrameSamples; len(frames) > max {
			t.Fatalf("%d frames from a %d-byte file (at most %d)", len(frames), len(file), max)
		}
		// Recorded again in memory: a fuzzing worker writing files races
		// the removal of its temporary directory when the run ends.
		mem := &memWAV{}
		rec, err := media.NewWAVRecorder(mem)
		if err != nil {
			t.Fatal(err)
		}
		for i := range frames {
			if err := rec.WriteFrame(&frames[i]); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := media.DecodeWAV(bytes.NewReader(mem.b))
		if err != nil {
			t.Fatalf("decoding what was recorded again: %v", err)
		}
		equalFrames(t, again, frames)
	})
}

// memWAV is a media.WAVFile in memory.
type memWAV struct{ b []byte }

func (m *memWAV) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

func (m *memWAV) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memWAV) Sync() error  { return nil }
func (m *memWAV) Close() error { return nil }
func (m *memWAV) Name() string { return "memory" }

// wavSeeds: files clubline plays, files it explains, and damaged ones.
func wavSeeds() [][]byte {
	le := binary.LittleEndian
	chunk := func(id string, size uint32, body string) []byte {
		return append(le.AppendUint32([]byte(id), size), body...)
	}
	ok := wavFile(8000, 1, 16, 1, samplesLE(1, -2, 3, -4, 32767, -32768))
	head := func(n int) []byte { return bytes.Clone(ok[:n]) } // appending must not write into ok
	return [][]byte{
		ok,
		wavFile(8000, 2, 16, 1, samplesLE(1000, 3000, -5, 7)),
		wavFile(44100, 2, 16, 1, make([]byte, 64)),
		wavFile(8000, 1, 8, 6, make([]byte, 16)),
		wavFile(8000, 1, 16, 0xFFFE, samplesLE(9, 9)),
		wavFile(8000, 1, 16, 1, samplesLE(7, 8, 9), chunk("LIST", 10, "INFOabcdef"), chunk("fact", 4, "\x03\x00\x00\x00")),
		wavFile(8000, 1, 16, 1, append(samplesLE(1, 2), 0)), // an odd byte at the end
		ok[:30], // cut inside the fmt chunk
		append(head(36), chunk("data", 0xFFFFFFF0, "\x01\x00")...),        // data longer than the file
		append(head(36), chunk("LIST", 0xFFFFFFF0, "INFO")...),            // a LIST chunk that claims 4 GiB
		append(head(12), chunk("fmt ", 0xFFFFFFF0, string(ok[20:36]))...), // so does this fmt chunk
		[]byte("RIFF\x04\x00\x00\x00WAVE"),
		nil,
	}
}
