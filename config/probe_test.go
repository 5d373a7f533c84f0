package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/routing"
)

func TestProbeSection(t *testing.T) {
	def := config.Default()
	if def.Probe.Enabled || def.Probe.Every != time.Hour || def.Probe.Timeout != 30*time.Second || len(def.Probe.At) != 0 {
		t.Errorf("defaults: %+v", def.Probe)
	}
	c, err := config.Parse("p.yaml", []byte(head+"sip:\n  numbers: [\"+15145550100\", \"+15145550101\"]\nprobe:\n  enabled: true\n  at: [\"20:00\", \"08:35\", \"12:00\"]\n  timeout: 20s\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Probe
	want := []routing.Clock{8*60 + 35, 12 * 60, 20 * 60}
	if !p.Enabled || !slices.Equal(p.At, want) || p.Timeout != 20*time.Second || p.Line != 5 {
		t.Errorf("probe: %+v", p)
	}
	if n := c.ProbeNumber(); n != "+15145550100" {
		t.Errorf("ProbeNumber = %q, want the first of sip.numbers", n)
	}
	c, err = config.Parse("p.yaml", []byte(head+"probe:\n  enabled: true\n  every: 15m\n  number: \"+15145550199\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Probe.Every != 15*time.Minute || c.Probe.Timeout != 30*time.Second || c.ProbeNumber() != "+15145550199" {
		t.Errorf("probe: %+v, number %q", c.Probe, c.ProbeNumber())
	}
}

func TestProbeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // "line: key"
		msg        string // fragment of the message or the fix
	}{
		{"unknown key", head + "probe:\n  evry: 1h\n", "4: probe.evry", "did you mean every?"},
		{"both every and at", head + "probe:\n  every: 1h\n  at: [\"08:35\"]\n", "5: probe.at", "every is on line 4"},
		{"too often", head + "probe:\n  every: 10s\n", "4: probe.every", "at least 1m0s"},
		{"bad time", head + "probe:\n  at: [\"8h35\", \"25:00\"]\n", "4: probe.at[1]", "write 08:35"},
		{"time twice", head + "probe:\n  at: [\"08:35\", \"8:35\"]\n", "4: probe.at[2]", "given twice"},
		{"no time", head + "probe:\n  at: []\n", "4: probe.at", "no time given"},
		{"timeout too long", head + "probe:\n  timeout: 1h\n", "4: probe.timeout", "at most 5m"},
		{"not a bool", head + "probe:\n  enabled: maybe\n", "4: probe.enabled", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("p.yaml", []byte(tc.yaml))
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			for _, e := range errs {
				got := e.Error()
				if strings.Contains(got, "p.yaml:"+tc.want+":") && strings.Contains(got, tc.msg) {
					return
				}
			}
			t.Errorf("want an error at %s containing %q; got\n%v", tc.want, tc.msg, err)
		})
	}
}

func TestProbeRoute(t *testing.T) {
	trunk := func(transport, numbers string) string {
		return "trunks:\n  - name: provider\n    registrar: \"sip:provider.example\"\n    transport: " + transport +
			"\n    username: club\n    password_env: CLUBLINE_TRUNK_PW\n    numbers: " + numbers + "\n"
	}
	tests := []struct {
		name, yaml   string
		number       string
		throughTrunk bool
	}{
		{"no trunk", head + "probe:\n  enabled: true\n", "", false},
		{"a trunk with a number", head + trunk("udp", `["+14505550100"]`) + "probe:\n  enabled: true\n", "+14505550100", true},
		{"direct asked", head + trunk("udp", `["+14505550100"]`) + "probe:\n  via: direct\n", "", false},
		{"probe.number of the trunk", head + trunk("tcp", `["+14505550100", "+14505550101"]`) + "probe:\n  number: \"+14505550101\"\n", "+14505550101", true},
		{"probe.number not the trunk's", head + trunk("udp", `["+14505550100"]`) + "probe:\n  number: \"+15145550199\"\n", "+15145550199", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("p.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			n, tr := c.ProbeRoute()
			if (tr != nil) != tc.throughTrunk || (tc.number != "" && n != tc.number) || n == "" {
				t.Errorf("ProbeRoute = %q, %v; want %q through a trunk: %v", n, tr, tc.number, tc.throughTrunk)
			}
		})
	}
}

func TestProbeViaErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want, msg string
	}{
		{"unknown way", head + "probe:\n  via: pstn\n", "4: probe.via", "write trunk"},
		{"no trunk", head + "probe:\n  via: trunk\n", "4: probe.via", "no trunk has a number"},
		{"number of no trunk", head + "probe:\n  via: trunk\n  number: \"+15145550199\"\n", "4: probe.via", "no number of a trunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("p.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), "p.yaml:"+tc.want+":") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("want an error at %s containing %q; got\n%v", tc.want, tc.msg, err)
			}
		})
	}
}
