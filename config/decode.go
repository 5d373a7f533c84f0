package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// schema lists the keys each mapping knows, by section; "[]" marks the
// items of a list. It drives strict decoding and the "did you mean" hints.
var schema = map[string][]string{
	"":                 {"club", "sip", "hours", "menu", "voicemail", "retention", "store", "http", "prompts", "groups", "staff", "on_call", "urgency", "trunks", "callback"},
	"club":             {"name", "timezone", "languages", "language_key", "article"},
	"sip":              {"listen", "public_address", "rtp_ports", "rtp_timeout", "numbers", "max_calls", "drain_timeout", "realm", "digest_algorithms", "limits", "allow_from", "tls", "stun"},
	"sip.tls":          {"cert_file", "key_file"},
	"sip.limits":       {"window", "invites", "options", "other", "block_for", "trusted", "registers", "wrong_passwords", "wrong_password_every", "tcp_idle_timeout", "tcp_per_source", "awaiting_ack", "awaiting_ack_per_source"},
	"hours":            {"weekly", "seasons", "closures", "holidays", "override"},
	"hours.seasons[]":  {"name", "from", "to", "weekly"},
	"hours.closures[]": {"date", "from", "to", "name", "prompt"},
	"menu":             {"timeout", "retries", "default", "options"},
	"menu.options[]":   {"key", "category", "route", "prompt"},
	"voicemail":        {"dir", "max_length", "silence_timeout", "min_length", "follow_up_within", "urgent_follow_up_within"},
	"retention":        {"calls", "voicemail"},
	"store":            {"redis_url", "key_prefix", "data_dir"},
	"http":             {"listen"},
	"prompts":          {"dir", "record_code"},
	"groups[]":         {"id"}, // and the queue keys, see people.go
	"callback":         {"enabled", "key", "attempts", "retry_after", "allowed", "denied"},
}

// decoder walks the YAML tree and collects every error with its line.
type decoder struct {
	file   string
	errs   Errors
	people peopleRefs // staff, on_call and urgency, decoded last
	files  []fileRef  // files the config names, for CheckFiles

	clusterNode *yaml.Node // cluster.enabled, for the checks against the store
}

func (d *decoder) add(n *yaml.Node, key, msg, fix string) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: msg, Fix: fix})
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// item is the path of the i-th (0-based) item of a list, counted from 1
// for the admins who read it.
func item(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i+1) }

// kindName says what a node is, in words, for "expected X, found Y".
func kindName(n *yaml.Node) string {
	switch resolve(n).Kind {
	case yaml.MappingNode:
		return "a set of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fields walks a mapping node and calls fn for each key, in file order.
// section names the schema entry ("club", "menu.options[]"); path is the
// dotted path used in errors. Unknown and repeated keys are reported, and
// fn is not called for them. A null node (an empty section) has no keys.
func (d *decoder) fields(n *yaml.Node, section, path string, fn func(key string, k, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected keys and values here, found "+kindName(n), "write one \"key: value\" per line, indented under "+lastKey(path))
		return
	}
	known := schema[section]
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if first, dup := seen[key]; dup {
			d.add(k, join(path, key), "given twice (first on line "+itoa(first)+")", "keep one of them")
			continue
		}
		seen[key] = k.Line
		if known != nil && !slices.Contains(known, key) {
			d.unknownKey(k, section, path, key)
			continue
		}
		fn(key, k, v)
	}
}

// unknownKey reports a key the section does not know, with the closest
// known key or the section where the key belongs.
func (d *decoder) unknownKey(k *yaml.Node, section, path, key string) {
	known := schema[section]
	fix := "known keys here: " + strings.Join(known, ", ")
	if s, ok := closest(key, known); ok {
		fix = "did you mean " + s + "?"
	} else if elsewhere := sectionsWith(key); len(elsewhere) > 0 {
		fix = key + " belongs under " + quoteList(elsewhere)
		if elsewhere[0] == "" {
			fix = key + " is a section of its own: remove the spaces before it"
		}
	}
	d.add(k, join(path, key), "unknown key", fix)
}

func sectionsWith(key string) []string {
	var out []string
	for _, s := range []string{"", "club", "sip", "sip.limits", "sip.tls", "hours", "menu", "voicemail", "retention", "store", "http", "prompts", "urgency"} {
		if slices.Contains(schema[s], key) {
			out = append(out, s)
		}
	}
	return out
}

func lastKey(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	if path == "" {
		return "its section"
	}
	return path
}

// scalar is the text of a scalar node; a null node reads as "".
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.add(n, path, "expected a single value, found "+kindName(n), "write it on the same line as the key")
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if s, ok := d.scalar(n, path); ok {
		*dst = s
	}
}

// required reads a scalar that must not be empty.
func (d *decoder) required(n *yaml.Node, path, fix string) (string, bool) {
	s, ok := d.scalar(n, path)
	if ok && strings.TrimSpace(s) == "" {
		d.add(n, path, "is empty", fix)
		return "", false
	}
	return s, ok
}

func (d *decoder) integer(n *yaml.Node, path string, dst *int) bool {
	s, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.add(n, path, fmt.Sprintf("%q is not a whole number", s), "write digits only, e.g. 200")
		return false
	}
	*dst = v
	return true
}

var bareNumber = regexp.MustCompile(`^\d+(\.\d+)?$`)

// duration reads a length of time: a Go duration ("30s", "2m", "48h",
// "1m30s"), which may start with whole days ("90d", "1d12h"). Zero is
// refused unless zeroOK.
func (d *decoder) duration(n *yaml.Node, path string, zeroOK bool, dst *time.Duration) bool {
	s, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	v, err := parseDuration(s)
	switch {
	case bareNumber.MatchString(s) && s != "0":
		d.add(n, path, fmt.Sprintf("%q has no unit", s), "add one: "+s+"s for seconds, "+s+"m for minutes, "+s+"h for hours, "+s+"d for days")
		return false
	case errors.Is(err, errTooLong):
		d.add(n, path, fmt.Sprintf("%q is too long", s), fmt.Sprintf("write at most %dd", maxDays))
		return false
	case err != nil:
		d.add(n, path, fmt.Sprintf("%q is not a duration", s), durationFix(s))
		return false
	case v < 0:
		d.add(n, path, "cannot be negative", "write a length such as 30s")
		return false
	case v == 0 && !zeroOK:
		d.add(n, path, "cannot be zero", "write a length such as 30s")
		return false
	}
	*dst = v
	return true
}

// daysPattern is the whole days a duration may start with: "90d", "1d12h".
var daysPattern = regexp.MustCompile(`^(-?)(\d+)d(.*)$`)

// maxDays keeps a duration in days well inside time.Duration (292 years).
const maxDays = 36500

var errTooLong = errors.New("too long")

// parseDuration is time.ParseDuration with one more unit in front: d, 24
// hours (days on the clock: a retention of 90d is 2160h, whatever the
// daylight saving time changes in between).
func parseDuration(s string) (time.Duration, error) {
	m := daysPattern.FindStringSubmatch(s)
	if m == nil {
		return time.ParseDuration(s)
	}
	days, err := strconv.Atoi(m[2])
	if err != nil || days > maxDays {
		return 0, errTooLong
	}
	v := time.Duration(days) * Day
	if m[3] != "" {
		rest, err := time.ParseDuration(m[3])
		if err != nil {
			return 0, err
		}
		if rest < 0 {
			return 0, fmt.Errorf("%q: a sign in the middle", s)
		}
		v += rest
	}
	if m[1] == "-" {
		v = -v
	}
	return v, nil
}

// durationFix guesses what an admin meant by a duration Go cannot read.
func durationFix(s string) string {
	const units = "use a number and a unit, s (seconds), m (minutes), h (hours) or d (days): 30s, 2m, 1h30m, 90d"
	var n int
	var unit string
	if _, err := fmt.Sscanf(strings.ToLower(s), "%d%s", &n, &unit); err == nil {
		switch {
		case strings.HasPrefix(unit, "d") || strings.HasPrefix(unit, "j"):
			return fmt.Sprintf("write %dd", n)
		case strings.HasPrefix(unit, "w") || strings.HasPrefix(unit, "sem"):
			return fmt.Sprintf("write %dd", n*7)
		case strings.HasPrefix(unit, "mo"):
			return fmt.Sprintf("months are not a unit: write days, e.g. %dd", n*30)
		case strings.HasPrefix(unit, "y") || strings.HasPrefix(unit, "an"):
			return fmt.Sprintf("years are not a unit: write %dd", n*365)
		case strings.HasPrefix(unit, "sec"):
			return fmt.Sprintf("write %ds", n)
		case strings.HasPrefix(unit, "min"):
			return fmt.Sprintf("write %dm", n)
		case strings.HasPrefix(unit, "hour"), strings.HasPrefix(unit, "heure"):
			return fmt.Sprintf("write %dh", n)
		}
	}
	return units
}

// list walks a sequence node. A single value where a list is expected is
// taken as a list of one.
func (d *decoder) list(n *yaml.Node, path string, fn func(i int, v *yaml.Node)) bool {
	n = resolve(n)
	if isNull(n) {
		return true
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, v := range n.Content {
			fn(i, v)
		}
		return true
	case yaml.ScalarNode:
		fn(0, n)
		return true
	}
	d.add(n, path, "expected a list, found "+kindName(n), "write [a, b] or one \"- item\" per line")
	return false
}

// strings reads a list of values.
func (d *decoder) strings(n *yaml.Node, path string) ([]string, []*yaml.Node, bool) {
	var vals []string
	var nodes []*yaml.Node
	ok := d.list(n, path, func(i int, v *yaml.Node) {
		if s, good := d.scalar(v, item(path, i)); good {
			vals = append(vals, s)
			nodes = append(nodes, resolve(v))
		}
	})
	return vals, nodes, ok
}

// oneOf reads a value from a fixed set.
func (d *decoder) oneOf(n *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	if slices.Contains(allowed, s) {
		return s, true
	}
	fix := "write " + quoteList(allowed)
	if c, near := closest(s, allowed); near {
		fix = "did you mean " + c + "? " + fix
	}
	d.add(n, path, fmt.Sprintf("%q is not a choice here", s), fix)
	return "", false
}

// namePattern is what prompt names, categories and group ids may contain:
// they end up in file names and metric labels.
var namePattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// name reads an identifier (prompt name, category, group id).
func (d *decoder) name(n *yaml.Node, path, what string) (string, bool) {
	s, ok := d.required(n, path, "write a "+what)
	if !ok {
		return "", false
	}
	if !namePattern.MatchString(s) {
		d.add(n, path, fmt.Sprintf("%q: a %s may use only lowercase letters, digits and _", s, what),
			"write "+suggestName(s))
		return "", false
	}
	return s, true
}

// suggestName turns "Tournoi Été-2027" into "tournoi_t_2027"-like text an
// admin can adapt.
func suggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("àâä", r):
			b.WriteRune('a')
		case strings.ContainsRune("éèêë", r):
			b.WriteRune('e')
		case strings.ContainsRune("îï", r):
			b.WriteRune('i')
		case strings.ContainsRune("ôö", r):
			b.WriteRune('o')
		case strings.ContainsRune("ùûü", r):
			b.WriteRune('u')
		case r == 'ç':
			b.WriteRune('c')
		default:
			b.WriteRune('_')
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		return "a name such as closure_holidays"
	}
	return out
}
