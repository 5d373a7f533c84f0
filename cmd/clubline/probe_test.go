package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/probe"
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

// What the probe dials: the club's number at the trunk's next hop, in the
// trunk's dial format, with its account; or the line itself.
func TestProbeTarget(t *testing.T) {
	t.Setenv("CLUBLINE_TEST_PROBE_TRUNK_PW", "s3cret")
	const base = `club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
sip:
  listen: [udp://127.0.0.1:5060]
  numbers: ["+15145550100"]
hours:
  weekly:
    mon-fri: 08:30-16:30
groups:
  - { id: office }
`
	const trunk = `trunks:
  - name: voipms
    registrar: "sip:montreal.voip.ms"
    transport: tcp
    username: "123456_club"
    password_env: CLUBLINE_TEST_PROBE_TRUNK_PW
    numbers: ["+14505550100"]
    dial_format: national
`
	tests := []struct {
		name, yaml, uri, via, user string
	}{
		{"no trunk", base, "sip:+15145550100@127.0.0.1:5060", "", ""},
		{"through the trunk", base + trunk, "sip:14505550100@montreal.voip.ms:5060;transport=tcp", "trunk voipms", "123456_club"},
		{"direct asked", base + trunk + "probe:\n  via: direct\n", "sip:+15145550100@127.0.0.1:5060", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("p.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			trunks, err := newTrunks(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var o probe.Options
			probeTarget(cfg, trunks, "127.0.0.1:5060", &o)
			if o.URI != tc.uri || o.Via != tc.via || o.AuthUser != tc.user || (tc.user != "" && o.AuthPassword != "s3cret") {
				t.Errorf("target %q via %q as %q; want %q via %q as %q", o.URI, o.Via, o.AuthUser, tc.uri, tc.via, tc.user)
			}
		})
	}
}

// A probe asked for while one runs waits for it, as long as the asker
// does.
func TestWebProbeWaitsForTheRunningOne(t *testing.T) {
	var m Main
	m.probeMu.Lock() // a scheduled probe is running
	defer m.probeMu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := m.webProbe(ctx); err == nil || !strings.Contains(err.Error(), "waiting for the probe already running") {
		t.Errorf("err = %v, want it to say it waited", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("gave up after %s, want it to wait until the asker left", d)
	}
}
