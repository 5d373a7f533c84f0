package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// deleteBatch is how many records one MULTI deletes. Redis runs one command
// at a time: a transaction of a few hundred keys takes about a
// millisecond, so the saves of calls under way are never held up long.
const deleteBatch = 500

// olderThan selects, oldest first, one batch of the members of an index
// scored before t.
func olderThan(t time.Time) *goredis.ZRangeBy {
	return &goredis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(record.Millis(t), 10), Count: deleteBatch}
}

// DeleteCallsBefore deletes the calls the calls index scores before t, one
// batch at a time: each batch deletes the hashes and their index entries
// in one MULTI/EXEC. It returns how many hashes it deleted.
func (s *Store) DeleteCallsBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		ids, err := s.rdb.ZRangeByScore(ctx, s.CallsKey(), olderThan(t)).Result()
		if err != nil {
			return total, fmt.Errorf("redis store: delete calls: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		keys, members := make([]string, len(ids)), make([]any, len(ids))
		for i, id := range ids {
			keys[i], members[i] = s.CallKey(id), id
		}
		var del *goredis.IntCmd
		_, err = s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			del = p.Del(ctx, keys...)
			p.ZRem(ctx, s.CallsKey(), members...)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("redis store: delete calls: %w", err)
		}
		total += int(del.Val())
		if len(ids) < deleteBatch {
			return total, nil
		}
	}
}

// DeleteVoicemailsBefore deletes the messages the voicemails index scores
// before t, one batch at a time: each batch reads the hashes, deletes them
// and takes them out of the voicemails and follow-ups indexes in one
// MULTI/EXEC. It returns the messages as they were.
func (s *Store) DeleteVoicemailsBefore(ctx context.Context, t time.Time) ([]*clubline.Voicemail, error) {
	if err := s.completeIndex(ctx); err != nil {
		return nil, err
	}
	var out []*clubline.Voicemail
	for {
		ids, err := s.rdb.ZRangeByScore(ctx, s.VoicemailsKey(), olderThan(t)).Result()
		if err != nil {
			return out, fmt.Errorf("redis store: delete voicemails: %w", err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		keys, members := make([]string, len(ids)), make([]any, len(ids))
		for i, id := range ids {
			keys[i], members[i] = s.VoicemailKey(id), id
		}
		gets := make([]*goredis.MapStringStringCmd, len(ids))
		_, err = s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			for i, key := range keys {
				gets[i] = p.HGetAll(ctx, key)
			}
			p.Del(ctx, keys...)
			p.ZRem(ctx, s.VoicemailsKey(), members...)
			p.ZRem(ctx, s.FollowUpsKey(), members...)
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("redis store: delete voicemails: %w", err)
		}
		for i, get := range gets {
			h := get.Val()
			if len(h) == 0 {
				continue // an index entry without its hash
			}
			v, err := parseVoicemail(h)
			if err != nil {
				// Deleted all the same: retention must not stop at a
				// damaged record. Its path still lets its file go.
				s.log.Warn("deleted a voicemail record that does not parse", "key", keys[i], "err", err)
				v = &clubline.Voicemail{ID: ids[i], Path: h["path"], Status: clubline.VoicemailStatus(h["status"])}
			}
			out = append(out, v)
		}
		if len(ids) < deleteBatch {
			return out, nil
		}
	}
}

// completeIndex adds to the voicemails index the messages it lacks: those
// saved by a clubline older than the index. It runs once per Store, on the
// first purge: it SCANs the voicemail hashes a batch at a time and adds
// each with ZADD NX (an entry SaveVoicemail writes meanwhile is kept). A
// message without a readable recorded_at is scored at the zero time, so
// that the purge deletes it.
func (s *Store) completeIndex(ctx context.Context) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if s.indexed {
		return nil
	}
	iter := s.rdb.Scan(ctx, 0, escapeGlob(s.prefix)+"voicemail:*", deleteBatch).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == deleteBatch {
			if err := s.indexVoicemails(ctx, keys); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("redis store: scan the voicemails: %w", err)
	}
	if err := s.indexVoicemails(ctx, keys); err != nil {
		return err
	}
	s.indexed = true
	return nil
}

func (s *Store) indexVoicemails(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	gets := make([]*goredis.SliceCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, key := range keys {
			gets[i] = p.HMGet(ctx, key, "recorded_at")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: index the voicemails: %w", err)
	}
	zs := make([]goredis.Z, len(keys))
	for i, get := range gets {
		var at time.Time
		if vals := get.Val(); len(vals) == 1 {
			if text, ok := vals[0].(string); ok {
				at, _ = record.ParseTime(text)
			}
		}
		zs[i] = goredis.Z{Score: float64(record.Millis(at)), Member: strings.TrimPrefix(keys[i], s.prefix+"voicemail:")}
	}
	if err := s.rdb.ZAddNX(ctx, s.VoicemailsKey(), zs...).Err(); err != nil {
		return fmt.Errorf("redis store: index the voicemails: %w", err)
	}
	return nil
}

// escapeGlob quotes the characters SCAN's MATCH pattern gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
