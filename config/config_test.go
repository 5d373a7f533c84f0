package config_test

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/routing"
)

// parseErrors parses a snippet that must fail and returns its errors.
func parseErrors(t *testing.T, yaml string) config.Errors {
	t.Helper()
	c, err := config.Parse("clubline.yaml", []byte(yaml))
	if err == nil {
		t.Fatalf("parsed without error: %+v", c)
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not config.Errors: %v", err, err)
	}
	return errs
}

const head = "club:\n  name: Test\n" // lines 1-2 of most snippets

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "line: key"
		msg  string // fragment of message or fix
	}{
		{"unknown top key", "club:\n  name: T\nhuors:\n  weekly: {}\n", "3: huors", "did you mean hours?"},
		{"unknown key in section", head + "  timezon: America/Toronto\n", "3: club.timezon", "did you mean timezone?"},
		{"key in the wrong section", head + "sip:\n  timezone: America/Toronto\n", "4: sip.timezone", "timezone belongs under club"},
		{"key given twice", head + "  name: Again\n", "3: club.name", "given twice (first on line 2)"},
		{"unclosed list", head + "sip:\n  listen: [udp://0.0.0.0:5060\n  max_calls: 3\n", "4: ", "a list opened with [ on this line is not closed"},
		{"unclosed map", head + "hours:\n  closures:\n    - { date: 2026-12-25, name: Noël: fermé }\n", "5: ", "not closed"},
		{"tab", head + "sip:\n\tmax_calls: 3\n", "4: ", "not tabs"},
		{"bad indentation", head + "   timezone: x\n", "3: ", "not valid YAML"},
		{"missing colon", head + "  timezone America/Toronto\n  languages: [fr]\n", "3: ", `"timezone America/Toronto" has no colon, unlike the keys around it (write "timezone: America/Toronto")`},
		{"missing colon before a key", "club:\n  name Test\n  timezone: America/Toronto\n", "2: ", `write "name: Test"`},
		{"missing colon on a section", head + "sip\n  max_calls: 3\n", "3: ", `write "sip:"`},
		{"tab under a key", head + "  timezone: America/Toronto\n\tlanguages: [fr]\n", "4: ", "replace it with 2 spaces"},
		{"key one space short", head + "sip:\n  max_calls: 3\n  realm: x\n realm: y\nhours: {}\n", "6: ", "indent it by 2 spaces like the other keys of sip"},
		{"key one space too many", head + "sip:\n  max_calls: 3\n   realm: x\n", "5: ", "line it up with the keys above (2 spaces)"},
		{"list item out of line", head + "staff:\n  - { id: a, name: A, extension: \"301\" }\n - { id: b, name: B, extension: \"302\" }\n", "5: ", "lines it up with no key above it"},
		{"unquoted star", head + "menu:\n  options:\n    - { key: *, category: x }\n", "5: ", `quote it: key: "*"`},
		{"missing club name", "club:\n  timezone: America/Toronto\n", "1: club.name", "missing"},
		{"section not a mapping", head + "sip: 5060\n", "3: sip", "expected keys and values"},

		// club
		{"unknown time zone", head + "  timezone: America/Montreall\n", "3: club.timezone", `unknown time zone "America/Montreall"`},
		{"local time zone", head + "  timezone: Local\n", "3: club.timezone", "unknown time zone"},
		{"unknown language", head + "  languages: [fr, es]\n", "3: club.languages[2]", `unknown language "es"`},
		{"no language", head + "  languages: []\n", "3: club.languages", "no language"},
		{"language twice", head + "  languages: [fr, fr]\n", "3: club.languages[2]", "listed twice"},
		{"language key not a key", head + "  language_key: \"88\"\n", "3: club.language_key", "not one phone key"},
		{"language key clash", head + "  language_key: \"1\"\n", "3: club.language_key", "key 1 both switches language and is menu option 1 (registrations)"},
		{"language key clash with file option", head + "menu:\n  options:\n    - { key: \"8\", category: programs, route: office }\n", "5: club.language_key", "menu option 8 (programs) on line 5"},
		{"no language key", head + "  language_key: \"\"\n", "3: club.language_key", "cannot choose the other language"},

		// sip
		{"listen without transport", head + "sip:\n  listen: [0.0.0.0:5060]\n", "4: sip.listen[1]", "write udp://0.0.0.0:5060"},
		{"listen without port", head + "sip:\n  listen: [udp://0.0.0.0]\n", "4: sip.listen[1]", "has no port"},
		{"listen unknown transport", head + "sip:\n  listen:\n    - udp://0.0.0.0:5060\n    - sctp://0.0.0.0:5060\n", "6: sip.listen[2]", `unknown transport "sctp"`},
		{"listen with path", head + "sip:\n  listen: [udp://0.0.0.0:5060/sip]\n", "4: sip.listen[1]", "more than a transport"},
		{"no listen", head + "sip:\n  listen: []\n", "4: sip.listen", "no address"},
		{"public address with port", head + "sip:\n  public_address: 203.0.113.7:5060\n", "4: sip.public_address", "more than a host"},
		{"rtp ports one number", head + "sip:\n  rtp_ports: 10000\n", "4: sip.rtp_ports", "not a range of ports"},
		{"rtp ports odd start", head + "sip:\n  rtp_ports: 10001-10999\n", "4: sip.rtp_ports", "first port must be even (RTP uses even ports, RTCP the odd one above) (write 10000-10999)"},
		{"rtp ports even end", head + "sip:\n  rtp_ports: 10000-11000\n", "4: sip.rtp_ports", "last port must be odd"},
		{"rtp ports reversed", head + "sip:\n  rtp_ports: 20001-10000\n", "4: sip.rtp_ports", "lower than the last"},
		{"rtp ports privileged", head + "sip:\n  rtp_ports: 100-201\n", "4: sip.rtp_ports", "between 1024 and 65535"},
		{"duration in words", head + "sip:\n  rtp_timeout: 30 seconds\n", "4: sip.rtp_timeout", "write 30s"},
		{"duration without unit", head + "sip:\n  rtp_timeout: 30\n", "4: sip.rtp_timeout", "has no unit"},
		{"duration zero", head + "sip:\n  rtp_timeout: 0s\n", "4: sip.rtp_timeout", "cannot be zero"},
		{"duration negative", head + "sip:\n  drain_timeout: -1m\n", "4: sip.drain_timeout", "cannot be negative"},
		{"digest algorithm unknown", head + "sip:\n  digest_algorithms: [MD5, SHA-512]\n", "4: sip.digest_algorithms[2]", `"SHA-512" is not a digest algorithm`},
		{"digest algorithm twice", head + "sip:\n  digest_algorithms: [md5, MD5]\n", "4: sip.digest_algorithms[2]", "MD5 is listed twice"},
		{"digest algorithms empty", head + "sip:\n  digest_algorithms: []\n", "4: sip.digest_algorithms", "no algorithm"},
		{"limits unknown key", head + "sip:\n  limits:\n    invite: 5\n", "5: sip.limits.invite", "did you mean invites?"},
		{"limits zero", head + "sip:\n  limits:\n    invites: 0\n", "5: sip.limits.invites", "must be at least 1"},
		{"limits trusted host", head + "sip:\n  limits:\n    trusted: [10.0.0.0/8, voip.ms]\n", "5: sip.limits.trusted[2]", "host names are not looked up here"},
		{"limits window unit", head + "sip:\n  limits:\n    window: 10\n", "5: sip.limits.window", "has no unit"},
		{"ha1_sha256 without SHA-256", head + "staff:\n  - { id: anne, name: Anne, extension: \"301\", ha1_sha256: \"" + strings.Repeat("ab", 32) + "\" }\n", "4: staff[1].ha1_sha256", "does not offer SHA-256"},
		{"empty numbers", head + "sip:\n  numbers: []\n", "4: sip.numbers", "no number to answer"},
		{"number with dashes", head + "sip:\n  numbers: [\"+1 450-555-0100\"]\n", "4: sip.numbers[1]", `write "+14505550100"`},
		{"number twice", head + "sip:\n  numbers: [club, club]\n", "4: sip.numbers[2]", "listed twice"},
		{"max calls zero", head + "sip:\n  max_calls: 0\n", "4: sip.max_calls", "at least 1"},
		{"max calls words", head + "sip:\n  max_calls: lots\n", "4: sip.max_calls", "not a whole number"},

		// hours
		{"hour 25", head + "hours:\n  weekly:\n    mon-fri: 08:30-25:00\n", "5: hours.weekly.mon-fri", `"25:00": hours run from 00 to 23`},
		{"french time", head + "hours:\n  weekly:\n    mon-fri: 8h30-16h30\n", "5: hours.weekly.mon-fri", "write 08:30"},
		{"am pm", head + "hours:\n  weekly:\n    mon-fri: 8:30am-4:30pm\n", "5: hours.weekly.mon-fri", "24-hour clock: write 08:30"},
		{"minutes 75", head + "hours:\n  weekly:\n    mon-fri: 08:75-16:30\n", "5: hours.weekly.mon-fri", "minutes run from 00 to 59"},
		{"24:00 as start", head + "hours:\n  weekly:\n    sat: 24:00-24:00\n", "5: hours.weekly.sat", "hours run from 00 to 23"},
		{"end before start", head + "hours:\n  weekly:\n    mon-fri: 16:30-08:30\n", "5: hours.weekly.mon-fri", "ends before it starts (write 08:30-16:30"},
		{"empty range", head + "hours:\n  weekly:\n    mon-fri: 08:30-08:30\n", "5: hours.weekly.mon-fri", "same time"},
		{"not a range", head + "hours:\n  weekly:\n    mon-fri: \"08:30\"\n", "5: hours.weekly.mon-fri", "not a range"},
		{"overlap in a day", head + "hours:\n  weekly:\n    mon-fri: 08:30-12:00,11:00-16:30\n", "5: hours.weekly.mon-fri", "11:00-16:30 overlaps 08:30-12:00"},
		{"overlap across lines", head + "hours:\n  weekly:\n    mon-fri: 08:30-16:30\n    wed: 16:00-20:00\n", "6: hours.weekly.wed", "16:00-20:00 overlaps mon-fri 08:30-16:30 (line 5) on wed"},
		{"unknown day", head + "hours:\n  weekly:\n    monday: 08:30-16:30\n", "5: hours.weekly.monday", `unknown day "monday" (write mon)`},
		{"french day", head + "hours:\n  weekly:\n    lun-ven: 08:30-16:30\n", "5: hours.weekly.lun-ven", "days are written in English: write mon"},
		{"backwards run", head + "hours:\n  weekly:\n    fri-mon: 08:30-16:30\n", "5: hours.weekly.fri-mon", "write fri-sun and mon on two lines"},
		{"weekly not a map", head + "hours:\n  weekly: 08:30-16:30\n", "4: hours.weekly", "expected one line per day"},
		{"holidays unknown", head + "hours:\n  holidays: ontario\n", "4: hours.holidays", "write none, quebec or canada"},
		{"holidays typo", head + "hours:\n  holidays: qubec\n", "4: hours.holidays", "did you mean quebec?"},
		{"override off", head + "hours:\n  override: off\n", "4: hours.override", "write auto, open or closed"},
		{"bad closure date", head + "hours:\n  closures:\n    - { date: 2026-13-01, name: X }\n", "5: hours.closures[1].date", `"2026-13-01" is not a date`},
		{"closure day/month", head + "hours:\n  closures:\n    - { date: 25/12/2026, name: X }\n", "5: hours.closures[1].date", "write YYYY-MM-DD"},
		{"closure without name", head + "hours:\n  closures:\n    - { date: 2026-12-25 }\n", "5: hours.closures[1].name", "missing"},
		{"closure date and from", head + "hours:\n  closures:\n    - { date: 2026-12-25, from: 2026-12-24, to: 2026-12-26, name: X }\n", "5: hours.closures[1]", "both date and from/to"},
		{"closure from only", head + "hours:\n  closures:\n    - { from: 2026-12-24, name: X }\n", "5: hours.closures[1].to", "missing"},
		{"closure reversed", head + "hours:\n  closures:\n    - { from: 2027-01-04, to: 2026-12-24, name: X }\n", "5: hours.closures[1].to", "ends (2026-12-24) before it starts (2027-01-04)"},
		{"closure prompt name", head + "hours:\n  closures:\n    - { date: 2026-12-25, name: X, prompt: Fermé Noël }\n", "5: hours.closures[1].prompt", "write ferme_noel"},
		{"closure far key", head + "hours:\n  closures:\n    - { date: 2026-12-25, name: X, raison: Y }\n", "5: hours.closures[1].raison", "known keys here: date, from, to, name, prompt"},
		{"closure unknown key", head + "hours:\n  closures:\n    - { date: 2026-12-25, nom: X }\n", "5: hours.closures[1].nom", "did you mean name?"},
		{"season reversed", head + "hours:\n  seasons:\n    - { name: S, from: 2027-02-12, to: 2027-01-11, weekly: { mon: 09:00-12:00 } }\n", "5: hours.seasons[1].to", "swap from and to"},
		{"season without weekly", head + "hours:\n  seasons:\n    - { name: S, from: 2027-01-11, to: 2027-02-12 }\n", "5: hours.seasons[1].weekly", "missing"},
		{"season bad hours", head + "hours:\n  seasons:\n    - name: S\n      from: 2027-01-11\n      to: 2027-02-12\n      weekly:\n        mon: 9:00-25:00\n", "9: hours.seasons[1].weekly.mon", "hours run from 00 to 23"},
		{"seasons overlap", head + "hours:\n  seasons:\n    - { name: A, from: 2027-01-11, to: 2027-02-12, weekly: {} }\n    - { name: B, from: 2027-02-01, to: 2027-03-01, weekly: {} }\n",
			"6: hours.seasons[2]", `season "B" overlaps season "A" (line 5): 2027-02-01 is in both`},

		// menu
		{"duplicate menu key", head + "menu:\n  options:\n    - { key: \"1\", category: registrations, route: office }\n    - { key: \"1\", category: programs, route: office }\n",
			"6: menu.options[2].key", "key 1 is already the option on line 5"},
		{"menu key two digits", head + "menu:\n  options:\n    - { key: 12, category: registrations, route: office }\n", "5: menu.options[1].key", `"12" is not one phone key`},
		{"menu key letter", head + "menu:\n  options:\n    - { key: a, category: registrations, route: office }\n", "5: menu.options[1].key", "0-9, * or #"},
		{"route to nothing", head + "menu:\n  options:\n    - { key: \"1\", category: registrations, route: coaches }\n", "5: menu.options[1].route", `route "coaches": no such group (add { id: coaches } to groups`},
		{"route typo", head + "menu:\n  options:\n    - { key: \"1\", category: registrations, route: voicemial }\n", "5: menu.options[1].route", "did you mean voicemail?"},
		{"default route to nothing", head + "menu:\n  default: nobody\n", "4: menu.default", `route "nobody": no such group`},
		{"default menu loses its group", head + "groups:\n  - { id: staff }\n", "3: menu.options", `route "office": no such group`},
		{"custom category without prompt", head + "menu:\n  options:\n    - { key: \"1\", category: tournament, route: office }\n", "5: menu.options[1].category", "add prompt: menu_tournament"},
		{"category with capitals", head + "menu:\n  options:\n    - { key: \"1\", category: Tournoi, route: office, prompt: menu_tournoi }\n", "5: menu.options[1].category", "write tournoi"},
		{"option missing route", head + "menu:\n  options:\n    - { key: \"1\", category: registrations }\n", "5: menu.options[1].route", "missing"},
		{"option as text", head + "menu:\n  options:\n    - 1 registrations office\n", "5: menu.options[1]", "expected { key"},
		{"retries negative", head + "menu:\n  retries: -1\n", "4: menu.retries", "between 0 and 10"},

		// the rest
		{"min not below max", head + "voicemail:\n  max_length: 1s\n", "4: voicemail.max_length", "1s is not longer than min_length 1s"},
		{"days in words", head + "voicemail:\n  follow_up_within: 2 jours\n", "4: voicemail.follow_up_within", "write 2d"},
		{"weeks", head + "voicemail:\n  follow_up_within: 1w\n", "4: voicemail.follow_up_within", "write 7d"},
		{"no unit says days", head + "voicemail:\n  follow_up_within: 2\n", "4: voicemail.follow_up_within", "2d for days"},

		// retention
		{"retention in months", head + "retention:\n  calls: 12m\n", "4: retention.calls", "12m is less than a day (m is minutes, not months) (write days, e.g. 365d)"},
		{"retention in hours", head + "retention:\n  voicemail: 12h\n", "4: retention.voicemail", "12h is less than a day (write days, e.g. 90d)"},
		{"retention in years", head + "retention:\n  calls: 1y\n", "4: retention.calls", "years are not a unit: write 365d"},
		{"retention zero", head + "retention:\n  voicemail: 0\n", "4: retention.voicemail", "cannot be zero (write how long to keep them, e.g. 90d, or off for no limit)"},
		{"retention zero days", head + "retention:\n  calls: 0d\n", "4: retention.calls", "cannot be zero"},
		{"retention negative", head + "retention:\n  calls: -30d\n", "4: retention.calls", "cannot be negative"},
		{"retention empty", head + "retention:\n  calls: \"\"\n", "4: retention.calls", "is empty"},
		{"retention too long", head + "retention:\n  calls: 99999d\n", "4: retention.calls", "too long (write at most 36500d)"},
		{"retention unknown key", head + "retention:\n  recordings: 90d\n", "4: retention.recordings", "known keys here: calls, voicemail"},
		{"retention under a section", head + "voicemail:\n  retention: 90d\n", "4: voicemail.retention", "retention is a section of its own"},
		{"message deleted before its follow-up", head + "voicemail:\n  follow_up_within: 7d\nretention:\n  voicemail: 5d\n", "6: retention.voicemail",
			"5d is shorter than voicemail.follow_up_within 7d: a message would be deleted before its follow-up is due (write at least 7d, or shorten voicemail.follow_up_within)"},
		{"urgent follow-up after retention", head + "voicemail:\n  urgent_follow_up_within: 4d\nretention:\n  voicemail: 3d\n", "6: retention.voicemail",
			"3d is shorter than voicemail.urgent_follow_up_within 4d"},
		{"follow-up after the default retention", head + "voicemail:\n  follow_up_within: 100d\n", "4: voicemail.follow_up_within",
			"100d is longer than retention.voicemail 90d: a message would be deleted before its follow-up is due (write at most 90d, or add retention.voicemail: 100d or longer)"},

		{"bad redis scheme", head + "store:\n  redis_url: http://localhost:6379\n", "4: store.redis_url", `unknown scheme "http"`},
		{"bad redis db", head + "store:\n  redis_url: redis://localhost:6379/zero\n", "4: store.redis_url", `database "zero" is not a number`},
		{"bad redis port", head + "store:\n  redis_url: redis://localhost:port/0\n", "4: store.redis_url", "write redis://host:6379/0"},
		{"redis without host", head + "store:\n  redis_url: redis:///0\n", "4: store.redis_url", "no host"},
		{"empty data dir", head + "store:\n  data_dir: \"\"\n", "4: store.data_dir", "is empty"},
		{"http listen no port", head + "http:\n  listen: localhost\n", "4: http.listen", "not host:port"},
		{"group twice", head + "groups:\n  - { id: office }\n  - { id: office }\n", "5: groups[2].id", "already defined on line 4"},
		{"group named voicemail", head + "groups:\n  - { id: office }\n  - { id: voicemail }\n", "5: groups[2].id", "route of its own"},
		{"group as text", head + "groups:\n  - office\n", "4: groups[1]", "write - { id: office }"},
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

// TestSyntaxErrorsInTheExample makes the mistakes a newcomer made in
// config/example.yaml: the YAML parser gives up on another line than the
// mistake's (17 for a colon missing on 16, 16 for a tab on 17, 15 for a
// key of sip one space short on 27); the error must name the mistake's.
func TestSyntaxErrorsInTheExample(t *testing.T) {
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(example), "\n")
	find := func(prefix string) int { // the line number of the first line that starts with prefix
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i + 1
			}
		}
		t.Fatalf("example.yaml has no line %q; adapt the test", prefix)
		return 0
	}
	name, tz, rtp := find("  name: Club de Soccer Roussillon"), find("  timezone: "), find("  rtp_ports: ")
	if tz != name+1 {
		t.Fatalf("example.yaml: timezone (line %d) no longer follows name (line %d); adapt the test", tz, name)
	}
	at := func(n int) string { return "example.yaml:" + strconv.Itoa(n) + ": " }
	tests := []struct {
		name string
		line int
		edit func(string) string
		want string
	}{
		{"colon missing", name, func(s string) string { return strings.Replace(s, "name:", "name", 1) },
			at(name) + `not valid YAML: "name Club de Soccer Roussillon" has no colon, unlike the keys around it (write "name: Club de Soccer Roussillon")`},
		{"tab", tz, func(s string) string { return "\t" + strings.TrimLeft(s, " ") },
			at(tz) + "not valid YAML: this line is indented with a tab (indent with spaces, not tabs: replace it with 2 spaces, lined up with the keys it belongs with)"},
		{"one space short", rtp, func(s string) string { return s[1:] },
			at(rtp) + "not valid YAML: rtp_ports is indented by 1 space, which lines it up with no key above it (indent it by 2 spaces like the other keys of sip, or not at all if it is not one of them)"},
		{"one space too many", rtp, func(s string) string { return " " + s },
			at(rtp) + "not valid YAML: rtp_ports is indented by 3 spaces, the keys above it by 2 spaces (line it up with the keys above (2 spaces); a line indented more must follow a key that ends with a colon)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := slices.Clone(lines)
			edited[tt.line-1] = tt.edit(edited[tt.line-1])
			errs := parseErrors(t, strings.Join(edited, "\n"))
			got := strings.Replace(errs.Error(), "clubline.yaml", "example.yaml", 1)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestThreeErrorsReportThree(t *testing.T) {
	errs := parseErrors(t, `club:
  name: Test
  timezone: Europe/Montreal
hours:
  weekly:
    mon-fri: 08:30-16:30
    sat: 9h-12h
menu:
  options:
    - { key: "1", category: registrations, route: office }
    - { key: "1", category: programs, route: office }
`)
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %d:\n%v", len(errs), errs)
	}
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if lines[0] != 3 || lines[1] != 7 || lines[2] != 11 {
		t.Errorf("lines %v, want [3 7 11]", lines)
	}
	// One line per error, in order, each "file:line: key: msg (fix)".
	out := strings.Split(errs.Error(), "\n")
	if len(out) != 3 || out[1] != `clubline.yaml:7: hours.weekly.sat: "9h" is not a time (write 09:00)` {
		t.Errorf("Error():\n%s", errs.Error())
	}
}

func TestExampleParsesClean(t *testing.T) {
	c, err := config.Load("example.yaml")
	if err != nil {
		t.Fatalf("example.yaml:\n%v", err)
	}
	if c.Club.Name != "Club de Soccer Roussillon" || c.Club.Location.String() != "America/Toronto" {
		t.Errorf("club: %+v", c.Club)
	}
	if got := len(c.Menu.Options); got != 5 {
		t.Errorf("%d menu options, want 5", got)
	}
	if o := c.Menu.Options[3]; o.Key != "9" || o.Category != "urgent" || o.Route != clubline.RouteUrgency || o.Line == 0 {
		t.Errorf("option 9: %+v", o)
	}
	if got := c.SIP.Numbers; len(got) != 2 || got[0] != "+14505550100" || got[1] != "club" {
		t.Errorf("numbers: %q", got)
	}
	refs := c.PromptRefs()
	if len(refs) != 1 || refs[0].Name != "closure_holidays" || refs[0].Key != "hours.closures[2].prompt" {
		t.Errorf("prompt refs: %+v", refs)
	}
	s := c.Schedule()
	at := time.Date(2027, 6, 24, 10, 0, 0, 0, c.Club.Location)
	if st := s.At(at); st.Open || st.Key != "fete_nationale" {
		t.Errorf("2027-06-24 10:00: %s", st)
	}
	if st := s.At(time.Date(2027, 1, 12, 19, 0, 0, 0, c.Club.Location)); !st.Open || st.Reason != routing.ReasonSeason {
		t.Errorf("season evening: %s", st)
	}
	if st := s.At(time.Date(2026, 12, 28, 10, 0, 0, 0, c.Club.Location)); st.Key != "closure_holidays" {
		t.Errorf("closure: %s", st)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte("club:\n  name: Minimal\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if c.Club.Name != "Minimal" || c.Club.Timezone != "America/Toronto" || c.Club.LanguageKey != "8" {
		t.Errorf("club: %+v", c.Club)
	}
	if c.SIP.MaxCalls != 200 || c.SIP.RTPPorts != (config.PortRange{Min: 10000, Max: 10999}) || c.SIP.DrainTimeout != 2*time.Minute || len(c.SIP.Listen) != 2 {
		t.Errorf("sip: %+v", c.SIP)
	}
	if len(c.Menu.Options) != len(def.Menu.Options) || c.Menu.Default != "office" || c.Menu.Timeout != 5*time.Second {
		t.Errorf("menu: %+v", c.Menu)
	}
	if !reflect.DeepEqual(c.Voicemail, def.Voicemail) || c.Store != def.Store || c.HTTP != def.HTTP {
		t.Errorf("voicemail/store/http: %+v %+v %+v", c.Voicemail, c.Store, c.HTTP)
	}
	if c.Retention != (config.Retention{Calls: 365 * config.Day, Voicemail: 90 * config.Day}) {
		t.Errorf("retention: %+v, want 365d and 90d", c.Retention)
	}
	if c.Hours.Holidays != routing.HolidaysQuebec || len(c.Hours.Weekly) != 1 || c.Hours.Weekly[0].String() != "mon-fri 08:30-16:30" {
		t.Errorf("hours: %+v", c.Hours)
	}
	if !c.HasGroup("office") {
		t.Error("default group office missing")
	}
	// A section given keeps the defaults of the keys it leaves out.
	c, err = config.Parse("part.yaml", []byte("club:\n  name: P\nsip:\n  max_calls: 10\nhours:\n  holidays: none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.MaxCalls != 10 || c.SIP.RTPTimeout != 30*time.Second || c.Hours.Holidays != routing.HolidaysNone || len(c.Hours.Weekly) != 1 {
		t.Errorf("partial: %+v %+v", c.SIP, c.Hours)
	}
	// sip.limits: what the file gives, zero for the rest (the line's
	// defaults), a lone address as a /32.
	c, err = config.Parse("limits.yaml", []byte("club:\n  name: P\nsip:\n  limits:\n    invites: 5\n    block_for: 5m\n    trusted: [203.0.113.5, 10.0.0.0/8]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.SIP.Limits; l.Invites != 5 || l.BlockFor != 5*time.Minute || l.Options != 0 || len(l.Trusted) != 2 ||
		l.Trusted[0].String() != "203.0.113.5/32" || l.Trusted[1].String() != "10.0.0.0/8" {
		t.Errorf("sip.limits: %+v", l)
	}
	// One language needs no language key.
	if _, err := config.Parse("fr.yaml", []byte("club:\n  name: P\n  languages: [fr]\n  language_key: \"\"\n")); err != nil {
		t.Error(err)
	}
	// An empty file says what is missing.
	errs := parseErrors(t, "")
	if len(errs) != 1 || errs[0].Key != "club.name" {
		t.Errorf("empty file: %v", errs)
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name            string
		yaml            string
		calls, messages time.Duration
	}{
		{"defaults", "", 365 * config.Day, 90 * config.Day},
		{"days", "retention:\n  calls: 730d\n  voicemail: 30d\n", 730 * config.Day, 30 * config.Day},
		{"days and hours", "retention:\n  voicemail: 2d12h\n", 365 * config.Day, 60 * time.Hour},
		{"hours", "retention:\n  calls: 48h\n", 48 * time.Hour, 90 * config.Day},
		{"off", "retention:\n  calls: off\n  voicemail: \"OFF\"\n", 0, 0},
		// No limit on messages: no follow-up can outlive them.
		{"off and a long follow-up", "voicemail:\n  follow_up_within: 100d\nretention:\n  voicemail: off\n", 365 * config.Day, 0},
		{"kept exactly until due", "voicemail:\n  follow_up_within: 48h\nretention:\n  voicemail: 2d\n", 365 * config.Day, 2 * config.Day},
		{"an empty section keeps the defaults", "retention:\n", 365 * config.Day, 90 * config.Day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("r.yaml", []byte(head+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Retention.Calls != tt.calls || c.Retention.Voicemail != tt.messages {
				t.Errorf("retention = %+v, want calls %s, voicemail %s", c.Retention, tt.calls, tt.messages)
			}
		})
	}
}

func TestDurationDays(t *testing.T) {
	c, err := config.Parse("d.yaml", []byte(head+"voicemail:\n  follow_up_within: 2d\n  urgent_follow_up_within: 0d2h\nsip:\n  drain_timeout: 0d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Voicemail.FollowUpWithin != 48*time.Hour || c.Voicemail.UrgentFollowUpWithin != 2*time.Hour || c.SIP.DrainTimeout != 0 {
		t.Errorf("voicemail %+v, drain_timeout %s", c.Voicemail, c.SIP.DrainTimeout)
	}
	for d, want := range map[time.Duration]string{
		90 * config.Day: "90d", 48 * time.Hour: "2d", 36 * time.Hour: "36h", 90 * time.Minute: "1h30m",
		2 * time.Hour: "2h", 30 * time.Second: "30s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := config.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestWeeklyForms(t *testing.T) {
	c, err := config.Parse("w.yaml", []byte(head+`hours:
  weekly:
    mon-thu: "08:30-12:00, 13:00-16:30"
    fri: [08:30-12:00]
    sat: 9:00-12:00
    sun: 22:00-24:00
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.Hours.Weekly {
		got = append(got, r.String())
	}
	want := "mon-thu 08:30-12:00,13:00-16:30|fri 08:30-12:00|sat 09:00-12:00|sun 22:00-24:00"
	if strings.Join(got, "|") != want {
		t.Errorf("got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.yaml: cannot read the file") {
		t.Errorf("got %v", err)
	}
}

func TestPromptRefs(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(head+`hours:
  closures:
    - { date: 2026-12-25, name: Noël, prompt: closure_noel }
menu:
  options:
    - { key: "1", category: tournament, route: office, prompt: menu_tournament }
    - { key: "2", category: registrations, route: office }
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.PromptRefs()
	want := []config.PromptRef{
		{Name: "closure_noel", Key: "hours.closures[1].prompt", Line: 5},
		{Name: "menu_tournament", Key: "menu.options[1].prompt", Line: 8},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if c.Hours.Closures[0].Key != "closure_noel" || c.Menu.Options[0].Prompt != "menu_tournament" || config.IsBuiltinCategory("tournament") {
		t.Errorf("closure %+v, option %+v", c.Hours.Closures[0], c.Menu.Options[0])
	}
}
