package media_test

import (
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
