package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// Registrations (see docs/data.md):
//
//	<prefix>reg:<staff>      hash: contact URI → the registration as JSON
//	<prefix>reg:<staff>:exp  sorted set: contact URIs scored by expiry (unix ms)
//	<prefix>regs             set: staff ids that may have registrations
//
// Both keys of a staff member expire (PEXPIRE) keyMargin after the last of
// their contacts, so a phone that stops refreshing leaves nothing behind. Expired
// contacts of a staff member who still has live ones are deleted when they
// are read. Every change is one Lua script: the hash, the sorted set and the
// set never disagree.

// RegistrationsKey is the hash of one staff member's contacts.
func (s *Store) RegistrationsKey(staffID string) string { return s.prefix + "reg:" + staffID }

// RegistrationExpiryKey is the sorted set of one staff member's contacts by expiry.
func (s *Store) RegistrationExpiryKey(staffID string) string {
	return s.prefix + "reg:" + staffID + ":exp"
}

// RegisteredStaffKey is the set of staff ids that may have registrations.
func (s *Store) RegisteredStaffKey() string { return s.prefix + "regs" }

// keyMargin is how long a staff member's keys outlive their latest contact.
// The keys' TTL is a backstop for staff whose phones vanished: it is set
// relative to the Redis server's clock, from clubline's own time, so it
// must tolerate some skew between the two. Expiry as callers see it is
// checked against the now passed to Registrations, never the TTL.
const keyMargin = time.Hour

// luaDropIfEmpty deletes the keys of a staff member with no contact left.
const luaDropIfEmpty = `
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
end
`

// KEYS: hash, zset, staff set. ARGV: staff, contact, JSON, expiry ms,
// registered-at ms (or -inf: clean nothing up), now ms, margin ms.
// The keys' TTL becomes (latest expiry - now) + margin, at least margin.
var saveRegistration = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
for _, c in ipairs(dead) do
  redis.call('HDEL', KEYS[1], c)
  redis.call('ZREM', KEYS[2], c)
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #last > 0 then
  local ttl = math.max(tonumber(last[2]) - tonumber(ARGV[6]), 0) + tonumber(ARGV[7])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
  redis.call('PEXPIRE', KEYS[2], string.format('%d', ttl))
end
` + luaDropIfEmpty)

// KEYS: hash, zset, staff set. ARGV: staff, contact. Returns 0 if absent.
var deleteRegistration = goredis.NewScript(`
local n = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
` + luaDropIfEmpty + `
return n
`)

// KEYS: hash, zset, staff set. ARGV: staff, now ms. Deletes what expired
// at now, returns the values of what is left.
var readRegistrations = goredis.NewScript(`
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for _, c in ipairs(dead) do
  redis.call('HDEL', KEYS[1], c)
  redis.call('ZREM', KEYS[2], c)
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
  return {}
end
return redis.call('HVALS', KEYS[1])
`)

func (s *Store) regKeys(staffID string) []string {
	return []string{s.RegistrationsKey(staffID), s.RegistrationExpiryKey(staffID), s.RegisteredStaffKey()}
}

// SaveRegistration writes the contact's registration, replacing the one
// kept for the same contact, deletes the staff member's contacts expired
// at r.RegisteredAt, and sets the keys' TTL to outlive the latest contact.
func (s *Store) SaveRegistration(ctx context.Context, r *clubline.Registration) error {
	if err := record.CheckRegistration(r); err != nil {
		return err
	}
	val, err := json.Marshal(record.FromRegistration(r))
	if err != nil {
		return fmt.Errorf("redis store: encode registration of %s: %w", r.StaffID, err)
	}
	// Without a registration time, clean nothing up (no score is below
	// -inf), and count the TTL from this process's clock.
	cleanBefore, now := "-inf", time.Now()
	if !r.RegisteredAt.IsZero() {
		cleanBefore, now = strconv.FormatInt(record.Millis(r.RegisteredAt), 10), r.RegisteredAt
	}
	err = saveRegistration.Run(ctx, s.rdb, s.regKeys(r.StaffID),
		r.StaffID, r.Contact, val, record.Millis(r.Expires), cleanBefore,
		record.Millis(now), keyMargin.Milliseconds()).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis store: save registration of %s: %w", r.StaffID, err)
	}
	return nil
}

// DeleteRegistration deletes one contact, or returns clubline.ErrNotFound.
func (s *Store) DeleteRegistration(ctx context.Context, staffID, contact string) error {
	if err := record.CheckRegistrationKey(staffID, contact); err != nil {
		return err
	}
	n, err := deleteRegistration.Run(ctx, s.rdb, s.regKeys(staffID), staffID, contact).Int()
	if err != nil {
		return fmt.Errorf("redis store: delete registration of %s: %w", staffID, err)
	}
	if n == 0 {
		return clubline.ErrNotFound
	}
	return nil
}

// Registrations returns the contacts live at now of one staff member (or
// of all, from the set of registered staff), by staff id then contact,
// and deletes the expired ones it finds.
func (s *Store) Registrations(ctx context.Context, staffID string, now time.Time) ([]*clubline.Registration, error) {
	staff := []string{staffID}
	if staffID == "" {
		var err error
		staff, err = s.rdb.SMembers(ctx, s.RegisteredStaffKey()).Result()
		if err != nil {
			return nil, fmt.Errorf("redis store: list registered staff: %w", err)
		}
	}
	var out []*clubline.Registration
	for _, id := range staff {
		vals, err := readRegistrations.Run(ctx, s.rdb, s.regKeys(id), id, record.Millis(now)).StringSlice()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("redis store: read registrations of %s: %w", id, err)
		}
		for _, v := range vals {
			var rec record.Registration
			if err := json.Unmarshal([]byte(v), &rec); err != nil {
				return nil, fmt.Errorf("redis store: %s: decode a registration: %w", s.RegistrationsKey(id), err)
			}
			r, err := rec.Domain()
			if err != nil {
				return nil, fmt.Errorf("redis store: %s: %w", s.RegistrationsKey(id), err)
			}
			if r.Live(now) { // in case the hash holds a contact the sorted set lost
				out = append(out, r)
			}
		}
	}
	record.SortRegistrations(out)
	return out, nil
}
