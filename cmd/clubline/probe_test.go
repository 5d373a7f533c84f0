package main

import (
	"testing"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/routing"
)

func TestNextProbe(t *testing.T) {
	at := config.Probe{Every: time.Hour, At: []routing.Clock{8*60 + 35, 12 * 60, 20 * 60}}
	tests := []struct {
		p         config.Probe
		now, want time.Time
	}{
		{at, time.Date(2026, 11, 24, 10, 0, 0, 0, toronto), time.Date(2026, 11, 24, 12, 0, 0, 0, toronto)},
		{at, time.Date(2026, 11, 24, 12, 0, 0, 0, toronto), time.Date(2026, 11, 24, 20, 0, 0, 0, toronto)}, // not the one now
		{at, time.Date(2026, 11, 24, 21, 0, 0, 0, toronto), time.Date(2026, 11, 25, 8, 35, 0, 0, toronto)},
		// The night clocks go back: still 08:35 on the wall.
		{at, time.Date(2026, 10, 31, 22, 0, 0, 0, toronto), time.Date(2026, 11, 1, 8, 35, 0, 0, toronto)},
		// In UTC, the club's zone still decides.
		{at, time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 12, 0, 0, 0, toronto)},
		{config.Probe{Every: 15 * time.Minute}, time.Date(2026, 11, 24, 10, 0, 0, 0, toronto), time.Date(2026, 11, 24, 10, 15, 0, 0, toronto)},
	}
	for _, tc := range tests {
		if got := nextProbe(tc.p, toronto, tc.now); !got.Equal(tc.want) {
			t.Errorf("after %s: %s, want %s", tc.now, got.In(toronto), tc.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:5060": "127.0.0.1:5060", "[::]:5060": "[::1]:5060", "127.0.0.1:5070": "127.0.0.1:5070", "192.0.2.1:5060": "192.0.2.1:5060",
	} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}
