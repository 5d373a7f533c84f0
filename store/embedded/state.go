package embedded

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// bucketState holds the line's own state: key → value, as strings. It
// indexes nothing; Open creates it when it is missing, without a new
// schema version, and an older clubline ignores it.
var bucketState = []byte("state")

// SetState keeps value under key, synced to disk when it returns; an
// empty value deletes the key.
func (s *Store) SetState(ctx context.Context, key, value string) error {
	if err := record.CheckStateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update("set state "+key, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if value == "" {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), []byte(value))
	})
}

// State returns the value kept under key, or clubline.ErrNotFound.
func (s *Store) State(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var value string
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get([]byte(key))
		if v == nil {
			return clubline.ErrNotFound
		}
		value = string(v) // a copy: v lives only as long as the transaction
		return nil
	})
	if err != nil {
		return "", s.wrap("read state "+key, err)
	}
	return value, nil
}
