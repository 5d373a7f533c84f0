package spool

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// DeleteCallsBefore drops the pending records of calls started before t,
// then has the backend delete its own, and returns how many calls are gone.
// The writer waits meanwhile, so that nothing it writes slips past the
// purge. A call both pending and in the backend is counted once; one whose
// pending version started at t or later stays, and is not counted even if
// the backend deletes an earlier version of it.
func (s *Spool) DeleteCallsBefore(ctx context.Context, t time.Time) (int, error) {
	s.purge.Lock()
	defer s.purge.Unlock()
	cut := t.UnixMilli()
	dropped, kept, jerr := s.drop(
		func(e *entry) bool { return e.call != nil },
		func(e *entry) bool { return e.call.StartedAt.UnixMilli() < cut })
	s.logRewrite(jerr)
	extra := 0
	for _, e := range dropped {
		if _, err := s.backend.Call(ctx, e.call.ID); err != nil {
			extra++ // not in the backend (or no telling): the spool's copy was the one
		}
	}
	for _, e := range kept {
		if c, err := s.backend.Call(ctx, e.call.ID); err == nil && c.StartedAt.UnixMilli() < cut {
			extra-- // the backend deletes its old version; the spool's stays
		}
	}
	n, err := s.backend.DeleteCallsBefore(ctx, t)
	return n + extra, err
}

// DeleteVoicemailsBefore drops the pending messages recorded before t, then
// has the backend delete its own, and returns them all, oldest first. The
// writer waits meanwhile. A message both pending and in the backend is
// returned once, as it was last saved; one whose pending version was
// recorded at t or later stays and is not returned, even if the backend
// deletes an earlier version of it (its file stays). The dropped ones are
// returned even when the backend fails, so that their files can go.
func (s *Spool) DeleteVoicemailsBefore(ctx context.Context, t time.Time) ([]*clubline.Voicemail, error) {
	s.purge.Lock()
	defer s.purge.Unlock()
	cut := t.UnixMilli()
	dropped, kept, jerr := s.drop(
		func(e *entry) bool { return e.voicemail != nil },
		func(e *entry) bool { return e.voicemail.RecordedAt.UnixMilli() < cut })
	s.logRewrite(jerr)
	deleted, err := s.backend.DeleteVoicemailsBefore(ctx, t)
	out := make([]*clubline.Voicemail, 0, len(dropped)+len(deleted))
	skip := make(map[string]bool, len(dropped)+len(kept))
	for _, e := range dropped {
		out = append(out, record.CloneVoicemail(e.voicemail))
		skip[e.voicemail.ID] = true
	}
	for _, e := range kept {
		skip[e.voicemail.ID] = true
	}
	for _, v := range deleted {
		if !skip[v.ID] {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *clubline.Voicemail) int {
		return cmp.Or(cmp.Compare(a.RecordedAt.UnixMilli(), b.RecordedAt.UnixMilli()), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// logRewrite logs the failure to rewrite the journal after a purge. The
// records are dropped all the same; the file keeps them until it is
// emptied, and a restart before that would replay them, for the next purge
// to delete again.
func (s *Spool) logRewrite(err error) {
	if err != nil && !errors.Is(err, ErrClosed) {
		s.log.Error("cannot rewrite the spool journal without the records past retention", "err", err)
	}
}

// drop forgets the pending records of a kind whose latest version is old,
// with every earlier version of them, wherever they wait (dropKeysLocked).
// It returns the latest versions it dropped, and those of the kind it
// kept. After Close it drops nothing and returns ErrClosed: the journal is
// final, the next run's purge will do.
func (s *Spool) drop(kind, old func(*entry) bool) (dropped, kept []*entry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	keys := make(map[string]bool)
	for k, e := range s.pending {
		switch {
		case !kind(e):
		case old(e):
			keys[k] = true
			dropped = append(dropped, e)
		default:
			kept = append(kept, e)
		}
	}
	if len(keys) == 0 {
		return nil, kept, nil
	}
	_, err = s.dropKeysLocked(keys)
	return dropped, kept, err
}

// dropKeysLocked forgets every version of the records with those keys,
// wherever they wait: in the queue, in the journal (rewritten without
// them) or in the writer's hands (not written). It reports whether it
// found any. If the journal cannot be rewritten, the records are dropped
// all the same (the writer skips them) and the error says the file still
// holds them, for a restart to replay before the journal is emptied.
func (s *Spool) dropKeysLocked(keys map[string]bool) (found bool, err error) {
	for k := range keys {
		if s.pending[k] != nil {
			found = true
			delete(s.pending, k)
		}
	}
	for _, e := range s.queue {
		if keys[e.key()] {
			e.dropped, found = true, true
		}
	}
	s.queue = slices.DeleteFunc(s.queue, func(e *entry) bool { return e.dropped })
	if s.inflight != nil && keys[s.inflight.key()] {
		s.inflight.dropped, found = true, true
	}
	rewrite := false
	for _, e := range s.spooled[s.replayed:] {
		if keys[e.key()] && !e.dropped {
			e.dropped = true
			s.dropped++
			rewrite, found = true, true
		}
	}
	if rewrite {
		keep := make([]*entry, 0, len(s.spooled)-s.replayed-s.dropped)
		for _, e := range s.spooled[s.replayed:] {
			if !e.dropped {
				keep = append(keep, e)
			}
		}
		err = s.j.rewrite(keep, time.Now())
	}
	s.notifyLocked()
	return found, err
}
