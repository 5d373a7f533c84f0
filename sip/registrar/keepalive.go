package registrar

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/sip/internal/sipx"
)

// The keep-alive of registered contacts: so that a phone that vanished
// (unplugged, out of Wi-Fi, crashed) stops being rung long before its
// registration would expire, the registrar sends an out-of-dialog OPTIONS
// to each live contact every PingEvery, to where the phone really is (the
// Received address of its REGISTER, over the same transport).
//
// Decisions:
//
//   - Any response, 4xx and 5xx included, means the phone is there; only
//     no response within PingTimeout (or a failure to send) is a failure.
//   - A contact that fails PingFailures pings in a row is deleted from the
//     Store, with one log line. A REGISTER refresh in between (a new
//     RegisteredAt or Received) starts the count again: the phone spoke.
//   - OnChange is called after every round, whether or not anything was
//     removed, so a count of registered staff also follows plain expiry.
//   - A round that cannot read the Store logs and waits for the next tick.

// Keep-alive defaults.
const (
	DefaultPingEvery    = 30 * time.Second
	DefaultPingTimeout  = 5 * time.Second
	DefaultPingFailures = 2
	pingConcurrency     = 32 // pings in flight at once
)

func (o *Options) keepaliveDefaults() {
	if o.PingEvery == 0 {
		o.PingEvery = DefaultPingEvery
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.PingFailures <= 0 {
		o.PingFailures = DefaultPingFailures
	}
}

// Pinger sends one out-of-dialog OPTIONS to a registered contact, to where
// its REGISTER came from (Received), and returns nil on any response.
// Package sip's Server is one.
type Pinger interface {
	Ping(ctx context.Context, reg *clubline.Registration) error
}

// keepalive pings the registered contacts; it runs on one goroutine.
type keepalive struct {
	p        Pinger
	r        *Registrar
	failures map[string]*pingState // by staff id and contact
}

// pingState counts the failed pings in a row of one registration, as it
// was when pinged.
type pingState struct {
	received     string
	registeredAt time.Time
	failed       int
}

// Run writes the bindings through to the Store and pings every registered
// contact each PingEvery through p (unless the keep-alive is off:
// PingEvery < 0), until ctx ends; then it makes one last attempt to write
// what the Store has not taken yet, and returns.
func (r *Registrar) Run(ctx context.Context, p Pinger) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.writer.run(ctx)
	}()
	if r.o.PingEvery >= 0 {
		k := &keepalive{p: p, r: r, failures: make(map[string]*pingState)}
		k.run(ctx)
	}
	wg.Wait()
}

func (k *keepalive) run(ctx context.Context) {
	t := time.NewTicker(k.r.o.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.round(ctx)
		}
	}
}

// round pings every live registration once and removes those that failed
// too often.
func (k *keepalive) round(ctx context.Context) {
	k.r.book.expire(k.r.o.Now())
	regs := k.r.book.live("", k.r.o.Now())
	alive := make([]bool, len(regs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, pingConcurrency)
	for i, reg := range regs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			alive[i] = k.ping(ctx, reg) == nil
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: an interrupted ping proves nothing
	}

	seen := make(map[string]bool, len(regs))
	for i, reg := range regs {
		key := reg.StaffID + "\x00" + reg.Contact
		seen[key] = true
		st := k.failures[key]
		if st == nil || st.received != reg.Received || !st.registeredAt.Equal(reg.RegisteredAt) {
			st = &pingState{received: reg.Received, registeredAt: reg.RegisteredAt}
			k.failures[key] = st
		}
		if alive[i] {
			st.failed = 0
			continue
		}
		st.failed++
		if st.failed >= k.r.o.PingFailures {
			k.remove(reg, st.failed)
			delete(k.failures, key)
		}
	}
	for key := range k.failures {
		if !seen[key] {
			delete(k.failures, key) // expired or unregistered
		}
	}
	k.r.o.OnChange()
}

// remove deletes a registration that stopped answering, unless the phone
// refreshed it meanwhile.
func (k *keepalive) remove(reg *clubline.Registration, failed int) {
	r := k.r
	r.mu.Lock()
	for _, c := range r.book.live(reg.StaffID, r.o.Now()) {
		if c.Contact == reg.Contact && (c.Received != reg.Received || !c.RegisteredAt.Equal(reg.RegisteredAt)) {
			r.mu.Unlock()
			return // refreshed since the ping
		}
	}
	removed := r.book.remove(reg.StaffID, reg.Contact, r.o.Now())
	r.mu.Unlock()
	if !r.storeStill(reg) {
		return // refreshed through another instance (shared.go)
	}
	r.writer.delete(reg.StaffID, reg.Contact)
	if !removed {
		return
	}
	transport, addr, _ := strings.Cut(reg.Received, ":")
	r.log.Info("contact removed: no answer to OPTIONS", "staff", reg.StaffID, "transport", transport,
		"source", sipx.MaskAddr(sipx.SourceIP(addr)), "failed_pings", failed)
}

// ping asks the Pinger, within PingTimeout.
func (k *keepalive) ping(ctx context.Context, reg *clubline.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, k.r.o.PingTimeout)
	defer cancel()
	return k.p.Ping(ctx, reg)
}
