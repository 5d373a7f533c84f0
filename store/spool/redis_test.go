package spool_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/clubline/clubline"
	redisstore "github.com/clubline/clubline/store/redis"
	"github.com/clubline/clubline/store/spool"
	"github.com/clubline/clubline/store/storetest"
)

// TestContractOverRedis runs the store contract through a spool over the
// Redis store (on miniredis).
func TestContractOverRedis(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T) (clubline.Store, func() clubline.Store) {
		url, dir := "redis://"+miniredis.RunT(t).Addr(), t.TempDir()
		open := func() clubline.Store {
			b, err := redisstore.New(redisstore.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			return newSpool(t, b, dir, spool.Options{QueueSize: 16})
		}
		return open(), open
	})
}

// TestRedisRestart stops Redis, saves calls, starts a new (empty) Redis on
// the same address, and finds every call in it.
func TestRedisRestart(t *testing.T) {
	redisstore.RouteLibraryLogs(quietLogger()) // the failed dials are expected
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	addr := mr.Addr()
	backend, err := redisstore.New(redisstore.Options{URL: "redis://" + addr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := newSpool(t, backend, dir, spool.Options{RetryEvery: 50 * time.Millisecond})
	defer s.Close()

	mr.Close()
	const n = 50
	start := time.Now()
	for i := range n {
		mustSaveCall(t, s, call(fmt.Sprintf("c%02d", i), i))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d saves with Redis down took %s", n, d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := s.Pending(); got != n {
		t.Errorf("Pending with Redis down = %d, want %d", got, n)
	}

	m2 := miniredis.NewMiniRedis()
	waitFor(t, "a new Redis on "+addr, func() bool { return m2.StartAddr(addr) == nil })
	defer m2.Close()
	waitFor(t, "the spool to drain into the new Redis", func() bool {
		return s.Pending() == 0 && journalSize(t, dir) == 0
	})

	check, err := redisstore.New(redisstore.Options{URL: "redis://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	cs, err := check.Calls(t.Context(), t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != n {
		t.Fatalf("new Redis holds %d calls, want %d", len(cs), n)
	}
	for i, c := range cs {
		if want := fmt.Sprintf("c%02d", i); c.ID != want || c.Route != fmt.Sprint(i) {
			t.Errorf("call %d = %s (route %s), want %s", i, c.ID, c.Route, want)
		}
	}
}
