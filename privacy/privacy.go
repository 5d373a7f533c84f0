// Package privacy carries out a caller's rights under Quebec's Law 25:
// the export of everything the line holds about their number, and its
// erasure from every place the line keeps it (the store and the spool in
// front of it, the voicemail folder, the notifications not yet sent).
//
// A number is matched in any of its forms (clubline.SameNumber:
// "+15145550101" and "5145550101" are the same caller). The audit log
// names records by id and never holds a number, so it needs no erasure;
// its entries about the caller's records are part of the export.
package privacy

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/vmdir"
)

// Options are where the line keeps what it holds about callers.
type Options struct {
	Store clubline.Store
	// VoicemailDir is voicemail.dir: its notes of recordings not yet in
	// the store hold callers' numbers too.
	VoicemailDir string
	Audit        *audit.Log // may be nil
	// Pending drop the deliveries not yet made that hold the number
	// (notify.Outbox.Purge) and say how many.
	Pending []func(number string) (int, error)
	Logger  *slog.Logger
}

// everything is the span of records searched: all of them.
var everything = [2]time.Time{time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}

// Held is what the line holds about one number.
type Held struct {
	Calls    []*clubline.Call
	Messages []*clubline.Voicemail
	Notes    []vmdir.Meta // notes of recordings the store does not hold yet
	notePath []string
}

// Find collects what the line holds about number.
func Find(ctx context.Context, o Options, number string) (*Held, error) {
	if len(clubline.Digits(number)) < 4 {
		return nil, fmt.Errorf("%q is not a phone number", number)
	}
	h := &Held{}
	calls, err := o.Store.Calls(ctx, everything[0], everything[1], 0)
	if err != nil {
		return nil, fmt.Errorf("reading the call records: %w", err)
	}
	for _, c := range calls {
		if clubline.SameNumber(c.From, number) {
			h.Calls = append(h.Calls, c)
		}
	}
	vms, err := o.Store.Voicemails(ctx, everything[0], everything[1], 0)
	if err != nil {
		return nil, fmt.Errorf("reading the messages: %w", err)
	}
	for _, v := range vms {
		if clubline.SameNumber(v.From, number) {
			h.Messages = append(h.Messages, v)
		}
	}
	if o.VoicemailDir != "" {
		notes, _ := filepath.Glob(filepath.Join(o.VoicemailDir, "*.json.part"))
		for _, p := range notes {
			m, err := vmdir.ReadMeta(p)
			if err == nil && clubline.SameNumber(m.From, number) {
				h.Notes = append(h.Notes, m)
				h.notePath = append(h.notePath, p)
			}
		}
	}
	return h, nil
}

// ids are the record ids the caller's audit entries name.
func (h *Held) ids() map[string]bool {
	ids := map[string]bool{}
	for _, c := range h.Calls {
		ids[c.ID] = true
	}
	for _, v := range h.Messages {
		ids[v.ID] = true
	}
	return ids
}

// Export writes a zip of what the line holds about number: calls.json,
// messages.json with each message's recording under audio/, access.json
// (who accessed these records, from the audit log) and a README in both
// languages saying what each file is.
func Export(ctx context.Context, o Options, number string, w io.Writer) error {
	h, err := Find(ctx, o, number)
	if err != nil {
		return err
	}
	z := zip.NewWriter(w)
	add := func(name string, v any) error {
		f, err := z.Create(name)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	f, err := z.Create("README.txt")
	if err != nil {
		return err
	}
	fmt.Fprintf(f, readme, len(h.Calls), len(h.Messages), len(h.Calls), len(h.Messages))
	if err := add("calls.json", callsJSON(h.Calls)); err != nil {
		return err
	}
	msgs := messagesJSON(h.Messages)
	for i, v := range h.Messages {
		if v.Path == "" {
			continue
		}
		src, err := os.Open(v.Path)
		if err != nil {
			msgs[i]["audio"] = "missing: " + err.Error()
			continue
		}
		name := "audio/" + safe(v.ID) + ".wav"
		dst, err := z.Create(name)
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		src.Close()
		if err != nil {
			return err
		}
		msgs[i]["audio"] = name
	}
	if err := add("messages.json", msgs); err != nil {
		return err
	}
	if len(h.Notes) > 0 {
		if err := add("recordings-in-progress.json", h.Notes); err != nil {
			return err
		}
	}
	entries := []audit.Entry{}
	if o.Audit != nil {
		ids := h.ids()
		got, err := o.Audit.Entries(func(e audit.Entry) bool { return ids[e.Target] })
		if err != nil {
			return err
		}
		entries = append(entries, got...)
	}
	if err := add("access.json", entries); err != nil {
		return err
	}
	return z.Close()
}

const readme = `Ce que la ligne du club garde sur votre numéro (Loi 25)
======================================================
calls.json      vos appels (%d) : heure, sujet choisi, issue, attente, qui a répondu
messages.json   vos messages (%d), avec les notes du personnel ; l'audio est dans audio/
access.json     qui, au club, a écouté ou traité ces messages, et quand

What the club's phone line keeps about your number (Law 25)
==========================================================
calls.json      your calls (%d): time, topic chosen, outcome, wait, who answered
messages.json   your messages (%d), with the staff's notes; the audio is in audio/
access.json     who at the club listened to or handled these messages, and when
`

func callsJSON(calls []*clubline.Call) []map[string]any {
	out := []map[string]any{}
	for _, c := range calls {
		out = append(out, map[string]any{
			"id": c.ID, "from": c.From, "to": c.To, "started_at": c.StartedAt, "ended_at": c.EndedAt,
			"language": c.Language, "category": c.Category, "outcome": c.Outcome, "group": c.Group,
			"wait_seconds": c.Wait.Seconds(), "answered_by": c.AnsweredBy, "voicemail_id": c.VoicemailID,
			"duration_seconds": c.Duration.Seconds(), "trace": c.Trace,
		})
	}
	return out
}

func messagesJSON(vms []*clubline.Voicemail) []map[string]any {
	out := []map[string]any{}
	for _, v := range vms {
		out = append(out, map[string]any{
			"id": v.ID, "call_id": v.CallID, "from": v.From, "category": v.Category, "urgent": v.Urgent,
			"recorded_at": v.RecordedAt, "duration_seconds": v.Duration.Seconds(), "follow_up_due": v.FollowUpDue,
			"status": v.Status, "group": v.Group, "assigned_to": v.AssignedTo, "notes": v.Notes,
			"done_at": v.DoneAt, "done_by": v.DoneBy,
		})
	}
	return out
}

func safe(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// Erased says what an erasure deleted, in numbers only.
type Erased struct {
	Calls, Messages, Files, Pending int
}

func (e Erased) String() string {
	return fmt.Sprintf("%d call records, %d messages, %d files, %d notifications not yet sent", e.Calls, e.Messages, e.Files, e.Pending)
}

// Erase deletes what the line holds about number. It goes on past a
// failure and reports every one; run it again once the cause is fixed
// (what is gone is not found again). The log line it writes holds no
// number.
func Erase(ctx context.Context, o Options, number string) (Erased, error) {
	var out Erased
	h, err := Find(ctx, o, number)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, fn := range o.Pending {
		n, err := fn(number)
		out.Pending += n
		if err != nil {
			errs = append(errs, fmt.Errorf("notifications: %w", err))
		}
	}
	for _, v := range h.Messages {
		if err := o.Store.DeleteVoicemail(ctx, v.ID); err != nil && !errors.Is(err, clubline.ErrNotFound) {
			errs = append(errs, fmt.Errorf("message %s: %w", v.ID, err))
			continue
		}
		out.Messages++
		out.Files += removeRecording(v.Path, &errs)
	}
	for _, c := range h.Calls {
		if err := o.Store.DeleteCall(ctx, c.ID); err != nil && !errors.Is(err, clubline.ErrNotFound) {
			errs = append(errs, fmt.Errorf("call %s: %w", c.ID, err))
			continue
		}
		out.Calls++
	}
	for _, p := range h.notePath {
		out.Files += removeRecording(strings.TrimSuffix(p, ".json.part")+".wav", &errs)
	}
	// A store that keeps freed bytes in its file (the embedded store)
	// rewrites it without them.
	if c, ok := o.Store.(interface{ Compact() error }); ok && (out.Calls > 0 || out.Messages > 0) {
		if err := c.Compact(); err != nil {
			errs = append(errs, fmt.Errorf("compacting the store's file: %w", err))
		}
	}
	if o.Logger != nil {
		o.Logger.Info("privacy: a caller's data was erased at their request (Law 25)", "erased", out.String(), "complete", len(errs) == 0)
	}
	return out, errors.Join(errs...)
}

// removeRecording deletes a message's audio and what may sit beside it
// (the part being recorded, the note), and counts the files deleted.
func removeRecording(path string, errs *[]error) int {
	if path == "" {
		return 0
	}
	n := 0
	base := strings.TrimSuffix(strings.TrimSuffix(path, ".part"), ".wav")
	for _, p := range []string{base + ".wav", base + ".wav.part", base + ".json.part"} {
		err := os.Remove(p)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, os.ErrNotExist):
			*errs = append(*errs, fmt.Errorf("recording: %w", err))
		}
	}
	return n
}
