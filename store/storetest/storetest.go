// Package storetest is the contract every clubline.Store must pass. Each
// implementation's tests call Run (and RunDurable when the store keeps its
// data across a close) with a function that opens a fresh, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) clubline.Store { return openEmpty(t) })
//	}
//
// The suite closes every store it is given. Times are compared as instants
// (a store may hand them back in UTC) at millisecond precision, which is
// the precision every store must keep.
package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

// Opener opens a new, empty store for one test.
type Opener func(t *testing.T) clubline.Store

// DurableOpener opens a new, empty store for one test, and returns with it
// a function that opens the same data again. The suite calls reopen only
// after it has closed the first store; reopen reports its own failures
// through the t it was opened with.
type DurableOpener func(t *testing.T) (s clubline.Store, reopen func() clubline.Store)

type contractTest struct {
	name string
	fn   func(t *testing.T, s clubline.Store)
}

var contract = []contractTest{
	{"CallRoundTrip", testCallRoundTrip},
	{"CallInProgress", testCallInProgress},
	{"CallOverwrite", testCallOverwrite},
	{"CallOverwriteMovesStart", testCallOverwriteMovesStart},
	{"NotFound", testNotFound},
	{"RejectsInvalid", testRejectsInvalid},
	{"KeepsNoReference", testKeepsNoReference},
	{"CallsRange", testCallsRange},
	{"CallsLimit", testCallsLimit},
	{"CallsSameStart", testCallsSameStart},
	{"VoicemailRoundTrip", testVoicemailRoundTrip},
	{"VoicemailFollowUpFields", testVoicemailFollowUpFields},
	{"FollowUpNewAndDone", testFollowUpNewAndDone},
	{"FollowUpsBefore", testFollowUpsBefore},
	{"VoicemailsRange", testVoicemailsRange},
	{"VoicemailsLimit", testVoicemailsLimit},
	{"VoicemailsSameRecordedAt", testVoicemailsSameRecordedAt},
	{"DeleteCallsBefore", testDeleteCallsBefore},
	{"DeleteCallsInBatches", testDeleteCallsInBatches},
	{"DeleteVoicemailsBefore", testDeleteVoicemailsBefore},
	{"DeleteCall", testDeleteCall},
	{"DeleteVoicemail", testDeleteVoicemail},
	{"State", testState},
	{"StateRejectsInvalid", testStateRejectsInvalid},
	{"Concurrent", testConcurrent},
	{"RegistrationRoundTrip", testRegistrationRoundTrip},
	{"RegistrationSeveralContacts", testRegistrationSeveralContacts},
	{"RegistrationPath", testRegistrationPath},
	{"RegistrationRefresh", testRegistrationRefresh},
	{"RegistrationDelete", testRegistrationDelete},
	{"RegistrationExpiry", testRegistrationExpiry},
	{"RegistrationsAllStaff", testRegistrationsAllStaff},
	{"RegistrationRejectsInvalid", testRegistrationRejectsInvalid},
	{"RegistrationConcurrent", testRegistrationConcurrent},
	{"Ping", testPing},
}

// Run runs the contract against the stores open returns, one fresh store
// per subtest.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { closeStore(t, s) })
			tc.fn(t, s)
		})
	}
}

// RunDurable runs the contract, then checks that what a store holds is
// still there, whole and indexed, after it is closed and opened again.
func RunDurable(t *testing.T, open DurableOpener) {
	t.Helper()
	Run(t, func(t *testing.T) clubline.Store {
		s, _ := open(t)
		return s
	})
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("DeleteReopen", func(t *testing.T) { testDeleteReopen(t, open) })
	t.Run("RegistrationReopen", func(t *testing.T) { testRegistrationReopen(t, open) })
	t.Run("StateReopen", func(t *testing.T) { testStateReopen(t, open) })
}

func closeStore(t *testing.T, s clubline.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// base is a start time in the club's zone (EDT) with milliseconds, so a
// store that drops the zone or the milliseconds shows.
var base = time.Date(2025, 6, 24, 9, 5, 0, 123_000_000, time.FixedZone("EDT", -4*3600))

// fullCall is a finished call that left a voicemail without going through
// a queue: every field is set but the queue's (see answeredCall).
func fullCall(id string, start time.Time) *clubline.Call {
	return &clubline.Call{
		ID:          id,
		From:        "+15145550123",
		To:          "+15145550000",
		StartedAt:   start,
		Hours:       clubline.HoursClosed,
		HoursReason: "holiday Fête nationale",
		Language:    "fr",
		Choice:      "1",
		Category:    "registrations",
		Route:       "voicemail",
		Outcome:     clubline.OutcomeVoicemail,
		Stage:       clubline.StageVoicemail,
		VoicemailID: "vm-" + id,
		EndedAt:     start.Add(95*time.Second + 457*time.Millisecond),
		Duration:    95*time.Second + 457*time.Millisecond,
		Trace: []string{
			"closed: holiday Fête nationale",
			"language: fr",
			"menu: 1 registrations → voicemail",
			"voicemail: recorded 42.5 s",
		},
	}
}

// answeredCall is a finished call that waited in a staff group's queue, was
// answered and then transferred: every field is set, the queue's included,
// but VoicemailID.
func answeredCall(id string, start time.Time) *clubline.Call {
	queued := start.Add(12*time.Second + 345*time.Millisecond)
	wait := 20*time.Second + 111*time.Millisecond
	return &clubline.Call{
		ID:            id,
		From:          "+15145550123",
		To:            "+15145550000",
		StartedAt:     start,
		Hours:         clubline.HoursOpen,
		HoursReason:   "weekly Tue 09:00-17:00",
		Language:      "en",
		Choice:        "2",
		Category:      "schedule",
		Route:         "office",
		Group:         "office",
		QueuedAt:      queued,
		AnsweredAt:    queued.Add(wait),
		AnsweredBy:    "marie",
		Wait:          wait,
		TransferredTo: "coaches",
		Survey:        4,
		Trunk:         "voipms",
		Outcome:       clubline.OutcomeAnswered,
		Stage:         clubline.StageBridged,
		EndedAt:       start.Add(3*time.Minute + 7*time.Millisecond),
		Duration:      3*time.Minute + 7*time.Millisecond,
		Trace: []string{
			"open: weekly Tue 09:00-17:00",
			"language: en",
			"menu: 2 schedule → office",
			"queue: office, answered by marie after 20.1 s",
			"transfer: marie → coaches",
		},
	}
}

// fullVoicemail is an open, urgent message with every field set but those
// of its closing (see doneVoicemail): taken, noted, reminded and escalated.
func fullVoicemail(id string, due time.Time) *clubline.Voicemail {
	recorded := due.Add(-24 * time.Hour)
	return &clubline.Voicemail{
		ID:          id,
		CallID:      "call-" + id,
		From:        "+15145550123",
		Category:    "registrations",
		Urgent:      true,
		RecordedAt:  recorded,
		Duration:    42*time.Second + 512*time.Millisecond,
		Path:        "/var/lib/clubline/voicemail/2025/06/" + id + ".wav",
		FollowUpDue: due,
		Status:      clubline.VoicemailNew,
		Group:       "office",
		Language:    "fr",
		AssignedTo:  "marie",
		Notes: []clubline.Note{
			{By: "marie", At: recorded.Add(time.Hour + 7*time.Millisecond), Text: "rappelé, laissé un message"},
			// Free text: line breaks, quotes and what looks like JSON survive.
			{By: "luc", At: recorded.Add(2 * time.Hour), Text: "Parent absent.\nRéessayer après 17 h, \"urgent\" {\"x\":1}"},
		},
		RemindedAt:  due.Add(-time.Hour),
		EscalatedAt: due.Add(time.Hour + 250*time.Millisecond),
	}
}

// doneVoicemail is fullVoicemail closed on the web page, with one more note:
// every field is set.
func doneVoicemail(id string, due time.Time) *clubline.Voicemail {
	v := fullVoicemail(id, due)
	v.Status = clubline.VoicemailDone
	v.Notes = append(v.Notes, clubline.Note{By: "luc", At: due.Add(2 * time.Hour), Text: "joint, réglé"})
	v.DoneAt = due.Add(2*time.Hour + time.Millisecond)
	v.DoneBy = "luc"
	v.DoneHow = clubline.FollowUpClosedWeb
	return v
}

func saveCall(t *testing.T, s clubline.Store, c *clubline.Call) {
	t.Helper()
	if err := s.SaveCall(t.Context(), c); err != nil {
		t.Fatalf("SaveCall(%q): %v", c.ID, err)
	}
}

func saveVoicemail(t *testing.T, s clubline.Store, v *clubline.Voicemail) {
	t.Helper()
	if err := s.SaveVoicemail(t.Context(), v); err != nil {
		t.Fatalf("SaveVoicemail(%q): %v", v.ID, err)
	}
}

func getCall(t *testing.T, s clubline.Store, id string) *clubline.Call {
	t.Helper()
	c, err := s.Call(t.Context(), id)
	if err != nil {
		t.Fatalf("Call(%q): %v", id, err)
	}
	if c == nil {
		t.Fatalf("Call(%q) = nil, nil", id)
	}
	return c
}

func getVoicemail(t *testing.T, s clubline.Store, id string) *clubline.Voicemail {
	t.Helper()
	v, err := s.Voicemail(t.Context(), id)
	if err != nil {
		t.Fatalf("Voicemail(%q): %v", id, err)
	}
	if v == nil {
		t.Fatalf("Voicemail(%q) = nil, nil", id)
	}
	return v
}

func listCalls(t *testing.T, s clubline.Store, from, to time.Time, limit int) []string {
	t.Helper()
	cs, err := s.Calls(t.Context(), from, to, limit)
	if err != nil {
		t.Fatalf("Calls(%s, %s, %d): %v", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), limit, err)
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if c == nil {
			t.Fatalf("Calls returned a nil record")
		}
		ids = append(ids, c.ID)
	}
	return ids
}

func listFollowUps(t *testing.T, s clubline.Store, before time.Time) []clubline.FollowUp {
	t.Helper()
	fs, err := s.FollowUps(t.Context(), before)
	if err != nil {
		t.Fatalf("FollowUps(%s): %v", before.Format(time.RFC3339Nano), err)
	}
	return fs
}

func followUpIDs(fs []clubline.FollowUp) []string {
	ids := make([]string, 0, len(fs))
	for _, f := range fs {
		ids = append(ids, f.VoicemailID)
	}
	return ids
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// fieldDiff collects the fields in which a record read back differs
// from the one saved.
type fieldDiff []string

func (d *fieldDiff) str(name, got, want string) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %q, want %q", name, got, want))
	}
}

func (d *fieldDiff) time(name string, got, want time.Time) {
	if !got.Equal(want) {
		*d = append(*d, fmt.Sprintf("%s = %s, want %s", name, fmtTime(got), fmtTime(want)))
	}
}

func (d *fieldDiff) dur(name string, got, want time.Duration) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %s, want %s", name, got, want))
	}
}

// diffCall lists the fields in which got differs from want.
func diffCall(got, want *clubline.Call) []string {
	var d fieldDiff
	d.str("ID", got.ID, want.ID)
	d.str("From", got.From, want.From)
	d.str("To", got.To, want.To)
	d.time("StartedAt", got.StartedAt, want.StartedAt)
	d.str("Hours", string(got.Hours), string(want.Hours))
	d.str("HoursReason", got.HoursReason, want.HoursReason)
	d.str("Language", got.Language, want.Language)
	d.str("Choice", got.Choice, want.Choice)
	d.str("Category", got.Category, want.Category)
	d.str("Route", got.Route, want.Route)
	d.str("Group", got.Group, want.Group)
	d.time("QueuedAt", got.QueuedAt, want.QueuedAt)
	d.time("AnsweredAt", got.AnsweredAt, want.AnsweredAt)
	d.str("AnsweredBy", got.AnsweredBy, want.AnsweredBy)
	d.dur("Wait", got.Wait, want.Wait)
	d.str("TransferredTo", got.TransferredTo, want.TransferredTo)
	if got.Survey != want.Survey {
		d.str("Survey", strconv.Itoa(got.Survey), strconv.Itoa(want.Survey))
	}
	d.str("Trunk", got.Trunk, want.Trunk)
	d.str("Outcome", string(got.Outcome), string(want.Outcome))
	d.str("Stage", string(got.Stage), string(want.Stage))
	d.str("VoicemailID", got.VoicemailID, want.VoicemailID)
	d.time("EndedAt", got.EndedAt, want.EndedAt)
	d.dur("Duration", got.Duration, want.Duration)
	if got.Probe != want.Probe {
		d.str("Probe", strconv.FormatBool(got.Probe), strconv.FormatBool(want.Probe))
	}
	if !(len(got.Trace) == 0 && len(want.Trace) == 0) && !slices.Equal(got.Trace, want.Trace) {
		d = append(d, fmt.Sprintf("Trace = %q, want %q", got.Trace, want.Trace))
	}
	return d
}

func diffVoicemail(got, want *clubline.Voicemail) []string {
	var d fieldDiff
	d.str("ID", got.ID, want.ID)
	d.str("CallID", got.CallID, want.CallID)
	d.str("From", got.From, want.From)
	d.str("Category", got.Category, want.Category)
	if got.Urgent != want.Urgent {
		d = append(d, fmt.Sprintf("Urgent = %t, want %t", got.Urgent, want.Urgent))
	}
	d.time("RecordedAt", got.RecordedAt, want.RecordedAt)
	d.dur("Duration", got.Duration, want.Duration)
	d.str("Path", got.Path, want.Path)
	d.time("FollowUpDue", got.FollowUpDue, want.FollowUpDue)
	d.str("Status", string(got.Status), string(want.Status))
	d.str("Group", got.Group, want.Group)
	d.str("Language", got.Language, want.Language)
	d.str("AssignedTo", got.AssignedTo, want.AssignedTo)
	if len(got.Notes) != len(want.Notes) {
		d = append(d, fmt.Sprintf("Notes = %d notes, want %d: %s", len(got.Notes), len(want.Notes), fmtNotes(want.Notes)))
	} else {
		for i := range got.Notes {
			g, w := got.Notes[i], want.Notes[i]
			d.str(fmt.Sprintf("Notes[%d].By", i), g.By, w.By)
			d.time(fmt.Sprintf("Notes[%d].At", i), g.At, w.At)
			d.str(fmt.Sprintf("Notes[%d].Text", i), g.Text, w.Text)
		}
	}
	d.time("DoneAt", got.DoneAt, want.DoneAt)
	d.str("DoneBy", got.DoneBy, want.DoneBy)
	d.str("DoneHow", got.DoneHow, want.DoneHow)
	d.time("RemindedAt", got.RemindedAt, want.RemindedAt)
	d.time("EscalatedAt", got.EscalatedAt, want.EscalatedAt)
	return d
}

func fmtNotes(notes []clubline.Note) string {
	parts := make([]string, len(notes))
	for i, n := range notes {
		parts[i] = fmt.Sprintf("%s@%s %q", n.By, fmtTime(n.At), n.Text)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero time"
	}
	return t.Format(time.RFC3339Nano)
}

func wantCall(t *testing.T, got, want *clubline.Call) {
	t.Helper()
	if d := diffCall(got, want); len(d) > 0 {
		t.Errorf("call %q differs from what was saved:\n\t%s", want.ID, strings.Join(d, "\n\t"))
	}
}

func wantVoicemail(t *testing.T, got, want *clubline.Voicemail) {
	t.Helper()
	if d := diffVoicemail(got, want); len(d) > 0 {
		t.Errorf("voicemail %q differs from what was saved:\n\t%s", want.ID, strings.Join(d, "\n\t"))
	}
}
