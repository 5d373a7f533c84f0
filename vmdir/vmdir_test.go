package vmdir_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/vmdir"
)

var at = time.Date(2026, 11, 24, 9, 50, 30, 0, time.Local)

func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// recording writes d of a 440 Hz tone as WAVRecorder does, closed or not
// (a kill leaves the audio after the last header update uncovered).
func recording(t *testing.T, path string, d time.Duration, closed bool) {
	t.Helper()
	w, err := media.CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	src := media.Tone(440, d, 8000)
	var f media.Frame
	for src.ReadFrame(&f) == nil {
		if err := w.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	if closed {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func options(dir string, st clubline.Store, log *bytes.Buffer) vmdir.Options {
	return vmdir.Options{Dir: dir, Store: st, MinLength: time.Second,
		FollowUpWithin: 48 * time.Hour, UrgentFollowUpWithin: 2 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(log, nil))}
}

func TestNoteRoundTrip(t *testing.T) {
	f := vmdir.Name("/var/vm", at, "a1b2")
	if f.WAV != "/var/vm/20261124-095030-a1b2.wav" || f.Part != f.WAV+".part" || f.Meta != "/var/vm/20261124-095030-a1b2.json.part" {
		t.Errorf("names %+v", f)
	}
	path := filepath.Join(t.TempDir(), "n.json.part")
	m := vmdir.Meta{VoicemailID: "a1b2", CallID: "c1", From: "+15145550123", CallStartedAt: at.Add(-time.Minute),
		Category: "registrations", Urgent: true, RecordedAt: at, FollowUpDue: at.Add(2 * time.Hour)}
	if err := vmdir.WriteMeta(path, m); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("note mode %v, %v; want 0600 (personal information)", info.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"recorded_at":"`+at.UTC().Format("2006-01-02T15:04:05")+`.000Z"`) {
		t.Errorf("times are not RFC 3339 UTC with milliseconds: %s", raw)
	}
	got, err := vmdir.ReadMeta(path)
	if err != nil || !got.RecordedAt.Equal(m.RecordedAt) || !got.FollowUpDue.Equal(m.FollowUpDue) ||
		got.From != m.From || !got.Urgent || got.Category != m.Category {
		t.Errorf("read back %+v, %v; want %+v", got, err, m)
	}
	if err := vmdir.WriteMeta(filepath.Join(t.TempDir(), "missing", "n.json.part"), m); err == nil {
		t.Error("a note written into a missing folder")
	}
}

// What recovery makes of each state a crash can leave a message in.
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	ctx := context.Background()
	note := func(id, call string, urgent bool) {
		t.Helper()
		f := vmdir.Name(dir, at, id)
		if err := vmdir.WriteMeta(f.Meta, vmdir.Meta{VoicemailID: id, CallID: call, From: "+15145550123",
			CallStartedAt: at.Add(-time.Minute), Category: "programs", Urgent: urgent,
			RecordedAt: at, FollowUpDue: at.Add(48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// 1. Killed while recording 2.5 s: the note, the audio under .part,
	// the 2 s written out before the kill (the rest was in memory).
	note("aa01", "c1", false)
	recording(t, vmdir.Name(dir, at, "aa01").Part, 2500*time.Millisecond, false)
	must(st.SaveCall(ctx, &clubline.Call{ID: "c1", StartedAt: at.Add(-time.Minute)}))
	// 2. Killed after the rename, before the store had the record; its
	// call record lost too: rebuilt from the note.
	note("aa02", "c2", true)
	recording(t, vmdir.Name(dir, at, "aa02").WAV, 3*time.Second, true)
	// 3. Killed after the store had the record, before the note went: the
	// record stays as it is (the note's details are not needed).
	note("aa03", "c3", false)
	recording(t, vmdir.Name(dir, at, "aa03").WAV, 2*time.Second, true)
	must(st.SaveVoicemail(ctx, &clubline.Voicemail{ID: "aa03", CallID: "c3", Category: "coaching", RecordedAt: at,
		Duration: 2 * time.Second, Path: vmdir.Name(dir, at, "aa03").WAV, FollowUpDue: at.Add(time.Hour), Status: clubline.VoicemailDone}))
	// 4. A recording without its note (written before notes existed, or
	// the note could not be written): recovered from its name.
	recording(t, vmdir.Name(dir, at, "aa04").Part, 1500*time.Millisecond, false)
	// 5. A note whose call ended properly: the call record is not touched.
	note("aa05", "c5", false)
	must(st.SaveCall(ctx, &clubline.Call{ID: "c5", StartedAt: at, Outcome: clubline.OutcomeAbandoned}))
	// 6. Not clubline's: left alone.
	must(os.WriteFile(filepath.Join(dir, "README.txt"), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "20261124-095030-bad id.wav.part"), nil, 0o600))

	var log bytes.Buffer
	r, err := vmdir.Recover(ctx, options(dir, st, &log))
	if err != nil {
		t.Fatal(err)
	}
	if want := (vmdir.Report{Recovered: 3, Notes: 1}); r != want {
		t.Errorf("report %+v, want %+v", r, want)
	}
	for id, want := range map[string]struct {
		d      time.Duration
		urgent bool
		due    time.Duration
		call   string
	}{"aa01": {2 * time.Second, false, 48 * time.Hour, "c1"}, "aa02": {3 * time.Second, true, 48 * time.Hour, "c2"},
		"aa04": {time.Second, false, 48 * time.Hour, ""}} {
		v, err := st.Voicemail(ctx, id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if v.Duration != want.d || v.Urgent != want.urgent || v.CallID != want.call || v.Path != vmdir.Name(dir, at, id).WAV ||
			!v.RecordedAt.Equal(at) || !v.FollowUpDue.Equal(at.Add(want.due)) || v.Status != clubline.VoicemailNew {
			t.Errorf("%s = %+v", id, v)
		}
	}
	if v, err := st.Voicemail(ctx, "aa03"); err != nil || v.Category != "coaching" || v.Status != clubline.VoicemailDone {
		t.Errorf("aa03, already stored, = %+v, %v; want it untouched", v, err)
	}
	c1, err := st.Call(ctx, "c1")
	if err != nil || c1.Outcome != clubline.OutcomeVoicemail || c1.VoicemailID != "aa01" || c1.EndedAt.IsZero() {
		t.Errorf("c1 = %+v, %v", c1, err)
	}
	c2, err := st.Call(ctx, "c2")
	if err != nil || c2.Outcome != clubline.OutcomeVoicemail || c2.From != "+15145550123" || c2.Category != "programs" ||
		!c2.StartedAt.Equal(at.Add(-time.Minute)) || len(c2.Trace) != 2 {
		t.Errorf("c2, rebuilt = %+v, %v", c2, err)
	}
	if c5, err := st.Call(ctx, "c5"); err != nil || c5.Outcome != clubline.OutcomeAbandoned {
		t.Errorf("c5 = %+v, %v; want untouched", c5, err)
	}
	got := names(t, dir)
	want := []string{"20261124-095030-aa01.wav", "20261124-095030-aa02.wav", "20261124-095030-aa03.wav",
		"20261124-095030-aa04.wav", "20261124-095030-bad id.wav.part", "README.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("folder after recovery\n got %v\nwant %v", got, want)
	}
	if strings.Contains(log.String(), "5550123") {
		t.Errorf("the log shows a phone number:\n%s", log.String())
	}

	// Nothing is left to recover: a second start does nothing.
	if r, err := vmdir.Recover(ctx, options(dir, st, &log)); err != nil || r != (vmdir.Report{}) {
		t.Errorf("second recovery: %+v, %v", r, err)
	}
}

// Recordings with less than the minimum length, or none, are deleted with
// their notes; a file that is not a recording is left in place for the
// admin (and the retention purge).
func TestRecoverDeletesEmptyRecordings(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	ctx := context.Background()
	empty, short, noAudio, junk := vmdir.Name(dir, at, "e1"), vmdir.Name(dir, at, "e2"), vmdir.Name(dir, at, "e3"), vmdir.Name(dir, at, "e4")
	for _, f := range []vmdir.Files{empty, short, noAudio} {
		if err := vmdir.WriteMeta(f.Meta, vmdir.Meta{VoicemailID: filepath.Base(f.WAV)[16:18], CallID: "c-" + filepath.Base(f.WAV)[16:18], RecordedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(empty.Part, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	recording(t, short.Part, 600*time.Millisecond, false)
	if err := os.WriteFile(junk.Part, []byte("RIFF, but not a WAV at all, and longer than a header is"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCall(ctx, &clubline.Call{ID: "c-e1", StartedAt: at}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r, err := vmdir.Recover(ctx, options(dir, st, &log))
	if err != nil {
		t.Fatal(err)
	}
	if want := (vmdir.Report{Deleted: 2, Failed: 1}); r != want {
		t.Errorf("report %+v, want %+v", r, want)
	}
	if got := names(t, dir); !slices.Equal(got, []string{filepath.Base(junk.Part)}) {
		t.Errorf("folder = %v, want only the unreadable file", got)
	}
	if c, err := st.Call(ctx, "c-e1"); err != nil || c.Outcome != clubline.OutcomeFailed || c.VoicemailID != "" {
		t.Errorf("the call whose recording was empty = %+v, %v; want failed", c, err)
	}
	if !strings.Contains(log.String(), "cannot be read is left in place") {
		t.Errorf("log:\n%s", log.String())
	}
}

// A store that cannot be read leaves every file for the next start.
func TestRecoverStoreDown(t *testing.T) {
	dir := t.TempDir()
	f := vmdir.Name(dir, at, "d1")
	recording(t, f.Part, 2*time.Second, false)
	var log bytes.Buffer
	r, err := vmdir.Recover(context.Background(), options(dir, downStore{}, &log))
	if err != nil || r != (vmdir.Report{Failed: 1}) {
		t.Errorf("report %+v, %v", r, err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{filepath.Base(f.Part)}) {
		t.Errorf("folder = %v", got)
	}
}

func TestPurgeOrphans(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	ctx := context.Background()
	now := at.Add(100 * 24 * time.Hour)
	old, young := vmdir.Name(dir, at, "o1"), vmdir.Name(dir, now.Add(-time.Hour), "y1")
	held := vmdir.Name(dir, at, "h1")
	for _, p := range []string{old.WAV, old.Meta, young.WAV, held.WAV, filepath.Join(dir, "notes.txt")} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveVoicemail(ctx, &clubline.Voicemail{ID: "h1", RecordedAt: now, Path: held.WAV, Status: clubline.VoicemailNew}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	o, err := vmdir.PurgeOrphans(ctx, dir, st, now.Add(-90*24*time.Hour), logger)
	if err != nil || o != (vmdir.Orphans{Removed: 2}) {
		t.Errorf("purge %+v, %v; want the old recording and its note", o, err)
	}
	want := []string{filepath.Base(held.WAV), "notes.txt", filepath.Base(young.WAV)}
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder = %v, want %v", got, want)
	}
	if o, err := vmdir.PurgeOrphans(ctx, filepath.Join(dir, "none"), st, now, logger); err != nil || o != (vmdir.Orphans{}) {
		t.Errorf("missing folder: %+v, %v", o, err)
	}
	if o, _ := vmdir.PurgeOrphans(ctx, dir, downStore{}, now, logger); o.Removed != 0 || o.Failed == 0 {
		t.Errorf("store down: %+v; want nothing removed", o)
	}
}

// downStore fails every read.
type downStore struct{ clubline.Store }

var errDown = errors.New("store down")

func (downStore) Voicemail(context.Context, string) (*clubline.Voicemail, error) { return nil, errDown }
func (downStore) Call(context.Context, string) (*clubline.Call, error)           { return nil, errDown }
