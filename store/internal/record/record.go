// Package record holds what the store adapters share: the time format of
// stored records, the JSON form of a call and a voicemail (used by the
// embedded store's values and the spool's journal), deep copies and the
// checks every Store does before a write.
package record

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
)

// TimeLayout is how stored times are written: RFC 3339 with milliseconds,
// always in UTC ("2025-06-24T13:05:00.123Z").
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime writes t in TimeLayout, in UTC. The zero time is "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// ParseTime reads a time written by FormatTime. "" is the zero time.
// Any RFC 3339 time is accepted, so a hand-edited record still reads.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// Millis is t in Unix milliseconds, the score and sort key of the indexes.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis is the UTC time of a Unix millisecond count.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// CheckCall returns an error for a call no store can keep.
func CheckCall(c *clubline.Call) error {
	if c == nil {
		return errors.New("store: nil call")
	}
	if c.ID == "" {
		return errors.New("store: call without an id")
	}
	return nil
}

// CheckVoicemail returns an error for a voicemail no store can keep.
func CheckVoicemail(v *clubline.Voicemail) error {
	if v == nil {
		return errors.New("store: nil voicemail")
	}
	if v.ID == "" {
		return errors.New("store: voicemail without an id")
	}
	return nil
}

// Open reports whether the voicemail belongs in the open follow-ups.
func Open(v *clubline.Voicemail) bool { return v.Status == clubline.VoicemailNew }

// CloneCall returns a deep copy of c.
func CloneCall(c *clubline.Call) *clubline.Call {
	cp := *c
	if c.Trace != nil {
		cp.Trace = append([]string(nil), c.Trace...)
	}
	return &cp
}

// CloneVoicemail returns a deep copy of v.
func CloneVoicemail(v *clubline.Voicemail) *clubline.Voicemail {
	cp := *v
	if v.Notes != nil {
		cp.Notes = slices.Clone(v.Notes)
	}
	return &cp
}

// Call is the JSON form of a clubline.Call. Field names match the Redis
// hash fields, so a record reads the same wherever it is kept.
//
// The queue fields came later: a record written before them has none, and
// reads as a call that never entered a queue. Unlike duration_ms, wait_ms
// is left out when it is 0, like the other queue fields.
type Call struct {
	ID            string   `json:"id"`
	From          string   `json:"from,omitempty"`
	To            string   `json:"to,omitempty"`
	StartedAt     string   `json:"started_at,omitempty"`
	Hours         string   `json:"hours,omitempty"`
	HoursReason   string   `json:"hours_reason,omitempty"`
	Language      string   `json:"language,omitempty"`
	Choice        string   `json:"choice,omitempty"`
	Category      string   `json:"category,omitempty"`
	Route         string   `json:"route,omitempty"`
	Group         string   `json:"group,omitempty"`
	QueuedAt      string   `json:"queued_at,omitempty"`
	AnsweredAt    string   `json:"answered_at,omitempty"`
	AnsweredBy    string   `json:"answered_by,omitempty"`
	WaitMS        int64    `json:"wait_ms,omitempty"`
	TransferredTo string   `json:"transferred_to,omitempty"`
	Survey        int      `json:"survey,omitempty"`
	Trunk         string   `json:"trunk,omitempty"`
	Outcome       string   `json:"outcome,omitempty"`
	Stage         string   `json:"stage,omitempty"`
	VoicemailID   string   `json:"voicemail_id,omitempty"`
	EndedAt       string   `json:"ended_at,omitempty"`
	DurationMS    int64    `json:"duration_ms"`
	Trace         []string `json:"trace,omitempty"`
	Probe         bool     `json:"probe,omitempty"`
}

// FromCall converts c to its stored form.
func FromCall(c *clubline.Call) Call {
	r := Call{
		ID:            c.ID,
		From:          c.From,
		To:            c.To,
		StartedAt:     FormatTime(c.StartedAt),
		Hours:         string(c.Hours),
		HoursReason:   c.HoursReason,
		Language:      c.Language,
		Choice:        c.Choice,
		Category:      c.Category,
		Route:         c.Route,
		Group:         c.Group,
		QueuedAt:      FormatTime(c.QueuedAt),
		AnsweredAt:    FormatTime(c.AnsweredAt),
		AnsweredBy:    c.AnsweredBy,
		WaitMS:        c.Wait.Milliseconds(),
		TransferredTo: c.TransferredTo,
		Survey:        c.Survey,
		Trunk:         c.Trunk,
		Outcome:       string(c.Outcome),
		Stage:         string(c.Stage),
		VoicemailID:   c.VoicemailID,
		EndedAt:       FormatTime(c.EndedAt),
		DurationMS:    c.Duration.Milliseconds(),
		Probe:         c.Probe,
	}
	if len(c.Trace) > 0 {
		r.Trace = append([]string(nil), c.Trace...)
	}
	return r
}

// Domain converts the stored form back to a clubline.Call.
func (r Call) Domain() (*clubline.Call, error) {
	started, err := ParseTime(r.StartedAt)
	if err != nil {
		return nil, fmt.Errorf("call %s: started_at: %w", r.ID, err)
	}
	queued, err := ParseTime(r.QueuedAt)
	if err != nil {
		return nil, fmt.Errorf("call %s: queued_at: %w", r.ID, err)
	}
	answered, err := ParseTime(r.AnsweredAt)
	if err != nil {
		return nil, fmt.Errorf("call %s: answered_at: %w", r.ID, err)
	}
	ended, err := ParseTime(r.EndedAt)
	if err != nil {
		return nil, fmt.Errorf("call %s: ended_at: %w", r.ID, err)
	}
	c := &clubline.Call{
		ID:            r.ID,
		From:          r.From,
		To:            r.To,
		StartedAt:     started,
		Hours:         clubline.Hours(r.Hours),
		HoursReason:   r.HoursReason,
		Language:      r.Language,
		Choice:        r.Choice,
		Category:      r.Category,
		Route:         r.Route,
		Group:         r.Group,
		QueuedAt:      queued,
		AnsweredAt:    answered,
		AnsweredBy:    r.AnsweredBy,
		Wait:          time.Duration(r.WaitMS) * time.Millisecond,
		TransferredTo: r.TransferredTo,
		Survey:        r.Survey,
		Trunk:         r.Trunk,
		Outcome:       clubline.Outcome(r.Outcome),
		Stage:         clubline.Stage(r.Stage),
		VoicemailID:   r.VoicemailID,
		EndedAt:       ended,
		Duration:      time.Duration(r.DurationMS) * time.Millisecond,
		Probe:         r.Probe,
	}
	if len(r.Trace) > 0 {
		c.Trace = append([]string(nil), r.Trace...)
	}
	return c, nil
}

// Voicemail is the JSON form of a clubline.Voicemail, with the field names
// of the Redis hash.
//
// The fields from group on came with the follow-up's web page: a record
// written before them has none, and reads as a message for no group that
// nobody has taken, noted or closed. All of them are left out when empty.
type Voicemail struct {
	ID          string `json:"id"`
	CallID      string `json:"call_id,omitempty"`
	From        string `json:"from,omitempty"`
	Category    string `json:"category,omitempty"`
	Urgent      bool   `json:"urgent"`
	RecordedAt  string `json:"recorded_at,omitempty"`
	DurationMS  int64  `json:"duration_ms"`
	Path        string `json:"path,omitempty"`
	FollowUpDue string `json:"follow_up_due,omitempty"`
	Status      string `json:"status,omitempty"`
	Group       string `json:"group,omitempty"`
	Language    string `json:"language,omitempty"`
	AssignedTo  string `json:"assigned_to,omitempty"`
	Notes       []Note `json:"notes,omitempty"`
	DoneAt      string `json:"done_at,omitempty"`
	DoneBy      string `json:"done_by,omitempty"`
	DoneHow     string `json:"done_how,omitempty"`
	RemindedAt  string `json:"reminded_at,omitempty"`
	EscalatedAt string `json:"escalated_at,omitempty"`
}

// Note is the JSON form of a clubline.Note: one element of a message's
// notes, which Redis keeps as one JSON array in the field notes.
type Note struct {
	By   string `json:"by,omitempty"`
	At   string `json:"at,omitempty"`
	Text string `json:"text"`
}

// FromVoicemail converts v to its stored form.
func FromVoicemail(v *clubline.Voicemail) Voicemail {
	return Voicemail{
		ID:          v.ID,
		CallID:      v.CallID,
		From:        v.From,
		Category:    v.Category,
		Urgent:      v.Urgent,
		RecordedAt:  FormatTime(v.RecordedAt),
		DurationMS:  v.Duration.Milliseconds(),
		Path:        v.Path,
		FollowUpDue: FormatTime(v.FollowUpDue),
		Status:      string(v.Status),
		Group:       v.Group,
		Language:    v.Language,
		AssignedTo:  v.AssignedTo,
		Notes:       FromNotes(v.Notes),
		DoneAt:      FormatTime(v.DoneAt),
		DoneBy:      v.DoneBy,
		DoneHow:     v.DoneHow,
		RemindedAt:  FormatTime(v.RemindedAt),
		EscalatedAt: FormatTime(v.EscalatedAt),
	}
}

// FromNotes converts notes to their stored form (nil for none).
func FromNotes(notes []clubline.Note) []Note {
	if len(notes) == 0 {
		return nil
	}
	out := make([]Note, len(notes))
	for i, n := range notes {
		out[i] = Note{By: n.By, At: FormatTime(n.At), Text: n.Text}
	}
	return out
}

// Domain converts the stored form back to a clubline.Voicemail.
func (r Voicemail) Domain() (*clubline.Voicemail, error) {
	v := &clubline.Voicemail{
		ID:         r.ID,
		CallID:     r.CallID,
		From:       r.From,
		Category:   r.Category,
		Urgent:     r.Urgent,
		Duration:   time.Duration(r.DurationMS) * time.Millisecond,
		Path:       r.Path,
		Status:     clubline.VoicemailStatus(r.Status),
		Group:      r.Group,
		Language:   r.Language,
		AssignedTo: r.AssignedTo,
		DoneBy:     r.DoneBy,
		DoneHow:    r.DoneHow,
	}
	for _, f := range []struct {
		name string
		text string
		to   *time.Time
	}{
		{"recorded_at", r.RecordedAt, &v.RecordedAt},
		{"follow_up_due", r.FollowUpDue, &v.FollowUpDue},
		{"done_at", r.DoneAt, &v.DoneAt},
		{"reminded_at", r.RemindedAt, &v.RemindedAt},
		{"escalated_at", r.EscalatedAt, &v.EscalatedAt},
	} {
		t, err := ParseTime(f.text)
		if err != nil {
			return nil, fmt.Errorf("voicemail %s: %s: %w", r.ID, f.name, err)
		}
		*f.to = t
	}
	if len(r.Notes) > 0 {
		v.Notes = make([]clubline.Note, len(r.Notes))
		for i, n := range r.Notes {
			at, err := ParseTime(n.At)
			if err != nil {
				return nil, fmt.Errorf("voicemail %s: notes[%d].at: %w", r.ID, i, err)
			}
			v.Notes[i] = clubline.Note{By: n.By, At: at, Text: n.Text}
		}
	}
	return v, nil
}

// CheckStateKey returns an error for a key no store can keep the line's
// state under.
func CheckStateKey(key string) error {
	if key == "" {
		return errors.New("store: state without a key")
	}
	return nil
}

// TraceLine makes a trace step fit on one line: the Redis store keeps the
// trace as lines joined by "\n", so a line break inside a step becomes a space.
func TraceLine(step string) string {
	if !strings.ContainsAny(step, "\r\n") {
		return step
	}
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(step)
}

// CheckRegistration returns an error for a registration no store can keep.
func CheckRegistration(r *clubline.Registration) error {
	if r == nil {
		return errors.New("store: nil registration")
	}
	if err := CheckRegistrationKey(r.StaffID, r.Contact); err != nil {
		return err
	}
	if r.Expires.IsZero() {
		return fmt.Errorf("store: registration of %s (%s) without an expiry", r.StaffID, r.Contact)
	}
	return nil
}

// CheckRegistrationKey returns an error for a staff id and contact that
// cannot name a registration. A NUL separates them in the embedded store.
func CheckRegistrationKey(staffID, contact string) error {
	if staffID == "" {
		return errors.New("store: registration without a staff id")
	}
	if contact == "" {
		return fmt.Errorf("store: registration of %s without a contact", staffID)
	}
	if strings.ContainsRune(staffID, 0) || strings.ContainsRune(contact, 0) {
		return fmt.Errorf("store: registration of %q: NUL in the staff id or contact", staffID)
	}
	return nil
}

// CloneRegistration returns a copy of r.
func CloneRegistration(r *clubline.Registration) *clubline.Registration {
	cp := *r
	cp.Path = slices.Clone(r.Path)
	return &cp
}

// Registration is the JSON form of a clubline.Registration: the value kept
// per contact in Redis and in the embedded store.
type Registration struct {
	StaffID      string   `json:"staff_id"`
	Contact      string   `json:"contact"`
	Received     string   `json:"received,omitempty"`
	Path         []string `json:"path,omitempty"`
	UserAgent    string   `json:"user_agent,omitempty"`
	Expires      string   `json:"expires"`
	CallID       string   `json:"call_id,omitempty"`
	CSeq         uint32   `json:"cseq"`
	RegisteredAt string   `json:"registered_at,omitempty"`
}

// FromRegistration converts r to its stored form.
func FromRegistration(r *clubline.Registration) Registration {
	return Registration{
		StaffID:      r.StaffID,
		Contact:      r.Contact,
		Received:     r.Received,
		Path:         slices.Clone(r.Path),
		UserAgent:    r.UserAgent,
		Expires:      FormatTime(r.Expires),
		CallID:       r.CallID,
		CSeq:         r.CSeq,
		RegisteredAt: FormatTime(r.RegisteredAt),
	}
}

// Domain converts the stored form back to a clubline.Registration.
func (r Registration) Domain() (*clubline.Registration, error) {
	expires, err := ParseTime(r.Expires)
	if err != nil {
		return nil, fmt.Errorf("registration %s %s: expires: %w", r.StaffID, r.Contact, err)
	}
	registered, err := ParseTime(r.RegisteredAt)
	if err != nil {
		return nil, fmt.Errorf("registration %s %s: registered_at: %w", r.StaffID, r.Contact, err)
	}
	return &clubline.Registration{
		StaffID:      r.StaffID,
		Contact:      r.Contact,
		Received:     r.Received,
		Path:         slices.Clone(r.Path),
		UserAgent:    r.UserAgent,
		Expires:      expires,
		CallID:       r.CallID,
		CSeq:         r.CSeq,
		RegisteredAt: registered,
	}, nil
}

// SortRegistrations orders registrations by staff id, then contact.
func SortRegistrations(rs []*clubline.Registration) {
	slices.SortFunc(rs, func(a, b *clubline.Registration) int {
		return cmp.Or(cmp.Compare(a.StaffID, b.StaffID), cmp.Compare(a.Contact, b.Contact))
	})
}
