package embedded_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
)

// TestEraseDamagedRecords: a record that no longer decodes is deleted on
// request all the same, with every index entry naming it.
func TestEraseDamagedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	at := time.Date(2025, 6, 24, 13, 0, 0, 0, time.UTC)
	s := open(t, path)
	if err := s.SaveCall(t.Context(), &clubline.Call{ID: "c1", StartedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveVoicemail(t.Context(), &clubline.Voicemail{ID: "v1", RecordedAt: at, FollowUpDue: at.Add(time.Hour), Status: clubline.VoicemailNew}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("calls")).Put([]byte("c1"), []byte(`{"id":`)); err != nil {
			return err
		}
		return tx.Bucket([]byte("voicemails")).Put([]byte("v1"), []byte(`{"id":"v1","recorded_at":"yesterday"}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	if err := s.DeleteCall(t.Context(), "c1"); err != nil {
		t.Errorf("DeleteCall of a damaged record: %v", err)
	}
	if err := s.DeleteVoicemail(t.Context(), "v1"); err != nil {
		t.Errorf("DeleteVoicemail of a damaged record: %v", err)
	}
	// No index entry is left to name them: the lists read.
	if cs, err := s.Calls(t.Context(), time.Time{}, at.Add(time.Hour), 0); err != nil || len(cs) != 0 {
		t.Errorf("Calls after the erasure = %v, %v; want none", cs, err)
	}
	if vs, err := s.Voicemails(t.Context(), time.Time{}, at.Add(time.Hour), 0); err != nil || len(vs) != 0 {
		t.Errorf("Voicemails after the erasure = %v, %v; want none", vs, err)
	}
	if fs, err := s.FollowUps(t.Context(), time.Time{}); err != nil || len(fs) != 0 {
		t.Errorf("FollowUps after the erasure = %v, %v; want none", fs, err)
	}
}

// TestStateInAnOlderFile: a file written before the state bucket existed
// opens, and keeps the line's state from then on.
func TestStateInAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	writeV1(t, path, nil)
	s := open(t, path)
	if err := s.SetState(t.Context(), "override", "closed"); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if v, err := s.State(t.Context(), "override"); err != nil || v != "closed" {
		t.Errorf("State after reopen = %q, %v; want closed", v, err)
	}
}
