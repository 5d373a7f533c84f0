package report_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/report"
	"github.com/clubline/clubline/store/embedded"
)

func TestBuild(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)
	q := func(id string, wait time.Duration, o clubline.Outcome, answered bool) *clubline.Call {
		c := &clubline.Call{ID: id, StartedAt: t0, Hours: clubline.HoursOpen, Category: "registrations", Group: "office",
			QueuedAt: t0.Add(10 * time.Second), Wait: wait, Outcome: o}
		if answered {
			c.AnsweredAt = c.QueuedAt.Add(wait)
		}
		return c
	}
	calls := []*clubline.Call{
		func() *clubline.Call {
			c := q("a", 10*time.Second, clubline.OutcomeAnswered, true)
			c.Survey = 4
			return c
		}(),
		q("b", 20*time.Second, clubline.OutcomeAnswered, true),
		q("c", 90*time.Second, clubline.OutcomeAnswered, true), // beyond the 30 s service level
		q("d", 40*time.Second, clubline.OutcomeAbandoned, false),
		q("e", 3*time.Minute, clubline.OutcomeVoicemail, false),
		{ID: "f", StartedAt: t0, Hours: clubline.HoursClosed, Route: clubline.RouteUrgency, Category: "urgent", Outcome: clubline.OutcomeAnswered, AnsweredAt: t0},
		{ID: "g", StartedAt: t0, Hours: clubline.HoursClosed, Route: clubline.RouteUrgency, Category: "urgent", Outcome: clubline.OutcomeVoicemail},
		{ID: "out", StartedAt: t0.AddDate(0, 1, 0)}, // after the period
		func() *clubline.Call { // the line's mystery call: counted apart, in no other figure
			c := q("p", 5*time.Second, clubline.OutcomeAbandoned, false)
			c.Probe = true
			return c
		}(),
	}
	for _, c := range calls {
		if err := st.SaveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	due := t0.Add(48 * time.Hour)
	for _, v := range []*clubline.Voicemail{
		{ID: "v1", RecordedAt: t0, FollowUpDue: due, Status: clubline.VoicemailDone, DoneAt: t0.Add(time.Hour), DoneHow: clubline.FollowUpClosedWeb},
		{ID: "v2", RecordedAt: t0, FollowUpDue: due, Status: clubline.VoicemailDone, DoneAt: due.Add(time.Hour), DoneHow: clubline.FollowUpClosedWeb},
		{ID: "v3", RecordedAt: t0, FollowUpDue: due, Status: clubline.VoicemailDone, DoneAt: t0.Add(2 * time.Hour), DoneHow: clubline.FollowUpClosedCallback},
		{ID: "v4", RecordedAt: t0, FollowUpDue: due, Status: clubline.VoicemailNew},
	} {
		if err := st.SaveVoicemail(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	r, err := report.Build(ctx, st, report.Options{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		ServiceLevel: map[string]time.Duration{"office": 30 * time.Second}, Now: t0.AddDate(0, 0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Probes != 1 {
		t.Errorf("probes %d, want 1", r.Probes)
	}
	if r.Calls != 7 || r.Queued != 5 || r.Answered != 3 || r.WithinSL != 2 || r.Abandoned != 1 || r.ToVoicemail != 1 {
		t.Errorf("calls %+v", r)
	}
	if r.WaitP50 != 40*time.Second || r.WaitP90 != 3*time.Minute {
		t.Errorf("waits p50 %s p90 %s", r.WaitP50, r.WaitP90)
	}
	if r.Urgent != 2 || r.UrgentPerson != 1 {
		t.Errorf("urgent %d reached %d", r.Urgent, r.UrgentPerson)
	}
	if r.Messages != 4 || r.Done != 3 || r.DoneInTime != 2 || r.Late != 1 || r.StillOpen != 1 || r.OpenOverdue != 1 || r.ClosedByCall != 1 {
		t.Errorf("messages %+v", r)
	}
	var text, csv bytes.Buffer
	r.Text(&text, time.UTC)
	for _, want := range []string{"Service report, 2026-11-01 to 2026-11-30", "Asked for a person: 5; answered 3 (60%), within the service level 2 (40%)",
		"Survey: 1 answers, 4.0 out of 5 on average",
		"Messages: 4; followed up 3, 2 of them in time (50% of the messages), 1 late; 1 still open, 1 of them overdue"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if err := r.CSV(&csv); err != nil || !strings.Contains(csv.String(), "answered_within_service_level,,2\n") {
		t.Errorf("csv %v:\n%s", err, csv.String())
	}
}
