// Package audit keeps the line's audit log: who signed in, who listened to
// which message, who changed what. Quebec's Law 25 asks that access to
// personal information be traceable; the log answers "who heard this
// message?" and "who switched the line to closed?".
//
// The log is a file of JSON lines, appended and synced entry by entry, so
// that a crash loses at most the entry being written. An entry names
// records by id and people by staff id; it never holds a caller's number,
// so that erasing a caller (Law 25) leaves nothing of them here.
package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Actions written to the log.
const (
	ActionLogin         = "login"
	ActionLoginFailed   = "login_failed"
	ActionLogout        = "logout"
	ActionListen        = "listen"   // a message's audio was played
	ActionDownload      = "download" // a message's audio was downloaded
	ActionView          = "view"     // a message's details were read
	ActionDone          = "done"
	ActionReopen        = "reopen"
	ActionAssign        = "assign"
	ActionNote          = "note"
	ActionOverride      = "override"
	ActionRecording     = "recording" // a prompt recorded, uploaded, restored or deleted
	ActionFullNumbers   = "calls"     // the calls list was read with full numbers
	ActionPrivacyExport = "privacy_export"
	ActionPrivacyErase  = "privacy_erase"
	ActionProbe         = "probe" // a mystery call asked for (POST /api/probe); Detail: its result
)

// Entry is one line of the log.
type Entry struct {
	At     time.Time `json:"at"`
	User   string    `json:"user"`             // staff id ("" for clubline itself)
	Action string    `json:"action"`           // one of the Action values
	Target string    `json:"target,omitempty"` // what it was done to: a message or call id, a prompt, a mode
	Detail string    `json:"detail,omitempty"` // in words; never a caller's number
	From   string    `json:"from,omitempty"`   // the client's address
}

// Log is an append-only audit log in one file. It is safe for concurrent
// use.
type Log struct {
	mu   sync.Mutex
	path string
	f    *os.File
	now  func() time.Time
}

// Open opens (or creates) the log at path, its folder included.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Log{path: path, f: f, now: time.Now}, nil
}

// Path is the file the log is kept in.
func (l *Log) Path() string { return l.path }

// Add appends one entry; a zero At is now.
func (l *Log) Add(e Entry) error {
	if e.At.IsZero() {
		e.At = l.now()
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit log: closed")
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return l.f.Sync()
}

// Entries returns the entries for which keep returns true (nil: all),
// oldest first. A line that does not read (a torn last write) is skipped.
func (l *Log) Entries(keep func(Entry) bool) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	return read(f, keep)
}

func read(r io.Reader, keep func(Entry) bool) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e Entry
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &e) != nil {
			continue
		}
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// DeleteBefore drops the entries older than t (the retention of call
// records applies to the log too) and returns how many it dropped. The
// file is rewritten beside itself and renamed over, so a crash leaves
// either the old log or the new one.
func (l *Log) DeleteBefore(t time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	all, err := read(f, nil)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	var buf bytes.Buffer
	dropped := 0
	for _, e := range all {
		if e.At.Before(t) {
			dropped++
			continue
		}
		b, _ := json.Marshal(e)
		buf.Write(append(b, '\n'))
	}
	if dropped == 0 {
		return 0, nil
	}
	tmp := l.path + ".tmp"
	if err := writeSync(tmp, buf.Bytes()); err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	nf, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return dropped, fmt.Errorf("audit log: reopen: %w", err)
	}
	l.f.Close()
	l.f = nf
	return dropped, nil
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
