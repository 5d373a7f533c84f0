package privacy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/privacy"
	"github.com/clubline/clubline/store/embedded"
)

// One caller among two, written in another form than the records hold:
// the export holds theirs only, the erasure removes theirs only (records,
// recording, a crash's note, pending notifications) and finds nothing the
// second time.
func TestExportThenErase(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	al, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	vmDir := filepath.Join(dir, "voicemail")
	os.MkdirAll(vmDir, 0o700)
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i, from := range []string{"+15145550101", "+14505550177", "15145550101"} {
		id := []string{"a", "b", "c"}[i]
		wav := filepath.Join(vmDir, "20261204-100000-v"+id+".wav")
		os.WriteFile(wav, []byte("RIFF…"+from), 0o600)
		st.SaveCall(ctx, &clubline.Call{ID: "c" + id, From: from, StartedAt: at.Add(time.Duration(i) * time.Minute)})
		st.SaveVoicemail(ctx, &clubline.Voicemail{ID: "v" + id, CallID: "c" + id, From: from, RecordedAt: at, Path: wav, Status: clubline.VoicemailNew, FollowUpDue: at.Add(48 * time.Hour)})
		al.Add(audit.Entry{User: "marie", Action: audit.ActionListen, Target: "v" + id})
	}
	// A recording a crash cut short: its note holds the number.
	os.WriteFile(filepath.Join(vmDir, "20261204-110000-vd.json.part"), []byte(`{"voicemail_id":"vd","call_id":"cd","from":"514-555-0101","call_started_at":"2026-12-04T11:00:00Z","urgent":false,"recorded_at":"2026-12-04T11:00:00Z","follow_up_due":"2026-12-06T11:00:00Z"}`), 0o600)
	os.WriteFile(filepath.Join(vmDir, "20261204-110000-vd.wav.part"), []byte("audio"), 0o600)
	pending := 0
	o := privacy.Options{Store: st, VoicemailDir: vmDir, Audit: al,
		Pending: []func(string) (int, error){func(n string) (int, error) {
			if !clubline.SameNumber(n, "+15145550101") {
				t.Errorf("pending purged for %q", n)
			}
			pending++
			return 2, nil
		}}}

	var buf bytes.Buffer
	if err := privacy.Export(ctx, o, "(514) 555-0101", &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	for _, want := range []string{"README.txt", "calls.json", "messages.json", "access.json", "audio/va.wav", "audio/vc.wav", "recordings-in-progress.json"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the export lacks %s (has %v)", want, len(files))
		}
	}
	if strings.Contains(files["calls.json"], "4505550177") || strings.Contains(files["messages.json"], "4505550177") || strings.Contains(files["access.json"], `"vb"`) {
		t.Error("the export holds the other caller's data")
	}
	if !strings.Contains(files["access.json"], `"va"`) {
		t.Errorf("access.json lacks who listened: %s", files["access.json"])
	}

	erased, err := privacy.Erase(ctx, o, "514.555.0101")
	if err != nil {
		t.Fatal(err)
	}
	if erased.Calls != 2 || erased.Messages != 2 || erased.Files != 4 || erased.Pending != 2 {
		t.Errorf("erased %+v, want 2 calls, 2 messages, 4 files (2 WAVs, a part and its note), 2 pending", erased)
	}
	left, _ := os.ReadDir(vmDir)
	if len(left) != 1 || !strings.Contains(left[0].Name(), "vb") {
		t.Errorf("the voicemail folder holds %v, want the other caller's only", left)
	}
	if _, err := st.Call(ctx, "cb"); err != nil {
		t.Errorf("the other caller's call: %v", err)
	}
	if fus, _ := st.FollowUps(ctx, time.Time{}); len(fus) != 1 || fus[0].VoicemailID != "vb" {
		t.Errorf("follow-ups %+v, want vb's only", fus)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "clubline.db")); bytes.Contains(b, []byte("5145550101")) {
		t.Error("the store's file still holds the number")
	}
	again, err := privacy.Erase(ctx, o, "+15145550101")
	if err != nil || again.Calls+again.Messages+again.Files != 0 {
		t.Errorf("a second erasure: %+v %v", again, err)
	}
	if err := privacy.Export(ctx, o, "12", io.Discard); err == nil {
		t.Error("an export for \"12\" (not a number) was made")
	}
}
