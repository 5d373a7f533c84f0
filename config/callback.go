package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline/routing"
	"go.yaml.in/yaml/v3"
)

// Callback is the queued callback: a caller waiting in a queue presses
// Key to be called back through a trunk instead of holding on. Only the
// numbers Allows lets through are called: a callback is a call the club
// pays for, to the number the call came from, which a caller can fake.
type Callback struct {
	// Enabled offers the key in the queues; by default when there is a
	// trunk to call back through.
	Enabled    bool
	Key        string        // the key offered while waiting, "1"-"9"
	Attempts   int           // calls to the caller before giving up
	RetryAfter time.Duration // between two attempts
	// Allowed and Denied are dial patterns ("+1NXXNXXXXXX"): "+" and
	// digits stand for themselves, X for any digit, N for 2-9, Z for 1-9,
	// and a "." at the end for any number of further digits. A number is
	// called back when it matches an Allowed pattern and no Denied one.
	Allowed, Denied []string
}

// The callback's defaults, for the keys the file leaves out.
const (
	// DefaultCallbackKey is offered while waiting; 0 is taken: it leaves
	// the queue for a message. The values are the queue's (routing), which
	// package ivr applies too.
	DefaultCallbackKey        = string(routing.DefaultCallbackKey)
	DefaultCallbackAttempts   = routing.DefaultCallbackAttempts
	DefaultCallbackRetryAfter = routing.DefaultCallbackRetryAfter
	// NANPPattern is every North American number: an area code and an
	// exchange that start with 2-9.
	NANPPattern = "+1NXXNXXXXXX"
)

// maxCallbackAttempts bounds attempts: more calls than that pester a
// caller who has given up.
const maxCallbackAttempts = 10

// fraudAreaCodes are the North American area codes of Caribbean
// countries, dialled like a Canadian number but billed as international:
// the usual targets of toll fraud (callbacks to a number that earns its
// owner a share of the bill).
var fraudAreaCodes = []string{"242", "246", "264", "268", "284", "345", "441", "473", "649", "658", "664",
	"721", "758", "767", "784", "809", "829", "849", "868", "869", "876"}

// DefaultCallbackAllowed are the numbers a callback may go to when the
// file lists none: those of the country countryCode (the first trunk's),
// NANPPattern for North America ("1" or "").
func DefaultCallbackAllowed(countryCode string) []string {
	if countryCode == "" || countryCode == DefaultCountryCode {
		return []string{NANPPattern}
	}
	return []string{"+" + countryCode + "."}
}

// DefaultCallbackDenied are the numbers a callback never goes to when
// the file lists none: the premium-rate 1-900 and 1-976, and the
// Caribbean area codes of fraudAreaCodes.
func DefaultCallbackDenied() []string {
	out := []string{"+1900XXXXXXX", "+1976XXXXXXX"}
	for _, c := range fraudAreaCodes {
		out = append(out, "+1"+c+"XXXXXXX")
	}
	return out
}

// Allows reports whether a callback may call e164: it matches an Allowed
// pattern and no Denied one. It looks at the patterns only, not at
// Enabled.
func (c Callback) Allows(e164 string) bool {
	matches := func(p string) bool { return matchPattern(p, e164) }
	return slices.ContainsFunc(c.Allowed, matches) && !slices.ContainsFunc(c.Denied, matches)
}

// matchPattern reports whether number matches the dial pattern p.
func matchPattern(p, number string) bool {
	j := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '.' && i == len(p)-1 {
			return digitsPattern.MatchString(number[j:]) || j == len(number)
		}
		if j == len(number) {
			return false
		}
		d := number[j]
		var ok bool
		switch c {
		case 'X', 'x':
			ok = d >= '0' && d <= '9'
		case 'N', 'n':
			ok = d >= '2' && d <= '9'
		case 'Z', 'z':
			ok = d >= '1' && d <= '9'
		default:
			ok = c == d
		}
		if !ok {
			return false
		}
		j++
	}
	return j == len(number)
}

// patternPattern is what a dial pattern may hold, uppercased.
var patternPattern = regexp.MustCompile(`^\+[0-9XNZ]+\.?$`)

// maxPatternDigits is the length of the longest E.164 number: a pattern
// longer than it matches nothing.
const maxPatternDigits = 15

func (d *decoder) callback(n *yaml.Node, cb *Callback, x *crossRefs) {
	d.fields(n, "callback", "callback", func(key string, k, v *yaml.Node) {
		p := "callback." + key
		switch key {
		case "enabled":
			x.callbackEnabled = resolve(v)
			if b, ok := d.boolean(v, p); ok {
				cb.Enabled = b
			} else {
				x.callbackBad = true
			}
		case "key":
			s, ok := d.required(v, p, `write a digit from 1 to 9 in quotes, e.g. "2"`)
			switch {
			case !ok:
			case s == "0":
				d.add(v, p, "0 already leaves the queue to leave a message", `write a digit from 1 to 9 in quotes, e.g. "2"`)
			case len(s) != 1 || s[0] < '1' || s[0] > '9':
				d.add(v, p, fmt.Sprintf("%q is not a key from 1 to 9", s), `write a digit from 1 to 9 in quotes, e.g. "2"`)
			default:
				cb.Key = s
			}
		case "attempts":
			if d.integer(v, p, &cb.Attempts) && (cb.Attempts < 1 || cb.Attempts > maxCallbackAttempts) {
				d.add(v, p, fmt.Sprintf("%d is not between 1 and %d", cb.Attempts, maxCallbackAttempts),
					fmt.Sprintf("write how many times the caller is called before giving up, e.g. %d", DefaultCallbackAttempts))
			}
		case "retry_after":
			d.duration(v, p, false, &cb.RetryAfter)
		case "allowed":
			x.callbackAllowed = resolve(v)
			if pats, ok := d.patterns(v, p); ok {
				cb.Allowed = pats
			} else {
				x.callbackBad = true
			}
		case "denied":
			if pats, ok := d.patterns(v, p); ok {
				cb.Denied = pats
			}
		}
	})
}

// patterns reads a list of dial patterns, uppercased.
func (d *decoder) patterns(n *yaml.Node, path string) ([]string, bool) {
	before := len(d.errs)
	vals, nodes, _ := d.strings(n, path)
	out := []string{}
	for i, raw := range vals {
		s := strings.ToUpper(strings.TrimSpace(raw))
		switch {
		case s != "" && !strings.HasPrefix(s, "+") && patternPattern.MatchString("+"+s):
			d.add(nodes[i], item(path, i), fmt.Sprintf("%q does not start with +: numbers are matched in international form", raw),
				fmt.Sprintf("write %q", "+"+s))
		case !patternPattern.MatchString(s):
			d.add(nodes[i], item(path, i), fmt.Sprintf("%q is not a dial pattern", raw),
				`write + then digits, X (any digit), N (2-9), Z (1-9), and a . at the end for any further digits, e.g. "+1NXXNXXXXXX"`)
		case len(strings.TrimSuffix(s, "."))-1 > maxPatternDigits:
			d.add(nodes[i], item(path, i), fmt.Sprintf("%q is longer than any phone number (15 digits after the +)", raw),
				"write at most 15 digits or letters after the +")
		case slices.Contains(out, s):
			d.add(nodes[i], item(path, i), s+" is listed twice", "list each pattern once")
		default:
			out = append(out, s)
		}
	}
	return out, len(d.errs) == before
}

// boolean reads true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.add(n, path, fmt.Sprintf("%q is neither true nor false", s), "write true or false")
	return false, false
}

// finishCallback sets the callback's defaults that depend on the trunks,
// and checks there is one to call back through.
func (d *decoder) finishCallback(c *Config, x *crossRefs) {
	cb := &c.Callback
	trunks := x.trunks.written > 0
	if x.callbackEnabled == nil {
		cb.Enabled = trunks
	}
	if x.callbackAllowed == nil {
		cb.Allowed = DefaultCallbackAllowed(x.trunks.firstCode)
	}
	switch {
	case x.callbackBad || !cb.Enabled:
	case !trunks:
		d.add(x.callbackEnabled, "callback.enabled", "no trunk to call back through",
			"add the club's SIP account under trunks, or write enabled: false")
	case len(cb.Allowed) == 0:
		d.add(x.callbackAllowed, "callback.allowed", "no number may be called back",
			`list the numbers callbacks may go to, e.g. ["+1NXXNXXXXXX"], or write enabled: false`)
	}
}
