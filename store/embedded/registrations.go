package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// bucketRegistrations holds one entry per registered contact, keyed by
// staff id, a NUL, then the contact URI, so that a staff member's contacts
// are one range of keys. The value is the registration as JSON.
var bucketRegistrations = []byte("registrations")

func regKey(staffID, contact string) []byte {
	k := make([]byte, 0, len(staffID)+1+len(contact))
	k = append(k, staffID...)
	k = append(k, 0)
	return append(k, contact...)
}

// SaveRegistration writes the contact's registration, replacing the one
// kept for the same staff id and contact, and deletes the staff member's
// contacts expired at r.RegisteredAt.
func (s *Store) SaveRegistration(ctx context.Context, r *clubline.Registration) error {
	if err := record.CheckRegistration(r); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	val, err := json.Marshal(record.FromRegistration(r))
	if err != nil {
		return fmt.Errorf("embedded store: encode registration of %s: %w", r.StaffID, err)
	}
	return s.update("save registration of "+r.StaffID, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		if err := b.Put(regKey(r.StaffID, r.Contact), val); err != nil {
			return err
		}
		if r.RegisteredAt.IsZero() {
			return nil
		}
		// As Redis does: one that expired as it was made goes too.
		return deleteExpired(b, r.StaffID, r.RegisteredAt)
	})
}

// DeleteRegistration deletes one contact, or returns clubline.ErrNotFound.
func (s *Store) DeleteRegistration(ctx context.Context, staffID, contact string) error {
	if err := record.CheckRegistrationKey(staffID, contact); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update("delete registration of "+staffID, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		k := regKey(staffID, contact)
		if b.Get(k) == nil {
			return clubline.ErrNotFound
		}
		return b.Delete(k)
	})
}

// Registrations returns the contacts live at now of one staff member (or
// of all when staffID is ""), by staff id then contact. If it came across
// expired ones, it deletes them in a write transaction of its own.
func (s *Store) Registrations(ctx context.Context, staffID string, now time.Time) ([]*clubline.Registration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*clubline.Registration
	expired := false
	err := s.view(func(tx *bolt.Tx) error {
		return eachRegistration(tx.Bucket(bucketRegistrations), staffID, func(_ []byte, r *clubline.Registration) error {
			if r.Live(now) {
				out = append(out, r)
			} else {
				expired = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap("list registrations", err)
	}
	if expired {
		// Deleted again under the write lock: a refresh may have come in since.
		if err := s.update("delete expired registrations", func(tx *bolt.Tx) error {
			return deleteExpired(tx.Bucket(bucketRegistrations), staffID, now)
		}); err != nil {
			return nil, err
		}
	}
	// Keys sort by staff id then contact: the order is the bucket's.
	return out, nil
}

// eachRegistration calls fn for each registration of staffID ("" : all).
func eachRegistration(b *bolt.Bucket, staffID string, fn func(k []byte, r *clubline.Registration) error) error {
	var prefix []byte
	if staffID != "" {
		prefix = regKey(staffID, "")
	}
	cur := b.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		var rec record.Registration
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode registration %q: %w", k, err)
		}
		r, err := rec.Domain()
		if err != nil {
			return err
		}
		if err := fn(k, r); err != nil {
			return err
		}
	}
	return nil
}

// deleteExpired deletes the registrations of staffID ("": all) expired at now.
func deleteExpired(b *bolt.Bucket, staffID string, now time.Time) error {
	var dead [][]byte
	err := eachRegistration(b, staffID, func(k []byte, r *clubline.Registration) error {
		if !r.Live(now) {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
