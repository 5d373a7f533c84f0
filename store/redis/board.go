package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline/routing"
)

// The queues' state shared by the instances of one line (routing.Board).
//
//	<prefix>acd                 string: the routing.State as JSON
//	<prefix>acd:alive:<name>    string: an instance's heartbeat, expiring after BoardAlive
//	<prefix>acd:changed         pub/sub channel: a change was written
//
// Decisions
//
//   - The whole state is one JSON value, read and written in a WATCH
//     transaction: a club's queues hold tens of callers and staff at most,
//     a few kilobytes, and a transaction over one key makes every change
//     (a staff member rung by one instance, a caller's place) atomic
//     across instances without a lock that a dead instance could keep.
//   - An instance that stops beating for BoardAlive is dead: the next
//     update forgets its callers, the calls it carried and whom it rang
//     (routing.State.Forget). Its calls are gone with it; its staff are
//     free again.
//   - Changes are announced on a channel; each instance wakes its waiting
//     callers when a message comes (and polls anyway, as the ACD's callers
//     do every second).
//   - Redis away: the instance goes on with its own copy of its own
//     entries (callers ring staff as if the instance were alone: a staff
//     member could be rung by both instances while it lasts) and tries
//     Redis again every BoardRetry; when it is back, the instance puts
//     its entries back on the shared state (routing.State.Adopt).

// BoardAlive is how long an instance's heartbeat lasts; it is renewed
// every third of it.
const BoardAlive = 6 * time.Second

// BoardRetry is how often an instance whose Redis is away tries it again.
const BoardRetry = 2 * time.Second

// boardTimeout bounds one exchange with Redis.
const boardTimeout = time.Second

// Board is a routing.Board on Redis, shared by every instance on the same
// server and key prefix.
type Board struct {
	rdb      *goredis.Client
	key      string
	channel  string
	alive    string // the prefix of the heartbeat keys
	instance string
	log      *slog.Logger

	beaten atomic.Int64 // when the heartbeat was last written (unix ns)

	mu      sync.Mutex    // one update of this instance at a time; the WATCH orders the instances
	last    routing.State // the state as last read, or this instance's own while Redis is away
	away    bool
	retryAt time.Time

	chMu    sync.Mutex
	changed chan struct{}
}

var _ routing.Board = (*Board)(nil)

// Board returns the shared board of the queues as instance (a name unique
// among the line's instances). Run keeps its heartbeat and listens for
// the others' changes.
func (s *Store) Board(instance string, log *slog.Logger) *Board {
	if log == nil {
		log = slog.Default()
	}
	return &Board{
		rdb: s.rdb, key: s.prefix + "acd", channel: s.prefix + "acd:changed", alive: s.prefix + "acd:alive:",
		instance: instance, log: log, changed: make(chan struct{}),
	}
}

// Run beats the instance's heartbeat and wakes its waiting callers on
// the other instances' changes, until ctx ends; then it stops beating, so
// the others forget this instance's entries at once rather than after
// BoardAlive.
func (b *Board) Run(ctx context.Context) {
	sub := b.rdb.Subscribe(ctx, b.channel)
	defer sub.Close()
	msgs := sub.Channel()
	beat := time.NewTicker(BoardAlive / 3)
	defer beat.Stop()
	_ = b.beat(ctx)
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), boardTimeout)
			b.rdb.Del(dctx, b.alive+b.instance)
			cancel()
			return
		case <-beat.C:
			_ = b.beat(ctx)
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if m.Payload != b.instance {
				b.notify()
			}
		}
	}
}

func (b *Board) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, boardTimeout)
	defer cancel()
	now := time.Now()
	err := b.rdb.Set(ctx, b.alive+b.instance, now.UTC().Format(time.RFC3339), BoardAlive).Err()
	if err != nil {
		if ctx.Err() == nil {
			b.log.Debug("queue board: heartbeat not written", "err", err)
		}
		return err
	}
	b.beaten.Store(now.UnixNano())
	return nil
}

// Shared reports whether the board is Redis's now (false while Redis is
// away and the instance runs on its own copy).
func (b *Board) Shared() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.away
}

// Changed implements routing.Board.
func (b *Board) Changed() <-chan struct{} {
	b.chMu.Lock()
	defer b.chMu.Unlock()
	return b.changed
}

func (b *Board) notify() {
	b.chMu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.chMu.Unlock()
}

// View implements routing.Board: the state as Redis has it (or this
// instance's own while Redis is away: the way back is Update's, which
// puts this instance's entries back on the shared state first).
func (b *Board) View(f func(*routing.State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.away {
		ctx, cancel := context.WithTimeout(context.Background(), boardTimeout)
		st, err := b.read(ctx, b.rdb)
		cancel()
		if err == nil {
			b.last = st
		} else {
			b.goAway(err)
		}
	}
	f(&b.last)
}

// Update implements routing.Board.
func (b *Board) Update(f func(*routing.State) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tryRedis() {
		changed, err := b.update(f)
		if err == nil {
			if changed {
				b.notify()
			}
			return
		}
		b.goAway(err)
	}
	if f(&b.last) {
		b.notify()
	}
}

// tryRedis reports whether to use Redis now: always, except while it is
// away and not yet due for another try.
func (b *Board) tryRedis() bool { return !b.away || !time.Now().Before(b.retryAt) }

// update runs f in a transaction, trying again when another instance
// wrote in between; b.mu is held.
func (b *Board) update(f func(*routing.State) bool) (changed bool, err error) {
	// The heartbeat first: an entry of this instance never sits on the
	// board without it, or another instance would forget the entry at
	// once (Run's first beat may come after the first call).
	if time.Since(time.Unix(0, b.beaten.Load())) > BoardAlive/3 {
		if err := b.beat(context.Background()); err != nil {
			return false, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), boardTimeout)
	defer cancel()
	for range 100 {
		err = b.rdb.Watch(ctx, func(tx *goredis.Tx) error {
			st, err := b.read(ctx, tx)
			if err != nil {
				return err
			}
			forgot, err := b.forgetDead(ctx, tx, &st)
			if err != nil {
				return err
			}
			back := b.away
			if back {
				st.Adopt(&b.last, b.instance)
			}
			changed = f(&st)
			if changed || forgot || back {
				data, err := json.Marshal(&st)
				if err != nil {
					return err
				}
				if _, err := tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
					p.Set(ctx, b.key, data, 0)
					p.Publish(ctx, b.channel, b.instance)
					return nil
				}); err != nil {
					return err
				}
			}
			if back {
				b.away = false
				b.log.Info("queue board: Redis is back, the instances share their queues again")
			}
			b.last = st
			return nil
		}, b.key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return changed, err
		}
	}
	return false, err
}

// read loads the state; an absent key is an empty state.
func (b *Board) read(ctx context.Context, c goredis.Cmdable) (routing.State, error) {
	var st routing.State
	data, err := c.Get(ctx, b.key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		// A state no instance can read would stop every queue: start
		// afresh (the callers waiting keep ringing from their next try).
		b.log.Error("queue board: unreadable shared state, starting afresh", "err", err)
		return routing.State{}, nil
	}
	return st, nil
}

// forgetDead drops the entries of the instances whose heartbeat expired.
func (b *Board) forgetDead(ctx context.Context, c goredis.Cmdable, st *routing.State) (bool, error) {
	var others []string
	for _, o := range st.Owners() {
		if o != b.instance {
			others = append(others, o)
		}
	}
	if len(others) == 0 {
		return false, nil
	}
	alive := make(map[string]bool, len(others)+1)
	alive[b.instance] = true
	for _, o := range others {
		n, err := c.Exists(ctx, b.alive+o).Result()
		if err != nil {
			return false, err
		}
		alive[o] = n > 0
	}
	forgot := st.Forget(func(o string) bool { return alive[o] })
	if forgot {
		for _, o := range others {
			if !alive[o] {
				b.log.Warn("queue board: an instance stopped beating; its callers and calls are forgotten", "instance", o)
			}
		}
	}
	return forgot, nil
}

// goAway switches to the instance's own copy of its entries; b.mu is held.
func (b *Board) goAway(err error) {
	if !b.away {
		b.log.Warn("queue board: Redis unreachable, this instance runs its queues alone until it is back", "err", err)
		b.last.Forget(func(o string) bool { return o == b.instance })
	}
	b.away = true
	b.retryAt = time.Now().Add(BoardRetry)
}
