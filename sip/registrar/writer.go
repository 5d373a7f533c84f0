package registrar

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/clubline/clubline"
)

// writer writes the book's changes to the Store behind the REGISTER that
// made them: the latest change per contact, retried with a backoff from
// writeRetryMin to writeRetryMax while the Store fails.
type writer struct {
	store clubline.Store
	log   *slog.Logger

	mu      sync.Mutex
	pending map[bindingKey]*clubline.Registration // nil: a delete
	flying  map[bindingKey]*clubline.Registration // the batch being written
	// written, when set, is called after a flush wrote something.
	written func()
	wake    chan struct{} // cap 1
	failing bool          // the last write failed (one log line per outage)
}

type bindingKey struct{ staff, contact string }

const (
	writeRetryMin = 500 * time.Millisecond
	writeRetryMax = 30 * time.Second
	// flushTimeout bounds the last attempt at shutdown.
	flushTimeout = 2 * time.Second
)

func newWriter(st clubline.Store, log *slog.Logger) *writer {
	return &writer{store: st, log: log, pending: make(map[bindingKey]*clubline.Registration), wake: make(chan struct{}, 1)}
}

// save queues a binding to write.
func (w *writer) save(reg *clubline.Registration) {
	cp := *reg
	w.queue(bindingKey{reg.StaffID, reg.Contact}, &cp)
}

// delete queues a binding to delete.
func (w *writer) delete(staff, contact string) { w.queue(bindingKey{staff, contact}, nil) }

func (w *writer) queue(k bindingKey, reg *clubline.Registration) {
	w.mu.Lock()
	w.pending[k] = reg
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// unwritten returns the changes not yet in the Store for sure (a nil
// registration: a delete): the batch being written, and the backlog over
// it.
func (w *writer) unwritten() map[bindingKey]*clubline.Registration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[bindingKey]*clubline.Registration, len(w.flying)+len(w.pending))
	for k, reg := range w.flying {
		out[k] = reg
	}
	for k, reg := range w.pending {
		out[k] = reg
	}
	return out
}

// backlog is the number of changes not yet in the Store.
func (w *writer) backlog() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// run writes until ctx ends, then tries once more within flushTimeout.
func (w *writer) run(ctx context.Context) {
	retry := writeRetryMin
	for {
		var after <-chan time.Time
		if w.backlog() > 0 {
			after = time.After(retry)
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			w.flush(fctx)
			cancel()
			return
		case <-w.wake:
		case <-after:
		}
		if w.flush(ctx) {
			retry = writeRetryMin
		} else {
			retry = min(retry*2, writeRetryMax)
		}
	}
}

// flush writes every pending change once; it reports whether they all
// went in. A change that fails stays pending unless a newer one replaced
// it meanwhile.
func (w *writer) flush(ctx context.Context) bool {
	w.mu.Lock()
	batch := w.pending
	w.pending = make(map[bindingKey]*clubline.Registration)
	w.flying = batch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.flying = nil
		w.mu.Unlock()
		if w.written != nil && len(batch) > 0 {
			w.written()
		}
	}()
	ok := true
	for k, reg := range batch {
		var err error
		if ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, storeTimeout)
			if reg == nil {
				err = w.store.DeleteRegistration(wctx, k.staff, k.contact)
				if errors.Is(err, clubline.ErrNotFound) {
					err = nil
				}
			} else {
				err = w.store.SaveRegistration(wctx, reg)
			}
			cancel()
		} else {
			err = ctx.Err()
		}
		if err != nil {
			ok = false
			w.mu.Lock()
			if _, newer := w.pending[k]; !newer {
				w.pending[k] = reg
			}
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	switch {
	case !ok && !w.failing:
		w.failing = true
		w.log.Warn("registrations not written to the store; staff phones are still rung, and the writes are retried",
			"pending", len(w.pending))
	case ok && w.failing:
		w.failing = false
		w.log.Info("registrations written to the store again")
	}
	w.mu.Unlock()
	return ok
}
