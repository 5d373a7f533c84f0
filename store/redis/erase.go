package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
)

// DeleteCall deletes the call's hash and its entry in the calls index, in
// one transaction, or returns clubline.ErrNotFound when there is no hash
// (a dangling index entry goes all the same).
func (s *Store) DeleteCall(ctx context.Context, id string) error {
	var del *goredis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.Del(ctx, s.CallKey(id))
		p.ZRem(ctx, s.CallsKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: delete call %s: %w", id, err)
	}
	if del.Val() == 0 {
		return clubline.ErrNotFound
	}
	return nil
}

// DeleteVoicemail deletes the message's hash and its entries in the
// voicemails and follow-ups indexes, in one transaction, or returns
// clubline.ErrNotFound when there is no hash. The WAV file is the
// caller's to delete.
func (s *Store) DeleteVoicemail(ctx context.Context, id string) error {
	var del *goredis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.Del(ctx, s.VoicemailKey(id))
		p.ZRem(ctx, s.VoicemailsKey(), id)
		p.ZRem(ctx, s.FollowUpsKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: delete voicemail %s: %w", id, err)
	}
	if del.Val() == 0 {
		return clubline.ErrNotFound
	}
	return nil
}
