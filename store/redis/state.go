package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// StateKey is the string that keeps one value of the line's own state
// ("override": the switch an admin set on the web page). Every clubline
// instance on the same Redis and prefix reads the same value.
func (s *Store) StateKey(key string) string { return s.prefix + "state:" + key }

// SetState sets the key's string (no expiry), or deletes it when value is
// empty.
func (s *Store) SetState(ctx context.Context, key, value string) error {
	if err := record.CheckStateKey(key); err != nil {
		return err
	}
	var err error
	if value == "" {
		err = s.rdb.Del(ctx, s.StateKey(key)).Err()
	} else {
		err = s.rdb.Set(ctx, s.StateKey(key), value, 0).Err()
	}
	if err != nil {
		return fmt.Errorf("redis store: set state %s: %w", key, err)
	}
	return nil
}

// State returns the value kept under key, or clubline.ErrNotFound.
func (s *Store) State(ctx context.Context, key string) (string, error) {
	v, err := s.rdb.Get(ctx, s.StateKey(key)).Result()
	if errors.Is(err, goredis.Nil) {
		return "", clubline.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("redis store: read state %s: %w", key, err)
	}
	return v, nil
}

// StateOnce sets the key's string unless it is set already, and returns
// the value in force: the first instance of a line to set it decides.
func (s *Store) StateOnce(ctx context.Context, key, value string) (string, error) {
	if err := record.CheckStateKey(key); err != nil {
		return "", err
	}
	if err := s.rdb.SetNX(ctx, s.StateKey(key), value, 0).Err(); err != nil {
		return "", fmt.Errorf("redis store: set state %s: %w", key, err)
	}
	return s.State(ctx, key)
}
