package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// JournalFile is the name of the journal in Options.Dir.
const JournalFile = "spool.jsonl"

// entry is one pending write: a call or a voicemail, with the sequence
// number that orders every write the spool has accepted.
type entry struct {
	seq       uint64
	call      *clubline.Call
	voicemail *clubline.Voicemail
	// dropped: a purge deleted the record while it waited; the writer
	// skips it. Guarded by the spool's mutex.
	dropped bool
}

// key is what last-write-wins is decided on: one record per kind and id.
func (e *entry) key() string {
	if e.call != nil {
		return callKey(e.call.ID)
	}
	return voicemailKey(e.voicemail.ID)
}

func callKey(id string) string      { return "call:" + id }
func voicemailKey(id string) string { return "voicemail:" + id }

// line is one record of the journal, one JSON object per line:
//
//	{"seq":7,"kind":"call","spooled_at":"…","call":{"id":"…",…}}
//
// The record fields are those of the Redis hash (docs/data.md).
type line struct {
	Seq       uint64            `json:"seq"`
	Kind      string            `json:"kind"` // "call" or "voicemail"
	SpooledAt string            `json:"spooled_at"`
	Call      *record.Call      `json:"call,omitempty"`
	Voicemail *record.Voicemail `json:"voicemail,omitempty"`
}

func encodeLine(buf *bytes.Buffer, e *entry, now time.Time) error {
	l := line{Seq: e.seq, SpooledAt: record.FormatTime(now)}
	if e.call != nil {
		r := record.FromCall(e.call)
		l.Kind, l.Call = "call", &r
	} else {
		r := record.FromVoicemail(e.voicemail)
		l.Kind, l.Voicemail = "voicemail", &r
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	buf.Write(b)
	buf.WriteByte('\n')
	return nil
}

func decodeLine(b []byte) (*entry, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	e := &entry{seq: l.Seq}
	var err error
	switch {
	case l.Kind == "call" && l.Call != nil && l.Call.ID != "":
		e.call, err = l.Call.Domain()
	case l.Kind == "voicemail" && l.Voicemail != nil && l.Voicemail.ID != "":
		e.voicemail, err = l.Voicemail.Domain()
	default:
		err = fmt.Errorf("no call or voicemail with an id in a %q record", l.Kind)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// journal is the append-only file of records the backend has not taken
// yet. The spool's mutex guards every use of it.
type journal struct {
	path string
	f    *os.File
	size int64 // bytes of complete lines in the file
}

// openJournal opens (or creates) the journal in dir and returns the records
// a previous run left in it, oldest first. A last line cut short by a crash
// (the write that was under way when it happened) is dropped: the Save that
// wrote it had not returned. A line that does not decode is reported to
// bad and skipped.
func openJournal(dir string, bad func(lineNo int, err error)) (*journal, []*entry, error) {
	if dir == "" {
		return nil, nil, errors.New("spool: no directory for the journal (Options.Dir)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: open the journal: %w", err)
	}
	j := &journal{path: path, f: f}
	entries, err := j.load(bad)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("spool: read the journal %s: %w", path, err)
	}
	return j, entries, nil
}

func (j *journal) load(bad func(lineNo int, err error)) ([]*entry, error) {
	r := bufio.NewReader(io.NewSectionReader(j.f, 0, 1<<62))
	var entries []*entry
	var off int64
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(b) > 0 {
				bad(n, fmt.Errorf("last line cut short (%d bytes), dropped", len(b)))
				if err := j.f.Truncate(off); err != nil {
					return nil, err
				}
				if err := j.f.Sync(); err != nil {
					return nil, err
				}
			}
			break
		}
		if err != nil {
			return nil, err
		}
		off += int64(len(b))
		e, err := decodeLine(b)
		if err != nil {
			bad(n, err)
			continue
		}
		entries = append(entries, e)
	}
	j.size = off
	return entries, nil
}

// append writes the records and syncs them to disk. On failure it cuts the
// file back to its last complete line, so a retry starts clean.
func (j *journal) append(es []*entry, now time.Time) error {
	var buf bytes.Buffer
	for _, e := range es {
		if err := encodeLine(&buf, e, now); err != nil {
			return fmt.Errorf("spool: encode %s: %w", e.key(), err)
		}
	}
	_, err := j.f.Write(buf.Bytes())
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("spool: write the journal %s: %w", j.path, err)
	}
	j.size += int64(buf.Len())
	return nil
}

// reset empties the file once the backend holds everything in it.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("spool: truncate the journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("spool: sync the journal %s: %w", j.path, err)
	}
	j.size = 0
	return nil
}

// rewrite replaces the file with the records given, oldest first: a
// temporary file is written, synced and renamed over the journal, so a
// crash leaves one or the other whole.
func (j *journal) rewrite(es []*entry, now time.Time) error {
	var buf bytes.Buffer
	for _, e := range es {
		if err := encodeLine(&buf, e, now); err != nil {
			return fmt.Errorf("spool: encode %s: %w", e.key(), err)
		}
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: rewrite the journal: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("spool: rewrite the journal %s: %w", j.path, err)
	}
	j.f.Close()
	j.f, j.size = f, int64(buf.Len())
	return nil
}

func (j *journal) close() error { return j.f.Close() }
