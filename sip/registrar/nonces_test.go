package registrar

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A full nonce book forgets its oldest entries, and what it forgot is
// stale, never usable again.
func TestNonceBookForgetsSafely(t *testing.T) {
	b := newNonceBook(10)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		if err := b.use(fmt.Sprint("n", i), t0.Add(time.Duration(i)*time.Millisecond), true, 1, t0); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
	}
	// The eleventh makes room: the oldest goes, and the floor rises past it.
	if err := b.use("n10", t0.Add(10*time.Millisecond), true, 1, t0); err != nil {
		t.Fatal(err)
	}
	if err := b.use("n0", t0, true, 1, t0); !errors.Is(err, ErrStale) {
		t.Errorf("the forgotten nonce replayed: %v, want ErrStale", err)
	}
	if !b.burned("n0", t0) {
		t.Error("the forgotten nonce is not treated as burned")
	}
	if err := b.use("n5", t0.Add(5*time.Millisecond), true, 1, t0); !errors.Is(err, ErrReplay) {
		t.Errorf("a remembered nonce replayed: %v, want ErrReplay", err)
	}
	// Dead nonces go first, without raising the floor over live ones.
	later := t0.Add(NonceLifetime + time.Second)
	b2 := newNonceBook(3)
	_ = b2.use("old", t0, true, 1, t0)
	_ = b2.use("a", later, true, 1, later)
	_ = b2.use("b", later, true, 1, later)
	if err := b2.use("c", later, true, 1, later); err != nil {
		t.Fatal(err)
	}
	if err := b2.use("a", later, true, 2, later); err != nil {
		t.Errorf("a live nonce after the dead one was dropped: %v", err)
	}
}
