package storetest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

// The erasure of one record, on a caller's request (Law 25).

func wantNoCall(t *testing.T, s clubline.Store, id string) {
	t.Helper()
	if c, err := s.Call(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("Call(%q) after its deletion = %v, %v; want ErrNotFound", id, c, err)
	}
}

func wantNoVoicemail(t *testing.T, s clubline.Store, id string) {
	t.Helper()
	if v, err := s.Voicemail(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
		t.Errorf("Voicemail(%q) after its deletion = %v, %v; want ErrNotFound", id, v, err)
	}
}

func deleteCall(t *testing.T, s clubline.Store, id string) {
	t.Helper()
	if err := s.DeleteCall(t.Context(), id); err != nil {
		t.Fatalf("DeleteCall(%q): %v", id, err)
	}
}

func deleteVoicemail(t *testing.T, s clubline.Store, id string) {
	t.Helper()
	if err := s.DeleteVoicemail(t.Context(), id); err != nil {
		t.Fatalf("DeleteVoicemail(%q): %v", id, err)
	}
}

func testDeleteCall(t *testing.T, s clubline.Store) {
	saveCall(t, s, fullCall("c1", base)) // it left the message vm-c1
	saveCall(t, s, fullCall("c2", base.Add(time.Minute)))
	saveCall(t, s, answeredCall("c3", base.Add(2*time.Minute)))
	saveVoicemail(t, s, fullVoicemail("vm-c1", base))

	deleteCall(t, s, "c1")
	wantNoCall(t, s, "c1")
	wantIDs(t, "Calls after DeleteCall", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c2", "c3"})
	// Its index entry went with it: the first of a page is the next call.
	wantIDs(t, "Calls limit 1 after DeleteCall", listCalls(t, s, time.Time{}, base.Add(time.Hour), 1), []string{"c2"})
	wantCall(t, getCall(t, s, "c2"), fullCall("c2", base.Add(time.Minute)))
	// The message it left is a record of its own: left alone.
	wantVoicemail(t, getVoicemail(t, s, "vm-c1"), fullVoicemail("vm-c1", base))

	for _, id := range []string{"c1", "nope", "", "C2", "vm-c1"} {
		if err := s.DeleteCall(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("DeleteCall(%q) = %v, want an error that is ErrNotFound", id, err)
		}
	}
	getVoicemail(t, s, "vm-c1")

	// A call saved again after its deletion (a late write) is a new record.
	saveCall(t, s, answeredCall("c1", base.Add(3*time.Minute)))
	wantIDs(t, "Calls after a save again", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c2", "c3", "c1"})
	if n, err := s.DeleteCallsBefore(t.Context(), base.Add(time.Hour)); err != nil || n != 3 {
		t.Errorf("DeleteCallsBefore after a deletion = %d, %v; want 3", n, err)
	}
}

func testDeleteVoicemail(t *testing.T, s clubline.Store) {
	// The store deletes the record, never the file it names.
	wav := filepath.Join(t.TempDir(), "v1.wav")
	if err := os.WriteFile(wav, []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := fullVoicemail("v1", base)
	v1.Path = wav
	v2 := doneVoicemail("v2", base.Add(time.Hour))
	v3 := fullVoicemail("v3", base.Add(2*time.Hour))
	for _, v := range []*clubline.Voicemail{v1, v2, v3} {
		saveVoicemail(t, s, v)
	}
	saveCall(t, s, fullCall("c1", base)) // the call that left v1 stays

	deleteVoicemail(t, s, "v1")
	wantNoVoicemail(t, s, "v1")
	if _, err := os.Stat(wav); err != nil {
		t.Errorf("DeleteVoicemail touched the WAV file: %v", err)
	}
	// Its follow-up and its index entry went with it.
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v3", Due: v3.FollowUpDue}})
	all := func() []string { return listVoicemails(t, s, time.Time{}, base.Add(24*time.Hour), 0) }
	wantIDs(t, "Voicemails after DeleteVoicemail", all(), []string{"v2", "v3"})
	wantIDs(t, "Voicemails limit 1 after DeleteVoicemail", listVoicemails(t, s, time.Time{}, base.Add(24*time.Hour), 1), []string{"v2"})
	getCall(t, s, "c1")

	// A closed message goes the same way.
	deleteVoicemail(t, s, "v2")
	wantNoVoicemail(t, s, "v2")
	wantIDs(t, "Voicemails after deleting a closed one", all(), []string{"v3"})
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v3", Due: v3.FollowUpDue}})
	wantVoicemail(t, getVoicemail(t, s, "v3"), v3)

	for _, id := range []string{"v1", "v2", "nope", "", "V3", "c1"} {
		if err := s.DeleteVoicemail(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("DeleteVoicemail(%q) = %v, want an error that is ErrNotFound", id, err)
		}
	}

	// The purge does not return a message already deleted.
	got, err := s.DeleteVoicemailsBefore(t.Context(), base.Add(24*time.Hour))
	if err != nil || len(got) != 1 || got[0].ID != "v3" {
		t.Errorf("DeleteVoicemailsBefore after deletions = %v, %v; want only v3", got, err)
	}

	// A message saved again after its deletion is a new record, followed up again.
	saveVoicemail(t, s, v1)
	wantVoicemail(t, getVoicemail(t, s, "v1"), v1)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: v1.FollowUpDue}})
	wantIDs(t, "Voicemails after a save again", all(), []string{"v1"})
}

// testDeleteReopen: what was deleted stays deleted once the store is
// closed and opened again.
func testDeleteReopen(t *testing.T, open DurableOpener) {
	s, reopen := open(t)
	saveCall(t, s, fullCall("c1", base))
	saveCall(t, s, fullCall("c2", base.Add(time.Minute)))
	saveVoicemail(t, s, fullVoicemail("v1", base))
	saveVoicemail(t, s, fullVoicemail("v2", base.Add(time.Minute)))
	// Saved twice before the deletion: no version comes back.
	saveCall(t, s, answeredCall("c1", base))
	saveVoicemail(t, s, doneVoicemail("v1", base))
	deleteCall(t, s, "c1")
	deleteVoicemail(t, s, "v1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen()
	t.Cleanup(func() { closeStore(t, s) })
	wantNoCall(t, s, "c1")
	wantNoVoicemail(t, s, "v1")
	wantIDs(t, "Calls after reopen", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c2"})
	wantIDs(t, "Voicemails after reopen", listVoicemails(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"v2"})
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v2", Due: base.Add(time.Minute)}})
}
