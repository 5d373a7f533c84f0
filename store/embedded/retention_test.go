package embedded_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
)

// writeV1 writes a store file as a clubline of schema version 1 left it:
// no index of voicemails by recording time.
func writeV1(t *testing.T, path string, voicemails map[string]string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "calls", "calls_by_start", "voicemails", "followups"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		for id, val := range voicemails {
			if err := tx.Bucket([]byte("voicemails")).Put([]byte(id), []byte(val)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionUpgradeFromV1: the messages of a version 1 file are indexed
// when it is opened, so the purge finds them.
func TestRetentionUpgradeFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	writeV1(t, path, map[string]string{
		"v-old":     `{"id":"v-old","recorded_at":"2025-03-01T13:00:00.000Z","path":"/data/voicemail/v-old.wav","follow_up_due":"2025-03-03T13:00:00.000Z","status":"done"}`,
		"v-recent":  `{"id":"v-recent","recorded_at":"2025-06-20T13:00:00.000Z","follow_up_due":"2025-06-22T13:00:00.000Z","status":"done"}`,
		"v-damaged": `{"id":`,
	})
	s := open(t, path)
	defer func() { s.Close() }()

	vs, err := s.DeleteVoicemailsBefore(t.Context(), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
		if v.ID == "v-old" && v.Path != "/data/voicemail/v-old.wav" {
			t.Errorf("v-old returned with path %q", v.Path)
		}
	}
	slices.Sort(ids)
	// A record that does not decode counts as old: it goes too.
	if !slices.Equal(ids, []string{"v-damaged", "v-old"}) {
		t.Errorf("deleted %q, want v-damaged and v-old", ids)
	}
	if _, err := s.Voicemail(t.Context(), "v-recent"); err != nil {
		t.Errorf("v-recent: %v", err)
	}

	// The file is at version 2 now: the index is kept up to date.
	if err := s.SaveVoicemail(t.Context(), &clubline.Voicemail{ID: "v-new", RecordedAt: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	vs, err = s.DeleteVoicemailsBefore(t.Context(), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(vs) != 1 || vs[0].ID != "v-new" {
		t.Errorf("DeleteVoicemailsBefore after the upgrade = %v, %v; want v-new", vs, err)
	}
}
