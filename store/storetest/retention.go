package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

func testDeleteCallsBefore(t *testing.T, s clubline.Store) {
	cut := base
	saveCall(t, s, fullCall("c-2days", cut.Add(-48*time.Hour)))
	saveCall(t, s, fullCall("c-1ms", cut.Add(-time.Millisecond)))
	saveCall(t, s, fullCall("c-at", cut))
	saveCall(t, s, fullCall("c-later", cut.Add(time.Hour)))
	// Saved before the cut, then again after it: the latest save counts.
	saveCall(t, s, fullCall("c-moved", cut.Add(-time.Hour)))
	saveCall(t, s, fullCall("c-moved", cut.Add(2*time.Hour)))
	// Messages are not calls: left alone.
	saveVoicemail(t, s, fullVoicemail("v-old", cut.Add(-72*time.Hour)))

	n, err := s.DeleteCallsBefore(t.Context(), cut.UTC()) // the same instant, in another zone
	if err != nil {
		t.Fatalf("DeleteCallsBefore: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteCallsBefore = %d, want 2 (c-2days, c-1ms)", n)
	}
	for _, id := range []string{"c-2days", "c-1ms"} {
		if _, err := s.Call(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("Call(%q) after the purge: err = %v, want ErrNotFound", id, err)
		}
	}
	// A call started exactly at the cut is kept.
	wantCall(t, getCall(t, s, "c-at"), fullCall("c-at", cut))
	wantIDs(t, "Calls after the purge", listCalls(t, s, time.Time{}, cut.Add(24*time.Hour), 0), []string{"c-at", "c-later", "c-moved"})
	getVoicemail(t, s, "v-old")

	n, err = s.DeleteCallsBefore(t.Context(), cut)
	if err != nil || n != 0 {
		t.Errorf("DeleteCallsBefore again = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteCallsInBatches(t *testing.T, s clubline.Store) {
	// More than one batch of any store (they delete 500 at a time).
	const old, kept = 1100, 3
	for i := range old + kept {
		saveCall(t, s, &clubline.Call{ID: fmt.Sprintf("c%04d", i), StartedAt: base.Add(time.Duration(i-old) * time.Second)})
	}
	n, err := s.DeleteCallsBefore(t.Context(), base)
	if err != nil {
		t.Fatalf("DeleteCallsBefore: %v", err)
	}
	if n != old {
		t.Errorf("DeleteCallsBefore = %d, want %d", n, old)
	}
	wantIDs(t, "Calls after the purge", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c1100", "c1101", "c1102"})
}

func testDeleteVoicemailsBefore(t *testing.T, s clubline.Store) {
	cut := base
	recorded := func(id string, at time.Time, status clubline.VoicemailStatus) *clubline.Voicemail {
		v := fullVoicemail(id, at.Add(48*time.Hour))
		v.RecordedAt, v.Status = at, status
		return v
	}
	oldOpen := recorded("v-2days", cut.Add(-48*time.Hour), clubline.VoicemailNew)
	oldDone := recorded("v-1ms", cut.Add(-time.Millisecond), clubline.VoicemailDone)
	at := recorded("v-at", cut, clubline.VoicemailNew)
	later := recorded("v-later", cut.Add(time.Hour), clubline.VoicemailNew)
	for _, v := range []*clubline.Voicemail{oldOpen, oldDone, at, later} {
		saveVoicemail(t, s, v)
	}
	// Calls are not messages: left alone.
	saveCall(t, s, fullCall("c-old", cut.Add(-72*time.Hour)))

	got, err := s.DeleteVoicemailsBefore(t.Context(), cut.UTC())
	if err != nil {
		t.Fatalf("DeleteVoicemailsBefore: %v", err)
	}
	slices.SortFunc(got, func(a, b *clubline.Voicemail) int { return strings.Compare(a.ID, b.ID) })
	if len(got) != 2 {
		t.Fatalf("DeleteVoicemailsBefore returned %d messages, want 2 (v-1ms, v-2days)", len(got))
	}
	// Returned whole: the caller deletes the files they name.
	wantVoicemail(t, got[0], oldDone)
	wantVoicemail(t, got[1], oldOpen)
	for _, id := range []string{"v-2days", "v-1ms"} {
		if _, err := s.Voicemail(t.Context(), id); !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("Voicemail(%q) after the purge: err = %v, want ErrNotFound", id, err)
		}
	}
	// Its follow-up went with the open one; the one recorded at the cut stays.
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{
		{VoicemailID: "v-at", Due: at.FollowUpDue},
		{VoicemailID: "v-later", Due: later.FollowUpDue},
	})
	wantVoicemail(t, getVoicemail(t, s, "v-at"), at)
	wantIDs(t, "Voicemails after the purge", listVoicemails(t, s, time.Time{}, cut.Add(24*time.Hour), 0), []string{"v-at", "v-later"})
	getCall(t, s, "c-old")

	got, err = s.DeleteVoicemailsBefore(t.Context(), cut)
	if err != nil || len(got) != 0 {
		t.Errorf("DeleteVoicemailsBefore again = %d messages, %v; want none", len(got), err)
	}

	// A message deleted and saved again (a late write) is a new record,
	// purged in its turn.
	saveVoicemail(t, s, oldOpen)
	got, err = s.DeleteVoicemailsBefore(t.Context(), cut)
	if err != nil || len(got) != 1 || got[0].ID != "v-2days" {
		t.Errorf("DeleteVoicemailsBefore after a save again = %v, %v; want v-2days", got, err)
	}
	wantFollowUps(t, s, cut.Add(-time.Hour), nil)
}
