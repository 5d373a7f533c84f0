package media_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
)

// The pacer is checked with a made-up clock: no test here sleeps.

func TestPacerSchedule(t *testing.T) {
	t0 := time.Date(2025, 9, 1, 18, 0, 0, 0, time.UTC)
	p := media.NewPacer(t0, 5)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	steps := []struct {
		at         time.Time
		send, skip int
		next       time.Time
	}{
		{t0, 1, 0, ms(20)},                // frame 0 is due at the start
		{ms(19), 0, 0, ms(20)},            // woken early: nothing
		{ms(20), 1, 0, ms(40)},            // on time
		{ms(41), 1, 0, ms(60)},            // 1 ms late: next keeps to the grid
		{ms(60 + 75), 4, 0, ms(140)},      // a 75 ms stall: catch up with a burst
		{ms(140 + 1000), 5, 46, ms(1160)}, // a 1 s stall: burst of 5, skip the rest
		{ms(1160), 1, 0, ms(1180)},
	}
	for i, s := range steps {
		send, skip := p.Due(s.at)
		if send != s.send || skip != s.skip || !p.Next().Equal(s.next) {
			t.Fatalf("step %d at +%v: send %d skip %d next +%v; want %d %d +%v", i,
				s.at.Sub(t0), send, skip, p.Next().Sub(t0), s.send, s.skip, s.next.Sub(t0))
		}
	}
	if got := p.Frames(); got != 59 {
		t.Errorf("Frames() = %d, want 59", got)
	}
}

// Three minutes of wake-ups that are each a little late, as a timer's are:
// the schedule does not drift, no frame is lost or doubled.
func TestPacerNoDrift(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	p := media.NewPacer(t0, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	sent := 0
	end := t0.Add(3 * time.Minute)
	for now.Before(end) {
		send, skip := p.Due(now)
		if skip != 0 {
			t.Fatalf("skipped %d frames at +%v with only small delays", skip, now.Sub(t0))
		}
		sent += send
		// Sleep until the next frame, waking 0 to 4 ms late; now and then a
		// 50 ms stall.
		late := time.Duration(rng.IntN(4000)) * time.Microsecond
		if rng.IntN(500) == 0 {
			late = 50 * time.Millisecond
		}
		now = p.Next().Add(late)
	}
	want := int(end.Sub(t0)/media.FrameDuration) + 1
	if d := sent - want; d < -3 || d > 0 {
		t.Errorf("sent %d frames in 3 minutes, want %d (up to 3 fewer if the last wake-up was late)", sent, want)
	}
	if off := p.Next().Sub(t0) % media.FrameDuration; off != 0 {
		t.Errorf("schedule drifted off the 20 ms grid by %v", off)
	}
}
