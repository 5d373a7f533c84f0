package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/clubline/clubline/routing"
	redisstore "github.com/clubline/clubline/store/redis"
)

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func registered(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Two instances on one Redis share their queues: a caller on B is not
// served before an earlier caller on A, a staff member rung by A is not
// rung by B, a call B carries makes its staff member busy for A, and
// each instance hears the other's changes.
func TestBoardSharedByTwoInstances(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			url, prefix := be.setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ba := newStore(t, url, prefix).Board("a", nil)
			bb := newStore(t, url, prefix).Board("b", nil)
			go ba.Run(ctx)
			go bb.Run(ctx)
			a, b := routing.NewSharedACD(ba, "a"), routing.NewSharedACD(bb, "b")
			members, reg := []string{"marie", "luc"}, registered("marie", "luc")

			first := a.Join("office", "1", false, t0)
			changed := a.Changed()
			second := b.Join("office", "2", false, t0.Add(time.Second))
			select {
			case <-changed:
			case <-time.After(2 * time.Second):
				t.Error("A did not hear that a caller joined on B")
			}
			if p := b.Position(second); p != 2 {
				t.Errorf("B's caller at %d, want 2 (behind A's)", p)
			}
			if got := b.Reserve(second, routing.InOrder, members, reg, nil); got != nil {
				t.Fatalf("B's caller rang %v before A's earlier caller", got)
			}
			if got := a.Reserve(first, routing.InOrder, members, reg, nil); !slices.Equal(got, []string{"marie"}) {
				t.Fatalf("A's caller rings %v, want marie", got)
			}
			if got := b.Reserve(second, routing.RingAll, members, reg, nil); !slices.Equal(got, []string{"luc"}) {
				t.Fatalf("B's caller rings %v, want luc only (marie rings for A)", got)
			}
			if b.Free("marie") {
				t.Error("B sees marie free while A rings her")
			}
			a.Answered(first, "marie")
			b.Release(second, "luc")
			if !b.OnCall("marie") || b.Busy() != 1 || a.Waiting("office") != 1 {
				t.Errorf("after marie answered on A: on call %v, busy %d, waiting %d", b.OnCall("marie"), b.Busy(), a.Waiting("office"))
			}
			if got := b.Reserve(second, routing.RingAll, members, reg, nil); !slices.Equal(got, []string{"luc"}) {
				t.Errorf("B's caller rings %v, want luc (marie on a call)", got)
			}
			a.AddWait("office", 40*time.Second)
			if est := b.EstimateWait("office", 2); est != 80*time.Second {
				t.Errorf("B estimates %s for position 2, want 80s from A's answered wait", est)
			}
			a.Hungup("marie", t0.Add(time.Minute))
			if !b.Free("marie") {
				t.Error("marie not free on B after hanging up on A")
			}
		})
	}
}

// An instance that dies (its heartbeat expires) leaves nothing behind:
// the other forgets its callers and the calls it carried.
func TestBoardForgetsADeadInstance(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ba := newStore(t, url, "").Board("a", nil)
	bb := newStore(t, url, "").Board("b", nil)
	actxA, killA := context.WithCancel(ctx)
	go ba.Run(actxA)
	go bb.Run(ctx)
	a, b := routing.NewSharedACD(ba, "a"), routing.NewSharedACD(bb, "b")
	waitFor(t, func() bool { return mr.Exists("clubline:acd:alive:a") && mr.Exists("clubline:acd:alive:b") })

	onA := a.Join("office", "1", false, t0)
	a.Reserve(onA, routing.RingAll, []string{"marie"}, registered("marie"), nil)
	a.Answered(nil, "luc")
	later := b.Join("office", "2", false, t0)
	if b.Reserve(later, routing.RingAll, []string{"marie", "luc"}, registered("marie", "luc"), nil) != nil {
		t.Fatal("B's caller rang while A's earlier caller waits and marie and luc are taken")
	}

	killA() // A stops beating, as a killed process would: its key expires
	waitFor(t, func() bool { return !mr.Exists("clubline:acd:alive:a") })
	got := b.Reserve(later, routing.RingAll, []string{"marie", "luc"}, registered("marie", "luc"), nil)
	if !slices.Equal(got, []string{"marie", "luc"}) {
		t.Errorf("after A died, B's caller rings %v, want marie and luc", got)
	}
	if b.Waiting("office") != 1 || b.Busy() != 0 {
		t.Errorf("A's caller or call left behind: waiting %d, busy %d", b.Waiting("office"), b.Busy())
	}
}

// Redis away: the instance goes on alone with its own callers, and puts
// them back on the shared board when Redis returns.
func TestBoardRedisAway(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ba := newStore(t, url, "").Board("a", nil)
	go ba.Run(ctx)
	a := routing.NewSharedACD(ba, "a")
	before := a.Join("office", "1", false, t0)

	mr.Close()
	during := a.Join("office", "2", false, t0)
	if ba.Shared() {
		t.Error("the board says it is shared with Redis down")
	}
	if a.Position(before) != 1 || a.Position(during) != 2 {
		t.Errorf("alone: positions %d, %d, want 1, 2", a.Position(before), a.Position(during))
	}
	if got := a.Reserve(before, routing.RingAll, []string{"marie"}, registered("marie"), nil); !slices.Equal(got, []string{"marie"}) {
		t.Errorf("alone, the first caller rings %v, want marie", got)
	}

	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(redisstore.BoardRetry + 100*time.Millisecond)
	if a.Position(during) != 2 { // a read alone does not trade the own copy for Redis's
		t.Errorf("Redis back, before any change: the caller who joined meanwhile is at %d, want 2", a.Position(during))
	}
	a.Leave(before)
	if !ba.Shared() {
		t.Fatal("the board did not go back to Redis")
	}
	other := routing.NewSharedACD(newStore(t, url, "").Board("b", nil), "b")
	if other.Waiting("office") != 1 || other.Free("marie") != true {
		t.Errorf("another instance sees %d waiting, marie free %v; want 1 (the caller who joined while Redis was away), true", other.Waiting("office"), other.Free("marie"))
	}
}

// The lease goes to one instance at a time, is renewed by its holder, and
// passes to another once released or expired.
func TestLease(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	ctx := context.Background()
	la := newStore(t, url, "").Lease("schedulers", "a", 10*time.Second)
	lb := newStore(t, url, "").Lease("schedulers", "b", 10*time.Second)
	if ok, err := la.Hold(ctx); !ok || err != nil {
		t.Fatalf("a does not get a free lease: %v %v", ok, err)
	}
	if ok, _ := lb.Hold(ctx); ok {
		t.Fatal("b holds the lease a holds")
	}
	if ok, _ := la.Hold(ctx); !ok {
		t.Fatal("a cannot renew its lease")
	}
	mr.FastForward(11 * time.Second) // a died without renewing
	if ok, _ := lb.Hold(ctx); !ok {
		t.Fatal("b does not take an expired lease")
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := lb.Hold(ctx); !ok {
		t.Fatal("a's release took b's lease")
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := la.Hold(ctx); !ok {
		t.Fatal("a does not get the lease b released")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StateOnce keeps the first value set: the instances of a line agree on
// it whichever starts first.
func TestStateOnce(t *testing.T) {
	mr := miniredis.RunT(t)
	st := newStore(t, "redis://"+mr.Addr(), "")
	ctx := context.Background()
	if v, err := st.StateOnce(ctx, "probe_token", "first"); err != nil || v != "first" {
		t.Fatalf("first set: %q, %v", v, err)
	}
	if v, err := st.StateOnce(ctx, "probe_token", "second"); err != nil || v != "first" {
		t.Fatalf("second set: %q, %v; want the first value kept", v, err)
	}
}
