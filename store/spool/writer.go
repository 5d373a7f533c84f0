package spool

import (
	"context"
	"fmt"
	"time"
)

// run is the writer: the one goroutine that writes to the backend.
func (s *Spool) run() {
	defer close(s.done)
	retry := time.NewTimer(s.opts.RetryEvery)
	retry.Stop()
	defer retry.Stop()
	armed := false
	for {
		if failed := s.drain(); failed && !armed {
			retry.Reset(s.opts.RetryEvery)
			armed = true
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-retry.C:
			armed = false
			s.mu.Lock()
			s.down = false // try again
			s.mu.Unlock()
		}
	}
}

// drain writes to the backend until there is nothing left or the backend
// fails; it reports a failure (the writer then waits for the retry). The
// journal goes first: it holds the oldest records.
func (s *Spool) drain() (failed bool) {
	for s.ctx.Err() == nil {
		s.mu.Lock()
		switch {
		case s.down:
			// Outage: keep the journal up to date with the queue, so a
			// crash loses nothing, and wait for the retry.
			s.spoolQueueLocked()
			s.mu.Unlock()
			return true

		case s.replayed < len(s.spooled) && s.spooled[s.replayed].dropped:
			s.replayedLocked() // a purge deleted it: nothing to write
			s.notifyLocked()
			s.mu.Unlock()

		case s.replayed < len(s.spooled):
			e := s.spooled[s.replayed]
			s.mu.Unlock()
			err := s.write(e)
			s.mu.Lock()
			if err != nil {
				s.failedLocked(err)
			} else {
				s.replayedLocked()
				s.doneLocked(e)
			}
			s.notifyLocked()
			s.mu.Unlock()

		case len(s.spooled) > 0:
			// All replayed: empty the journal before anything newer is
			// written, or a restart would replay old records over new ones.
			n := len(s.spooled)
			if err := s.j.reset(); err != nil {
				s.log.Error("cannot empty the spool journal", "err", err)
				s.failedLocked(err)
			} else {
				s.spooled, s.replayed, s.dropped = nil, 0, 0
				s.recoveredLocked(n)
			}
			s.notifyLocked()
			s.mu.Unlock()

		case len(s.queue) > 0:
			e := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.inflight, s.inflightSpooled = e, false
			s.mu.Unlock()
			err := s.write(e)
			s.mu.Lock()
			spooled := s.inflightSpooled
			s.inflight, s.inflightSpooled = nil, false
			if err != nil {
				if !spooled && !e.dropped {
					// Back in front: it is older than the rest of the queue.
					s.queue = append([]*entry{e}, s.queue...)
				}
				s.failedLocked(err)
			} else {
				s.doneLocked(e)
				if !s.downSince.IsZero() {
					s.recoveredLocked(0) // the outage ended with nothing on disk
				}
			}
			s.notifyLocked()
			s.mu.Unlock()

		default:
			s.notifyLocked()
			s.mu.Unlock()
			return false
		}
	}
	return false
}

// replayedLocked moves past the first record of the journal not yet
// written to the backend.
func (s *Spool) replayedLocked() {
	if s.spooled[s.replayed].dropped {
		s.dropped--
	}
	s.spooled[s.replayed] = nil
	s.replayed++
}

// write saves one record in the backend, unless a purge dropped it while
// the writer waited for the purge to end. A panic in the backend becomes an
// error: the writer must outlive a bad backend call.
func (s *Spool) write(e *entry) (err error) {
	s.purge.RLock()
	defer s.purge.RUnlock()
	s.mu.Lock()
	dropped := e.dropped
	s.mu.Unlock()
	if dropped {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("spool: backend panicked: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	if e.call != nil {
		return s.backend.SaveCall(ctx, e.call)
	}
	return s.backend.SaveVoicemail(ctx, e.voicemail)
}

// doneLocked forgets the pending record if the backend now has its latest version.
func (s *Spool) doneLocked(e *entry) {
	if p := s.pending[e.key()]; p != nil && p.seq == e.seq {
		delete(s.pending, e.key())
	}
}

// failedLocked starts (or continues) an outage.
func (s *Spool) failedLocked(err error) {
	if s.ctx.Err() != nil {
		return // Close cancelled the write; not an outage
	}
	s.down = true
	if s.downSince.IsZero() {
		s.downSince = time.Now()
		s.log.Warn("store backend unavailable: spooling records to disk",
			"err", err, "journal", s.j.path, "retry_every", s.opts.RetryEvery)
	} else {
		s.log.Debug("store backend still unavailable", "err", err)
	}
}

// recoveredLocked logs the end of an outage, or of the replay at start.
func (s *Spool) recoveredLocked(replayed int) {
	if s.downSince.IsZero() {
		s.log.Info("spooled records written to the store", "records", replayed)
		return
	}
	s.log.Info("store backend is back: spooled records written",
		"records", replayed, "outage", time.Since(s.downSince).Round(time.Second))
	s.downSince = time.Time{}
}
