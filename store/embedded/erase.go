package embedded

import (
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// DeleteCall deletes one call record and its start-time index entry, in
// one transaction, or returns clubline.ErrNotFound. A record that does not
// decode is deleted all the same, with every index entry naming it: an
// erasure must not stop at a damaged record.
func (s *Store) DeleteCall(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update("delete call "+id, func(tx *bolt.Tx) error {
		calls, idx := tx.Bucket(bucketCalls), tx.Bucket(bucketCallsStart)
		val := calls.Get([]byte(id))
		if val == nil {
			return clubline.ErrNotFound
		}
		var r record.Call
		err := json.Unmarshal(val, &r)
		var c *clubline.Call
		if err == nil {
			c, err = r.Domain()
		}
		if err == nil {
			err = idx.Delete(indexKey(c.StartedAt, id))
		} else {
			err = deleteValues(idx, id)
		}
		if err != nil {
			return err
		}
		return calls.Delete([]byte(id))
	})
}

// DeleteVoicemail deletes one message with its index entries and its
// follow-up, in one transaction, or returns clubline.ErrNotFound. The WAV
// file is the caller's to delete.
func (s *Store) DeleteVoicemail(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update("delete voicemail "+id, func(tx *bolt.Tx) error {
		v, err := deleteVoicemail(tx, id)
		if err != nil {
			return err
		}
		if v == nil {
			return clubline.ErrNotFound
		}
		return nil
	})
}
