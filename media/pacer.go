package media

import "time"

// DefaultMaxBurst is how many late frames a Session's clock sends back to
// back after a stall before it starts skipping (100 ms of audio).
const DefaultMaxBurst = 5

// Pacer is a drift-free 20 ms schedule: frame k is due at start + k*20ms,
// whatever happened to the frames before it. After a stall it lets the
// caller catch up with a burst of at most maxBurst frames and skips the
// older ones, so a long stall costs a gap, not a permanent delay.
// Time is passed in, so a test can drive it with any clock.
type Pacer struct {
	start    time.Time
	next     int64 // index of the next frame not yet sent or skipped
	maxBurst int
}

// NewPacer starts a schedule whose frame 0 is due at start. maxBurst <= 0
// means DefaultMaxBurst.
func NewPacer(start time.Time, maxBurst int) *Pacer {
	if maxBurst <= 0 {
		maxBurst = DefaultMaxBurst
	}
	return &Pacer{start: start, maxBurst: maxBurst}
}

// Due accounts for every frame due at now: send of them are to be sent now,
// skip of them (the oldest) are to be counted as sent without sending.
func (p *Pacer) Due(now time.Time) (send, skip int) {
	due := int64(now.Sub(p.start)/FrameDuration) + 1 - p.next
	if due <= 0 {
		return 0, 0
	}
	send = int(min(due, int64(p.maxBurst)))
	skip = int(due - int64(send))
	p.next += due
	return send, skip
}

// Next is when the next frame is due.
func (p *Pacer) Next() time.Time {
	return p.start.Add(time.Duration(p.next) * FrameDuration)
}

// Frames is the number of frames accounted for so far (sent or skipped).
func (p *Pacer) Frames() int64 { return p.next }
