package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/store/embedded"
)

const day = config.Day

// retentionNow is the moment the purge tests run at.
var retentionNow = time.Date(2027, 6, 24, 14, 0, 0, 0, time.UTC)

// syncBuffer is a log destination the test reads while clubline writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufferLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openEmbedded(t *testing.T, path string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wav writes a stand-in recording and returns its path.
func wav(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+".wav")
	if err := os.WriteFile(path, []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func mustSave(t *testing.T, st clubline.Store, records ...any) {
	t.Helper()
	for _, r := range records {
		var err error
		switch r := r.(type) {
		case *clubline.Call:
			err = st.SaveCall(t.Context(), r)
		case *clubline.Voicemail:
			err = st.SaveVoicemail(t.Context(), r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRetentionPurge(t *testing.T) {
	dir := t.TempDir()
	st := openEmbedded(t, filepath.Join(dir, "clubline.db"))
	defer st.Close()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := retentionNow
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	msg := func(id string, at time.Time, status clubline.VoicemailStatus, path string) *clubline.Voicemail {
		return &clubline.Voicemail{ID: id, From: "+15145550123", RecordedAt: at, FollowUpDue: at.Add(48 * time.Hour), Status: status, Path: path}
	}
	mustSave(t, st,
		&clubline.Call{ID: "c-old", From: "+15145550123", StartedAt: ago(366 * day)},
		&clubline.Call{ID: "c-limit", From: "+15145550123", StartedAt: ago(365 * day)}, // exactly at the limit: kept
		&clubline.Call{ID: "c-new", From: "+15145550123", StartedAt: ago(time.Hour)},
		msg("v-old-open", ago(91*day), clubline.VoicemailNew, wav(t, dir, "v-old-open")),
		msg("v-old-done", ago(100*day), clubline.VoicemailDone, filepath.Join(dir, "already-gone.wav")),
		msg("v-old-nofile", ago(200*day), clubline.VoicemailDone, ""),
		msg("v-limit", ago(90*day), clubline.VoicemailNew, wav(t, dir, "v-limit")),
		msg("v-new", ago(10*day), clubline.VoicemailNew, wav(t, dir, "v-new")),
	)
	m.FollowUpsOpen.Set(3) // v-old-open, v-limit, v-new
	var logs syncBuffer

	got := purge(t.Context(), st, now, config.Retention{Calls: 365 * day, Voicemail: 90 * day}, filepath.Join(dir, "voicemail"), m, bufferLogger(&logs))

	if want := (purged{calls: 1, voicemails: 3, open: 1, files: 1}); got != want {
		t.Errorf("purge = %+v, want %+v", got, want)
	}
	for _, id := range []string{"c-limit", "c-new"} {
		if _, err := st.Call(t.Context(), id); err != nil {
			t.Errorf("call %s: %v", id, err)
		}
	}
	if _, err := st.Call(t.Context(), "c-old"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("call c-old after the purge: %v", err)
	}
	for _, id := range []string{"v-old-open", "v-old-done", "v-old-nofile"} {
		if _, err := st.Voicemail(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("voicemail %s after the purge: %v", id, err)
		}
	}
	for _, id := range []string{"v-limit", "v-new"} {
		if _, err := st.Voicemail(t.Context(), id); err != nil {
			t.Errorf("voicemail %s: %v", id, err)
		}
		if !exists(filepath.Join(dir, id+".wav")) {
			t.Errorf("%s.wav was deleted", id)
		}
	}
	if exists(filepath.Join(dir, "v-old-open.wav")) {
		t.Error("v-old-open.wav is still there")
	}
	if fs, err := st.FollowUps(t.Context(), time.Time{}); err != nil || len(fs) != 2 {
		t.Errorf("follow-ups after the purge = %v, %v; want v-limit and v-new", fs, err)
	}
	wantCounter(t, m, 1, 3, 2)
	out := logs.String()
	if !strings.Contains(out, "calls=1 voicemails=3 open_followups=1 recordings=1 failures=0") {
		t.Errorf("no summary line with the counts:\n%s", out)
	}
	if strings.Contains(out, "5550123") {
		t.Errorf("the log shows a phone number:\n%s", out)
	}

	// Nothing more to delete: the counts stay.
	if again := purge(t.Context(), st, now, config.Retention{Calls: 365 * day, Voicemail: 90 * day}, filepath.Join(dir, "voicemail"), m, bufferLogger(&logs)); again != (purged{}) {
		t.Errorf("second purge = %+v, want nothing", again)
	}
	wantCounter(t, m, 1, 3, 2)
}

func wantCounter(t *testing.T, m *metrics.Metrics, calls, voicemails, open float64) {
	t.Helper()
	if got := testutil.ToFloat64(m.RetentionDeleted.WithLabelValues("call")); got != calls {
		t.Errorf(`clubline_retention_deleted_total{kind="call"} = %v, want %v`, got, calls)
	}
	if got := testutil.ToFloat64(m.RetentionDeleted.WithLabelValues("voicemail")); got != voicemails {
		t.Errorf(`clubline_retention_deleted_total{kind="voicemail"} = %v, want %v`, got, voicemails)
	}
	if got := testutil.ToFloat64(m.FollowUpsOpen); got != open {
		t.Errorf("clubline_followups_open = %v, want %v", got, open)
	}
}

// TestRetentionOffAndFailures: a limit that is off deletes nothing; a file
// that cannot be removed is logged, and its record goes all the same.
func TestRetentionOffAndFailures(t *testing.T) {
	dir := t.TempDir()
	st := openEmbedded(t, filepath.Join(dir, "clubline.db"))
	defer st.Close()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stuck := filepath.Join(dir, "stuck.wav") // a directory with a file in it: Remove fails
	if err := os.MkdirAll(filepath.Join(stuck, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustSave(t, st,
		&clubline.Call{ID: "c-ancient", StartedAt: retentionNow.AddDate(-10, 0, 0)},
		&clubline.Voicemail{ID: "v-old", RecordedAt: retentionNow.AddDate(-1, 0, 0), Path: stuck, Status: clubline.VoicemailDone},
	)
	var logs syncBuffer
	got := purge(t.Context(), st, retentionNow, config.Retention{Calls: 0, Voicemail: 30 * day}, filepath.Join(dir, "voicemail"), m, bufferLogger(&logs))
	if want := (purged{voicemails: 1, failed: 1}); got != want {
		t.Errorf("purge = %+v, want %+v", got, want)
	}
	if _, err := st.Call(t.Context(), "c-ancient"); err != nil {
		t.Errorf("retention.calls off, yet c-ancient: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "delete the file by hand") || !strings.Contains(out, "calls_limit=off") {
		t.Errorf("log:\n%s", out)
	}
	wantCounter(t, m, 0, 1, 0)
}

// retentionConfig is a line on loopback ports with the given retention
// section.
func retentionConfig(dir, retention string) string {
	return fmt.Sprintf(`club:
  name: Club de Soccer Roussillon
sip:
  listen: [udp://127.0.0.1:0]
  rtp_ports: 40000-40099
http:
  listen: 127.0.0.1:0
voicemail:
  dir: %s
store:
  data_dir: %s
%s`, filepath.Join(dir, "voicemail"), filepath.Join(dir, "data"), retention)
}

// TestRetentionInMain: Main purges at start-up with the clock it is given,
// and again as soon as a reload changes the limits; the purge stops with
// Shutdown.
func TestRetentionInMain(t *testing.T) {
	dir := t.TempDir()
	vmDir := filepath.Join(dir, "voicemail")
	if err := os.MkdirAll(vmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := openEmbedded(t, filepath.Join(dir, "data", "clubline.db"))
	oldWAV, newWAV := wav(t, vmDir, "old"), wav(t, vmDir, "new")
	mustSave(t, st,
		&clubline.Call{ID: "c-old", StartedAt: retentionNow.Add(-400 * day)},
		&clubline.Call{ID: "c-40d", StartedAt: retentionNow.Add(-40 * day)},
		&clubline.Voicemail{ID: "v-old", RecordedAt: retentionNow.Add(-100 * day), Path: oldWAV, Status: clubline.VoicemailNew},
		&clubline.Voicemail{ID: "v-new", RecordedAt: retentionNow.Add(-time.Hour), Path: newWAV, Status: clubline.VoicemailNew},
	)
	st.Close()
	path := filepath.Join(dir, "clubline.yaml")
	if err := os.WriteFile(path, []byte(retentionConfig(dir, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := &Main{ConfigPath: path, Logger: bufferLogger(&logs), Now: func() time.Time { return retentionNow }}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	shutdown := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	defer shutdown()

	waitUntil(t, "the start-up purge", func() bool {
		return testutil.ToFloat64(m.Metrics.RetentionDeleted.WithLabelValues("voicemail")) == 1 &&
			testutil.ToFloat64(m.Metrics.RetentionDeleted.WithLabelValues("call")) == 1
	})
	if _, err := m.Store.Call(t.Context(), "c-old"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-old after the start-up purge: %v", err)
	}
	if exists(oldWAV) || !exists(newWAV) {
		t.Errorf("after the start-up purge: old.wav there: %t, new.wav there: %t; want false, true", exists(oldWAV), exists(newWAV))
	}
	if got := testutil.ToFloat64(m.Metrics.FollowUpsOpen); got != 1 {
		t.Errorf("clubline_followups_open = %v, want 1 (v-new)", got)
	}

	// A shorter limit applies at once, without waiting for the hour.
	if err := os.WriteFile(path, []byte(retentionConfig(dir, "retention:\n  calls: 30d\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	waitUntil(t, "the purge after the reload", func() bool {
		return testutil.ToFloat64(m.Metrics.RetentionDeleted.WithLabelValues("call")) == 2
	})
	if _, err := m.Store.Call(t.Context(), "c-40d"); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("c-40d after retention.calls: 30d: %v", err)
	}
	shutdown()
	if out := logs.String(); strings.Count(out, "retention: records past their limit are deleted every hour") != 2 {
		t.Errorf("want the limits logged at start-up and after the change:\n%s", out)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRetentionCheckNotesOff(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clubline.yaml")
	if err := os.WriteFile(path, []byte("club:\n  name: C\nretention:\n  voicemail: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := check(t, "--config", path, "--at", "2027-06-23 10:00")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "note: retention.voicemail is off: messages are kept with no limit") || strings.Contains(out, "retention.calls is off") {
		t.Errorf("output:\n%s", out)
	}
}

// TestRetentionPurgesOrphanFiles: a file of the voicemail folder that no
// message record names (a recording whose record was lost or deleted by
// hand, a note left by a crash) goes once older than retention.voicemail,
// as a message would; younger ones, files whose record is still there,
// and files clubline did not name stay.
func TestRetentionPurgesOrphanFiles(t *testing.T) {
	dir := t.TempDir()
	vmDir := filepath.Join(dir, "voicemail")
	if err := os.MkdirAll(vmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	stamp := func(age time.Duration, id, suffix string) string {
		return filepath.Join(vmDir, retentionNow.Add(-age).Local().Format("20060102-150405")+"-"+id+suffix)
	}
	orphanWAV, orphanNote := stamp(100*day, "0ld0", ".wav"), stamp(120*day, "0ld1", ".json.part")
	youngWAV, heldWAV := stamp(10*day, "y0un9", ".wav"), stamp(95*day, "he1d", ".wav")
	foreign := filepath.Join(vmDir, "README.txt")
	for _, p := range []string{orphanWAV, orphanNote, youngWAV, heldWAV, foreign} {
		if err := os.WriteFile(p, []byte("RIFF"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := retentionNow.Add(-200 * day)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	st := openEmbedded(t, filepath.Join(dir, "data", "clubline.db"))
	// Its record is younger than its name says: the record decides.
	mustSave(t, st, &clubline.Voicemail{ID: "he1d", RecordedAt: retentionNow.Add(-5 * day), Path: heldWAV, Status: clubline.VoicemailDone})
	st.Close()
	path := filepath.Join(dir, "clubline.yaml")
	if err := os.WriteFile(path, []byte(retentionConfig(dir, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := &Main{ConfigPath: path, Logger: bufferLogger(&logs), Now: func() time.Time { return retentionNow }}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	waitUntil(t, "the start-up purge", func() bool {
		return strings.Contains(logs.String(), "retention: deleted the records past their limit")
	})
	if exists(orphanWAV) || exists(orphanNote) {
		t.Errorf("after the purge: orphan recording there: %t, orphan note there: %t; want both gone", exists(orphanWAV), exists(orphanNote))
	}
	for _, p := range []string{youngWAV, heldWAV, foreign} {
		if !exists(p) {
			t.Errorf("%s was deleted", filepath.Base(p))
		}
	}
}
