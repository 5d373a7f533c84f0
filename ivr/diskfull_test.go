package ivr_test

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
)

// fullFile is a file on a disk with room for room bytes: a write that
// would grow it past them writes what fits and fails with ENOSPC, as a
// full file system does. Overwriting what it holds needs no room.
type fullFile struct {
	*os.File
	room, size int64
}

func (f *fullFile) grow(end int64) (fits int64) {
	return max(0, min(end, f.room)-f.size)
}

func (f *fullFile) Write(p []byte) (int, error) {
	fits := f.grow(f.size + int64(len(p)))
	n, err := f.File.Write(p[:fits])
	f.size += int64(n)
	if err == nil && n < len(p) {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if end > f.size && end > f.room {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	n, err := f.File.WriteAt(p, off)
	f.size = max(f.size, off+int64(n))
	return n, err
}

// onFullDisk makes the harness write messages to a disk with room for room
// bytes.
func (h *harness) onFullDisk(room int64) {
	h.create = func(path string) (ivr.Recorder, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		w, err := media.NewWAVRecorder(&fullFile{File: f, room: room})
		if err != nil {
			return nil, err
		}
		return w, nil
	}
}

// wavBytes is the size of a message file holding d of audio.
func wavBytes(d time.Duration) int64 { return 44 + int64(d/time.Second)*16000 }

// The disk fills up 6 s into an 8 s message: the 6 s on disk are kept as
// the message, its record says 6 s, the caller is told that only the
// beginning was recorded and to call back, and the admin's counter goes up.
func TestDiskFullDuringMessage(t *testing.T) {
	h := newHarness(t)
	h.onFullDisk(wavBytes(6 * time.Second))
	rec, leg := h.run(recording{frames: tone(400), then: "#"}, toMessage())

	if !inOrder(leg.Heard(), []string{"fr/beep", "fr/voicemail_partial", "fr/technical_difficulty", "fr/goodbye"}) ||
		slices.Contains(leg.Heard(), "fr/voicemail_saved") {
		t.Errorf("heard %v, want to be told only the beginning was recorded", leg.Heard())
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 {
		t.Fatalf("voicemails = %+v, want the 6 s kept", vms)
	}
	onDisk := time.Duration(len(readWAV(t, vms[0].Path))) * media.FrameDuration
	if vms[0].Duration != onDisk || onDisk != 6*time.Second {
		t.Errorf("the record says %s, the file holds %s; want 6s both", vms[0].Duration, onDisk)
	}
	if rec.Outcome != clubline.OutcomeVoicemail || rec.VoicemailID != vms[0].ID || !hasTrace(rec, "voicemail: 6.0s saved (recording failed)") {
		t.Errorf("outcome %s, voicemail %q, trace %q", rec.Outcome, rec.VoicemailID, rec.Trace)
	}
	if n := testutil.ToFloat64(h.m.VoicemailWriteErrors); n != 1 {
		t.Errorf("clubline_voicemail_write_errors_total = %v, want 1", n)
	}
	if files := h.wavFiles(); len(files) != 1 {
		t.Errorf("voicemail dir = %v, want the one message", files)
	}
}

// A disk too full for the message to reach its minimum length, or for its
// file to be created at all: no message, no file left, and the caller is
// told the message could not be recorded (not that none was received).
func TestDiskFullNoMessage(t *testing.T) {
	for _, tt := range []struct {
		name string
		room int64
	}{
		{"not even the header", 0},
		{"header but no second of audio", wavBytes(0) + 8000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.onFullDisk(tt.room)
			rec, leg := h.run(recording{frames: tone(150), then: "#"}, toMessage())
			if !inOrder(leg.Heard(), []string{"fr/beep", "fr/voicemail_failed", "fr/technical_difficulty", "fr/goodbye"}) ||
				slices.Contains(leg.Heard(), "fr/voicemail_saved") || slices.Contains(leg.Heard(), "fr/no_message") {
				t.Errorf("heard %v, want to be told the message could not be recorded", leg.Heard())
			}
			if vms := h.store.SavedVoicemails(); len(vms) != 0 || rec.VoicemailID != "" || rec.Outcome != clubline.OutcomeFailed {
				t.Errorf("outcome %s, voicemails %+v", rec.Outcome, vms)
			}
			if files := h.wavFiles(); len(files) != 0 {
				t.Errorf("voicemail dir = %v, want no file left", files)
			}
			if n := testutil.ToFloat64(h.m.VoicemailWriteErrors); n != 1 {
				t.Errorf("clubline_voicemail_write_errors_total = %v, want 1", n)
			}
		})
	}
}
