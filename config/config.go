// Package config reads clubline's YAML file: it starts from the defaults,
// decodes strictly (an unknown key is an error), checks everything, and
// reports every problem at once with its file, line, key and fix. It builds
// the routing values the rest of clubline runs on, and watches the file to
// swap in a new valid config.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
	_ "time/tzdata" // time zones work on machines without a tz database

	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
)

// Config is one valid config file. It is a snapshot: nothing changes it
// after Parse; a reload makes a new one.
type Config struct {
	Club      Club
	SIP       SIP
	Hours     Hours
	Menu      Menu
	Voicemail Voicemail
	Retention Retention
	Store     Store
	HTTP      HTTP
	Prompts   Prompts
	Groups    []Group
	Staff     []Staff
	OnCall    OnCall
	Urgency   Urgency
	// Trunks are the club's accounts at SIP providers, in the file's
	// order: calls out go through the first with a free channel.
	Trunks   []Trunk
	Callback Callback
	Notify   Notify
	// Survey is the post-call survey: one question to the caller after a
	// staff member hung up, the answer 1 to 5 (off by default).
	Survey Survey
	// Probe is the mystery call the line places to itself (probe.go).
	Probe Probe
	// Cluster: several instances behind a proxy, sharing state in Redis
	// (cluster.go).
	Cluster Cluster

	schedule   *routing.Schedule
	roster     *routing.Roster
	promptRefs []PromptRef
	files      []fileRef // files the config names, for CheckFiles
	file       string    // the file it was read from, for warnings
}

// Club says who answers and in which languages.
type Club struct {
	Name     string
	Timezone string
	Location *time.Location // Timezone, loaded
	// Languages are the languages callers may choose, the default first
	// ("fr", "en").
	Languages []string
	// LanguageKey is the key that switches to the next language during
	// the greeting; empty when there is only one language.
	LanguageKey string
	// Article is the French article said before the name ("le Club…"):
	// one of Articles; "auto" reads it from the name.
	Article string
}

// Survey is the survey section.
type Survey struct {
	Enabled bool
}

// Articles are the values of club.article (prompts.Articles, which says
// each; a test of cmd keeps the two lists equal).
var Articles = []string{"auto", "le", "la", "l'", "les", "none"}

// SIP is what the SIP server listens on and answers.
type SIP struct {
	Listen        []Listener
	PublicAddress string // host or IP written in Contact and SDP; empty: the listener's
	RTPPorts      PortRange
	RTPTimeout    time.Duration
	Numbers       []string // request-URI users answered; others get 404
	MaxCalls      int      // beyond it: 503 with Retry-After
	DrainTimeout  time.Duration
	// Realm is the digest realm staff phones authenticate in; the HA1 of
	// the staff config is computed with it (default "clubline").
	Realm string
	// DigestAlgorithms are the digest algorithms a REGISTER is challenged
	// with, in that order: "MD5", "SHA-256" (RFC 8760). Default MD5 only,
	// as Asterisk does: some phones (Debian 12's baresip) give up on a
	// challenge list holding an algorithm they do not know.
	DigestAlgorithms []string
	// Limits are sip.limits: what one address may send. A zero field is
	// the line's default (docs/config.md), which package sip and its
	// registrar define.
	Limits Limits
	// AllowFrom is sip.allow_from, as written: IP addresses, networks
	// ("192.168.1.0/24") and host names. With at least one trunk, an
	// INVITE is taken only from a trunk's addresses (registrar, outbound
	// proxy, allow_from), a staff phone that authenticates, or these;
	// the default is then the machine itself ("127.0.0.1/8", "::1/128"),
	// for the mystery call. Without trunks, an empty AllowFrom takes
	// INVITEs from anywhere, as before trunks existed; a non-empty one
	// applies the same way.
	AllowFrom []string
	// TLS is the certificate tls:// listeners present.
	TLS TLS
	// STUN is the host:port of a STUN server that tells clubline its
	// public address when PublicAddress is empty; "" for none.
	STUN string
}

// TLS is sip.tls (or http.tls): a certificate, PEM files. Parse makes a
// relative path start from the config file's folder; CheckFiles looks
// them up.
type TLS struct {
	CertFile string // the certificate, then the chain
	KeyFile  string // its private key
}

// Limits are the per-address protections of sip.limits.
type Limits struct {
	Window                  time.Duration
	Invites, Options, Other int
	BlockFor                time.Duration
	Trusted                 []netip.Prefix // nil: the machine itself (loopback)
	Registers               int
	WrongPasswords          int
	WrongPasswordEvery      time.Duration
	TCPIdleTimeout          time.Duration
	TCPPerSource            int
	AwaitingAck             int
	AwaitingAckPerSource    int
}

// Digest algorithms of sip.digest_algorithms.
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// Listener is one address the SIP server listens on.
type Listener struct {
	Transport string // "udp", "tcp", "tls" (with SIP.TLS) or "ws"
	Addr      string // host:port
}

func (l Listener) String() string { return l.Transport + "://" + l.Addr }

// PortRange is a range of UDP ports for RTP, both ends included. Min is
// even and Max odd, so every RTP port has its RTCP port.
type PortRange struct{ Min, Max int }

func (p PortRange) String() string { return strconv.Itoa(p.Min) + "-" + strconv.Itoa(p.Max) }

// Hours are the office hours as written; Config.Schedule is them, ready to
// ask.
type Hours struct {
	Weekly   routing.Weekly
	Seasons  []routing.Season
	Closures []routing.Closure
	Holidays routing.HolidaySet
	Override routing.Override
}

// Menu is what a caller is offered after the greeting.
type Menu struct {
	Timeout time.Duration // how long to wait for a key
	Retries int           // how many times the menu is repeated after no key or a wrong key
	Default string        // route taken after the retries
	Options []MenuOption
}

// MenuOption is one key of the menu.
type MenuOption struct {
	Key      string // "0"-"9", "*" or "#"
	Category string // one of Categories, or a custom one (then Prompt is set)
	Route    string // a group id, clubline.RouteVoicemail or clubline.RouteUrgency
	Prompt   string // the prompt that says the option; empty: the category's built-in prompt
	Line     int    // line in the file; 0 for a default option
}

// Categories are the built-in categories, each with its own prompts.
var Categories = []string{"registrations", "programs", "schedules", "equipment", "coaching", "sponsors", "development", "urgent", "message"}

// IsBuiltinCategory reports whether c is one of Categories.
func IsBuiltinCategory(c string) bool { return slices.Contains(Categories, c) }

// Voicemail is how messages are recorded and followed up.
type Voicemail struct {
	Dir                  string // the recordings; relative: from the config file's folder
	MaxLength            time.Duration
	SilenceTimeout       time.Duration
	MinLength            time.Duration // shorter recordings are dropped
	FollowUpWithin       time.Duration
	UrgentFollowUpWithin time.Duration
	// Notify are the people told of a message no group owns (staff ids
	// or e-mail addresses).
	Notify []string
	// Attach sends the recording with the e-mail; false: a link to the
	// web page only.
	Attach bool
}

// Retention is how long personal information is kept (Quebec's Law 25).
// Zero means no limit: the file says off.
type Retention struct {
	Calls     time.Duration // call records older than this are deleted
	Voicemail time.Duration // messages (record and recording) older than this are deleted
}

// Day is the length of the d unit in durations: 24 hours.
const Day = 24 * time.Hour

// Store is where call records go.
type Store struct {
	RedisURL  string // empty: the embedded store in DataDir
	KeyPrefix string
	DataDir   string // relative: from the config file's folder
}

// HTTP is the web listener: the office's page and its API, /metrics,
// /healthz and /readyz.
type HTTP struct {
	Listen string // host:port
	TLS    TLS    // the page's certificate; empty: plain HTTP (loopback, or behind a reverse proxy)
	// PublicURL is where staff open the page ("https://ligne.club.example"),
	// for the links in e-mails; empty: http://<listen>.
	PublicURL string
}

// Prompts is where admins put WAVs that replace built-in prompts, and
// the code staff with the admin role dial to record them by phone.
type Prompts struct {
	Dir        string // <dir>/<lang>/<name>.wav, from the config file's folder; empty: built-in prompts only
	RecordCode string // "*77"; "": no recording by phone
}

// Group is a staff group a route can name, and its queue.
type Group struct {
	ID            string
	Members       []string         // staff ids, in order (in-order rings the first available)
	Strategy      routing.Strategy // whom to ring
	RingTimeout   time.Duration    // per attempt
	MaxWait       time.Duration    // then voicemail
	AnnounceEvery time.Duration    // position and estimated wait; 0: never
	ServiceLevel  time.Duration    // answered within this counts towards the service level
	ShortAbandon  time.Duration    // hang-ups in the queue sooner than this are counted apart
	// Notify are told of the group's new messages and reminded of them;
	// Escalation are told when one is overdue (staff ids or addresses).
	Notify, Escalation []string
	Line               int
}

// PromptRef is a prompt the file names (a closure's or a custom menu
// option's), for `clubline check` to look up in the prompt set.
type PromptRef struct {
	Name string // "closure_holidays"
	Key  string // where it is named: "hours.closures[2].prompt"
	Line int
}

// Default is the config a file starts from: a Quebec club open weekdays
// 08:30-16:30, in French then English, with the standard menu.
func Default() *Config {
	loc, err := time.LoadLocation(defaultTimezone)
	if err != nil {
		panic("config: embedded tz database lacks " + defaultTimezone) // cannot happen with time/tzdata
	}
	opts := make([]MenuOption, 0, len(Categories))
	for i, c := range Categories {
		key, route := strconv.Itoa(i+1), "office"
		switch c {
		case "urgent":
			key, route = "9", clubline.RouteUrgency
		case "message":
			key, route = "0", clubline.RouteVoicemail
		}
		opts = append(opts, MenuOption{Key: key, Category: c, Route: route})
	}
	return &Config{
		Club:    Club{Timezone: defaultTimezone, Location: loc, Languages: []string{"fr", "en"}, LanguageKey: "8", Article: "auto"},
		Prompts: Prompts{RecordCode: clubline.DefaultRecordCode},
		SIP: SIP{
			Listen:     []Listener{{"udp", "0.0.0.0:5060"}, {"tcp", "0.0.0.0:5060"}},
			RTPPorts:   PortRange{10000, 10999},
			RTPTimeout: 30 * time.Second,
			Numbers:    []string{"club"},
			MaxCalls:   200, DrainTimeout: 2 * time.Minute,
			Realm: defaultRealm, DigestAlgorithms: []string{DigestMD5},
		},
		Hours: Hours{
			Weekly:   routing.Weekly{{First: time.Monday, Last: time.Friday, Ranges: []routing.Range{{Start: 8*60 + 30, End: 16*60 + 30}}}},
			Holidays: routing.HolidaysQuebec,
			Override: routing.OverrideAuto,
		},
		Menu: Menu{Timeout: clubline.DefaultMenuTimeout, Retries: clubline.DefaultMenuRetries, Default: "office", Options: opts},
		Voicemail: Voicemail{
			Dir: "data/voicemail", MaxLength: clubline.DefaultMaxLength, SilenceTimeout: clubline.DefaultSilenceTimeout,
			MinLength:      clubline.DefaultMinLength,
			FollowUpWithin: clubline.DefaultFollowUpWithin, UrgentFollowUpWithin: clubline.DefaultUrgentFollowUpWithin,
			Attach: true,
		},
		Probe:     Probe{Every: clubline.DefaultProbeEvery, Timeout: clubline.DefaultProbeTimeout},
		Notify:    Notify{RemindBefore: clubline.DefaultRemindBefore, Escalate: true, MaskNumbers: true},
		Retention: Retention{Calls: 365 * Day, Voicemail: 90 * Day},
		Store:     Store{KeyPrefix: "clubline:", DataDir: "data"},
		HTTP:      HTTP{Listen: "127.0.0.1:9468"},
		Groups:    []Group{DefaultGroup("office")},
		Urgency:   Urgency{Target: clubline.UrgencyOnCall, RingTimeout: routing.DefaultRingTimeout},
		Callback: Callback{Key: DefaultCallbackKey, Attempts: DefaultCallbackAttempts, RetryAfter: DefaultCallbackRetryAfter,
			Allowed: DefaultCallbackAllowed(DefaultCountryCode), Denied: DefaultCallbackDenied()},
	}
}

const defaultTimezone = "America/Toronto"

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read the file: " + unwrapPathError(err), Fix: "check the path given with --config"}}
	}
	return Parse(path, data)
}

func unwrapPathError(err error) string {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse reads a config from data; filename is used in errors. On any
// problem it returns nil and an Errors listing every problem found.
func Parse(filename string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{syntaxError(filename, data, err)}
	}
	d := &decoder{file: filename}
	c := Default()
	d.decode(&root, c)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	c.resolvePaths(filepath.Dir(filename))
	c.schedule = c.buildSchedule()
	c.roster = c.buildRoster()
	c.file = filename
	return c, nil
}

// resolvePaths makes the paths the file names start from dir, the
// folder of the config file, rather than from wherever clubline was
// started: the same file means the same folders from a terminal, a
// systemd unit or a container. An absolute path stays as written. It
// reads nothing from disk, so Parse stays a function of its arguments.
func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{
		&c.Voicemail.Dir, &c.Store.DataDir, &c.Prompts.Dir,
		&c.SIP.TLS.CertFile, &c.SIP.TLS.KeyFile, &c.HTTP.TLS.CertFile, &c.HTTP.TLS.KeyFile,
	} {
		*p = fromDir(dir, *p)
	}
	for i := range c.Trunks {
		c.Trunks[i].CAFile = fromDir(dir, c.Trunks[i].CAFile)
	}
	for i := range c.files {
		c.files[i].path = fromDir(dir, c.files[i].path)
	}
}

// fromDir is path p of the config file in folder dir: p itself when it
// is absolute or empty.
func fromDir(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Schedule is the office hours, ready to ask. Parse builds it once; every
// call returns the same value.
func (c *Config) Schedule() *routing.Schedule {
	if c.schedule != nil {
		return c.schedule
	}
	return c.buildSchedule()
}

func (c *Config) buildSchedule() *routing.Schedule {
	return &routing.Schedule{
		Location: c.Club.Location,
		Weekly:   c.Hours.Weekly,
		Seasons:  c.Hours.Seasons,
		Closures: c.Hours.Closures,
		Holidays: c.Hours.Holidays,
		Override: c.Hours.Override,
	}
}

// PromptRefs lists the prompts the file names, for a check against the
// prompt set.
func (c *Config) PromptRefs() []PromptRef { return append([]PromptRef(nil), c.promptRefs...) }

// HasGroup reports whether a group id exists.
func (c *Config) HasGroup(id string) bool {
	for _, g := range c.Groups {
		if g.ID == id {
			return true
		}
	}
	return false
}

// decode fills c from the document, section by section, then checks what
// spans sections.
func (d *decoder) decode(root *yaml.Node, c *Config) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	x := &crossRefs{nameLine: -1}
	d.fields(doc, "", "", func(key string, k, v *yaml.Node) {
		switch key {
		case "club":
			x.clubLine = k.Line
			d.club(v, &c.Club, x)
		case "sip":
			d.sip(v, &c.SIP, x)
		case "hours":
			d.hours(v, &c.Hours, &c.promptRefs)
		case "menu":
			d.menu(v, &c.Menu, x, &c.promptRefs)
		case "voicemail":
			d.voicemail(v, &c.Voicemail, x)
		case "retention":
			d.retention(v, &c.Retention, x)
		case "store":
			d.store(v, &c.Store)
		case "http":
			d.http(v, &c.HTTP)
		case "prompts":
			d.prompts(v, &c.Prompts)
		case "groups":
			x.groupsLine = k.Line
			c.Groups = d.groups(v)
		case "staff":
			d.people.staff = v
		case "on_call":
			d.people.onCall, d.people.onCallKey = v, k
		case "urgency":
			d.people.urgency = v
		case "trunks":
			c.Trunks = d.trunks(v, x)
		case "callback":
			d.callback(v, &c.Callback, x)
		case "notify":
			d.notify(k, v, &c.Notify)
		case "probe":
			d.probe(k, v, &c.Probe)
		case "cluster":
			d.cluster(k, v, &c.Cluster)
		case "survey":
			d.fields(v, "survey", "survey", func(key string, _, v *yaml.Node) {
				if b, ok := d.boolean(v, "survey.enabled"); ok {
					c.Survey.Enabled = b
				}
			})
		}
	})
	d.finishTrunks(c, x)
	d.checkProbe(c)
	d.decodePeople(c)
	d.checkRecipients(c)
	d.webChecks(c)
	if x.nameLine < 0 {
		d.errs = append(d.errs, &Error{File: d.file, Line: x.clubLine, Key: "club.name", Msg: "missing",
			Fix: "add the club's name under club, e.g. \"name: Club de Soccer Roussillon\""})
	}
	d.crossCheck(c, x)
	d.checkCluster(c)
	d.checkRetention(c, x)
	c.files = d.files
}

// crossRefs keeps the lines of values that other sections check against.
type crossRefs struct {
	clubLine       int
	nameLine       int // line of club.name; -1 when absent
	languageKey    *yaml.Node
	groupsLine     int
	menuDefault    *yaml.Node
	optionsLine    int
	routes         []routeRef
	multiLanguages bool
	// nodes of the values the retention check compares; nil when absent
	retentionVoicemail, followUpWithin, urgentFollowUpWithin *yaml.Node
	retentionVoicemailBad                                    bool // retention.voicemail is wrong, and reported
	trunks                                                   trunkRefs
	// nodes of sip.numbers when it is an empty list (valid with a trunk)
	// and of sip.allow_from; nil when absent
	emptyNumbers, allowFrom *yaml.Node
	// nodes of callback.enabled and callback.allowed; nil when absent
	callbackEnabled, callbackAllowed *yaml.Node
	callbackBad                      bool // enabled or allowed is wrong, and reported
}

// CheckFiles looks up the files the config names (sip.tls.cert_file and
// key_file, a trunk's ca_file) and reports each that is missing or is
// not a file, at the line of its key. Parse does not open them, so that a
// file is checked where clubline runs: call CheckFiles in `clubline
// check` and at start-up, beside the prompts. A relative path starts from
// the config file's folder (Parse resolved it).
func (c *Config) CheckFiles() Errors {
	var errs Errors
	for _, f := range c.files {
		info, err := os.Stat(f.path)
		switch {
		case err != nil:
			errs = append(errs, &Error{File: c.file, Line: f.line, Key: f.key, Msg: fmt.Sprintf("cannot read %s: %s", f.path, unwrapPathError(err)),
				Fix: "put the PEM file there, or correct the path (a relative path starts from the config file's folder)"})
		case info.IsDir():
			errs = append(errs, &Error{File: c.file, Line: f.line, Key: f.key, Msg: f.path + " is a folder, not a file",
				Fix: "write the path of the PEM file in it"})
		}
	}
	return errs
}
