package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/store/redis"
)

// Several instances of one line behind a SIP proxy (cluster: in the
// config; deploy/kamailio and docs/scale.md).
//
// Decisions
//
//   - The queues (callers in line, who is rung or on a call, the waits)
//     are on a routing.Board in Redis (store/redis.Board); alone, in the
//     process.
//   - One instance, the holder of a Redis lease, runs what must happen
//     once: the reminders and escalations of messages, and the mystery
//     call. Every instance still counts the overdue messages for its
//     gauge, and runs the retention purge: deleting old records twice is
//     harmless, and each instance has its own voicemail folder, audit log
//     and outbox to purge.
//   - The lease lasts leaseTTL and is renewed every third of it: when its
//     holder dies, another instance runs the schedulers within leaseTTL.
//     An instance that cannot reach Redis steps down once its lease has
//     run out, as the others see it.
//   - The web page's override switch is in the store; the other
//     instances follow it within leaseTTL/3.
//   - The cluster section is read at start: a reload that changes it is
//     applied at the next restart (and says so).

// leaseTTL is how long the schedulers' lease lasts without renewal.
const leaseTTL = 15 * time.Second

// cluster is this instance's part in the line's cluster.
type cluster struct {
	cfg     config.Cluster
	board   *redis.Board // nil when alone
	lease   *redis.Lease // nil when alone
	metrics *metrics.Cluster
}

// openCluster makes the queues' state: shared through Redis when the
// config clusters the line, else in the process.
func (m *Main) openCluster(cfg *config.Config, r *redis.Store) error {
	cm, err := metrics.NewCluster(m.Registry)
	if err != nil {
		return err
	}
	m.cluster = &cluster{cfg: cfg.Cluster, metrics: cm}
	if !cfg.Cluster.Enabled {
		m.acd = routing.NewACD()
		m.leader.Store(true)
		return nil
	}
	if r == nil { // config checks it; a store opened otherwise by a test
		return errors.New("cluster.enabled: the instances share their state through Redis, and the store is not Redis")
	}
	name := cfg.Cluster.Instance
	m.cluster.board = r.Board(name, m.Logger)
	m.cluster.lease = r.Lease("schedulers", name, leaseTTL)
	m.acd = routing.NewSharedACD(m.cluster.board, name)
	cm.Leader.Set(0)
	m.Logger.Info("cluster: this instance shares the line's queues and schedulers through Redis", "instance", name)
	return nil
}

// runCluster keeps the board's heartbeat and the lease until ctx ends,
// then gives the lease up so another instance takes it at once.
func (m *Main) runCluster(ctx context.Context) {
	c := m.cluster
	if c.board == nil {
		return
	}
	boardDone := make(chan struct{})
	go func() {
		defer close(boardDone)
		c.board.Run(ctx)
	}()
	defer func() { <-boardDone }() // its last word (the heartbeat deleted) before the store closes
	tick := time.NewTicker(leaseTTL / 3)
	defer tick.Stop()
	var held time.Time // when the lease was last held, as this instance knows
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := c.lease.Hold(hctx)
		cancel()
		now := time.Now()
		switch {
		case err == nil && ok:
			held = now
		case err != nil && now.Sub(held) < leaseTTL:
			// Redis away: the lease, if held, is ours until it runs out.
			ok = !held.IsZero()
		}
		if ok != m.leader.Load() {
			m.leader.Store(ok)
			if ok {
				m.Logger.Info("cluster: this instance now runs the schedulers (reminders, the mystery call)", "instance", c.cfg.Instance)
			} else {
				m.Logger.Info("cluster: another instance runs the schedulers", "instance", c.cfg.Instance, "err", err)
			}
		}
		m.followOverride(ctx)
		m.countRegistered() // phones that registered through another instance count too
		c.metrics.Leader.Set(b2f(ok))
		c.metrics.QueuesShared.Set(b2f(c.board.Shared()))
		select {
		case <-ctx.Done():
			if m.leader.Load() {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = c.lease.Release(rctx)
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

// followOverride applies the switch an admin flipped on another
// instance's web page (it is in the store): every instance follows it
// within leaseTTL/3.
func (m *Main) followOverride(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := m.Store.State(ctx, stateOverride)
	if err != nil {
		return // none set, or the store away: the switch in force stays
	}
	var o overrideState
	if json.Unmarshal([]byte(v), &o) != nil {
		return
	}
	if cur := m.override.Load(); cur != nil && *cur == o {
		return
	}
	m.override.Store(&o)
	writeMirror(overrideMirror(m.current.Load()), v)
	m.rebuild()
	m.Logger.Info("override switched on another instance's web page: new calls follow it", "mode", o.Mode, "by", o.By)
}

// leading reports whether this instance runs the schedulers now.
func (m *Main) leading() bool { return m.leader.Load() }

// clusterApplied says that a change of the cluster section waits for a
// restart.
func (m *Main) clusterApplied(old, cur *config.Config) {
	if old.Cluster.Enabled != cur.Cluster.Enabled || old.Cluster.Instance != cur.Cluster.Instance {
		m.Logger.Warn(fmt.Sprintf("cluster: the change (enabled %v → %v) applies at the next restart", old.Cluster.Enabled, cur.Cluster.Enabled),
			"key", "cluster")
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
