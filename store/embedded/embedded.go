// Package embedded is the clubline.Store for a single box with no Redis: one
// bbolt file under the data directory. Records are JSON values (the field
// names of the Redis layout) and three index buckets keep calls by start
// time, voicemails by recording time and open voicemails by follow-up due
// time; the line's state is one more bucket (state.go). See docs/data.md.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// Bucket names. A bucket is a table in bbolt.
var (
	bucketMeta       = []byte("meta")                   // "schema" → schemaVersion
	bucketCalls      = []byte("calls")                  // call id → JSON record
	bucketCallsStart = []byte("calls_by_start")         // start key (ms, id) → call id
	bucketVoicemails = []byte("voicemails")             // voicemail id → JSON record
	bucketFollowUps  = []byte("followups")              // due key (ms, id) → voicemail id
	bucketRecorded   = []byte("voicemails_by_recorded") // recorded key (ms, id) → voicemail id
)

// schemaVersion is the layout this code reads and writes. Version 1 had no
// voicemails_by_recorded bucket; Open builds it from the voicemails and
// moves the file to version 2. A clubline that reads version 1 refuses a
// version 2 file: it would not keep the new index up to date. The
// registrations bucket came later without a new version: it indexes
// nothing, Open creates it when it is missing, and an older clubline
// ignores it. The state bucket came the same way.
const schemaVersion = "2"

// lockTimeout is how long Open waits for another process to release the
// file before it gives up.
const lockTimeout = time.Second

// Store is a clubline.Store in a bbolt file. It is safe for concurrent use;
// bbolt serialises writers and lets readers run alongside them.
type Store struct {
	// mu is held to read for every transaction, and to write by Compact,
	// which swaps db for a compacted copy.
	mu   sync.RWMutex
	db   *bolt.DB
	path string
}

var _ clubline.Store = (*Store)(nil)

// Open opens the store file at path, creating it (and its directory, mode
// 0700: the records hold personal information) if needed. Only one process
// may hold the file: if another has it open, Open fails after a second with
// an error naming the file.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create the data directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("embedded store: %s is locked by another process "+
			"(is another clubline running with the same data directory?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketCalls, bucketCallsStart, bucketVoicemails, bucketFollowUps, bucketRecorded, bucketRegistrations, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("schema")); {
		case v == nil:
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) == "1":
			if err := indexRecorded(tx); err != nil {
				return fmt.Errorf("upgrade from schema version 1: %w", err)
			}
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this clubline reads version %s", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("embedded store: %s: %w", s.path, err)
	}
	return nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// SaveCall writes the call record and moves its start-time index entry.
func (s *Store) SaveCall(ctx context.Context, c *clubline.Call) error {
	if err := record.CheckCall(c); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := record.FromCall(c)
	val, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("embedded store: encode call %s: %w", c.ID, err)
	}
	id := []byte(c.ID)
	return s.update("save call "+c.ID, func(tx *bolt.Tx) error {
		calls, idx := tx.Bucket(bucketCalls), tx.Bucket(bucketCallsStart)
		if old := calls.Get(id); old != nil {
			var prev record.Call
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("decode the previous record: %w", err)
			}
			started, err := record.ParseTime(prev.StartedAt)
			if err != nil {
				return fmt.Errorf("previous record: started_at: %w", err)
			}
			if err := idx.Delete(indexKey(started, c.ID)); err != nil {
				return err
			}
		}
		if err := calls.Put(id, val); err != nil {
			return err
		}
		return idx.Put(indexKey(c.StartedAt, c.ID), id)
	})
}

// Call returns the call record with that id, or clubline.ErrNotFound.
func (s *Store) Call(ctx context.Context, id string) (*clubline.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c *clubline.Call
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = getCall(tx, id)
		return err
	})
	if err != nil {
		return nil, s.wrap("read call "+id, err)
	}
	return c, nil
}

// Calls returns the calls started in [from, to), oldest first (by id when
// two start in the same millisecond), at most limit (<= 0: all).
func (s *Store) Calls(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*clubline.Call
	end := msKey(to.UnixMilli())
	err := s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCallsStart).Cursor()
		for k, id := cur.Seek(msKey(from.UnixMilli())); k != nil && bytes.Compare(k[:8], end) < 0; k, id = cur.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			c, err := getCall(tx, string(id))
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list calls", err)
	}
	return out, nil
}

// SaveVoicemail writes the message, moves its recording-time index entry,
// and adds it to or removes it from the open follow-ups according to its
// status.
func (s *Store) SaveVoicemail(ctx context.Context, v *clubline.Voicemail) error {
	if err := record.CheckVoicemail(v); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	val, err := json.Marshal(record.FromVoicemail(v))
	if err != nil {
		return fmt.Errorf("embedded store: encode voicemail %s: %w", v.ID, err)
	}
	id := []byte(v.ID)
	return s.update("save voicemail "+v.ID, func(tx *bolt.Tx) error {
		vms, idx, rec := tx.Bucket(bucketVoicemails), tx.Bucket(bucketFollowUps), tx.Bucket(bucketRecorded)
		if old := vms.Get(id); old != nil {
			var prev record.Voicemail
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("decode the previous record: %w", err)
			}
			due, err := record.ParseTime(prev.FollowUpDue)
			if err != nil {
				return fmt.Errorf("previous record: follow_up_due: %w", err)
			}
			recorded, err := record.ParseTime(prev.RecordedAt)
			if err != nil {
				return fmt.Errorf("previous record: recorded_at: %w", err)
			}
			// Deleting a key that is not there is a no-op.
			if err := idx.Delete(indexKey(due, v.ID)); err != nil {
				return err
			}
			if err := rec.Delete(indexKey(recorded, v.ID)); err != nil {
				return err
			}
		}
		if err := vms.Put(id, val); err != nil {
			return err
		}
		if err := rec.Put(indexKey(v.RecordedAt, v.ID), id); err != nil {
			return err
		}
		if record.Open(v) {
			return idx.Put(indexKey(v.FollowUpDue, v.ID), id)
		}
		return nil
	})
}

// Voicemail returns the message with that id, or clubline.ErrNotFound.
func (s *Store) Voicemail(ctx context.Context, id string) (*clubline.Voicemail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v *clubline.Voicemail
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		v, err = getVoicemail(tx, id)
		return err
	})
	if err != nil {
		return nil, s.wrap("read voicemail "+id, err)
	}
	return v, nil
}

// Voicemails returns the messages recorded in [from, to), whatever their
// status, oldest first (by id when two are recorded in the same
// millisecond), at most limit (<= 0: all).
func (s *Store) Voicemails(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Voicemail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*clubline.Voicemail
	end := msKey(to.UnixMilli())
	err := s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketRecorded).Cursor()
		for k, id := cur.Seek(msKey(from.UnixMilli())); k != nil && bytes.Compare(k[:8], end) < 0; k, id = cur.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			v, err := getVoicemail(tx, string(id))
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list voicemails", err)
	}
	return out, nil
}

// FollowUps returns the open follow-ups due before the given time (zero:
// all), most overdue first.
func (s *Store) FollowUps(ctx context.Context, before time.Time) ([]clubline.FollowUp, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []clubline.FollowUp
	err := s.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketFollowUps).Cursor()
		for k, id := cur.First(); k != nil; k, id = cur.Next() {
			ms := keyMillis(k)
			if !before.IsZero() && ms >= before.UnixMilli() {
				break
			}
			out = append(out, clubline.FollowUp{VoicemailID: string(id), Due: record.FromMillis(ms)})
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list follow-ups", err)
	}
	return out, nil
}

// Ping reports whether the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.wrap("ping", s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	}))
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wrap("close", s.db.Close())
}

func (s *Store) update(what string, fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.wrap(what, s.db.Update(fn))
}

// view runs a read transaction; Compact waits for it.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(fn)
}

// wrap names the file in an error, leaving ErrNotFound as it is.
func (s *Store) wrap(what string, err error) error {
	if err == nil || errors.Is(err, clubline.ErrNotFound) {
		return err
	}
	return fmt.Errorf("embedded store %s: %s: %w", s.path, what, err)
}

func getCall(tx *bolt.Tx, id string) (*clubline.Call, error) {
	val := tx.Bucket(bucketCalls).Get([]byte(id))
	if val == nil {
		return nil, clubline.ErrNotFound
	}
	var r record.Call
	if err := json.Unmarshal(val, &r); err != nil {
		return nil, fmt.Errorf("decode call %s: %w", id, err)
	}
	return r.Domain()
}

func getVoicemail(tx *bolt.Tx, id string) (*clubline.Voicemail, error) {
	val := tx.Bucket(bucketVoicemails).Get([]byte(id))
	if val == nil {
		return nil, clubline.ErrNotFound
	}
	var r record.Voicemail
	if err := json.Unmarshal(val, &r); err != nil {
		return nil, fmt.Errorf("decode voicemail %s: %w", id, err)
	}
	return r.Domain()
}

// indexKey sorts by time (to the millisecond), then by id.
func indexKey(t time.Time, id string) []byte {
	return append(msKey(t.UnixMilli()), id...)
}

// msKey encodes a Unix millisecond count so that byte order is time order,
// negative counts (before 1970, the zero time) included.
func msKey(ms int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(ms)^(1<<63))
}

func keyMillis(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
}
