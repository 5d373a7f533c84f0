package vmdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
)

// Options say how messages are recovered.
type Options struct {
	Dir   string
	Store clubline.Store
	// MinLength: a recovered recording shorter than this is no message,
	// as for a call (voicemail.min_length).
	MinLength time.Duration
	// FollowUpWithin and UrgentFollowUpWithin give the follow-up of a
	// message whose note is lost, counted from its recording's start.
	FollowUpWithin, UrgentFollowUpWithin time.Duration
	Logger                               *slog.Logger
}

// Report is what Recover did.
type Report struct {
	Recovered int // messages saved from recordings a crash cut short
	Deleted   int // recordings with less than MinLength of audio, and their notes, deleted
	Notes     int // notes of messages the store already held, deleted
	Failed    int // files left as they were: see the log
}

// Recover finds the messages a crash cut short in o.Dir: a recording left
// under its temporary name, or a note whose message the store lacks. Each
// recording of at least MinLength becomes a message, with its follow-up,
// under its final name; a shorter one is deleted. The call of each ends
// with outcome voicemail (or failed when no message was kept) if its
// record was still in progress or is missing. It must run before any call
// records, and it logs counts and ids only, no number.
func Recover(ctx context.Context, o Options) (Report, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var r Report
	names, err := os.ReadDir(o.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("vmdir: reading %s: %w", o.Dir, err)
	}
	msgs := map[string]map[string]bool{} // base -> suffixes present
	var bases []entry
	for _, n := range names {
		e, ok := parse(n.Name())
		if !ok || n.IsDir() {
			continue
		}
		if msgs[e.base] == nil {
			msgs[e.base] = map[string]bool{}
			bases = append(bases, e)
		}
		msgs[e.base][e.suffix] = true
	}
	slices.SortFunc(bases, func(a, b entry) int { return a.stamp.Compare(b.stamp) })
	for _, e := range bases {
		has := msgs[e.base]
		if !has[suffixPart] && !has[suffixMeta] {
			continue // a message done: nothing to recover
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		(&recovery{o: o, e: e, f: e.files(o.Dir), has: has, r: &r}).run(ctx)
	}
	if r != (Report{}) {
		o.Logger.Info("voicemail: recovered the messages clubline was recording when it stopped",
			"recovered", r.Recovered, "deleted", r.Deleted, "notes", r.Notes, "failed", r.Failed)
	}
	return r, nil
}

// recovery is the work on one message's files.
type recovery struct {
	o   Options
	e   entry
	f   Files
	has map[string]bool
	r   *Report

	meta    Meta
	hasMeta bool
}

func (rc *recovery) log() *slog.Logger { return rc.o.Logger.With("voicemail", rc.e.id) }

func (rc *recovery) run(ctx context.Context) {
	if rc.has[suffixMeta] {
		m, err := ReadMeta(rc.f.Meta)
		if err != nil {
			rc.log().Warn("voicemail: its note is unreadable; recovering it from its file name", "err", err)
		} else if m.VoicemailID != rc.e.id {
			rc.log().Warn("voicemail: its note names another message; recovering it from its file name")
		} else {
			rc.meta, rc.hasMeta = m, true
		}
	}
	stored, err := rc.o.Store.Voicemail(ctx, rc.e.id)
	if err != nil && !errors.Is(err, clubline.ErrNotFound) {
		rc.r.Failed++
		rc.log().Error("voicemail: cannot read the store; the next start tries again", "err", err)
		return
	}
	audio := ""
	switch {
	case rc.has[suffixPart]:
		audio = rc.f.Part
	case rc.has[suffixWAV]:
		audio = rc.f.WAV
	}
	if stored != nil {
		rc.known(ctx, stored, audio)
		return
	}
	if audio == "" {
		// A note without audio: the crash came before the recording, or
		// after a recording too short to keep was deleted.
		rc.removeMeta()
		rc.endCall(ctx, nil, 0, time.Time{})
		return
	}
	length, err := media.RepairWAV(audio)
	if err != nil && !errors.Is(err, media.ErrEmptyRecording) {
		// Not a recording of clubline's own format: measure it as a player would.
		length, err = decodedLength(audio)
		if err != nil {
			rc.r.Failed++
			rc.log().Error("voicemail: a recording that cannot be read is left in place; listen to it, or it goes at the retention limit",
				"path", audio, "err", err)
			return
		}
	}
	if length < rc.o.MinLength {
		written := modTime(audio)
		if err := os.Remove(audio); err != nil {
			rc.r.Failed++
			rc.log().Error("voicemail: cannot delete a recording too short to keep", "path", audio, "err", err)
			return
		}
		rc.r.Deleted++
		rc.removeMeta()
		rc.endCall(ctx, nil, length, written)
		return
	}
	path := rc.finalName(audio)
	v := rc.voicemail(path, length)
	if err := rc.o.Store.SaveVoicemail(ctx, v); err != nil {
		rc.r.Failed++
		rc.log().Error("voicemail: cannot save the recovered message; the next start tries again", "err", err)
		return
	}
	rc.r.Recovered++
	rc.log().Info("voicemail: recovered a message clubline was recording when it stopped",
		"duration", length.Round(10*time.Millisecond), "urgent", v.Urgent, "call", v.CallID)
	rc.endCall(ctx, v, length, modTime(path))
	rc.removeMeta()
}

// known handles a message the store already holds: its record stays, its
// file takes its final name, its note goes.
func (rc *recovery) known(ctx context.Context, v *clubline.Voicemail, audio string) {
	if audio == rc.f.Part {
		if _, err := media.RepairWAV(audio); err != nil && !errors.Is(err, media.ErrEmptyRecording) {
			rc.log().Warn("voicemail: recording left as it was", "err", err)
		}
		if path := rc.finalName(audio); path != v.Path {
			v.Path = path
			if err := rc.o.Store.SaveVoicemail(ctx, v); err != nil {
				rc.r.Failed++
				rc.log().Error("voicemail: cannot update the message's path", "err", err)
				return
			}
		}
	}
	if rc.has[suffixMeta] {
		rc.removeMeta()
		rc.r.Notes++
	}
}

// finalName renames a recording to its final name and returns where it is.
func (rc *recovery) finalName(audio string) string {
	if audio == rc.f.WAV {
		return audio
	}
	if err := os.Rename(audio, rc.f.WAV); err != nil {
		rc.log().Error("voicemail: cannot rename the recovered recording; keeping its temporary name", "err", err)
		return audio
	}
	return rc.f.WAV
}

func (rc *recovery) removeMeta() {
	if !rc.has[suffixMeta] {
		return
	}
	if err := RemoveMeta(rc.f.Meta); err != nil {
		rc.r.Failed++
		rc.log().Error("voicemail: cannot delete a message's note; delete it by hand", "path", rc.f.Meta, "err", err)
	}
}

// voicemail is the message record of a recovered recording.
func (rc *recovery) voicemail(path string, length time.Duration) *clubline.Voicemail {
	m := rc.meta
	v := &clubline.Voicemail{ID: rc.e.id, Duration: length, Path: path, Status: clubline.VoicemailNew}
	if rc.hasMeta {
		v.CallID, v.From, v.Category, v.Urgent = m.CallID, m.From, m.Category, m.Urgent
		v.RecordedAt, v.FollowUpDue = m.RecordedAt, m.FollowUpDue
	}
	if v.RecordedAt.IsZero() {
		v.RecordedAt = rc.e.stamp
	}
	if v.FollowUpDue.IsZero() {
		within := rc.o.FollowUpWithin
		if v.Urgent {
			within = rc.o.UrgentFollowUpWithin
		}
		v.FollowUpDue = v.RecordedAt.Add(within)
	}
	return v
}

// endCall ends the record of the message's call, when the note names it
// and the record is in progress or missing: outcome voicemail with v, or
// failed when v is nil. The end is when the recording's file was last
// written, or the end of its audio, whichever is later.
func (rc *recovery) endCall(ctx context.Context, v *clubline.Voicemail, length time.Duration, written time.Time) {
	if !rc.hasMeta || rc.meta.CallID == "" {
		return
	}
	m := rc.meta
	c, err := rc.o.Store.Call(ctx, m.CallID)
	switch {
	case errors.Is(err, clubline.ErrNotFound):
		c = &clubline.Call{ID: m.CallID, From: m.From, To: m.To, StartedAt: m.CallStartedAt,
			Hours: clubline.Hours(m.Hours), HoursReason: m.HoursReason, Language: m.Language,
			Choice: m.Choice, Category: m.Category, Route: m.Route, Group: m.Group,
			Trace: []string{"call record rebuilt from the voicemail's note"}}
	case err != nil:
		rc.r.Failed++
		rc.log().Error("voicemail: cannot read the call's record; it stays in progress", "call", m.CallID, "err", err)
		return
	case c.Outcome != "":
		return // the call ended properly
	}
	end := m.RecordedAt.Add(length)
	if written.After(end) {
		end = written
	}
	c.Stage, c.EndedAt = clubline.StageVoicemail, end
	if !c.StartedAt.IsZero() && end.After(c.StartedAt) {
		c.Duration = end.Sub(c.StartedAt)
	}
	if v != nil {
		c.Outcome, c.VoicemailID = clubline.OutcomeVoicemail, v.ID
		c.AddTrace(fmt.Sprintf("voicemail: %.1fs recovered after clubline stopped during the recording", length.Seconds()))
	} else {
		c.Outcome = clubline.OutcomeFailed
		c.AddTrace(fmt.Sprintf("voicemail: clubline stopped during the recording; under %s, no message", rc.o.MinLength))
	}
	if err := rc.o.Store.SaveCall(ctx, c); err != nil {
		rc.r.Failed++
		rc.log().Error("voicemail: cannot end the call's record", "call", m.CallID, "err", err)
	}
}

func decodedLength(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err != nil {
		return 0, err
	}
	return time.Duration(len(frames)) * media.FrameDuration, nil
}

func modTime(path string) time.Time {
	info, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}
