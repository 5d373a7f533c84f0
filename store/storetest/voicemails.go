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
	done := doneVoicemail("v3", base)
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
	wantIDs(t, "Voicemails after reopen", listVoicemails(t, s, time.Time{}, base, 0), []string{"v3", "v2", "v1"})

	// The indexes still work for writes after the reopen.
	moved := fullCall("c1", base.Add(3*time.Minute))
	saveCall(t, s, moved)
	wantIDs(t, "Calls after moving c1", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c2", "c3-live", "c1", "c4-answered"})
	open1.Status = clubline.VoicemailDone
	saveVoicemail(t, s, open1)
	wantFollowUps(t, s, time.Time{}, []clubline.FollowUp{{VoicemailID: "v2", Due: open2.FollowUpDue}})
}

func testVoicemailFollowUpFields(t *testing.T, s clubline.Store) {
	// Taken, noted, reminded, escalated, then closed: every field.
	v := fullVoicemail("v1", base)
	saveVoicemail(t, s, fullVoicemail("v1", base))
	wantVoicemail(t, getVoicemail(t, s, "v1"), v)
	done := doneVoicemail("v1", base)
	saveVoicemail(t, s, doneVoicemail("v1", base))
	wantVoicemail(t, getVoicemail(t, s, "v1"), done)

	// Through the range query too, with the same fields.
	vs, err := s.Voicemails(t.Context(), done.RecordedAt, done.RecordedAt.Add(time.Millisecond), 0)
	if err != nil {
		t.Fatalf("Voicemails: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("Voicemails over the recording of v1 = %d messages, want 1", len(vs))
	}
	wantVoicemail(t, vs[0], done)

	// Closed by clubline itself (the caller got through on a later call):
	// no staff id.
	byCallback := doneVoicemail("v1", base)
	byCallback.DoneBy, byCallback.DoneHow = "", clubline.FollowUpClosedCallback
	saveVoicemail(t, s, byCallback)
	wantVoicemail(t, getVoicemail(t, s, "v1"), byCallback)

	// The record written last replaces the earlier one entirely: a message
	// reopened and handed back loses its closing, its owner and its notes.
	reopened := fullVoicemail("v1", base)
	reopened.AssignedTo, reopened.Notes = "", nil
	reopened.RemindedAt, reopened.EscalatedAt = time.Time{}, time.Time{}
	saveVoicemail(t, s, reopened)
	wantVoicemail(t, getVoicemail(t, s, "v1"), reopened)

	// One note, without an author or a time: kept as it is.
	reopened.Notes = []clubline.Note{{Text: "a note from before notes had authors"}}
	saveVoicemail(t, s, reopened)
	wantVoicemail(t, getVoicemail(t, s, "v1"), reopened)
}

// recordedVoicemail is fullVoicemail recorded at the given time, with that status.
func recordedVoicemail(id string, at time.Time, status clubline.VoicemailStatus) *clubline.Voicemail {
	v := fullVoicemail(id, at.Add(48*time.Hour))
	v.RecordedAt, v.Status = at, status
	return v
}

func listVoicemails(t *testing.T, s clubline.Store, from, to time.Time, limit int) []string {
	t.Helper()
	vs, err := s.Voicemails(t.Context(), from, to, limit)
	if err != nil {
		t.Fatalf("Voicemails(%s, %s, %d): %v", fmtTime(from), fmtTime(to), limit, err)
	}
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		if v == nil {
			t.Fatalf("Voicemails returned a nil message")
		}
		ids = append(ids, v.ID)
	}
	return ids
}

func testVoicemailsRange(t *testing.T, s clubline.Store) {
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	// Six messages a minute apart, saved out of order, new and done: the
	// list holds both.
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		status := clubline.VoicemailNew
		if i%2 == 1 {
			status = clubline.VoicemailDone
		}
		saveVoicemail(t, s, recordedVoicemail(fmt.Sprintf("v%d", i), at(i), status))
	}
	// Calls are not messages.
	saveCall(t, s, fullCall("c-at-2", at(2)))

	cases := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"all", at(0), at(6), []string{"v0", "v1", "v2", "v3", "v4", "v5"}},
		{"from is inclusive", at(2), at(4).Add(time.Millisecond), []string{"v2", "v3", "v4"}},
		{"to is exclusive", at(2), at(4), []string{"v2", "v3"}},
		{"one millisecond before from", at(2).Add(-time.Millisecond), at(3), []string{"v2"}},
		{"one millisecond after from", at(2).Add(time.Millisecond), at(3).Add(time.Millisecond), []string{"v3"}},
		{"zero from", time.Time{}, at(2), []string{"v0", "v1"}},
		{"in another zone", at(1).UTC(), at(3).In(time.FixedZone("PDT", -7*3600)), []string{"v1", "v2"}},
		{"before all", at(-10), at(0), nil},
		{"after all", at(6), at(60), nil},
		{"empty range", at(3), at(3), nil},
		{"reversed range", at(5), at(1), nil},
	}
	for _, tc := range cases {
		wantIDs(t, "Voicemails "+tc.name, listVoicemails(t, s, tc.from, tc.to, 0), tc.want)
	}

	// Closing a message or reopening it leaves it in the list; saving it
	// with another recording time moves it.
	v2 := recordedVoicemail("v2", at(2), clubline.VoicemailDone)
	saveVoicemail(t, s, v2)
	v1 := recordedVoicemail("v1", at(1), clubline.VoicemailNew)
	saveVoicemail(t, s, v1)
	wantIDs(t, "Voicemails after status changes", listVoicemails(t, s, at(0), at(6), 0), []string{"v0", "v1", "v2", "v3", "v4", "v5"})
	saveVoicemail(t, s, recordedVoicemail("v0", at(10), clubline.VoicemailNew))
	wantIDs(t, "Voicemails around the old recording time", listVoicemails(t, s, at(0), at(1), 0), nil)
	wantIDs(t, "Voicemails after moving v0", listVoicemails(t, s, time.Time{}, at(60), 0), []string{"v1", "v2", "v3", "v4", "v5", "v0"})
}

func testVoicemailsLimit(t *testing.T, s clubline.Store) {
	for _, i := range []int{4, 2, 0, 3, 1} {
		status := clubline.VoicemailNew
		if i == 0 || i == 3 {
			status = clubline.VoicemailDone
		}
		saveVoicemail(t, s, recordedVoicemail(fmt.Sprintf("v%d", i), base.Add(time.Duration(i)*time.Second), status))
	}
	from, to := base, base.Add(time.Minute)
	all := []string{"v0", "v1", "v2", "v3", "v4"}
	wantIDs(t, "Voicemails limit 0", listVoicemails(t, s, from, to, 0), all)
	wantIDs(t, "Voicemails limit -1", listVoicemails(t, s, from, to, -1), all)
	wantIDs(t, "Voicemails limit 1", listVoicemails(t, s, from, to, 1), []string{"v0"})
	wantIDs(t, "Voicemails limit 3", listVoicemails(t, s, from, to, 3), []string{"v0", "v1", "v2"})
	wantIDs(t, "Voicemails limit 5", listVoicemails(t, s, from, to, 5), all)
	wantIDs(t, "Voicemails limit 100", listVoicemails(t, s, from, to, 100), all)
	wantIDs(t, "Voicemails limit 2 from v3", listVoicemails(t, s, base.Add(3*time.Second), to, 2), []string{"v3", "v4"})
}

func testVoicemailsSameRecordedAt(t *testing.T, s clubline.Store) {
	// Messages recorded in the same millisecond come back ordered by id,
	// so a page boundary (limit) is the same every time.
	for _, id := range []string{"b", "c", "a"} {
		saveVoicemail(t, s, recordedVoicemail(id, base, clubline.VoicemailNew))
	}
	saveVoicemail(t, s, recordedVoicemail("0-earlier", base.Add(-time.Millisecond), clubline.VoicemailDone))
	saveVoicemail(t, s, recordedVoicemail("0-later", base.Add(time.Millisecond), clubline.VoicemailNew))
	wantIDs(t, "Voicemails with equal recording times", listVoicemails(t, s, time.Time{}, base.Add(time.Second), 0),
		[]string{"0-earlier", "a", "b", "c", "0-later"})
	wantIDs(t, "Voicemails with equal recording times, limit 2", listVoicemails(t, s, base, base.Add(time.Second), 2),
		[]string{"a", "b"})
}
