package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clubline/clubline"
)

// The outbox directory holds, per delivery:
//
//	email-<hash>.json    pending: the record below
//	webhook-<hash>.json
//	email-<hash>.sent    delivered: {"sent_at":"…"}, kept MaxAge, no personal data
//	*.bad                a pending file that could not be read, set aside for a person to look at
//	.tmp-*               a write cut short by a crash, removed at start
//
// <hash> is the first 16 bytes, in hex, of the SHA-256 of the delivery's
// key, so a file name says nothing of the caller nor the recipient.
const (
	pendingExt = ".json"
	sentExt    = ".sent"
	badExt     = ".bad"
	tmpPrefix  = ".tmp-"
)

const recordVersion = 1

// record is the JSON of a pending delivery.
type record struct {
	Version   int       `json:"version"`
	Key       string    `json:"key"`
	Channel   string    `json:"channel"`
	Message   Message   `json:"message"` // for an e-mail, To is the one recipient
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
}

type sentRecord struct {
	SentAt time.Time `json:"sent_at"`
}

func fileName(channel, key string) string { return channel + "-" + deliveryID(key) }

// load takes up what an earlier run left in the directory.
func (ob *Outbox) load() error {
	dir := ob.o.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("notify: outbox: %w; create the folder or give one clubline may write in", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("notify: outbox: %w", err)
	}
	now := ob.o.Now()
	var pending []*delivery
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case e.IsDir():
		case strings.HasPrefix(name, tmpPrefix):
			os.Remove(path) // cut short before its rename: the enqueue did not return
		case strings.HasSuffix(name, sentExt):
			var s sentRecord
			b, err := os.ReadFile(path)
			if err == nil {
				err = json.Unmarshal(b, &s)
			}
			if err != nil || now.Sub(s.SentAt) >= ob.o.MaxAge {
				os.Remove(path)
				continue
			}
			ob.sent[strings.TrimSuffix(name, sentExt)] = s.SentAt
		case strings.HasSuffix(name, pendingExt):
			d, err := readDelivery(path)
			if err != nil {
				ob.log.Warn("a queued notification cannot be read; set aside as .bad", "file", path, "err", err)
				os.Rename(path, strings.TrimSuffix(path, pendingExt)+badExt)
				continue
			}
			pending = append(pending, d)
		}
	}
	byChannel := map[string]int{}
	for _, d := range pending {
		switch _, sent := ob.sent[d.name]; {
		case sent:
			// Sent, and stopped before the file was removed.
			os.Remove(filepath.Join(dir, d.name+pendingExt))
		case ob.senders[d.rec.Channel] == nil:
			ob.log.Warn("a queued notification is for a channel no longer configured; dropped",
				"channel", d.rec.Channel, "kind", string(d.rec.Message.Kind), "id", d.rec.Message.ID)
			os.Remove(filepath.Join(dir, d.name+pendingExt))
			if ob.o.OnResult != nil {
				ob.o.OnResult(d.rec.Channel, ResultFailed)
			}
		default:
			ob.pending[d.name] = d
			byChannel[d.rec.Channel]++
		}
	}
	if len(ob.pending) > 0 {
		ob.log.Info("taking up notifications queued by an earlier run", "dir", dir,
			"email", byChannel[ChannelEmail], "webhook", byChannel[ChannelWebhook])
	}
	return nil
}

func readDelivery(path string) (*delivery, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("version %d, this clubline reads %d", r.Version, recordVersion)
	}
	name := strings.TrimSuffix(filepath.Base(path), pendingExt)
	if r.Key == "" || fileName(r.Channel, r.Key) != name {
		return nil, errors.New("its key does not match its name")
	}
	return &delivery{name: name, rec: r}, nil
}

func (ob *Outbox) writeDelivery(d *delivery) error {
	b, err := json.Marshal(d.rec)
	if err != nil {
		return err
	}
	return writeAtomic(ob.o.Dir, d.name+pendingExt, b)
}

func (ob *Outbox) writeSent(name string, at time.Time) error {
	b, err := json.Marshal(sentRecord{SentAt: at})
	if err != nil {
		return err
	}
	return writeAtomic(ob.o.Dir, name+sentExt, b)
}

// removeFile removes a file of the directory and syncs the directory, so
// that a delivery done does not come back after a crash. A file already
// gone is not an error.
func (ob *Outbox) removeFile(name string) error {
	err := os.Remove(filepath.Join(ob.o.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		syncDir(ob.o.Dir)
	}
	return err
}

// writeAtomic writes data to dir/name (mode 0600) so that the file is
// either there whole or not at all: a temporary file, synced, renamed
// over, and the directory synced.
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(data, '\n')); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a directory's entries durable. It is best effort: some
// systems cannot sync a directory, and the data are already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// PurgeDir drops the pending deliveries of an outbox directory that no
// Outbox has open (`clubline privacy erase` with the line stopped) whose
// message is about a call from number; it returns how many. The .bad
// files set aside are read too: they may hold the number.
func PurgeDir(dir, number string) (int, error) {
	if strings.TrimSpace(number) == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notify: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, pendingExt) && !strings.HasSuffix(name, badExt) {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r record
		match := json.Unmarshal(b, &r) == nil && r.Message.From != "" && sameNumber(r.Message.From, number)
		if !match && strings.HasSuffix(name, badExt) {
			match = strings.Contains(string(b), clubline.Digits(number)) // unreadable: look for the digits
		}
		if !match {
			continue
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
