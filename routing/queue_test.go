package routing_test

import (
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline/routing"
)

func TestPick(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	agents := []routing.Agent{
		{ID: "marie", Available: true, LastCallEnded: t0.Add(-5 * time.Minute)},
		{ID: "luc", Available: false},
		{ID: "anne", Available: true, LastCallEnded: t0.Add(-20 * time.Minute)},
		{ID: "paul", Available: true, LastCallEnded: t0.Add(-20 * time.Minute)},
	}
	neverCalled := append(slices.Clone(agents), routing.Agent{ID: "new", Available: true}, routing.Agent{ID: "new2", Available: true})
	tests := []struct {
		name   string
		s      routing.Strategy
		agents []routing.Agent
		want   []string
	}{
		{"ring-all rings the available", routing.RingAll, agents, []string{"marie", "anne", "paul"}},
		{"unknown strategy rings all", "round-robin", agents, []string{"marie", "anne", "paul"}},
		{"in-order takes the first available", routing.InOrder, agents, []string{"marie"}},
		{"in-order skips the busy", routing.InOrder, agents[1:], []string{"anne"}},
		{"longest-idle, ties in config order", routing.LongestIdle, agents, []string{"anne"}},
		{"longest-idle, never called first", routing.LongestIdle, neverCalled, []string{"new"}},
		{"nobody available", routing.RingAll, agents[1:2], nil},
		{"nobody at all", routing.LongestIdle, nil, nil},
	}
	for _, tt := range tests {
		if got := routing.Pick(tt.s, tt.agents); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWaitEstimator(t *testing.T) {
	var w routing.WaitEstimator
	if w.Estimate(1) != 0 {
		t.Error("estimate before any answered call")
	}
	w.Add(60 * time.Second) // first sample is the average
	if got := w.Estimate(1); got != 60*time.Second {
		t.Errorf("after one: %s", got)
	}
	w.Add(20 * time.Second) // (60*3 + 20) / 4 = 50
	if avg, ok := w.Average(); !ok || avg != 50*time.Second {
		t.Errorf("average %s", avg)
	}
	if got := w.Estimate(3); got != 150*time.Second {
		t.Errorf("position 3: %s", got)
	}
	if w.Estimate(0) != 0 {
		t.Error("position 0")
	}
	w.Add(-time.Second) // a clock step back counts as no wait: (50*3 + 0) / 4
	if avg, _ := w.Average(); avg != 37500*time.Millisecond {
		t.Errorf("negative wait: %s", avg)
	}
}
