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
