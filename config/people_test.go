package config_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/routing"
)

// people is the example: lines 3-16 after head.
const people = head + `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_PW_MARIE }
  - { id: luc, name: Luc Gagnon, extension: "202", password_env: CLUBLINE_PW_LUC, phone: "+15145550102" }
groups:
  - id: office
    members: [marie, luc]
    strategy: ring-all
    ring_timeout: 20s
    max_wait: 3m
    announce_every: 45s
    service_level: 30s
on_call:
  rotation: { every: week, starts: 2026-11-23T16:30, members: [luc, marie] }
  overrides:
    - { from: 2026-12-24T16:30, to: 2026-12-27T08:30, staff: marie }
urgency:
  target: on-call
  fallback: "sip:urgence@example.org"
  ring_timeout: 15s
`

func TestPeople(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(people))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Staff) != 2 || !reflect.DeepEqual(c.Staff[1], config.Staff{ID: "luc", Name: "Luc Gagnon", Extension: "202", PasswordEnv: "CLUBLINE_PW_LUC", Phone: "+15145550102", Line: 5}) {
		t.Errorf("staff: %+v", c.Staff)
	}
	g := c.Groups[0]
	if g.ID != "office" || strings.Join(g.Members, ",") != "marie,luc" || g.Strategy != routing.RingAll || g.RingTimeout != 20*time.Second ||
		g.MaxWait != 3*time.Minute || g.AnnounceEvery != 45*time.Second || g.ServiceLevel != 30*time.Second || g.ShortAbandon != 5*time.Second {
		t.Errorf("group: %+v", g)
	}
	if c.Urgency != (config.Urgency{Target: "on-call", Fallback: "sip:urgence@example.org", RingTimeout: 15 * time.Second, FallbackLine: 20}) {
		t.Errorf("urgency: %+v", c.Urgency)
	}
	loc := c.Club.Location
	r := c.Roster()
	if who, why, _ := r.OnCall(time.Date(2026, 12, 25, 12, 0, 0, 0, loc)); who != "marie" || why != "override until 2026-12-27 08:30" {
		t.Errorf("christmas: %s %s", who, why)
	}
	if who, _, _ := r.OnCall(time.Date(2026, 11, 30, 16, 30, 0, 0, loc)); who != "marie" {
		t.Errorf("second week: %s", who)
	}
	// A week after the rotation starts: no gap, every group has members.
	if ws := c.Warnings(time.Date(2026, 11, 30, 0, 0, 0, 0, loc)); len(ws) != 0 {
		t.Errorf("warnings: %v", ws)
	}
	// The day before it starts: a gap until 16:30.
	ws := c.Warnings(time.Date(2026, 11, 22, 12, 0, 0, 0, loc))
	if len(ws) != 1 || ws[0].Error() != "p.yaml:14: on_call: nobody is on call from Sun 2026-11-22 12:00 to Mon 2026-11-23 16:30: urgent calls then go to the fallback sip:urgence@example.org (add an override for that time, or start the rotation earlier)" {
		t.Errorf("warnings: %v", ws)
	}
}

func TestPeopleDefaults(t *testing.T) {
	// groups: [{id: office}] with no staff stays valid: a warning.
	c, err := config.Parse("d.yaml", []byte(head+"groups:\n  - { id: office }\n  - { id: coaches, strategy: longest-idle, announce_every: 0s }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Groups[1]; g.Strategy != routing.LongestIdle || g.AnnounceEvery != 0 || g.MaxWait != routing.DefaultMaxWait {
		t.Errorf("coaches: %+v", g)
	}
	if want := config.DefaultGroup("office"); !reflect.DeepEqual(c.Groups[0], config.Group{ID: "office", Strategy: want.Strategy, RingTimeout: want.RingTimeout,
		MaxWait: want.MaxWait, AnnounceEvery: want.AnnounceEvery, ServiceLevel: want.ServiceLevel, ShortAbandon: want.ShortAbandon, Line: 4}) {
		t.Errorf("office: %+v", c.Groups[0])
	}
	ws := c.Warnings(time.Now())
	var got []string
	for _, w := range ws {
		got = append(got, w.Error())
	}
	want := []string{
		"d.yaml:4: groups[1].members: group office has no members: calls routed to it go to voicemail (add members: [<staff id>, …])",
		"d.yaml:5: groups[2].members: group coaches has no members: calls routed to it go to voicemail (add members: [<staff id>, …])",
		"d.yaml: on_call: no on_call section: nobody is on call, so urgent calls go to voicemail (add on_call with a rotation, or set urgency.target to a group)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The default config: office with no members, urgency to on-call.
	c, err = config.Parse("min.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if c.Groups[0].Strategy != routing.RingAll || c.Urgency.Target != clubline.UrgencyOnCall || c.Roster() == nil {
		t.Errorf("defaults: %+v %+v", c.Groups, c.Urgency)
	}
	if _, _, ok := c.Roster().OnCall(time.Now()); ok {
		t.Error("someone on call with no on_call section")
	}
	// HA1 credentials, a day rotation, overrides only, a group as urgency target.
	c, err = config.Parse("h.yaml", []byte(head+`sip: { digest_algorithms: [SHA-256, md5] }
staff:
  - { id: anne, name: Anne, extension: "301", ha1: 0123456789ABCDEF0123456789abcdef }
  - { id: paul, name: Paul, extension: "302", ha1_sha256: "`+strings.Repeat("ab", 32)+`" }
groups:
  - { id: office, members: [anne, paul], strategy: in-order }
on_call:
  rotation: { every: day, starts: "2026-11-23 08:00", members: [paul] }
urgency: { target: office, fallback: "+15145550199" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.SIP.DigestAlgorithms, []string{config.DigestSHA256, config.DigestMD5}) {
		t.Errorf("digest algorithms = %q", c.SIP.DigestAlgorithms)
	}
	if ws := c.Warnings(time.Date(2026, 11, 1, 0, 0, 0, 0, c.Club.Location)); len(ws) != 0 {
		t.Errorf("gaps warned while urgency rings a group: %v", ws)
	}
	if c.Staff[0].HA1 != "0123456789abcdef0123456789abcdef" || c.OnCall.Every != routing.EveryDay || c.Urgency.Target != "office" {
		t.Errorf("%+v %+v %+v", c.Staff, c.OnCall, c.Urgency)
	}
}

func TestPeopleErrors(t *testing.T) {
	staff := head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: PW_M }\n" // staff on line 4
	tests := []struct {
		name string
		yaml string
		want string // "line: key"
		msg  string
	}{
		{"plain password", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password: secret }\n", "4: staff[1].password",
			"a password is never written in this file (remove it; write password_env: CLUBLINE_PW_MARIE"},
		{"no credentials", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\" }\n", "4: staff[1].password_env", "no credentials"},
		{"password_env and ha1", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: X, ha1: " + strings.Repeat("a", 32) + " }\n", "4: staff[1].password_env", "keep one"},
		{"bad env name", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: \"PW MARIE\" }\n", "4: staff[1].password_env", "not an environment variable name"},
		{"short ha1", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", ha1: abc }\n", "4: staff[1].ha1", "not 32 hexadecimal digits"},
		{"short ha1_sha256", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", ha1_sha256: " + strings.Repeat("a", 32) + " }\n", "4: staff[1].ha1_sha256", "not 64 hexadecimal digits"},
		{"duplicate staff id", staff + "  - { id: marie, name: Marie B, extension: \"202\", password_env: PW_B }\n", "5: staff[2].id", "already defined on line 4"},
		{"duplicate extension", staff + "  - { id: luc, name: Luc, extension: \"201\", password_env: PW_L }\n", "5: staff[2].extension", "extension 201 is already the one on line 4"},
		{"extension not digits", head + "staff:\n  - { id: marie, name: Marie, extension: \"2-01\", password_env: X }\n", "4: staff[1].extension", "digits only"},
		{"missing name", head + "staff:\n  - { id: marie, extension: \"201\", password_env: X }\n", "4: staff[1].name", "missing"},
		{"bad phone", head + "staff:\n  - { id: marie, name: Marie, extension: \"201\", password_env: X, phone: 514-555-0102 }\n", "4: staff[1].phone", "not a phone number"},
		{"staff as text", head + "staff:\n  - marie\n", "4: staff[1]", "expected { id"},
		{"unknown staff in a group", staff + "groups:\n  - { id: office, members: [marie, mari2] }\n", "6: groups[1].members[2]", `no staff member "mari2" (did you mean marie?)`},
		{"member twice", staff + "groups:\n  - { id: office, members: [marie, marie] }\n", "6: groups[1].members[2]", "listed twice"},
		{"bad strategy", staff + "groups:\n  - { id: office, strategy: round-robin }\n", "6: groups[1].strategy", "write ring-all, longest-idle or in-order"},
		{"ring timeout zero", staff + "groups:\n  - { id: office, ring_timeout: 0s }\n", "6: groups[1].ring_timeout", "cannot be zero"},
		{"unknown group key", staff + "groups:\n  - { id: office, memebrs: [marie] }\n", "6: groups[1].memebrs", "did you mean members?"},
		{"rotation with no members", staff + "on_call:\n  rotation: { starts: 2026-11-23T16:30, members: [] }\n", "6: on_call.rotation.members", "the rotation has no members"},
		{"rotation without members", staff + "on_call:\n  rotation: { starts: 2026-11-23T16:30 }\n", "6: on_call.rotation.members", "the rotation has no members"},
		{"rotation without start", staff + "on_call:\n  rotation: { members: [marie] }\n", "6: on_call.rotation.starts", "missing"},
		{"rotation start without time", staff + "on_call:\n  rotation: { starts: 2026-11-23, members: [marie] }\n", "6: on_call.rotation.starts", "add the time: 2026-11-23T16:30"},
		{"rotation every month", staff + "on_call:\n  rotation: { every: month, starts: 2026-11-23T16:30, members: [marie] }\n", "6: on_call.rotation.every", "write week or day"},
		{"unknown staff in rotation", staff + "on_call:\n  rotation: { starts: 2026-11-23T16:30, members: [luc] }\n", "6: on_call.rotation.members[1]", `no staff member "luc"`},
		{"unknown staff in override", staff + "on_call:\n  overrides:\n    - { from: 2026-12-24T16:30, to: 2026-12-27T08:30, staff: luc }\n", "7: on_call.overrides[1].staff", `no staff member "luc"`},
		{"override reversed", staff + "on_call:\n  overrides:\n    - { from: 2026-12-27T08:30, to: 2026-12-24T16:30, staff: marie }\n", "7: on_call.overrides[1].to", "swap from and to"},
		{"override without staff", staff + "on_call:\n  overrides:\n    - { from: 2026-12-24T16:30, to: 2026-12-27T08:30 }\n", "7: on_call.overrides[1].staff", "missing"},
		{"overlapping overrides", staff + "on_call:\n  overrides:\n    - { from: 2026-12-24T16:30, to: 2026-12-27T08:30, staff: marie }\n    - { from: 2026-12-26T08:30, to: 2026-12-28T08:30, staff: marie }\n",
			"8: on_call.overrides[2]", "overlaps the override on line 7: 2026-12-26 08:30 is in both"},
		{"unknown urgency target", staff + "urgency:\n  target: ofice\n", "6: urgency.target", "did you mean office?"},
		{"fallback with spaces", staff + "urgency:\n  fallback: 514 555 0199\n", "6: urgency.fallback", "not a phone number"},
		{"fallback http", staff + "urgency:\n  fallback: http://example.org\n", "6: urgency.fallback", `unknown scheme "http"`},
		{"fallback without host", staff + "urgency:\n  fallback: \"sip:urgence@\"\n", "6: urgency.fallback", "no valid host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.yaml)
			for _, e := range errs {
				got := e.Error()
				if strings.HasPrefix(got, "clubline.yaml:"+tt.want) && strings.Contains(got, tt.msg) {
					return
				}
			}
			t.Errorf("want clubline.yaml:%s …%s…\ngot:\n%v", tt.want, tt.msg, errs)
		})
	}
}

func TestPeopleAllErrorsAtOnce(t *testing.T) {
	errs := parseErrors(t, head+`staff:
  - { id: marie, name: Marie, extension: "201", password: x }
groups:
  - { id: office, members: [luc] }
on_call:
  rotation: { starts: 2026-11-23T16:30, members: [] }
urgency:
  fallback: "nope nope"
`)
	if len(errs) != 4 {
		t.Fatalf("want 4 errors, got %d:\n%v", len(errs), errs)
	}
	for i, line := range []int{4, 6, 8, 10} {
		if errs[i].Line != line {
			t.Errorf("error %d on line %d, want %d: %v", i, errs[i].Line, line, errs[i])
		}
	}
}
