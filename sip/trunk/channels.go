package trunk

import (
	"errors"
	"fmt"
	"time"
)

// Channels and minutes. A provider sells a number of channels: a call
// beyond them is refused by the provider anyway, and clubline would rather
// know first. Minutes placed in the last hour are bounded too, so that a
// loop (a mobile forwarding back to the club) or an abuse cannot run up a
// bill: beyond MaxOutboundPerHour, clubline places no call until the hour
// has room again.

// ErrChannels is the error of a call beyond MaxChannels.
var ErrChannels = errors.New("every channel of the trunk is in use")

// ErrMinutes is the error of an outbound call beyond MaxOutboundPerHour.
var ErrMinutes = errors.New("the trunk's outbound minutes for this hour are used up")

// span is one outbound call: from its start to its end (zero while up).
type span struct{ from, to time.Time }

// Acquire takes a channel for an inbound call; release gives it back.
func (t *Trunk) Acquire() (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inUse >= t.a.MaxChannels {
		return nil, fmt.Errorf("trunk %s: %w (%d)", t.a.Name, ErrChannels, t.a.MaxChannels)
	}
	t.inUse++
	return t.releaser(nil), nil
}

// AcquireOutbound takes a channel for a call placed now, if the hour's
// minutes allow it; release gives it back and counts the minutes.
func (t *Trunk) AcquireOutbound(now time.Time) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inUse >= t.a.MaxChannels {
		return nil, fmt.Errorf("trunk %s: %w (%d)", t.a.Name, ErrChannels, t.a.MaxChannels)
	}
	if used := t.usedLocked(now); used >= t.a.MaxOutboundPerHour {
		return nil, fmt.Errorf("trunk %s: %w (%s)", t.a.Name, ErrMinutes, t.a.MaxOutboundPerHour)
	}
	t.inUse++
	t.placed = append(t.placed, span{from: now})
	return t.releaser(&t.placed[len(t.placed)-1].from), nil
}

// releaser gives back a channel once; for an outbound call (started set)
// it closes the call's span.
func (t *Trunk) releaser(started *time.Time) func() {
	var from time.Time
	if started != nil {
		from = *started
	}
	done := false
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if done {
			return
		}
		done = true
		t.inUse--
		if started == nil {
			return
		}
		for i := range t.placed {
			if t.placed[i].from.Equal(from) && t.placed[i].to.IsZero() {
				t.placed[i].to = time.Now()
				break
			}
		}
	}
}

// usedLocked is the time of outbound calls within the hour before now,
// calls still up counted to now; it forgets calls that ended before.
func (t *Trunk) usedLocked(now time.Time) time.Duration {
	hourAgo := now.Add(-time.Hour)
	var used time.Duration
	keep := t.placed[:0]
	for _, s := range t.placed {
		end := s.to
		if end.IsZero() {
			end = now
		} else if end.Before(hourAgo) {
			continue
		}
		from := s.from
		if from.Before(hourAgo) {
			from = hourAgo
		}
		used += end.Sub(from)
		keep = append(keep, s)
	}
	t.placed = keep
	return used
}

// InUse is the number of channels in use.
func (t *Trunk) InUse() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inUse
}

// OutboundUsed is the time of outbound calls in the last hour.
func (t *Trunk) OutboundUsed(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.usedLocked(now)
}
