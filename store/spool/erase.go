package spool

import (
	"context"
	"errors"
	"fmt"

	"github.com/clubline/clubline"
)

// The erasure of one record (a caller's request under Law 25) goes through
// the spool as a purge does: it holds the writer, drops every version of
// the record still waiting, from memory and from the journal, then has the
// backend delete its own. So a record deleted while the backend is down is
// not written to it when it comes back, nor replayed from the journal by
// the next start.
//
// Unlike a save, an erasure is not deferred: when the backend fails, the
// error goes back to the caller, who must try again once the store is
// back. The spool's copies are gone all the same (an erasure never keeps
// more than it must), so the retry may answer clubline.ErrNotFound: then
// nothing is left.

// DeleteCall deletes every version of the call, in the spool and in the
// backend. It returns clubline.ErrNotFound if neither held it.
func (s *Spool) DeleteCall(ctx context.Context, id string) error {
	return s.erase(ctx, callKey(id), id, "call", s.backend.DeleteCall)
}

// DeleteVoicemail deletes every version of the message, and its
// follow-up, in the spool and in the backend. It returns
// clubline.ErrNotFound if neither held it. The WAV file is the caller's to
// delete.
func (s *Spool) DeleteVoicemail(ctx context.Context, id string) error {
	return s.erase(ctx, voicemailKey(id), id, "voicemail", s.backend.DeleteVoicemail)
}

// erase drops the records with that key (of that kind and id) from the
// spool, then deletes the backend's with del.
func (s *Spool) erase(ctx context.Context, key, id, kind string, del func(ctx context.Context, id string) error) error {
	s.purge.Lock()
	defer s.purge.Unlock()
	if err := ctx.Err(); err != nil {
		return err // given up while the writer finished: delete nothing
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed // the journal is final: an erasure now would be replayed
	}
	found, jerr := s.dropKeysLocked(map[string]bool{key: true})
	s.mu.Unlock()

	what := kind + " " + id
	err := del(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, clubline.ErrNotFound):
		if found {
			err = nil // only the spool held it
		}
	case found:
		err = fmt.Errorf("spool: delete %s: its copy waiting for the store is deleted, the store's may not be "+
			"(try again once the store is back): %w", what, err)
	default:
		err = fmt.Errorf("spool: delete %s from the store (try again once it is back): %w", what, err)
	}
	if jerr != nil {
		// The writer skips the record, and empties the journal once the
		// store has taken the rest of it; a restart before that would
		// write the record back.
		err = errors.Join(err, fmt.Errorf("spool: delete %s: the journal still holds it until the store takes "+
			"the journal; do not restart clubline before, and check the disk and the permissions of %s: %w",
			what, s.j.path, jerr))
	}
	return err
}
