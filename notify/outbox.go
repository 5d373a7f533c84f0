package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Decisions:
//
//   - A notification is on disk before Enqueue returns (outbox_files.go:
//     one JSON file per delivery, written to a temporary file, synced,
//     renamed, the directory synced), and leaves it only when it was
//     delivered or can never be. A crash or a restart loses none: a new
//     Outbox on the same directory takes up what is there, with its
//     attempts and its next try.
//   - Retries back off exponentially, RetryBase doubling up to RetryMax,
//     each delay drawn between half and all of it (jitter: after an
//     outage, deliveries do not all come back at once), or longer if the
//     receiver asked (Retry-After). A delivery still failing MaxAge after
//     it was enqueued is dropped as failed: a notice two days late is no
//     longer news, and the follow-up's reminder and escalation say the
//     rest.
//   - Once delivered, a small file without personal data (the key's hash
//     and when) stays MaxAge, so that the same notification enqueued again
//     (a restart between the enqueue and the save of RemindedAt) is not
//     sent twice.
//   - An attempt runs on a context detached from Run's: stopping waits for
//     the attempts under way (each bounded by its sender's timeout), so a
//     notification is either delivered or still queued, never cut in the
//     middle of a send the receiver may have taken.
//   - Logs carry the caller's number masked and the error, which holds
//     neither the SMTP password (go-mail does not log authentication) nor
//     a full number.

// Outbox defaults.
const (
	DefaultRetryBase = 30 * time.Second
	DefaultRetryMax  = 30 * time.Minute
	DefaultMaxAge    = 48 * time.Hour
	DefaultWorkers   = 4
)

// ErrClosed is returned by Enqueue and Run after Close.
var ErrClosed = errors.New("notify: outbox closed")

// Sender delivers a notification over one channel; its error says whether
// trying again can help (IsPermanent). *Mailer and *Webhook are Senders.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// OutboxOptions configure an Outbox. The zero value of an optional field
// picks the default named beside it.
type OutboxOptions struct {
	// Dir keeps the pending deliveries, one file each (created with mode
	// 0700 if needed). One Outbox per directory. The files hold callers'
	// numbers until sent: keep the directory beside the voicemail's.
	Dir string
	// Email sends the e-mails (a *Mailer); nil: messages with recipients
	// are refused.
	Email Sender
	// Webhook, if set, is told of every message enqueued (a *Webhook).
	Webhook Sender
	// Logger receives a line per delivery and failure (default slog.Default()).
	Logger *slog.Logger
	// OnResult, if set, is called after each attempt with the channel
	// (ChannelEmail, ChannelWebhook) and the result (ResultSent,
	// ResultRetry, ResultFailed): for clubline_notifications_total. It is
	// called without the outbox's lock, from the attempt's goroutine.
	OnResult func(channel, result string)
	// RetryBase is the first retry's delay, doubled at each failure up to
	// RetryMax (defaults 30 s and 30 min).
	RetryBase, RetryMax time.Duration
	// MaxAge: a delivery that still fails this long after it was enqueued
	// is dropped as failed (default 48 h). Delivered ones are remembered as
	// long, against sending one twice.
	MaxAge time.Duration
	// Workers is how many deliveries are tried at once (default 4).
	Workers int
	// Now is the clock of the ages and retry times (default time.Now).
	Now func() time.Time
}

// Outbox keeps notifications on disk until they are delivered. Enqueue
// adds one; Run delivers; Close stops. Safe for concurrent use.
type Outbox struct {
	o       OutboxOptions
	log     *slog.Logger
	senders map[string]Sender

	wake chan struct{} // cap 1: something changed for Run
	stop chan struct{} // closed by Close
	done chan struct{} // closed when Run returns

	mu      sync.Mutex
	pending map[string]*delivery // by file name, without its extension
	sent    map[string]time.Time // delivered: name → when
	busy    int                  // attempts under way
	running bool
	closed  bool
	wg      sync.WaitGroup // attempts under way
}

// delivery is one notification to one recipient over one channel.
type delivery struct {
	name    string
	rec     record
	busy    bool // an attempt is under way
	removed bool // Remove dropped it while an attempt was under way
}

// NewOutbox opens the outbox in opts.Dir and takes up the deliveries an earlier
// run left there. Nothing is sent before Run.
func NewOutbox(opts OutboxOptions) (*Outbox, error) {
	if opts.Dir == "" {
		return nil, errors.New("notify: outbox: no directory: give one beside the voicemail folder, e.g. data/outbox")
	}
	if opts.Email == nil && opts.Webhook == nil {
		return nil, errors.New("notify: outbox: neither a mailer nor a web hook: configure notify.smtp or notify.webhook")
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryBase)
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ob := &Outbox{
		o:       opts,
		log:     log.With("component", "notify"),
		senders: map[string]Sender{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: map[string]*delivery{},
		sent:    map[string]time.Time{},
	}
	if opts.Email != nil {
		ob.senders[ChannelEmail] = opts.Email
	}
	if opts.Webhook != nil {
		ob.senders[ChannelWebhook] = opts.Webhook
	}
	if err := ob.load(); err != nil {
		return nil, err
	}
	return ob, nil
}

// Enqueue writes a delivery of m to disk for each recipient in m.To and
// one for the web hook, if there is one, and returns once they are
// synced; Run sends them. A delivery already pending, or delivered in the
// last MaxAge, is not added again: enqueuing the same notification twice
// sends it once. The web hook is told once per kind and id whatever the
// recipients, so two messages of one event for two audiences (numbers
// shown, numbers masked) tell it once.
func (ob *Outbox) Enqueue(m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	if len(m.To) > 0 && ob.senders[ChannelEmail] == nil {
		return fmt.Errorf("notify: message %q has recipients and no mailer is configured: configure notify.smtp", m.ID)
	}
	type target struct{ channel, to string }
	var targets []target
	seen := map[string]bool{}
	for _, a := range m.To {
		a, _ = bareAddress(a)
		if !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			targets = append(targets, target{ChannelEmail, a})
		}
	}
	if ob.senders[ChannelWebhook] != nil {
		targets = append(targets, target{ChannelWebhook, ""})
	}
	if len(targets) == 0 {
		return fmt.Errorf("notify: message %q has no recipient and no web hook is configured: nothing would be sent", m.ID)
	}

	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.closed {
		return ErrClosed
	}
	now := ob.o.Now()
	added := 0
	var errs []error
	for _, t := range targets {
		mm := m
		if t.channel == ChannelEmail {
			mm.To = []string{t.to}
		} else {
			mm.To, mm.Attach = nil, ""
		}
		key := m.key(t.channel, t.to)
		name := fileName(t.channel, key)
		if _, ok := ob.pending[name]; ok {
			continue
		}
		if at, ok := ob.sent[name]; ok && now.Sub(at) < ob.o.MaxAge {
			continue
		}
		d := &delivery{name: name, rec: record{Version: recordVersion, Key: key, Channel: t.channel, Message: mm, CreatedAt: now, NextAt: now}}
		if err := ob.writeDelivery(d); err != nil {
			errs = append(errs, err)
			continue
		}
		ob.pending[name] = d
		added++
	}
	if added > 0 {
		ob.signal()
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify: could not keep message %q in the outbox (%s): %w; check that the folder exists and is writable, and the disk is not full",
			m.ID, ob.o.Dir, errors.Join(errs...))
	}
	return nil
}

// Run delivers what is due until ctx is cancelled or Close is called,
// then waits for the attempts under way and returns (nil after Close,
// ctx.Err() otherwise). It may be called once.
func (ob *Outbox) Run(ctx context.Context) error {
	ob.mu.Lock()
	switch {
	case ob.closed:
		ob.mu.Unlock()
		return ErrClosed
	case ob.running:
		ob.mu.Unlock()
		return errors.New("notify: outbox: Run called twice")
	}
	ob.running = true
	ob.mu.Unlock()
	defer close(ob.done)
	defer ob.wg.Wait()

	actx := context.WithoutCancel(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := ob.startDue(actx)
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ob.stop:
			return nil
		case <-ob.wake:
		case <-timer.C:
		}
	}
}

// startDue starts an attempt for each delivery that is due, as workers
// allow, oldest due first, and returns how long until the next one is
// (-1: none waits).
func (ob *Outbox) startDue(ctx context.Context) time.Duration {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	now := ob.o.Now()
	for name, at := range ob.sent {
		if now.Sub(at) >= ob.o.MaxAge {
			delete(ob.sent, name)
			ob.removeFile(name + sentExt)
		}
	}
	var idle []*delivery
	for _, d := range ob.pending {
		if !d.busy {
			idle = append(idle, d)
		}
	}
	slices.SortFunc(idle, func(a, b *delivery) int {
		return cmp.Or(a.rec.NextAt.Compare(b.rec.NextAt), strings.Compare(a.name, b.name))
	})
	wait := time.Duration(-1)
	for _, d := range idle {
		if w := d.rec.NextAt.Sub(now); w > 0 {
			if wait < 0 || w < wait {
				wait = w
			}
			break // sorted: the rest are later
		}
		if ob.busy >= ob.o.Workers {
			break // an attempt's end wakes Run
		}
		d.busy = true
		ob.busy++
		ob.wg.Add(1)
		go ob.attempt(ctx, d)
	}
	return wait
}

// attempt tries d once and records the outcome.
func (ob *Outbox) attempt(ctx context.Context, d *delivery) {
	defer ob.wg.Done()
	err := ob.senders[d.rec.Channel].Send(ctx, d.rec.Message)
	result := ob.settle(d, err)
	if result != "" && ob.o.OnResult != nil {
		ob.o.OnResult(d.rec.Channel, result)
	}
}

// settle records the outcome of an attempt: on disk, in memory and in the
// log. It returns the result to report ("" none: a removed delivery that
// was not sent).
func (ob *Outbox) settle(d *delivery, err error) string {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	defer ob.signal()
	d.busy = false
	ob.busy--
	now := ob.o.Now()
	d.rec.Attempts++
	m := &d.rec.Message
	log := ob.log.With("channel", d.rec.Channel, "kind", string(m.Kind), "id", m.ID, "caller", MaskNumber(m.From))
	if d.rec.Channel == ChannelEmail {
		log = log.With("to", strings.Join(m.To, ","))
	}
	age := now.Sub(d.rec.CreatedAt)

	switch {
	case err == nil:
		delete(ob.pending, d.name)
		ob.sent[d.name] = now
		if werr := ob.writeSent(d.name, now); werr != nil {
			log.Warn("notification sent, but its record against a second sending could not be written", "err", werr)
		}
		ob.removeFile(d.name + pendingExt)
		log.Info("notification sent", "attempts", d.rec.Attempts)
		return ResultSent
	case d.removed:
		delete(ob.pending, d.name)
		ob.removeFile(d.name + pendingExt)
		return ""
	case IsPermanent(err) || age >= ob.o.MaxAge:
		delete(ob.pending, d.name)
		ob.removeFile(d.name + pendingExt)
		why := "refused for good"
		if !IsPermanent(err) {
			why = fmt.Sprintf("still failing after %s, given up", ob.o.MaxAge)
		}
		log.Error("notification not delivered: "+why, "attempts", d.rec.Attempts, "err", err)
		return ResultFailed
	}
	delay := ob.backoff(d.rec.Attempts, err)
	if last := d.rec.CreatedAt.Add(ob.o.MaxAge); now.Add(delay).After(last) {
		delay = max(0, last.Sub(now)) // one last try at the deadline
	}
	d.rec.NextAt = now.Add(delay)
	d.rec.LastError = err.Error()
	if werr := ob.writeDelivery(d); werr != nil {
		log.Error("could not save a notification's next try; it stays queued until clubline stops", "err", werr)
	}
	log.Warn("notification not delivered; trying again", "attempts", d.rec.Attempts, "retry_in", delay.Round(time.Millisecond), "err", err)
	return ResultRetry
}

// backoff is the delay before try n+1 after n failures: RetryBase·2^(n-1)
// up to RetryMax, drawn between half and all of it, and no shorter than
// a Retry-After the receiver sent (itself bounded by RetryMax).
func (ob *Outbox) backoff(n int, err error) time.Duration {
	d := ob.o.RetryBase
	for i := 1; i < n && d < ob.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, ob.o.RetryMax)
	d = d/2 + rand.N(d/2+1)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > d {
		d = min(e.RetryAfter, ob.o.RetryMax)
	}
	return d
}

// Remove drops every pending delivery whose message match says: a
// caller's erasure under Law 25 (Purge), or a message deleted. An attempt
// under way is let finish and its file removed after. It returns how many
// were dropped.
func (ob *Outbox) Remove(match func(m Message) bool) (int, error) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	n := 0
	var errs []error
	for name, d := range ob.pending {
		if !match(d.rec.Message) {
			continue
		}
		n++
		if d.busy {
			d.removed = true
			continue
		}
		delete(ob.pending, name)
		if err := ob.removeFile(name + pendingExt); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("notify: could not delete queued notifications in %s: %w; delete the files by hand", ob.o.Dir, errors.Join(errs...))
	}
	return n, nil
}

// Purge drops every pending delivery about a call from number, whatever
// the separators and with or without the country code 1.
func (ob *Outbox) Purge(number string) (int, error) {
	if strings.TrimSpace(number) == "" {
		return 0, nil
	}
	return ob.Remove(func(m Message) bool { return m.From != "" && sameNumber(m.From, number) })
}

// Pending is how many deliveries wait (under way included).
func (ob *Outbox) Pending() int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return len(ob.pending)
}

// Close stops Run and waits for it to return, after the attempts under
// way. What is not delivered stays on disk for the next Outbox. Calling
// Close again returns nil.
func (ob *Outbox) Close() error {
	ob.mu.Lock()
	if ob.closed {
		ob.mu.Unlock()
		return nil
	}
	ob.closed = true
	running := ob.running
	close(ob.stop)
	ob.mu.Unlock()
	if running {
		<-ob.done
	}
	return nil
}

// signal wakes Run without blocking.
func (ob *Outbox) signal() {
	select {
	case ob.wake <- struct{}{}:
	default:
	}
}
