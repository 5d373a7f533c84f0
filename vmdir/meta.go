package vmdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/clubline/clubline"
)

// Meta is the note written beside a recording when it starts, in JSON with
// the field names of the store's records (docs/data.md). Times are RFC
// 3339 with milliseconds, in UTC.
type Meta struct {
	VoicemailID string `json:"voicemail_id"`
	CallID      string `json:"call_id"`
	From        string `json:"from,omitempty"` // personal information
	To          string `json:"to,omitempty"`
	// CallStartedAt is when the call arrived (the call record's started_at).
	CallStartedAt time.Time `json:"call_started_at"`
	Hours         string    `json:"hours,omitempty"`
	HoursReason   string    `json:"hours_reason,omitempty"`
	Language      string    `json:"language,omitempty"`
	Choice        string    `json:"choice,omitempty"`
	Category      string    `json:"category,omitempty"`
	Route         string    `json:"route,omitempty"`
	Group         string    `json:"group,omitempty"`
	Urgent        bool      `json:"urgent"`
	// RecordedAt is when the recording started; FollowUpDue when someone
	// should have answered it, computed then as for any message.
	RecordedAt  time.Time `json:"recorded_at"`
	FollowUpDue time.Time `json:"follow_up_due"`
}

// MetaFor is the note of message id, recorded from at, of the call as its
// record reads now, due by due.
func MetaFor(id string, c *clubline.Call, urgent bool, at, due time.Time) Meta {
	return Meta{
		VoicemailID: id, CallID: c.ID, From: c.From, To: c.To, CallStartedAt: c.StartedAt,
		Hours: string(c.Hours), HoursReason: c.HoursReason, Language: c.Language, Choice: c.Choice,
		Category: c.Category, Route: c.Route, Group: c.Group, Urgent: urgent,
		RecordedAt: at, FollowUpDue: due,
	}
}

// metaJSON fixes the times' format.
type metaJSON struct {
	Meta
	CallStartedAt string `json:"call_started_at"`
	RecordedAt    string `json:"recorded_at"`
	FollowUpDue   string `json:"follow_up_due"`
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// WriteMeta writes the note at path (mode 0600), synced to disk. On error
// no file is left behind.
func WriteMeta(path string, m Meta) (err error) {
	b, err := json.Marshal(metaJSON{Meta: m, CallStartedAt: formatTime(m.CallStartedAt),
		RecordedAt: formatTime(m.RecordedAt), FollowUpDue: formatTime(m.FollowUpDue)})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path) // the write's error is the one that matters
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

// ReadMeta reads a note written by WriteMeta.
func ReadMeta(path string) (Meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, err
	}
	var j metaJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Meta{}, fmt.Errorf("vmdir: %s: %w", path, err)
	}
	m := j.Meta
	var errs []error
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{j.CallStartedAt, &m.CallStartedAt}, {j.RecordedAt, &m.RecordedAt}, {j.FollowUpDue, &m.FollowUpDue}} {
		at, err := parseTime(t.s)
		errs = append(errs, err)
		*t.dst = at
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("vmdir: %s: %w", path, err)
	}
	return m, nil
}

// RemoveMeta deletes the note of a message the store now holds (or that
// kept no audio). A note already gone is fine.
func RemoveMeta(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
