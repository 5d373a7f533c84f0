// Package spool puts a clubline.Store behind a queue and a disk journal, so
// that saving a record never waits on the backend and nothing is lost while
// the backend is down.
//
// SaveCall and SaveVoicemail put a copy of the record on a bounded queue in
// memory and return. One writer goroutine drains the queue into the
// backend. When the queue is full, or the backend fails, records go to an
// append-only journal in Options.Dir (one JSON record per line, synced to
// disk); the writer retries every Options.RetryEvery, replays the journal in
// order once the backend takes writes again, and empties it. A journal left
// by an earlier run (a crash, or a shutdown while the backend was down) is
// replayed on start.
//
// The order of writes is kept: everything in the journal is older than
// everything in the queue, and the writer empties the journal before it
// touches the queue. Records are whole (a later save of the same call
// replaces the earlier one), so a record written twice does no harm.
//
// Reads go to the backend, except that a record still waiting in the spool
// is returned as it was last saved (read-your-writes), in Call and Voicemail
// and merged into Calls, Voicemails and FollowUps. Deletes (the retention
// purge, the erasure of one record) hold the writer, drop the matching
// records still waiting, from memory and from the journal, then go to the
// backend. The line's state, like registrations, is never spooled.
package spool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// ErrClosed is returned by a save after Close.
var ErrClosed = errors.New("spool: closed")

// Defaults for the zero values of Options.
const (
	DefaultRetryEvery   = 5 * time.Second
	DefaultQueueSize    = 256
	DefaultCloseTimeout = 5 * time.Second
)

// writeTimeout bounds one backend write, so a hung connection ends up as a
// failure the writer can spool and retry.
const writeTimeout = 30 * time.Second

// Options configure a Spool.
type Options struct {
	// Dir holds the journal (JournalFile). Created with mode 0700 if needed.
	// One spool per directory.
	Dir string
	// Logger receives the outage and recovery messages (default slog.Default()).
	Logger *slog.Logger
	// Spooled, if set, is called with the number of records in the journal
	// waiting for the backend each time it changes (for the
	// clubline_store_spooled_records gauge). It is called with the spool's
	// lock held: it must be quick and must not call the Spool.
	Spooled func(n int)
	// RetryEvery is how long the writer waits after a backend failure before
	// it tries again (default 5 s).
	RetryEvery time.Duration
	// QueueSize bounds the in-memory queue; when it is full, the queue goes
	// to the journal (default 256).
	QueueSize int
	// CloseTimeout is how long Close waits for the backend before it writes
	// what is left to the journal (default 5 s).
	CloseTimeout time.Duration
}

// Spool is a clubline.Store in front of another one. Safe for concurrent use.
type Spool struct {
	backend clubline.Store
	log     *slog.Logger
	opts    Options

	ctx    context.Context // cancelled by Close: stops the writer
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: there is something for the writer
	done   chan struct{} // closed when the writer returns

	// purge is held by a delete for its whole run, and by the writer, for
	// reading, around each backend write: a delete sees the spool and the
	// backend hold still (saves still return at once, into the queue).
	purge sync.RWMutex

	mu sync.Mutex
	j  *journal
	// pending is the latest version of every record the backend may not
	// hold yet, by key.
	pending map[string]*entry
	// spooled mirrors the journal file, oldest first; replayed of them
	// have been written to the backend.
	spooled  []*entry
	replayed int
	// dropped counts the records of spooled[replayed:] a purge deleted:
	// still in the slice, no longer in the file.
	dropped int
	// queue holds records newer than everything in spooled, oldest first.
	queue []*entry
	// inflight is the record the writer took from the queue and is writing;
	// inflightSpooled says it was written to the journal since (by a
	// flush or an overflow), in order, so the writer must not spool it again.
	inflight        *entry
	inflightSpooled bool
	down            bool      // the last backend write failed; wait for the retry
	downSince       time.Time // start of the outage, for the recovery message
	journalErr      error     // last journal failure, logged once
	closed          bool
	nextSeq         uint64
	changed         chan struct{} // closed and replaced on progress (Flush waits on it)
	reported        int           // last value given to Options.Spooled
}

var _ clubline.Store = (*Spool)(nil)

// New opens the journal in opts.Dir, takes in what an earlier run left in
// it, and starts the writer.
func New(backend clubline.Store, opts Options) (*Spool, error) {
	if backend == nil {
		return nil, errors.New("spool: nil backend")
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = DefaultRetryEvery
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "store-spool")

	j, left, err := openJournal(opts.Dir, func(n int, err error) {
		log.Warn("skipping a bad journal line", "file", filepath.Join(opts.Dir, JournalFile), "line", n, "err", err)
	})
	if err != nil {
		return nil, err
	}
	s := &Spool{
		backend:  backend,
		log:      log,
		opts:     opts,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		j:        j,
		pending:  make(map[string]*entry),
		spooled:  left,
		changed:  make(chan struct{}),
		reported: -1,
	}
	for _, e := range left {
		s.nextSeq = max(s.nextSeq, e.seq+1)
		s.pending[e.key()] = e // replayed in file order: the last line wins
	}
	if len(left) > 0 {
		log.Info("replaying records spooled by an earlier run", "file", j.path, "records", len(left))
	}
	s.mu.Lock()
	s.reportLocked()
	s.mu.Unlock()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	s.signal()
	return s, nil
}

// SaveCall queues a copy of the call for the backend and returns at once.
// The context is not used: the record outlives the request that saved it.
func (s *Spool) SaveCall(_ context.Context, c *clubline.Call) error {
	if err := record.CheckCall(c); err != nil {
		return err
	}
	// Through the stored form: a copy, at the precision the stores keep.
	cp, err := record.FromCall(c).Domain()
	if err != nil {
		return err
	}
	return s.enqueue(&entry{call: cp})
}

// SaveVoicemail queues a copy of the message for the backend and returns
// at once. The context is not used.
func (s *Spool) SaveVoicemail(_ context.Context, v *clubline.Voicemail) error {
	if err := record.CheckVoicemail(v); err != nil {
		return err
	}
	cp, err := record.FromVoicemail(v).Domain()
	if err != nil {
		return err
	}
	return s.enqueue(&entry{voicemail: cp})
}

func (s *Spool) enqueue(e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e.seq = s.nextSeq
	s.nextSeq++
	s.pending[e.key()] = e
	s.queue = append(s.queue, e)
	if len(s.queue) > s.opts.QueueSize {
		// Full (the backend is slow or hung): the queue goes to disk, in
		// order. If the disk fails too, the records stay in memory.
		s.spoolQueueLocked()
	}
	s.signal()
	return nil
}

// Call returns the pending version of the call if there is one, else the
// backend's.
func (s *Spool) Call(ctx context.Context, id string) (*clubline.Call, error) {
	s.mu.Lock()
	e := s.pending[callKey(id)]
	s.mu.Unlock()
	if e != nil {
		return record.CloneCall(e.call), nil
	}
	return s.backend.Call(ctx, id)
}

// Calls returns the backend's calls in [from, to), with the pending
// versions of records still in the spool in their place.
func (s *Spool) Calls(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Call, error) {
	// Take the pending records before reading the backend: a record the
	// writer stores in between is then in one or the other.
	s.mu.Lock()
	mine := make(map[string]*clubline.Call)
	for _, e := range s.pending {
		if e.call != nil {
			mine[e.call.ID] = e.call
		}
	}
	s.mu.Unlock()

	n := limit
	if limit > 0 {
		n = limit + len(mine) // enough even if every pending one replaces a listed one
	}
	theirs, err := s.backend.Calls(ctx, from, to, n)
	if err != nil {
		return nil, err
	}
	out := make([]*clubline.Call, 0, len(theirs)+len(mine))
	for _, c := range theirs {
		if mine[c.ID] == nil {
			out = append(out, c)
		}
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	for _, c := range mine {
		if ms := c.StartedAt.UnixMilli(); lo <= ms && ms < hi {
			out = append(out, record.CloneCall(c))
		}
	}
	slices.SortFunc(out, func(a, b *clubline.Call) int {
		return cmp.Or(cmp.Compare(a.StartedAt.UnixMilli(), b.StartedAt.UnixMilli()), cmp.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Voicemail returns the pending version of the message if there is one,
// else the backend's.
func (s *Spool) Voicemail(ctx context.Context, id string) (*clubline.Voicemail, error) {
	s.mu.Lock()
	e := s.pending[voicemailKey(id)]
	s.mu.Unlock()
	if e != nil {
		return record.CloneVoicemail(e.voicemail), nil
	}
	return s.backend.Voicemail(ctx, id)
}

// Voicemails returns the backend's messages recorded in [from, to), with
// the pending versions of messages still in the spool in their place, as
// Calls does.
func (s *Spool) Voicemails(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Voicemail, error) {
	s.mu.Lock()
	mine := make(map[string]*clubline.Voicemail)
	for _, e := range s.pending {
		if e.voicemail != nil {
			mine[e.voicemail.ID] = e.voicemail
		}
	}
	s.mu.Unlock()

	n := limit
	if limit > 0 {
		n = limit + len(mine)
	}
	theirs, err := s.backend.Voicemails(ctx, from, to, n)
	if err != nil {
		return nil, err
	}
	out := make([]*clubline.Voicemail, 0, len(theirs)+len(mine))
	for _, v := range theirs {
		if mine[v.ID] == nil {
			out = append(out, v)
		}
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	for _, v := range mine {
		if ms := v.RecordedAt.UnixMilli(); lo <= ms && ms < hi {
			out = append(out, record.CloneVoicemail(v))
		}
	}
	slices.SortFunc(out, func(a, b *clubline.Voicemail) int {
		return cmp.Or(cmp.Compare(a.RecordedAt.UnixMilli(), b.RecordedAt.UnixMilli()), cmp.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// FollowUps returns the backend's open follow-ups due before the given
// time, with the pending versions of messages still in the spool in their
// place.
func (s *Spool) FollowUps(ctx context.Context, before time.Time) ([]clubline.FollowUp, error) {
	s.mu.Lock()
	mine := make(map[string]*clubline.Voicemail)
	for _, e := range s.pending {
		if e.voicemail != nil {
			mine[e.voicemail.ID] = e.voicemail
		}
	}
	s.mu.Unlock()

	theirs, err := s.backend.FollowUps(ctx, before)
	if err != nil {
		return nil, err
	}
	out := make([]clubline.FollowUp, 0, len(theirs)+len(mine))
	for _, f := range theirs {
		if mine[f.VoicemailID] == nil {
			out = append(out, f)
		}
	}
	for _, v := range mine {
		if record.Open(v) && (before.IsZero() || v.FollowUpDue.UnixMilli() < before.UnixMilli()) {
			out = append(out, clubline.FollowUp{VoicemailID: v.ID, Due: v.FollowUpDue})
		}
	}
	slices.SortFunc(out, func(a, b clubline.FollowUp) int {
		return cmp.Or(cmp.Compare(a.Due.UnixMilli(), b.Due.UnixMilli()), cmp.Compare(a.VoicemailID, b.VoicemailID))
	})
	return out, nil
}

// Ping pings the backend.
func (s *Spool) Ping(ctx context.Context) error { return s.backend.Ping(ctx) }

// Pending is the number of records (the latest version of each) the
// backend has not confirmed yet, in the queue or in the journal.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Flush waits until every record saved so far is either in the backend or
// in the journal on disk. When the backend is down or the writer is
// replaying the journal, the queue goes to disk at once. If ctx ends first,
// what is left (the record being written included) goes to disk, and Flush
// returns nil if that worked.
func (s *Spool) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 && (s.down || s.replayed < len(s.spooled)) {
			s.spoolQueueLocked()
		}
		if s.flushedLocked() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		s.signal()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			if err := s.spoolQueueLocked(); err != nil {
				return fmt.Errorf("spool: flush: %w (after %w)", err, ctx.Err())
			}
			return nil
		}
	}
}

// flushedLocked: nothing is only in memory.
func (s *Spool) flushedLocked() bool {
	return len(s.queue) == 0 && (s.inflight == nil || s.inflightSpooled)
}

// Close flushes (waiting at most Options.CloseTimeout for the backend),
// stops the writer, closes the journal and closes the backend. Records the
// backend did not take stay in the journal for the next run.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
	err := s.Flush(ctx)
	cancel()

	s.cancel()
	select {
	case <-s.done:
	case <-time.After(s.opts.CloseTimeout):
		s.log.Error("the store writer did not stop: a backend write is hung")
	}

	s.mu.Lock()
	// A write the cancellation cut short went back on the queue.
	if len(s.queue) > 0 {
		err = errors.Join(err, s.spoolQueueLocked())
	}
	if n := len(s.spooled) - s.replayed - s.dropped; n > 0 {
		s.log.Warn("records left in the journal for the next start", "file", s.j.path, "records", n)
	}
	err = errors.Join(err, s.j.close())
	s.mu.Unlock()
	return errors.Join(err, s.backend.Close())
}

// signal wakes the writer, without waiting.
func (s *Spool) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// spoolQueueLocked moves the queue to the journal, led by the record being
// written if it is not there yet (it is older than the queue). On failure
// the records stay in memory and the error is logged once.
func (s *Spool) spoolQueueLocked() error {
	batch := make([]*entry, 0, len(s.queue)+1)
	if s.inflight != nil && !s.inflightSpooled && !s.inflight.dropped {
		batch = append(batch, s.inflight)
	}
	batch = append(batch, s.queue...)
	if len(batch) == 0 {
		return nil
	}
	if err := s.j.append(batch, time.Now()); err != nil {
		if s.journalErr == nil {
			s.log.Error("cannot write the spool journal: records are kept in memory only", "err", err)
		}
		s.journalErr = err
		return err
	}
	if s.journalErr != nil {
		s.log.Info("the spool journal is writable again", "file", s.j.path)
		s.journalErr = nil
	}
	if s.inflight != nil {
		s.inflightSpooled = true
	}
	s.spooled = append(s.spooled, batch...)
	clear(s.queue)
	s.queue = s.queue[:0]
	s.notifyLocked()
	return nil
}

// notifyLocked wakes Flush and reports the journal's size.
func (s *Spool) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.reportLocked()
}

func (s *Spool) reportLocked() {
	n := len(s.spooled) - s.replayed - s.dropped
	if n != s.reported && s.opts.Spooled != nil {
		s.opts.Spooled(n)
	}
	s.reported = n
}

// Compact compacts the backend, when it can (the embedded store: a
// caller's erasure then leaves nothing of them in its file).
func (s *Spool) Compact() error {
	if c, ok := s.backend.(interface{ Compact() error }); ok {
		return c.Compact()
	}
	return nil
}
