package embedded

import (
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Compact rewrites the file with only the records it holds now. bbolt
// frees the pages of deleted records without overwriting them, so their
// bytes stay in the file until new records reuse the pages: after a
// caller's erasure (Law 25) Compact makes them gone from the disk too.
// Transactions wait while it runs (a club's file takes milliseconds).
// On an error the store goes on with the file as it was.
func (s *Store) Compact() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp := s.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("embedded store: compact %s: %w", s.path, err)
	}
	if err := bolt.Compact(dst, s.db, 0); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("embedded store: compact %s: %w", s.path, err)
	}
	if err := errors.Join(dst.Sync(), dst.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("embedded store: compact %s: %w", s.path, err)
	}
	if err := s.db.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("embedded store: compact %s: %w", s.path, err)
	}
	renameErr := os.Rename(tmp, s.path)
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		// Neither file opens: nothing works until a restart, and it says why.
		return fmt.Errorf("embedded store: reopen %s after compacting: %w", s.path, errors.Join(renameErr, err))
	}
	s.db = db
	if renameErr != nil {
		os.Remove(tmp)
		return fmt.Errorf("embedded store: compact %s: %w", s.path, renameErr)
	}
	return nil
}
