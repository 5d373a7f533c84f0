package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

//	<prefix>lease:<name>    string: the instance holding the lease, expiring after its TTL
//
// A lease elects one instance of a line to do what must be done once: the
// schedulers (retention, reminders and escalations, the mystery call). The
// holder renews it; an instance that dies loses it after the TTL and
// another takes it at its next try.

// Lease is one named lease, tried by one instance.
type Lease struct {
	rdb      *goredis.Client
	key      string
	instance string
	ttl      time.Duration
}

// Lease returns the lease name as tried by instance, lasting ttl from each
// renewal.
func (s *Store) Lease(name, instance string, ttl time.Duration) *Lease {
	return &Lease{rdb: s.rdb, key: s.prefix + "lease:" + name, instance: instance, ttl: ttl}
}

// holdScript renews the lease when the instance holds it, or takes it when
// nobody does: 1 when the instance holds it after the call.
var holdScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// releaseScript deletes the lease only when the instance holds it.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Hold takes or renews the lease: true when this instance holds it until
// the TTL from now.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	n, err := holdScript.Run(ctx, l.rdb, []string{l.key}, l.instance, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redis store: lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// Release gives the lease up when this instance holds it, so another
// instance takes it at once rather than after the TTL.
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.instance).Err(); err != nil {
		return fmt.Errorf("redis store: release lease %s: %w", l.key, err)
	}
	return nil
}
