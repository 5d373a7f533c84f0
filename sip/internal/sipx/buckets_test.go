package sipx_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
)

func TestBuckets(t *testing.T) {
	b := sipx.NewBuckets(3, time.Second)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _, _ := b.Allow("a", t0); !ok {
			t.Fatalf("token %d refused", i)
		}
	}
	ok, wait, log := b.Allow("a", t0)
	if ok || wait != time.Second || !log {
		t.Fatalf("fourth: ok %t wait %s log %t; want refused, 1s, logged", ok, wait, log)
	}
	if _, _, log := b.Allow("a", t0); log {
		t.Error("a second refusal in the same second is logged again")
	}
	if ok, _, _ := b.Allow("b", t0); !ok {
		t.Error("another key shares a's bucket")
	}
	if ok, _, _ := b.Allow("a", t0.Add(time.Second)); !ok {
		t.Error("no token after a second")
	}
	// Take may go below zero: the next token comes later.
	b.Take("c", t0)
	b.Take("c", t0)
	b.Take("c", t0)
	b.Take("c", t0)
	if ok, wait, _ := b.Check("c", t0); ok || wait != 2*time.Second {
		t.Errorf("after 4 takes of 3: ok %t wait %s; want refused for 2s", ok, wait)
	}
}

// Keys from a flood of addresses never grow without bound.
func TestBucketsBounded(t *testing.T) {
	b := sipx.NewBuckets(1, time.Hour)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range 100000 {
		b.Allow(fmt.Sprint(i), t0)
	}
	if n := b.Len(); n > 20000 {
		t.Fatalf("%d keys kept, want at most 20000", n)
	}
}
