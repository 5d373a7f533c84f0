package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

func testVoicemailRoundTrip(t *testing.T, s clubline.Store) {
	urgent := fullVoicemail("v1", base)
	saveVoicemail(t, s, fullVoicemail("v1", base))
	wantVoicemail(t, getVoicemail(t, s, "v1"), urgent)

	plain := fullVoicemail("v2", base.Add(time.Hour))
	plain.Urgent = false
	plain.Status = clubline.VoicemailDone
	saveVoicemail(t, s, plain)
	want := *plain
	wantVoicemail(t, getVoicemail(t, s, "v2"), &want)

	// A message with only what is known before recording ends.
	bare := &clubline.Voicemail{ID: "v3", CallID: "c3", Status: clubline.VoicemailNew, FollowUpDue: base}
	saveVoicemail(t, s, bare)
	want3 := *bare
	wantVoicemail(t, getVoicemail(t, s, "v3"), &want3)
}

func testFollowUpNewAndDone(t *testing.T, s clubline.Store) {
	due := base.Add(4 * time.Hour)
	v := fullVoicemail("v1", due)
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: due}})

	// Saving again (same status) must not add a second entry.
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: due}})

	// A later due time moves the follow-up.
	v.FollowUpDue = due.Add(time.Hour)
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: due.Add(time.Hour)}})

	// Done: out of the follow-ups, still readable.
	v.Status = clubline.VoicemailDone
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, nil)
	if got := getVoicemail(t, s, "v1"); got.Status != clubline.VoicemailDone {
		t.Errorf("Status after done = %q, want %q", got.Status, clubline.VoicemailDone)
	}

	// Done again is harmless; new again reopens it.
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, nil)
	v.Status = clubline.VoicemailNew
	saveVoicemail(t, s, v)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: due.Add(time.Hour)}})

	// A message saved done straight away never shows up.
	d := fullVoicemail("v2", due)
	d.Status = clubline.VoicemailDone
	saveVoicemail(t, s, d)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v1", Due: due.Add(time.Hour)}})
}

func testFollowUpsBefore(t *testing.T, s clubline.Store) {
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	// Saved out of order; v-same-a and v-same-b share a due time.
	saveVoicemail(t, s, fullVoicemail("v3", at(3)))
	saveVoicemail(t, s, fullVoicemail("v-same-b", at(2)))
	saveVoicemail(t, s, fullVoicemail("v1", at(1)))
	saveVoicemail(t, s, fullVoicemail("v48", at(48)))
	saveVoicemail(t, s, fullVoicemail("v-same-a", at(2)))
	done := fullVoicemail("v-done", at(0))
	done.Status = clubline.VoicemailDone
	saveVoicemail(t, s, done)

	all := []clubline.FollowUp{
		{VoicemailID: "v1", Due: at(1)},
		{VoicemailID: "v-same-a", Due: at(2)},
		{VoicemailID: "v-same-b", Due: at(2)},
		{VoicemailID: "v3", Due: at(3)},
		{VoicemailID: "v48", Due: at(48)},
	}
	wantFollowUps(t, s, time.Time{}, all)
	wantFollowUps(t, s, at(100), all)
	wantFollowUps(t, s, at(3), all[:3]) // due exactly at "before" is not yet before it
	wantFollowUps(t, s, at(3).Add(time.Millisecond), all[:4])
	wantFollowUps(t, s, at(2).UTC(), all[:1])
	wantFollowUps(t, s, at(1), nil)
}

func wantFollowUps(t *testing.T, s clubline.Store, before time.Time, want []clubline.FollowUp) {
	t.Helper()
	got := listFollowUps(t, s, before)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].VoicemailID == want[i].VoicemailID && got[i].Due.Equal(want[i].Due)
	}
	if !ok {
		t.Errorf("FollowUps(before %s) = %s, want %s", fmtTime(before), fmtFollowUps(got), fmtFollowUps(want))
	}
}

func fmtFollowUps(fs []clubline.FollowUp) string {
	out := "["
	for i, f := range fs {
		if i > 0 {
			out += " "
		}
		out += f.VoicemailID + "@" + fmtTime(f.Due)
	}
	return out + "]"
}

func testConcurrent(t *testing.T, s clubline.Store) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%02d", w, i)
				start := base.Add(time.Duration(w*each+i) * time.Second)
				c := fullCall(id, start)
				c.Outcome = ""
				if err := s.SaveCall(t.Context(), c); err != nil {
					errs <- fmt.Errorf("SaveCall(%s): %w", id, err)
				}
				// Every call is written twice, as clubline does: on arrival and at the end.
				if err := s.SaveCall(t.Context(), fullCall(id, start)); err != nil {
					errs <- fmt.Errorf("SaveCall(%s) again: %w", id, err)
				}
				if err := s.SaveVoicemail(t.Context(), fullVoicemail(id, start)); err != nil {
					errs <- fmt.Errorf("SaveVoicemail(%s): %w", id, err)
				}
				if _, err := s.Calls(t.Context(), base, start, 10); err != nil {
					errs <- fmt.Errorf("Calls during writes: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var want []string
	for w := range workers {
		for i := range each {
			want = append(want, fmt.Sprintf("w%d-%02d", w, i))
		}
	}
	slices.Sort(want) // ids sort in start order by construction
	wantIDs(t, "Calls after concurrent writes", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), want)
	wantIDs(t, "FollowUps after concurrent writes", followUpIDs(listFollowUps(t, s, time.Time{})), want)
	for _, id := range []string{want[0], want[len(want)/2], want[len(want)-1]} {
		got := getCall(t, s, id)
		if got.Outcome != clubline.OutcomeVoicemail {
			t.Errorf("call %s: Outcome = %q, want the last write's %q", id, got.Outcome, clubline.OutcomeVoicemail)
		}
	}
}

func testReopen(t *testing.T, open DurableOpener) {
	s, reopen := open(t)
	calls := []*clubline.Call{
		fullCall("c1", base),
		fullCall("c2", base.Add(time.Minute)),
		{ID: "c3-live", StartedAt: base.Add(2 * time.Minute), Stage: clubline.StageMenu},
		answeredCall("c4-answered", base.Add(4*time.Minute)),
	}
	for _, c := range calls {
		saveCall(t, s, c)
	}
	open1 := fullVoicemail("v1", base.Add(time.Hour))
	open2 := fullVoicemail("v2", base.Add(30*time.Minute))
	done := fullVoicemail("v3", base)
	done.Status = clubline.VoicemailDone
	for _, v := range []*clubline.Voicemail{open1, open2, done} {
		saveVoicemail(t, s, v)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen()
	t.Cleanup(func() { closeStore(t, s) })
	for _, c := range calls {
		wantCall(t, getCall(t, s, c.ID), c)
	}
	wantIDs(t, "Calls after reopen", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c1", "c2", "c3-live", "c4-answered"})
	for _, v := range []*clubline.Voicemail{open1, open2, done} {
		wantVoicemail(t, getVoicemail(t, s, v.ID), v)
	}
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{
		{VoicemailID: "v2", Due: open2.FollowUpDue},
		{VoicemailID: "v1", Due: open1.FollowUpDue},
	})

	// The indexes still work for writes after the reopen.
	moved := fullCall("c1", base.Add(3*time.Minute))
	saveCall(t, s, moved)
	wantIDs(t, "Calls after moving c1", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c2", "c3-live", "c1", "c4-answered"})
	open1.Status = clubline.VoicemailDone
	saveVoicemail(t, s, open1)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v2", Due: open2.FollowUpDue}})
}
