package registrar

import (
	"slices"
	"sync"
	"time"
)

// maxTrackedNonces bounds the nonce book. Only a right or a wrong answer
// on a fresh nonce of ours makes an entry, and the limits in guard.go
// slow wrong ones, so a club's line keeps a few dozen; a flood that fills
// it makes the oldest nonces stale, never replayable.
const maxTrackedNonces = 50000

// nonceBook remembers, for each nonce still alive, the highest nonce count
// accepted on it (or that it served its one request without qop), and the
// nonces burned by a wrong answer.
type nonceBook struct {
	mu      sync.Mutex
	max     int
	byNonce map[string]*nonceUse
	// floor: nonces issued before it are treated as burned. It rises when
	// the book is full and forgets its oldest entries, so that forgetting
	// never lets a used nonce be used again.
	floor time.Time
}

type nonceUse struct {
	issued time.Time
	nc     uint64 // highest accepted; 0: none yet
	once   bool   // used without qop
	burned bool
}

func newNonceBook(max int) *nonceBook {
	return &nonceBook{max: max, byNonce: make(map[string]*nonceUse)}
}

// burned reports whether a wrong answer came on the nonce (or the book
// forgot it).
func (b *nonceBook) burned(nonce string, issued time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if issued.Before(b.floor) {
		return true
	}
	u := b.byNonce[nonce]
	return u != nil && u.burned
}

// burn marks a nonce that came with a wrong answer.
func (b *nonceBook) burn(nonce string, issued, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entry(nonce, issued, now).burned = true
}

// use accepts a right answer with nonce count nc (qop=auth) or without
// one; it returns ErrReplay when the count is not above the last one
// accepted, or the nonce without qop was used already, and ErrStale
// when the nonce is burned.
func (b *nonceBook) use(nonce string, issued time.Time, qop bool, nc uint64, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if issued.Before(b.floor) {
		return ErrStale
	}
	u := b.entry(nonce, issued, now)
	switch {
	case u.burned:
		return ErrStale
	case !qop && (u.once || u.nc > 0):
		return ErrReplay
	case qop && (u.once || nc <= u.nc):
		return ErrReplay
	}
	if qop {
		u.nc = nc
	} else {
		u.once = true
	}
	return nil
}

// entry returns the nonce's entry, made if new; the caller holds mu.
func (b *nonceBook) entry(nonce string, issued, now time.Time) *nonceUse {
	if u := b.byNonce[nonce]; u != nil {
		return u
	}
	if len(b.byNonce) >= b.max {
		b.forget(now)
	}
	u := &nonceUse{issued: issued}
	b.byNonce[nonce] = u
	return u
}

// forget drops the entries of dead nonces and, if the book is still full,
// the oldest tenth of the rest, raising the floor past them.
func (b *nonceBook) forget(now time.Time) {
	for n, u := range b.byNonce {
		if now.Sub(u.issued) >= NonceLifetime || u.issued.Sub(now) >= NonceLifetime {
			delete(b.byNonce, n)
		}
	}
	if len(b.byNonce) < b.max {
		return
	}
	type aged struct {
		nonce  string
		issued time.Time
	}
	all := make([]aged, 0, len(b.byNonce))
	for n, u := range b.byNonce {
		all = append(all, aged{n, u.issued})
	}
	slices.SortFunc(all, func(x, y aged) int { return x.issued.Compare(y.issued) })
	for _, a := range all[:max(1, b.max/10)] {
		delete(b.byNonce, a.nonce)
		if !a.issued.Before(b.floor) {
			b.floor = a.issued.Add(time.Millisecond)
		}
	}
}
