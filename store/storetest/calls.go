package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

func testCallRoundTrip(t *testing.T, s clubline.Store) {
	// A call that never entered a queue (the queue's fields empty, as in
	// the records written before they existed), one with all of them, and
	// the line's own mystery call (Probe).
	for i, newCall := range []func(id string, start time.Time) *clubline.Call{fullCall, answeredCall, probeCall} {
		id, start := fmt.Sprintf("c%d", i+1), base.Add(time.Duration(i)*time.Minute)
		want := newCall(id, start)
		saveCall(t, s, newCall(id, start))
		wantCall(t, getCall(t, s, id), want)

		// Through the range query too, with the same fields.
		cs, err := s.Calls(t.Context(), start, start.Add(time.Millisecond), 0)
		if err != nil {
			t.Fatalf("Calls: %v", err)
		}
		if len(cs) != 1 {
			t.Fatalf("Calls over the start of %s = %d records, want 1", id, len(cs))
		}
		wantCall(t, cs[0], want)
	}
}

// probeCall is fullCall placed by the line's own mystery call (Probe).
func probeCall(id string, start time.Time) *clubline.Call {
	c := fullCall(id, start)
	c.From, c.Probe = "clubline-probe", true
	return c
}

func testCallInProgress(t *testing.T, s clubline.Store) {
	// Written when the call arrives: no end, no outcome, nothing chosen yet.
	c := &clubline.Call{
		ID:        "c-live",
		From:      "sip:alice@club.example",
		To:        "100",
		StartedAt: base,
		Hours:     clubline.HoursOpen,
		Language:  "en",
		Stage:     clubline.StageGreeting,
		Trace:     []string{"open: weekly Mon 09:00-17:00"},
	}
	saveCall(t, s, c)
	got := getCall(t, s, "c-live")
	wantCall(t, got, c)
	if !got.EndedAt.IsZero() {
		t.Errorf("EndedAt of a call in progress = %s, want the zero time", fmtTime(got.EndedAt))
	}
	if got.Duration != 0 || got.Outcome != "" || got.VoicemailID != "" {
		t.Errorf("call in progress read back as Duration=%s Outcome=%q VoicemailID=%q, want all empty",
			got.Duration, got.Outcome, got.VoicemailID)
	}

	// A call with no trace at all.
	bare := &clubline.Call{ID: "c-bare", StartedAt: base.Add(time.Second)}
	saveCall(t, s, bare)
	wantCall(t, getCall(t, s, "c-bare"), bare)
}

func testCallOverwrite(t *testing.T, s clubline.Store) {
	first := fullCall("c1", base)
	first.Trace = append(first.Trace, "extra step", "another step")
	saveCall(t, s, first)

	// The record written at the end replaces the first one entirely: fields
	// cleared since (VoicemailID, Choice) and a shorter trace must not linger.
	final := fullCall("c1", base)
	final.VoicemailID = ""
	final.Choice = ""
	final.Outcome = clubline.OutcomeAbandoned
	final.Stage = clubline.StageQueue
	final.Trace = []string{"menu: 2 schedule → office", "queue: caller hung up"}
	saveCall(t, s, final)

	wantCall(t, getCall(t, s, "c1"), final)
	wantIDs(t, "Calls after an overwrite", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), []string{"c1"})

	// The queue's fields do not linger either.
	saveCall(t, s, answeredCall("c1", base))
	wantCall(t, getCall(t, s, "c1"), answeredCall("c1", base))
	saveCall(t, s, final)
	wantCall(t, getCall(t, s, "c1"), final)
}

func testCallOverwriteMovesStart(t *testing.T, s clubline.Store) {
	c := fullCall("c1", base)
	saveCall(t, s, c)
	moved := fullCall("c1", base.Add(2*time.Hour))
	saveCall(t, s, moved)

	wantIDs(t, "Calls around the old start", listCalls(t, s, base.Add(-time.Minute), base.Add(time.Minute), 0), nil)
	wantIDs(t, "Calls around the new start", listCalls(t, s, moved.StartedAt, moved.StartedAt.Add(time.Minute), 0), []string{"c1"})
	wantIDs(t, "all Calls", listCalls(t, s, time.Time{}, base.Add(24*time.Hour), 0), []string{"c1"})
}

func testNotFound(t *testing.T, s clubline.Store) {
	saveCall(t, s, fullCall("c1", base))
	saveVoicemail(t, s, fullVoicemail("v1", base))

	for _, id := range []string{"nope", "", "c1 ", "C1", "v1"} {
		c, err := s.Call(t.Context(), id)
		if !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("Call(%q) = %v, %v; want an error that is ErrNotFound", id, c, err)
		}
	}
	for _, id := range []string{"nope", "", "V1", "c1"} {
		v, err := s.Voicemail(t.Context(), id)
		if !errors.Is(err, clubline.ErrNotFound) {
			t.Errorf("Voicemail(%q) = %v, %v; want an error that is ErrNotFound", id, v, err)
		}
	}
}

func testRejectsInvalid(t *testing.T, s clubline.Store) {
	if err := s.SaveCall(t.Context(), nil); err == nil {
		t.Errorf("SaveCall(nil) = nil, want an error")
	}
	if err := s.SaveCall(t.Context(), &clubline.Call{StartedAt: base}); err == nil {
		t.Errorf("SaveCall(call without id) = nil, want an error")
	}
	if err := s.SaveVoicemail(t.Context(), nil); err == nil {
		t.Errorf("SaveVoicemail(nil) = nil, want an error")
	}
	if err := s.SaveVoicemail(t.Context(), &clubline.Voicemail{Status: clubline.VoicemailNew, FollowUpDue: base}); err == nil {
		t.Errorf("SaveVoicemail(voicemail without id) = nil, want an error")
	}
	wantIDs(t, "Calls after rejected writes", listCalls(t, s, time.Time{}, base.Add(time.Hour), 0), nil)
	wantIDs(t, "FollowUps after rejected writes", followUpIDs(listFollowUps(t, s, time.Time{})), nil)
}

func testKeepsNoReference(t *testing.T, s clubline.Store) {
	c := fullCall("c1", base)
	saveCall(t, s, c)
	c.From = "changed after save"
	c.Trace[0] = "changed after save"
	got := getCall(t, s, "c1")
	wantCall(t, got, fullCall("c1", base))

	got.Trace[0] = "changed by a reader"
	got.Outcome = clubline.OutcomeFailed
	wantCall(t, getCall(t, s, "c1"), fullCall("c1", base))

	v := fullVoicemail("v1", base)
	saveVoicemail(t, s, v)
	v.Path = "changed after save"
	v.Notes[0].Text = "changed after save"
	wantVoicemail(t, getVoicemail(t, s, "v1"), fullVoicemail("v1", base))

	gotV := getVoicemail(t, s, "v1")
	gotV.Notes[0].Text = "changed by a reader"
	gotV.Notes = append(gotV.Notes[:1], clubline.Note{Text: "added by a reader"})
	wantVoicemail(t, getVoicemail(t, s, "v1"), fullVoicemail("v1", base))
	vs, err := s.Voicemails(t.Context(), time.Time{}, base, 0)
	if err != nil || len(vs) != 1 {
		t.Fatalf("Voicemails = %d messages, %v; want 1", len(vs), err)
	}
	vs[0].Notes[1].Text = "changed by a reader of the list"
	wantVoicemail(t, getVoicemail(t, s, "v1"), fullVoicemail("v1", base))
}

func testCallsRange(t *testing.T, s clubline.Store) {
	// Six calls a minute apart, saved out of order.
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		saveCall(t, s, fullCall(fmt.Sprintf("c%d", i), base.Add(time.Duration(i)*time.Minute)))
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

	cases := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"all", at(0), at(6), []string{"c0", "c1", "c2", "c3", "c4", "c5"}},
		{"from is inclusive", at(2), at(4).Add(time.Millisecond), []string{"c2", "c3", "c4"}},
		{"to is exclusive", at(2), at(4), []string{"c2", "c3"}},
		{"one millisecond before from", at(2).Add(-time.Millisecond), at(3), []string{"c2"}},
		{"one millisecond after from", at(2).Add(time.Millisecond), at(3).Add(time.Millisecond), []string{"c3"}},
		{"zero from", time.Time{}, at(2), []string{"c0", "c1"}},
		{"in another zone", at(1).UTC(), at(3).In(time.FixedZone("PDT", -7*3600)), []string{"c1", "c2"}},
		{"before all", at(-10), at(0), nil},
		{"after all", at(6), at(60), nil},
		{"empty range", at(3), at(3), nil},
		{"reversed range", at(5), at(1), nil},
	}
	for _, tc := range cases {
		wantIDs(t, "Calls "+tc.name, listCalls(t, s, tc.from, tc.to, 0), tc.want)
	}
}

func testCallsLimit(t *testing.T, s clubline.Store) {
	for _, i := range []int{4, 2, 0, 3, 1} {
		saveCall(t, s, fullCall(fmt.Sprintf("c%d", i), base.Add(time.Duration(i)*time.Second)))
	}
	from, to := base, base.Add(time.Minute)
	all := []string{"c0", "c1", "c2", "c3", "c4"}
	wantIDs(t, "Calls limit 0", listCalls(t, s, from, to, 0), all)
	wantIDs(t, "Calls limit -1", listCalls(t, s, from, to, -1), all)
	wantIDs(t, "Calls limit 1", listCalls(t, s, from, to, 1), []string{"c0"})
	wantIDs(t, "Calls limit 3", listCalls(t, s, from, to, 3), []string{"c0", "c1", "c2"})
	wantIDs(t, "Calls limit 5", listCalls(t, s, from, to, 5), all)
	wantIDs(t, "Calls limit 100", listCalls(t, s, from, to, 100), all)
	wantIDs(t, "Calls limit 2 from c3", listCalls(t, s, base.Add(3*time.Second), to, 2), []string{"c3", "c4"})
}

func testCallsSameStart(t *testing.T, s clubline.Store) {
	// Calls that start in the same millisecond come back ordered by id, so
	// a page boundary (limit) is the same every time.
	for _, id := range []string{"b", "c", "a"} {
		saveCall(t, s, fullCall(id, base))
	}
	saveCall(t, s, fullCall("0-earlier", base.Add(-time.Millisecond)))
	saveCall(t, s, fullCall("0-later", base.Add(time.Millisecond)))
	wantIDs(t, "Calls with equal starts", listCalls(t, s, time.Time{}, base.Add(time.Second), 0),
		[]string{"0-earlier", "a", "b", "c", "0-later"})
	wantIDs(t, "Calls with equal starts, limit 2", listCalls(t, s, base, base.Add(time.Second), 2),
		[]string{"a", "b"})
}

func testPing(t *testing.T, s clubline.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping on a healthy store: %v", err)
	}
}
