package config

import (
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
)

// Probe is the probe section: the mystery call the line places to itself
// on a schedule, to check that it answers as it should
// (docs/config.md, docs/metrics.md).
//
// Decision: the schedule is either every (a fixed interval, the default
// an hour) or at (times of day in the club's zone). at is what a club
// wants once it knows its hours: "08:35", "12:00", "20:00" test the
// open and the closed script every day, at moments chosen not to fall on
// the switch between them, and a probe at night does not ring anybody's
// queue. every is the default because it needs no knowledge of the
// hours; a line probed every hour is tested in and out of hours too.
// Both at once is an error: the reader could not tell which wins.
type Probe struct {
	Enabled bool
	// Every is the interval between probes when At is empty.
	Every time.Duration
	// At are the times of day (in club.timezone) of the probes, sorted;
	// empty: every Every.
	At []routing.Clock
	// Number is what the probe dials; "": the club's first number
	// (ProbeNumber).
	Number string
	// Timeout bounds the answer, and then the prompts awaited.
	Timeout time.Duration
	// Via is how the probe reaches the line: ProbeViaTrunk, ProbeViaDirect,
	// or "" (through a trunk when one can carry it, else direct; see
	// ProbeRoute).
	Via     string
	Line    int // of the section; 0 when absent
	viaNode *yaml.Node
}

// How the probe reaches the line (probe.via).
const (
	// ProbeViaTrunk: the probe dials the club's number at the provider,
	// with the trunk's account, and the provider delivers the call back
	// to the line: the whole path a caller's call takes is tested.
	ProbeViaTrunk = "trunk"
	// ProbeViaDirect: the probe dials the line's own SIP listener on
	// loopback: clubline is tested, the provider is not.
	ProbeViaDirect = "direct"
)

func init() {
	schema[""] = append(schema[""], "probe")
	schema["probe"] = []string{"enabled", "every", "at", "number", "timeout", "via"}
}

func (d *decoder) probe(k, n *yaml.Node, p *Probe) {
	p.Line = k.Line
	var every, at *yaml.Node
	d.fields(n, "probe", "probe", func(key string, k, v *yaml.Node) {
		path := "probe." + key
		switch key {
		case "enabled":
			if b, ok := d.boolean(v, path); ok {
				p.Enabled = b
			}
		case "every":
			every = v
			if d.duration(v, path, false, &p.Every) && p.Every < clubline.MinProbeEvery {
				d.add(v, path, fmt.Sprintf("%s is too often: every probe is a call on the line", p.Every),
					fmt.Sprintf("write at least %s, e.g. 1h", clubline.MinProbeEvery))
			}
		case "at":
			at = v
			p.At = d.probeTimes(v, path)
		case "number":
			d.str(v, path, &p.Number)
		case "via":
			p.viaNode = v
			d.str(v, path, &p.Via)
			if p.Via != ProbeViaTrunk && p.Via != ProbeViaDirect {
				d.add(v, path, fmt.Sprintf("%q is not a way to call the line", p.Via),
					"write trunk (through the provider, to the club's number) or direct (to the line's own SIP listener)")
				p.Via = ""
			}
		case "timeout":
			if d.duration(v, path, false, &p.Timeout) && p.Timeout > 5*time.Minute {
				d.add(v, path, fmt.Sprintf("%s is longer than a probe needs", p.Timeout), "write 30s, or at most 5m")
			}
		}
	})
	if every != nil && at != nil {
		d.add(at, "probe.at", "probe.every and probe.at are both given",
			fmt.Sprintf("keep one: at (times of day) or every (an interval); every is on line %d", every.Line))
	}
}

// probeTimes reads probe.at: times of day, each once.
func (d *decoder) probeTimes(n *yaml.Node, path string) []routing.Clock {
	vals, nodes, _ := d.strings(n, path)
	var out []routing.Clock
	for i, s := range vals {
		c, msg, fix := parseClock(s, false)
		if msg != "" {
			d.add(nodes[i], item(path, i), msg, fix)
			continue
		}
		if slices.Contains(out, c) {
			d.add(nodes[i], item(path, i), fmt.Sprintf("%q is given twice", s), "remove one")
			continue
		}
		out = append(out, c)
	}
	if len(vals) == 0 {
		d.add(n, path, "no time given", `write the times of day of the probes, e.g. ["08:35", "12:00", "20:00"]`)
	}
	slices.Sort(out)
	return out
}

// ProbeNumber is the number the probe dials: probe.number, or the club's
// first number (sip.numbers, then the trunks').
func (c *Config) ProbeNumber() string {
	if c.Probe.Number != "" {
		return c.Probe.Number
	}
	if ns := c.AnsweredNumbers(); len(ns) > 0 {
		return ns[0]
	}
	return ""
}

// ProbeRoute says how the probe calls the line: through trunk (its
// config) to number, or directly (trunk nil) to number. probe.via: direct
// is direct; otherwise the first trunk that can carry the probe (over UDP
// or TCP: the probe's phone does not speak TLS) and owns probe.number
// (any number of its, when probe.number is not set) is taken; none: direct.
func (c *Config) ProbeRoute() (number string, trunk *Trunk) {
	if c.Probe.Via != ProbeViaDirect {
		for i := range c.Trunks {
			t := &c.Trunks[i]
			if t.Transport == TransportTLS || len(t.Numbers) == 0 {
				continue
			}
			if c.Probe.Number == "" {
				return t.Numbers[0], t
			}
			for _, n := range t.Numbers {
				if clubline.SameNumber(n, c.Probe.Number) {
					return c.Probe.Number, t
				}
			}
		}
	}
	return c.ProbeNumber(), nil
}

// checkProbe reports a probe.via: trunk that no trunk can carry.
func (d *decoder) checkProbe(c *Config) {
	if c.Probe.Via != ProbeViaTrunk {
		return
	}
	if _, t := c.ProbeRoute(); t != nil {
		return
	}
	msg, fix := "no trunk has a number to call", "add the club's number to a trunk's numbers, or write via: direct"
	switch {
	case c.Probe.Number != "":
		msg = fmt.Sprintf("probe.number %s is no number of a trunk over udp or tcp", c.Probe.Number)
		fix = "write one of a trunk's numbers in probe.number, or via: direct"
	case slices.ContainsFunc(c.Trunks, func(t Trunk) bool { return t.Transport == TransportTLS && len(t.Numbers) > 0 }):
		msg = "the probe cannot call through a trunk over TLS"
		fix = "write via: direct (the probe then tests clubline, not the provider)"
	}
	d.add(c.Probe.viaNode, "probe.via", msg, fix)
}
