package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
)

// Staff is a person who answers calls on a softphone registered to
// clubline. Exactly one way to check their password is set: PasswordEnv,
// or HA1 and/or HA1SHA256.
type Staff struct {
	ID        string // "marie": used in groups, on_call and records
	Name      string // "Marie Tremblay"
	Extension string // digits, unique: the SIP user their phone registers as
	// PasswordEnv names the environment variable holding their SIP
	// password; it is read when clubline starts, not at check time.
	PasswordEnv string
	HA1         string // hex MD5 of "user:realm:password", 32 digits
	HA1SHA256   string // hex SHA-256 of the same (RFC 8760), 64 digits
	// Phone is the person's outside number, E.164 ("+15145550102"),
	// rung along with their registered phones through the first trunk
	// with a free channel, with call-confirm (the person presses 1 to
	// take the call, so that their voicemail cannot); may be empty.
	Phone string
	// Email is where their messages are sent ("" : none).
	Email string
	// WebPasswordEnv names the environment variable holding their web
	// page password; WebPasswordHash is that password's argon2id or
	// bcrypt hash instead. Neither: they cannot sign in.
	WebPasswordEnv, WebPasswordHash string
	Roles                           []string // RoleAdmin
	// MWI is how their phone learns of waiting messages: MWISubscribe
	// (default) or MWIUnsolicited.
	MWI  string
	Line int
}

// OnCall is who answers urgent calls outside office hours ("astreinte"):
// a rotation and overrides, read in the club's time zone. Line is 0 when
// the file has no on_call section (then nobody is on call).
type OnCall struct {
	Every     routing.Every
	Starts    time.Time
	Members   []string
	Overrides []routing.RosterOverride
	Line      int
}

// Urgency is where the urgency route goes.
type Urgency struct {
	// Target is clubline.UrgencyOnCall (the person on call at that moment) or a
	// group id.
	Target string
	// Fallback is rung when the target does not answer: a SIP URI
	// ("sip:urgence@example.org") or a phone number in E.164
	// ("+15145550199"), rung through a trunk with call-confirm; empty:
	// straight to voicemail, flagged urgent.
	Fallback string
	// RingTimeout is how long each step rings (the person on call, then
	// the fallback) before the next (default routing.DefaultRingTimeout).
	RingTimeout time.Duration
	// FallbackLine is the line of fallback in the file, for warnings.
	FallbackLine int
}

// DefaultGroup is a group with every key but id and members at its
// default (routing's queue defaults).
func DefaultGroup(id string) Group {
	return Group{ID: id, Strategy: routing.RingAll, RingTimeout: routing.DefaultRingTimeout, MaxWait: routing.DefaultMaxWait,
		AnnounceEvery: routing.DefaultAnnounceEvery, ServiceLevel: routing.DefaultServiceLevel, ShortAbandon: routing.DefaultShortAbandon}
}

// WarningHorizon is how far ahead Warnings looks for gaps in the on-call
// roster.
const WarningHorizon = 28 * Day

// Roster is who is on call, ready to ask. Parse builds it once; it is
// never nil (with no on_call section, nobody is ever on call).
func (c *Config) Roster() *routing.Roster {
	if c.roster != nil {
		return c.roster
	}
	return c.buildRoster()
}

func (c *Config) buildRoster() *routing.Roster {
	return &routing.Roster{
		Location:  c.Club.Location,
		Rotation:  routing.Rotation{Every: c.OnCall.Every, Starts: c.OnCall.Starts, Members: c.OnCall.Members},
		Overrides: c.OnCall.Overrides,
	}
}

// StaffByID finds a staff member.
func (c *Config) StaffByID(id string) (Staff, bool) {
	for _, s := range c.Staff {
		if s.ID == id {
			return s, true
		}
	}
	return Staff{}, false
}

// Warnings are what is valid but likely a mistake, as of now: a group
// with no members (its calls go to voicemail), a stretch in the next four
// weeks with nobody on call while urgency.target is on-call. They do not
// stop the file from loading.
func (c *Config) Warnings(now time.Time) Errors {
	var ws Errors
	for i, g := range c.Groups {
		if len(g.Members) == 0 {
			ws = append(ws, &Error{File: c.file, Line: g.Line, Key: item("groups", i) + ".members",
				Msg: fmt.Sprintf("group %s has no members: calls routed to it go to voicemail", g.ID),
				Fix: "add members: [<staff id>, …]"})
		}
	}
	if c.OnCall.Line == 0 {
		if c.Urgency.Target == clubline.UrgencyOnCall {
			ws = append(ws, &Error{File: c.file, Key: "on_call", Msg: "no on_call section: nobody is on call, so urgent calls go to " + c.urgencyNext(),
				Fix: "add on_call with a rotation, or set urgency.target to a group"})
		}
		return ws
	}
	if c.Urgency.Target != clubline.UrgencyOnCall {
		return ws // the urgency line rings a group: gaps in the roster strand nobody
	}
	const layout = "Mon 2006-01-02 15:04"
	for _, gap := range c.Roster().Gaps(now, now.Add(WarningHorizon)) {
		ws = append(ws, &Error{File: c.file, Line: c.OnCall.Line, Key: "on_call",
			Msg: fmt.Sprintf("nobody is on call from %s to %s: urgent calls then go to %s",
				gap.From.In(c.Club.Location).Format(layout), gap.To.In(c.Club.Location).Format(layout), c.urgencyNext()),
			Fix: "add an override for that time, or start the rotation earlier"})
	}
	return ws
}

func (c *Config) urgencyNext() string {
	if c.Urgency.Fallback != "" {
		return "the fallback " + c.Urgency.Fallback
	}
	return "voicemail"
}

// peopleRefs keeps the nodes of the staff, on_call and urgency sections
// (decoded once club and groups are known) and the group members written.
type peopleRefs struct {
	staff, onCall, urgency *yaml.Node
	onCallKey              *yaml.Node
	members                []memberRef
	recipients             []recipientRef // lists of people to tell (notify.go)
}

// memberRef is a staff id a group lists.
type memberRef struct {
	key  string
	node *yaml.Node
}

var (
	envPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digitsPattern = regexp.MustCompile(`^[0-9]+$`)
	hex32         = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	hex64         = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// groupField reads one key of a group besides its id.
func (d *decoder) groupField(key string, v *yaml.Node, p string, g *Group) {
	path := p + "." + key
	switch key {
	case "members":
		vals, nodes, ok := d.strings(v, path)
		if !ok {
			return
		}
		g.Members = nil
		for i, s := range vals {
			if slices.Index(vals, s) < i {
				d.add(nodes[i], item(path, i), s+" is listed twice", "list each member once")
				continue
			}
			g.Members = append(g.Members, s)
			d.people.members = append(d.people.members, memberRef{key: item(path, i), node: nodes[i]})
		}
	case "strategy":
		if s, ok := d.oneOf(v, path, strategyNames()); ok {
			g.Strategy = routing.Strategy(s)
		}
	case "ring_timeout":
		d.duration(v, path, false, &g.RingTimeout)
	case "max_wait":
		d.duration(v, path, false, &g.MaxWait)
	case "announce_every":
		d.duration(v, path, true, &g.AnnounceEvery)
	case "service_level":
		d.duration(v, path, false, &g.ServiceLevel)
	case "short_abandon":
		d.duration(v, path, true, &g.ShortAbandon)
	case "notify":
		d.recipients(v, path, &g.Notify)
	case "escalation":
		d.recipients(v, path, &g.Escalation)
	}
}

func strategyNames() []string {
	out := make([]string, len(routing.Strategies))
	for i, s := range routing.Strategies {
		out[i] = string(s)
	}
	return out
}

// people decodes staff, on_call and urgency, and checks the staff ids
// that groups name. It runs after every section is read: it needs the
// club's time zone and the groups.
func (d *decoder) decodePeople(c *Config) {
	r := &d.people
	c.Staff = d.staff(r.staff, c.SIP.DigestAlgorithms, c.ownNumbers())
	ids := make([]string, len(c.Staff))
	for i, s := range c.Staff {
		ids[i] = s.ID
	}
	for _, m := range r.members {
		d.staffRef(m.node, m.key, m.node.Value, ids)
	}
	if r.onCall != nil {
		d.onCall(r.onCall, c, ids)
	}
	d.urgency(r.urgency, c)
}

// staffRef reports an id that names no staff member.
func (d *decoder) staffRef(n *yaml.Node, key, id string, ids []string) bool {
	if slices.Contains(ids, id) {
		return true
	}
	fix := "add { id: " + id + ", … } to staff"
	if len(ids) > 0 {
		fix += ", or write one of " + quoteList(ids)
	}
	if s, near := closest(id, ids); near {
		fix = "did you mean " + s + "?"
	}
	d.add(n, key, fmt.Sprintf("no staff member %q", id), fix)
	return false
}

// staff reads the staff section; own are the club's numbers, which no
// one's phone may be.
func (d *decoder) staff(n *yaml.Node, algorithms []string, own map[string]string) []Staff {
	var out []Staff
	ids, exts := map[string]int{}, map[string]int{}
	const example = `write - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_PW_MARIE }`
	d.list(n, "staff", func(i int, v *yaml.Node) {
		p := item("staff", i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { id: …, name: …, … }, found "+kindName(v), example)
			return
		}
		s := Staff{Line: v.Line}
		valid := true
		bad := func(n *yaml.Node, key, msg, fix string) {
			d.add(n, p+"."+key, msg, fix)
			valid = false
		}
		d.fields(v, "staff[]", p, func(key string, k, v *yaml.Node) {
			if d.staffWeb(key, p, k, v, &s, bad) {
				return
			}
			path := p + "." + key
			val, ok := d.scalar(v, path)
			if !ok {
				valid = false
				return
			}
			val = strings.TrimSpace(val)
			switch key {
			case "id":
				switch {
				case val == "":
					bad(v, key, "is empty", "write an id such as marie")
				case !groupPattern.MatchString(val):
					bad(v, key, fmt.Sprintf("%q: an id may use only lowercase letters, digits, _ and -", val), "write "+suggestName(val))
				case ids[val] > 0:
					bad(v, key, fmt.Sprintf("staff member %s is already defined on line %d", val, ids[val]), "give each person their own id")
				default:
					ids[val] = v.Line
					s.ID = val
				}
			case "name":
				if val == "" {
					bad(v, key, "is empty", "write the person's name, e.g. Marie Tremblay")
				}
				s.Name = val
			case "extension":
				switch {
				case !digitsPattern.MatchString(val):
					bad(v, key, fmt.Sprintf("%q is not an extension", val), "write digits only, in quotes, e.g. \"201\"")
				case exts[val] > 0:
					bad(v, key, fmt.Sprintf("extension %s is already the one on line %d", val, exts[val]), "give each person their own extension")
				default:
					exts[val] = v.Line
					s.Extension = val
				}
			case "password":
				bad(k, key, "a password is never written in this file",
					"remove it; write password_env: CLUBLINE_PW_"+strings.ToUpper(strings.ReplaceAll(s.ID, "-", "_"))+" and set that environment variable where clubline runs, or write ha1")
			case "password_env":
				if !envPattern.MatchString(val) {
					bad(v, key, fmt.Sprintf("%q is not an environment variable name", val), "write letters, digits and _, e.g. CLUBLINE_PW_MARIE")
				}
				s.PasswordEnv = val
			case "ha1":
				if !hex32.MatchString(val) {
					bad(v, key, "is not 32 hexadecimal digits", "write the MD5 of \"extension:realm:password\" in hex, e.g. from: printf '201:realm:secret' | md5sum")
				}
				s.HA1 = strings.ToLower(val)
			case "ha1_sha256":
				if !hex64.MatchString(val) {
					bad(v, key, "is not 64 hexadecimal digits", "write the SHA-256 of \"extension:realm:password\" in hex, e.g. from: printf '201:realm:secret' | sha256sum")
				}
				s.HA1SHA256 = strings.ToLower(val)
			case "phone":
				if val == "" {
					return
				}
				e, msg, fix := NormalizeNumber(val)
				switch {
				case msg != "":
					bad(v, key, msg, fix)
				case own[e] != "":
					bad(v, key, fmt.Sprintf("%s is the club's own number (%s): ringing it would call clubline itself", e, own[e]),
						"write the person's own number, or remove phone")
				default:
					s.Phone = e
				}
			}
		})
		for _, req := range []struct{ key, fix string }{
			{"id", "write id: marie"}, {"name", "write name: Marie Tremblay"}, {"extension", "write extension: \"201\""},
		} {
			if !hasKey(v, req.key) {
				bad(v, req.key, "missing", req.fix)
			}
		}
		if s.WebPasswordEnv != "" && s.WebPasswordHash != "" {
			bad(v, "web_password_env", "both web_password_env and web_password_hash are given", "keep one: the variable, or the hash")
		}
		switch {
		case hasKey(v, "password"):
		case s.PasswordEnv != "" && (s.HA1 != "" || s.HA1SHA256 != ""):
			bad(v, "password_env", "both password_env and ha1 are given", "keep one: password_env, or ha1 and ha1_sha256")
		case !hasKey(v, "password_env") && !hasKey(v, "ha1") && !hasKey(v, "ha1_sha256"):
			bad(v, "password_env", "no credentials: this person's phone could not register",
				"write password_env: CLUBLINE_PW_"+strings.ToUpper(strings.ReplaceAll(s.ID, "-", "_"))+" and set that environment variable, or write ha1")
		case s.HA1 == "" && s.HA1SHA256 != "" && !slices.Contains(algorithms, DigestSHA256):
			bad(v, "ha1_sha256", "only an SHA-256 hash is given, and sip.digest_algorithms does not offer SHA-256: this person's phone could not register",
				"add ha1 (the MD5 hash), or write digest_algorithms: [SHA-256, MD5] under sip")
		case s.HA1 != "" && s.HA1SHA256 == "" && !slices.Contains(algorithms, DigestMD5):
			bad(v, "ha1", "only an MD5 hash is given, and sip.digest_algorithms does not offer MD5: this person's phone could not register",
				"add ha1_sha256, or add MD5 to sip.digest_algorithms")
		}
		if valid {
			out = append(out, s)
		}
	})
	return out
}

// The keys of the sections this file reads (see schema).
func init() {
	schema["groups[]"] = []string{"id", "members", "strategy", "ring_timeout", "max_wait", "announce_every", "service_level", "short_abandon",
		"notify", "escalation"}
	schema["staff[]"] = []string{"id", "name", "extension", "password_env", "ha1", "ha1_sha256", "phone", "password",
		"email", "web_password_env", "web_password_hash", "web_password", "roles", "mwi"}
	schema["on_call"] = []string{"rotation", "overrides"}
	schema["on_call.rotation"] = []string{"every", "starts", "members"}
	schema["on_call.overrides[]"] = []string{"from", "to", "staff"}
	schema["urgency"] = []string{"target", "fallback", "ring_timeout"}
}

// instantLayouts are how on_call writes a moment, in the club's zone.
var instantLayouts = []string{"2006-01-02T15:04", "2006-01-02 15:04"}

func (d *decoder) instant(n *yaml.Node, path string, loc *time.Location) (time.Time, bool) {
	s, ok := d.required(n, path, "write a moment such as 2026-11-23T16:30")
	if !ok {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, l := range instantLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	fix := "write YYYY-MM-DDTHH:MM on the 24-hour clock, e.g. 2026-11-23T16:30"
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		fix = "add the time: " + s + "T16:30"
	}
	d.add(n, path, fmt.Sprintf("%q is not a date and time", s), fix)
	return time.Time{}, false
}

func (d *decoder) onCall(n *yaml.Node, c *Config, ids []string) {
	loc := c.Club.Location
	o := &c.OnCall
	o.Line = d.people.onCallKey.Line
	d.fields(n, "on_call", "on_call", func(key string, k, v *yaml.Node) {
		switch key {
		case "rotation":
			d.rotation(v, o, loc, ids)
		case "overrides":
			o.Overrides = d.overrides(v, loc, ids)
		}
	})
}

func (d *decoder) rotation(n *yaml.Node, o *OnCall, loc *time.Location, ids []string) {
	o.Every = routing.EveryWeek
	d.fields(n, "on_call.rotation", "on_call.rotation", func(key string, k, v *yaml.Node) {
		p := "on_call.rotation." + key
		switch key {
		case "every":
			if s, ok := d.oneOf(v, p, []string{string(routing.EveryWeek), string(routing.EveryDay)}); ok {
				o.Every = routing.Every(s)
			}
		case "starts":
			if t, ok := d.instant(v, p, loc); ok {
				o.Starts = t
			}
		case "members":
			vals, nodes, ok := d.strings(v, p)
			if !ok {
				return
			}
			if len(vals) == 0 {
				d.add(v, p, "the rotation has no members", "list the staff ids who take turns, e.g. [luc, marie]")
				return
			}
			good := true
			for i, s := range vals {
				good = d.staffRef(nodes[i], item(p, i), s, ids) && good
			}
			if good {
				o.Members = vals
			}
		}
	})
	if !hasKey(n, "starts") {
		d.add(n, "on_call.rotation.starts", "missing", "write when the first turn starts, e.g. starts: 2026-11-23T16:30")
	}
	if !hasKey(n, "members") {
		d.add(n, "on_call.rotation.members", "the rotation has no members", "write members: [luc, marie]")
	}
}

func (d *decoder) overrides(n *yaml.Node, loc *time.Location, ids []string) []routing.RosterOverride {
	var out []routing.RosterOverride
	var lines []int
	const layout = "2006-01-02 15:04"
	d.list(n, "on_call.overrides", func(i int, v *yaml.Node) {
		p := item("on_call.overrides", i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { from: …, to: …, staff: … }, found "+kindName(v), "write - { from: 2026-12-24T16:30, to: 2026-12-27T08:30, staff: marie }")
			return
		}
		var o routing.RosterOverride
		valid := true
		var toNode *yaml.Node
		d.fields(v, "on_call.overrides[]", p, func(key string, k, v *yaml.Node) {
			path := p + "." + key
			switch key {
			case "from", "to":
				t, ok := d.instant(v, path, loc)
				valid = valid && ok
				if key == "from" {
					o.From = t
				} else {
					o.To, toNode = t, v
				}
			case "staff":
				s, ok := d.required(v, path, "write a staff id")
				valid = valid && ok && d.staffRef(v, path, s, ids)
				o.Staff = s
			}
		})
		for _, key := range []string{"from", "to", "staff"} {
			if !hasKey(v, key) {
				d.add(v, p+"."+key, "missing", "write - { from: 2026-12-24T16:30, to: 2026-12-27T08:30, staff: marie }")
				valid = false
			}
		}
		if valid && !o.From.Before(o.To) {
			d.add(toNode, p+".to", fmt.Sprintf("ends (%s) before it starts (%s)", o.To.Format(layout), o.From.Format(layout)), "swap from and to")
			valid = false
		}
		if !valid {
			return
		}
		for j, e := range out {
			if o.From.Before(e.To) && e.From.Before(o.To) {
				first := o.From
				if e.From.After(first) {
					first = e.From
				}
				d.add(v, p, fmt.Sprintf("overlaps the override on line %d: %s is in both", lines[j], first.In(loc).Format(layout)),
					"make one end when the other starts (to is not included)")
				return
			}
		}
		out = append(out, o)
		lines = append(lines, v.Line)
	})
	return out
}

func (d *decoder) urgency(n *yaml.Node, c *Config) {
	var targetNode *yaml.Node
	d.fields(n, "urgency", "urgency", func(key string, k, v *yaml.Node) {
		p := "urgency." + key
		switch key {
		case "target":
			if s, ok := d.required(v, p, "write on-call, or a group id"); ok {
				c.Urgency.Target, targetNode = strings.TrimSpace(s), v
			}
		case "fallback":
			s, ok := d.scalar(v, p)
			if !ok {
				return
			}
			c.Urgency.FallbackLine = v.Line
			s = strings.TrimSpace(s)
			if looksLikeNumber(s) {
				e, msg, fix := NormalizeNumber(s)
				switch where := c.ownNumbers()[e]; {
				case msg != "":
					d.add(v, p, msg, fix)
				case where != "":
					d.add(v, p, fmt.Sprintf("%s is the club's own number (%s): ringing it would call clubline itself", e, where),
						"write the number of someone who takes urgent calls, or a SIP address")
				default:
					c.Urgency.Fallback = e
				}
				return
			}
			if msg := checkTarget(s); msg != "" {
				d.add(v, p, msg, "write a SIP URI such as \"sip:urgence@example.org\", a number such as \"+15145550199\", or \"\" for voicemail")
				return
			}
			c.Urgency.Fallback = s
		case "ring_timeout":
			d.duration(v, p, false, &c.Urgency.RingTimeout)
		}
	})
	t := c.Urgency.Target
	if t == clubline.UrgencyOnCall || c.HasGroup(t) {
		return
	}
	var groups []string
	for _, g := range c.Groups {
		groups = append(groups, g.ID)
	}
	choices := append([]string{clubline.UrgencyOnCall}, groups...)
	fix := "write " + quoteList(choices)
	if s, near := closest(t, choices); near {
		fix = "did you mean " + s + "?"
	}
	d.add(targetNode, "urgency.target", fmt.Sprintf("%q is neither on-call nor a group", t), fix)
}

// looksLikeNumber tells a phone number, which NormalizeNumber reads, from
// a SIP URI: digits, and neither a scheme nor a user part.
func looksLikeNumber(s string) bool {
	return strings.ContainsAny(s, "0123456789") && !strings.ContainsAny(s, ":@")
}

// checkTarget accepts "", a phone number, or a sip:/sips: URI with a host.
func checkTarget(s string) string {
	if s == "" || numberPattern.MatchString(s) {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		if strings.ContainsAny(s, "0123456789") && !strings.Contains(s, ":") && !strings.Contains(s, "@") {
			return fmt.Sprintf("%q is not a phone number (digits only, no spaces or dashes)", s)
		}
		return fmt.Sprintf("%q is neither a SIP URI nor a phone number", s)
	case u.Scheme != "sip" && u.Scheme != "sips":
		return fmt.Sprintf("%q: unknown scheme %q", s, u.Scheme)
	}
	host := u.Opaque
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if j := strings.IndexAny(host, ";?"); j >= 0 {
		host = host[:j]
	}
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if msg, _ := checkHost(host); msg != "" || host == "" {
		return fmt.Sprintf("%q has no valid host", s)
	}
	return ""
}
