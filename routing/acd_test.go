package routing

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func all(ids ...string) map[string]bool {
	m := make(map[string]bool)
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Callers are served in the order they joined; an urgent caller goes ahead
// of every caller who is not urgent, behind earlier urgent ones.
func TestACDLineOrder(t *testing.T) {
	q := NewACD()
	a := q.Join("office", "a", false, t0)
	b := q.Join("office", "b", false, t0)
	u1 := q.Join("office", "u1", true, t0)
	u2 := q.Join("office", "u2", true, t0)
	other := q.Join("supervisor", "x", false, t0)
	for want, tk := range []*Ticket{u1, u2, a, b} {
		if got := q.Position(tk); got != want+1 {
			t.Errorf("%s at %d, want %d", tk.CallID, got, want+1)
		}
	}
	if q.Position(other) != 1 || q.Waiting("office") != 4 {
		t.Errorf("lines mixed up: supervisor position %d, office waiting %d", q.Position(other), q.Waiting("office"))
	}
	q.Leave(u1)
	q.Leave(u1) // twice is harmless
	if q.Position(a) != 2 || q.Position(u1) != 0 {
		t.Errorf("after u1 left: a at %d, u1 at %d", q.Position(a), q.Position(u1))
	}
}

// A caller rings only once everyone ahead is ringing someone (autofill);
// ring-all gives the first caller everyone; nobody is rung twice at once.
func TestACDReserveIsFair(t *testing.T) {
	q := NewACD()
	first := q.Join("office", "1", false, t0)
	second := q.Join("office", "2", false, t0)
	reg := all("marie", "luc")
	if got := q.Reserve(second, InOrder, []string{"marie", "luc"}, reg, nil); got != nil {
		t.Fatalf("the second caller rang %v before the first", got)
	}
	if got := q.Reserve(first, InOrder, []string{"marie", "luc"}, reg, nil); !slices.Equal(got, []string{"marie"}) {
		t.Fatalf("first caller rings %v, want marie", got)
	}
	if got := q.Reserve(second, InOrder, []string{"marie", "luc"}, reg, nil); !slices.Equal(got, []string{"luc"}) {
		t.Fatalf("second caller rings %v, want luc (marie is being rung)", got)
	}
	// marie does not answer: the first caller skips her; luc is taken.
	q.Release(first, "marie")
	if got := q.Reserve(first, InOrder, []string{"marie", "luc"}, reg, all("marie")); got != nil {
		t.Errorf("first caller rings %v; marie is skipped and luc rung for the second", got)
	}
	// luc answers the second caller, who leaves the line.
	q.Answered(second, "luc")
	if q.Position(second) != 0 || !q.OnCall("luc") || q.Busy() != 1 {
		t.Errorf("after luc answered: position %d, on call %v, busy %d", q.Position(second), q.OnCall("luc"), q.Busy())
	}
	if got := q.Reserve(first, RingAll, []string{"marie", "luc"}, reg, nil); !slices.Equal(got, []string{"marie"}) {
		t.Errorf("ring-all rings %v, want marie only (luc is on a call)", got)
	}
	if q.Free("marie") || q.Free("luc") {
		t.Errorf("free: marie %v (rung), luc %v (on a call), want neither", q.Free("marie"), q.Free("luc"))
	}
	q.Hungup("luc", t0.Add(time.Minute))
	if q.OnCall("luc") || q.Busy() != 0 || !q.Free("luc") {
		t.Error("luc still on a call after hanging up")
	}
	if !q.Free("sophie") {
		t.Error("sophie, never rung, is not free")
	}
}

// Longest-idle picks whoever finished their last call earliest; a member
// who is not registered is never rung.
func TestACDLongestIdle(t *testing.T) {
	q := NewACD()
	for i, id := range []string{"marie", "luc", "sophie"} {
		q.Answered(nil, id)
		q.Hungup(id, t0.Add(time.Duration(3-i)*time.Minute)) // sophie idle longest
	}
	tk := q.Join("office", "1", false, t0)
	members := []string{"marie", "luc", "sophie"}
	if got := q.Reserve(tk, LongestIdle, members, all("marie", "luc", "sophie"), nil); !slices.Equal(got, []string{"sophie"}) {
		t.Errorf("longest-idle rings %v, want sophie", got)
	}
	q.Release(tk, "sophie")
	if got := q.Reserve(tk, LongestIdle, members, all("marie", "luc"), nil); !slices.Equal(got, []string{"luc"}) {
		t.Errorf("with sophie unregistered, rings %v, want luc", got)
	}
}

// Leaving the line frees whoever was rung for the caller, and Changed
// wakes those waiting.
func TestACDLeaveReleasesAndNotifies(t *testing.T) {
	q := NewACD()
	tk := q.Join("office", "1", false, t0)
	q.Reserve(tk, RingAll, []string{"marie"}, all("marie"), nil)
	changed := q.Changed()
	q.Leave(tk)
	select {
	case <-changed:
	default:
		t.Error("Leave did not signal a change")
	}
	other := q.Join("office", "2", false, t0)
	if got := q.Reserve(other, RingAll, []string{"marie"}, all("marie"), nil); !slices.Equal(got, []string{"marie"}) {
		t.Errorf("marie still reserved after the caller left: %v", got)
	}
}

// A parked ticket (a queued callback between attempts) keeps its place but
// holds nobody back; once it left (its staff member answered, then the
// callback failed), Park puts it back where it was; Unpark serves it.
func TestACDParkKeepsThePlace(t *testing.T) {
	q := NewACD()
	members, reg := []string{"marie"}, all("marie")
	cb := q.Join("office", "callback", false, t0)
	later := q.Join("office", "later", false, t0)

	q.Park(cb)
	if got := q.Reserve(cb, RingAll, members, reg, nil); got != nil {
		t.Errorf("a parked ticket rings %v", got)
	}
	if q.Position(cb) != 1 || q.Position(later) != 2 {
		t.Errorf("parked: positions %d and %d, want 1 and 2", q.Position(cb), q.Position(later))
	}
	changed := q.Changed()
	q.Unpark(cb)
	select {
	case <-changed:
	default:
		t.Error("Unpark did not signal a change")
	}
	if got := q.Reserve(later, RingAll, members, reg, nil); got != nil {
		t.Errorf("the caller behind rings %v before the unparked one", got)
	}

	// marie answers the callback; she and the line move on while the
	// caller is dialled: the next one may ring luc.
	if got := q.Reserve(cb, RingAll, members, reg, nil); !slices.Equal(got, []string{"marie"}) {
		t.Fatalf("unparked ticket rings %v, want marie", got)
	}
	q.Answered(cb, "marie")
	urgent := q.Join("office", "urgent", true, t0)
	last := q.Join("office", "last", false, t0)
	if q.Position(cb) != 0 || q.Position(later) != 2 {
		t.Errorf("after marie answered: callback at %d, later at %d", q.Position(cb), q.Position(later))
	}

	// The caller did not answer: the ticket goes back behind the urgent
	// caller, ahead of those who joined after it, and holds nobody back.
	q.Hungup("marie", t0)
	q.Park(cb)
	for want, tk := range []*Ticket{urgent, cb, later, last} {
		if got := q.Position(tk); got != want+1 {
			t.Errorf("%s at %d, want %d", tk.CallID, got, want+1)
		}
	}
	q.Reserve(urgent, RingAll, []string{"luc"}, all("luc"), nil) // the urgent caller rings luc
	if got := q.Reserve(later, RingAll, members, reg, nil); !slices.Equal(got, []string{"marie"}) {
		t.Errorf("behind a parked ticket, rings %v, want marie", got)
	}
	q.Leave(cb)
	if q.Position(cb) != 0 || q.Waiting("office") != 3 {
		t.Errorf("after leaving: at %d, %d waiting", q.Position(cb), q.Waiting("office"))
	}

	// An urgent ticket goes back among the urgent ones, in join order.
	u2 := q.Join("office", "u2", true, t0)
	q.Answered(urgent, "luc")
	q.Park(urgent)
	if q.Position(urgent) != 1 || q.Position(u2) != 2 {
		t.Errorf("urgent back at %d, u2 at %d, want 1 and 2", q.Position(urgent), q.Position(u2))
	}
}
