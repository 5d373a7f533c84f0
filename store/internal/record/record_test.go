package record_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

var start = time.Date(2025, 6, 24, 13, 5, 0, 123_000_000, time.UTC)

// roundTrip writes c as JSON, as the embedded store and the journal do, and
// reads it back.
func roundTrip(t *testing.T, c *clubline.Call) (string, *clubline.Call) {
	t.Helper()
	b, err := json.Marshal(record.FromCall(c))
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var r record.Call
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("Unmarshal %s: %v", b, err)
	}
	got, err := r.Domain()
	if err != nil {
		t.Fatalf("Domain of %s: %v", b, err)
	}
	return string(b), got
}

func TestCallQueueFields(t *testing.T) {
	queued := start.Add(12345 * time.Millisecond)
	c := &clubline.Call{
		ID: "c1", StartedAt: start, Route: "office",
		Group: "office", QueuedAt: queued, AnsweredAt: queued.Add(20111 * time.Millisecond),
		AnsweredBy: "marie", Wait: 20111 * time.Millisecond, TransferredTo: "coaches",
		Outcome: clubline.OutcomeAnswered, Stage: clubline.StageBridged,
	}
	js, got := roundTrip(t, c)
	for _, field := range []string{
		`"group":"office"`,
		`"queued_at":"2025-06-24T13:05:12.468Z"`,
		`"answered_at":"2025-06-24T13:05:32.579Z"`,
		`"answered_by":"marie"`,
		`"wait_ms":20111`,
		`"transferred_to":"coaches"`,
	} {
		if !strings.Contains(js, field) {
			t.Errorf("JSON %s lacks %s", js, field)
		}
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("read back\n\t%+v\nwant\n\t%+v", got, c)
	}
}

func TestCallQueueFieldsToTheMillisecond(t *testing.T) {
	edt := time.FixedZone("EDT", -4*3600)
	c := &clubline.Call{
		ID:         "c1",
		QueuedAt:   time.Date(2025, 6, 24, 9, 5, 12, 468_999_999, edt),
		AnsweredAt: time.Date(2025, 6, 24, 9, 5, 32, 579_000_001, edt),
		Wait:       20111*time.Millisecond + 999*time.Microsecond,
	}
	_, got := roundTrip(t, c)
	if want := time.Date(2025, 6, 24, 13, 5, 12, 468e6, time.UTC); !got.QueuedAt.Equal(want) {
		t.Errorf("QueuedAt = %s, want %s", got.QueuedAt, want)
	}
	if want := time.Date(2025, 6, 24, 13, 5, 32, 579e6, time.UTC); !got.AnsweredAt.Equal(want) {
		t.Errorf("AnsweredAt = %s, want %s", got.AnsweredAt, want)
	}
	if want := 20111 * time.Millisecond; got.Wait != want {
		t.Errorf("Wait = %s, want %s", got.Wait, want)
	}
}

func TestCallWithoutQueueFields(t *testing.T) {
	// A call that never queued writes none of the queue's fields.
	c := &clubline.Call{ID: "c1", StartedAt: start, Route: "voicemail", Outcome: clubline.OutcomeVoicemail}
	js, got := roundTrip(t, c)
	for _, name := range []string{"group", "queued_at", "answered_at", "answered_by", "wait_ms", "transferred_to"} {
		if strings.Contains(js, `"`+name+`"`) {
			t.Errorf("JSON %s has %s, want it left out", js, name)
		}
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("read back\n\t%+v\nwant\n\t%+v", got, c)
	}

	// A record written before the queue's fields existed.
	old := `{"id":"c0","started_at":"2025-06-24T13:05:00.123Z","route":"office","outcome":"abandoned","stage":"queue","duration_ms":95457}`
	var r record.Call
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Domain()
	if err != nil {
		t.Fatal(err)
	}
	if got.Group != "" || !got.QueuedAt.IsZero() || !got.AnsweredAt.IsZero() || got.AnsweredBy != "" || got.Wait != 0 || got.TransferredTo != "" {
		t.Errorf("old record read back with queue fields: %+v", got)
	}
	if got.Outcome != clubline.OutcomeAbandoned || got.Duration != 95457*time.Millisecond {
		t.Errorf("old record read back as %+v", got)
	}
}

func TestCallBadQueueTimes(t *testing.T) {
	for _, field := range []string{"queued_at", "answered_at"} {
		var r record.Call
		js := `{"id":"c1","` + field + `":"yesterday"}`
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Domain(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Domain of %s: err = %v, want one naming %s", js, err, field)
		}
	}
}

// followedUp is a message the office closed, with every field of the
// follow-up set.
func followedUp() *clubline.Voicemail {
	return &clubline.Voicemail{
		ID: "v1", CallID: "c1", From: "+15145550123", Category: "registrations",
		RecordedAt: start, Duration: 42512 * time.Millisecond, Path: "/data/voicemail/v1.wav",
		FollowUpDue: start.Add(48 * time.Hour), Status: clubline.VoicemailDone,
		Group: "office", Language: "fr", AssignedTo: "marie",
		Notes: []clubline.Note{
			{By: "marie", At: start.Add(time.Hour), Text: "rappelé, laissé un message"},
			{By: "luc", At: start.Add(2 * time.Hour), Text: "two\nlines, \"quoted\""},
		},
		DoneAt: start.Add(3 * time.Hour), DoneBy: "luc", DoneHow: clubline.FollowUpClosedWeb,
		RemindedAt: start.Add(24 * time.Hour), EscalatedAt: start.Add(49 * time.Hour),
	}
}

func voicemailRoundTrip(t *testing.T, v *clubline.Voicemail) (string, *clubline.Voicemail) {
	t.Helper()
	b, err := json.Marshal(record.FromVoicemail(v))
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var r record.Voicemail
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("Unmarshal %s: %v", b, err)
	}
	got, err := r.Domain()
	if err != nil {
		t.Fatalf("Domain of %s: %v", b, err)
	}
	return string(b), got
}

func TestVoicemailFollowUpFields(t *testing.T) {
	v := followedUp()
	js, got := voicemailRoundTrip(t, v)
	for _, field := range []string{
		`"group":"office"`,
		`"language":"fr"`,
		`"assigned_to":"marie"`,
		`"notes":[{"by":"marie","at":"2025-06-24T14:05:00.123Z","text":"rappelé, laissé un message"},{"by":"luc","at":"2025-06-24T15:05:00.123Z","text":"two\nlines, \"quoted\""}]`,
		`"done_at":"2025-06-24T16:05:00.123Z"`,
		`"done_by":"luc"`,
		`"done_how":"web"`,
		`"reminded_at":"2025-06-25T13:05:00.123Z"`,
		`"escalated_at":"2025-06-26T14:05:00.123Z"`,
	} {
		if !strings.Contains(js, field) {
			t.Errorf("JSON %s lacks %s", js, field)
		}
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("read back\n\t%+v\nwant\n\t%+v", got, v)
	}
}

func TestVoicemailWithoutFollowUpFields(t *testing.T) {
	// A message nobody has touched writes none of the follow-up's fields.
	v := &clubline.Voicemail{ID: "v1", RecordedAt: start, FollowUpDue: start.Add(time.Hour), Status: clubline.VoicemailNew}
	js, got := voicemailRoundTrip(t, v)
	for _, name := range []string{"group", "language", "assigned_to", "notes", "done_at", "done_by", "done_how", "reminded_at", "escalated_at"} {
		if strings.Contains(js, `"`+name+`"`) {
			t.Errorf("JSON %s has %s, want it left out", js, name)
		}
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("read back\n\t%+v\nwant\n\t%+v", got, v)
	}
	// No notes and an empty list of notes are the same record.
	v.Notes = []clubline.Note{}
	if js, _ := voicemailRoundTrip(t, v); strings.Contains(js, "notes") {
		t.Errorf("JSON %s has notes, want them left out", js)
	}

	// A record written before the follow-up's fields existed.
	old := `{"id":"v0","call_id":"c0","urgent":true,"recorded_at":"2025-06-24T13:05:00.123Z","duration_ms":42512,"follow_up_due":"2025-06-25T13:00:00.000Z","status":"new"}`
	var r record.Voicemail
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Domain()
	if err != nil {
		t.Fatal(err)
	}
	want := &clubline.Voicemail{
		ID: "v0", CallID: "c0", Urgent: true, RecordedAt: start, Duration: 42512 * time.Millisecond,
		FollowUpDue: time.Date(2025, 6, 25, 13, 0, 0, 0, time.UTC), Status: clubline.VoicemailNew,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("old record read back as\n\t%+v\nwant\n\t%+v", got, want)
	}
}

func TestVoicemailBadFollowUpTimes(t *testing.T) {
	for field, js := range map[string]string{
		"done_at":      `{"id":"v1","done_at":"yesterday"}`,
		"reminded_at":  `{"id":"v1","reminded_at":"yesterday"}`,
		"escalated_at": `{"id":"v1","escalated_at":"yesterday"}`,
		"notes[1].at":  `{"id":"v1","notes":[{"text":"ok"},{"at":"yesterday","text":"bad"}]}`,
	} {
		var r record.Voicemail
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Domain(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Domain of %s: err = %v, want one naming %s", js, err, field)
		}
	}
}

func TestCloneVoicemailCopiesNotes(t *testing.T) {
	v := followedUp()
	cp := record.CloneVoicemail(v)
	cp.Notes[0].Text = "changed in the copy"
	cp.Notes = append(cp.Notes, clubline.Note{Text: "added to the copy"})
	if !reflect.DeepEqual(v, followedUp()) {
		t.Errorf("changing the copy changed the original: %+v", v.Notes)
	}
	if bare := record.CloneVoicemail(&clubline.Voicemail{ID: "v"}); bare.Notes != nil {
		t.Errorf("clone of a message without notes has notes %#v", bare.Notes)
	}
}
