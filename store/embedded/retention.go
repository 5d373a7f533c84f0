package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// deleteBatch is how many records one transaction deletes. bbolt has one
// writer at a time: between two batches, the saves of calls under way get
// their turn.
const deleteBatch = 500

// DeleteCallsBefore deletes the records of calls started before t (to the
// millisecond), oldest first, deleteBatch per transaction, and returns how
// many it deleted.
func (s *Store) DeleteCallsBefore(ctx context.Context, t time.Time) (int, error) {
	end := msKey(t.UnixMilli())
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		err := s.update("delete calls", func(tx *bolt.Tx) error {
			calls, idx := tx.Bucket(bucketCalls), tx.Bucket(bucketCallsStart)
			var keys [][]byte
			keys, more = keysBefore(idx, end)
			n = 0
			for _, k := range keys {
				id := idx.Get(k)
				if err := idx.Delete(k); err != nil {
					return err
				}
				if calls.Get(id) == nil {
					continue // an index entry without its record: nothing to count
				}
				if err := calls.Delete(id); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// DeleteVoicemailsBefore deletes the messages recorded before t (to the
// millisecond) with their follow-ups, deleteBatch per transaction, and
// returns them as they were.
func (s *Store) DeleteVoicemailsBefore(ctx context.Context, t time.Time) ([]*clubline.Voicemail, error) {
	end := msKey(t.UnixMilli())
	var out []*clubline.Voicemail
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var batch []*clubline.Voicemail
		more := false
		err := s.update("delete voicemails", func(tx *bolt.Tx) error {
			rec := tx.Bucket(bucketRecorded)
			var keys [][]byte
			keys, more = keysBefore(rec, end)
			for _, k := range keys {
				id := string(rec.Get(k))
				if err := rec.Delete(k); err != nil {
					return err
				}
				v, err := deleteVoicemail(tx, id)
				if err != nil {
					return err
				}
				if v != nil {
					batch = append(batch, v)
				}
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, batch...)
		if !more {
			return out, nil
		}
	}
}

// keysBefore returns up to deleteBatch keys of an index bucket that sort
// before end (an msKey), copied out of the transaction's pages, and whether
// there are more.
func keysBefore(b *bolt.Bucket, end []byte) (keys [][]byte, more bool) {
	cur := b.Cursor()
	for k, _ := cur.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, _ = cur.Next() {
		if len(keys) == deleteBatch {
			return keys, true
		}
		keys = append(keys, bytes.Clone(k))
	}
	return keys, false
}

// deleteVoicemail deletes a message with its follow-up and its
// recording-time index entries, and returns it (nil if there was no such
// message). A record that does not decode is deleted all the same, with
// every index entry naming it: neither retention nor an erasure may stop
// at a damaged record.
func deleteVoicemail(tx *bolt.Tx, id string) (*clubline.Voicemail, error) {
	vms, due, rec := tx.Bucket(bucketVoicemails), tx.Bucket(bucketFollowUps), tx.Bucket(bucketRecorded)
	val := vms.Get([]byte(id))
	if val == nil {
		return nil, nil
	}
	var r record.Voicemail
	var v *clubline.Voicemail
	err := json.Unmarshal(val, &r)
	if err == nil {
		v, err = r.Domain()
	}
	if err == nil {
		// Deleting a key that is not there is a no-op: the purge has
		// deleted the recording-time entry already.
		if err := due.Delete(indexKey(v.FollowUpDue, id)); err != nil {
			return nil, err
		}
		if err := rec.Delete(indexKey(v.RecordedAt, id)); err != nil {
			return nil, err
		}
	} else {
		v = &clubline.Voicemail{ID: id, Path: r.Path, Status: clubline.VoicemailStatus(r.Status)}
		if err := deleteValues(due, id); err != nil {
			return nil, err
		}
		if err := deleteValues(rec, id); err != nil {
			return nil, err
		}
	}
	if err := vms.Delete([]byte(id)); err != nil {
		return nil, err
	}
	return v, nil
}

// deleteValues deletes the entries of an index bucket whose value is id.
func deleteValues(b *bolt.Bucket, id string) error {
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if string(v) == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// indexRecorded fills voicemails_by_recorded from the voicemails, for a
// file written before the bucket existed (schema version 1). A record that
// does not decode is indexed at the zero time: the first purge deletes it.
func indexRecorded(tx *bolt.Tx) error {
	rec := tx.Bucket(bucketRecorded)
	return tx.Bucket(bucketVoicemails).ForEach(func(id, val []byte) error {
		var r record.Voicemail
		var at time.Time
		if json.Unmarshal(val, &r) == nil {
			at, _ = record.ParseTime(r.RecordedAt)
		}
		return rec.Put(indexKey(at, string(id)), bytes.Clone(id))
	})
}
