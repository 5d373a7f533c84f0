package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
)

// fullDisk is a file on a disk with room for room bytes: a write that would
// grow it past them writes what fits and fails with ENOSPC.
type fullDisk struct {
	*os.File
	room, size int64
}

func (f *fullDisk) Write(p []byte) (int, error) {
	fits := max(0, min(f.size+int64(len(p)), f.room)-f.size)
	n, err := f.File.Write(p[:fits])
	f.size += int64(n)
	if err == nil && n < len(p) {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

// When the disk fills up, the recorder's length is what the file holds
// (what a player reads), not what it was given.
func TestRecorderDurationOnFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.wav")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := media.NewWAVRecorder(&fullDisk{File: f, room: 44 + 2*16000})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i, fr := range testFrames(175) { // 3.5 s
		if werr = rec.WriteFrame(&fr); werr != nil {
			t.Logf("write failed at frame %d: %v", i, werr)
			break
		}
	}
	if werr == nil {
		t.Fatal("3.5 s went onto a disk with room for 2 s")
	}
	if err := rec.Close(); err == nil {
		t.Error("Close after a failed write returned nil")
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	frames, err := media.DecodeWAV(in)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := time.Duration(len(frames)) * media.FrameDuration
	if rec.Duration() != onDisk || onDisk != 2*time.Second {
		t.Errorf("Duration() = %s, the file holds %s; want 2s both", rec.Duration(), onDisk)
	}
}

// A recording cut by a crash holds audio its header does not cover yet
// (written after the last update) and maybe half a frame: RepairWAV
// brings the header up to date, so no whole frame is lost.
func TestRepairWAV(t *testing.T) {
	dir := t.TempDir()
	frames := testFrames(150) // 3 s
	var data []byte
	for _, f := range frames {
		for _, s := range f {
			data = binary.LittleEndian.AppendUint16(data, uint16(s))
		}
	}
	// The header says 2 s; 3 s and half a frame follow.
	body := append(wavFile(8000, 1, 16, 1, data[:2*16000]), data[2*16000:]...)
	body = append(body, make([]byte, 160)...)
	path := filepath.Join(dir, "cut.wav.part")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := media.RepairWAV(path)
	if err != nil || d != 3*time.Second {
		t.Fatalf("RepairWAV = %s, %v; want 3s", d, err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	got, err := media.DecodeWAV(in)
	if err != nil || len(got) != 150 || got[149] != frames[149] {
		t.Errorf("after repair: %d frames, %v; want the 150 written", len(got), err)
	}
	if again, err := media.RepairWAV(path); err != nil || again != d {
		t.Errorf("second repair = %s, %v", again, err)
	}

	empty := filepath.Join(dir, "empty.wav.part")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := media.RepairWAV(empty); !errors.Is(err, media.ErrEmptyRecording) {
		t.Errorf("empty file: %v, want ErrEmptyRecording", err)
	}
	other := filepath.Join(dir, "stereo.wav")
	if err := os.WriteFile(other, wavFile(8000, 2, 16, 1, make([]byte, 640)), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(other)
	if _, err := media.RepairWAV(other); err == nil {
		t.Error("a stereo file was taken for a recording of clubline's")
	}
	if after, _ := os.ReadFile(other); !bytes.Equal(before, after) {
		t.Error("RepairWAV changed a file that is not clubline's")
	}
}
