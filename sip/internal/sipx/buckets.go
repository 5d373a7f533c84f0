package sipx

import (
	"sync"
	"time"
)

// maxBuckets bounds the keys Buckets keep; beyond, the full ones (idle
// long enough to have refilled) are forgotten: they hold nothing.
const maxBuckets = 20000

// Buckets are token buckets by key (an address, a user): burst tokens,
// one more every every. They are safe for concurrent use and hold at most
// maxBuckets keys.
type Buckets struct {
	burst float64
	every time.Duration
	mu    sync.Mutex
	by    map[string]*bucket
}

type bucket struct {
	tokens   float64
	last     time.Time
	loggedAt time.Time // of the last refusal that was logged
}

// NewBuckets returns buckets of burst tokens refilled one every every.
func NewBuckets(burst int, every time.Duration) *Buckets {
	return &Buckets{burst: float64(burst), every: every, by: make(map[string]*bucket)}
}

// get returns the key's bucket, refilled to now; the caller holds mu.
func (l *Buckets) get(key string, now time.Time) *bucket {
	if len(l.by) >= maxBuckets {
		for k, b := range l.by { // forget the full ones
			if b.tokens+float64(now.Sub(b.last))/float64(l.every) >= l.burst {
				delete(l.by, k)
			}
		}
		// Still full: keys from more addresses than a per-address limit
		// can mean anything for. Forget a quarter, at random (map order),
		// so memory stays bounded whatever arrives.
		for k := range l.by {
			if len(l.by) < maxBuckets*3/4 {
				break
			}
			delete(l.by, k)
		}
	}
	b := l.by[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.by[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
	return b
}

// Allow takes a token if there is one. When there is none, wait is how
// long until there is, and log is true once per key and every.
func (l *Buckets) Allow(key string, now time.Time) (ok bool, wait time.Duration, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, false
	}
	return false, l.waitFor(b), l.logOnce(b, now)
}

// Check says whether the key has a token left, without taking it.
func (l *Buckets) Check(key string, now time.Time) (ok bool, wait time.Duration, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key, now)
	if b.tokens >= 1 {
		return true, 0, false
	}
	return false, l.waitFor(b), l.logOnce(b, now)
}

// Take spends a token (it may go below zero: more failures than the
// budget, already in flight, push the next try further away).
func (l *Buckets) Take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key, now).tokens--
}

func (l *Buckets) waitFor(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) * float64(l.every))
}

func (l *Buckets) logOnce(b *bucket, now time.Time) bool {
	if now.Sub(b.loggedAt) >= l.every {
		b.loggedAt = now
		return true
	}
	return false
}

// Len is the number of keys held.
func (l *Buckets) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.by)
}
