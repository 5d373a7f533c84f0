// Package ivr is the call script: what a caller hears and which keys do
// what, from the greeting to the menu, the closed-office message and the
// voicemail. It is written against small interfaces (Leg, Schedule,
// Prompts, clubline.Store) so it runs against fakes in tests.
//
// How a call ends, in its record:
//   - outcome voicemail when the caller left a message (at least MinLength
//     of audio, trailing silence not counted), even after a failure;
//   - failed when clubline failed the caller (a missing prompt, a leg or
//     disk error) and no message was left;
//   - abandoned otherwise: the caller hung up before leaving a message, or
//     left none (silence, # at once) and was told so (no_message), or the
//     call was cut by shutdown. The trace tells these apart.
//
// A caller who asked to be called back from a queue is hung up with
// outcome abandoned; their callback (callback.go) carries the same record
// on, to answered when it is put through, or to voicemail with a
// follow-up when it is given up, and the call is counted then.
//
// The stage is the last step reached: greeting (including the whole
// closed-office message), menu, voicemail.
package ivr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
)

// Options is one immutable snapshot of the configuration the script
// follows. cmd builds it; a reload builds a new Script, and a call keeps
// the Script it started with.
type Options struct {
	// Languages are the languages the line speaks; the first is the
	// default ("fr"), the others are offered after the greeting.
	Languages []string
	// LanguageKey switches to the next language ("8"); empty: no offer.
	LanguageKey string
	Menu        Menu
	// Groups are the staff groups a menu option may route to, and their
	// queues.
	Groups    []Group
	Voicemail VoicemailOptions
	// UrgencyKey is the key that reaches the urgent line out of hours.
	// Empty: the key of the menu option whose route is "urgency", if any.
	UrgencyKey string
	// Staff are the people groups, the on-call roster and transfers name.
	Staff   []Staff
	Urgency UrgencyOptions
	// Trunk says outside numbers can be rung: a staff member's Phone is
	// then rung along with their registered phones.
	Trunk bool
	// Callback lets a caller waiting in a group's queue ask to be called
	// back without losing their place (callback.go). The callbacks run in
	// the Callbacks given with WithCallbacks.
	Callback CallbackOptions
	// Survey asks the caller one question after a staff member hung up
	// (survey.go).
	Survey SurveyOptions
	// Location is the club's time zone, in which a staff phone is told
	// the day of a caller's earlier message (UTC when nil).
	Location *time.Location
	// Studio lets staff with the admin role record the club's prompts by
	// phone (studio.go), into the recordings given with WithRecordings.
	Studio StudioOptions
}

// Group is a staff group and how its queue works.
type Group struct {
	ID       string
	Members  []string // staff ids, in the group's order
	Strategy routing.Strategy
	// RingTimeout bounds one ring of one staff member; a phone not answered
	// by then is skipped for this attempt.
	RingTimeout time.Duration
	// MaxWait sends a caller still waiting to voicemail (result timeout).
	MaxWait time.Duration
	// AnnounceEvery is how often a waiting caller hears their position and
	// the estimated wait; 0: never.
	AnnounceEvery time.Duration
	// ServiceLevel: answered within it counts towards the service level.
	ServiceLevel time.Duration
	// ShortAbandon: a hang-up in the queue sooner than this is counted apart.
	ShortAbandon time.Duration
	// Retry is the pause once every member who could be rung was rung
	// without an answer, before they are rung again (default
	// routing.DefaultRetry).
	Retry time.Duration
}

// Staff is a person calls are put through to.
type Staff struct {
	ID        string
	Name      string
	Extension string // what a transfer names them by ("203"), besides their id
	Phone     string // an outside number, rung only with Options.Trunk
	// Admin may record the club's prompts by phone (Options.Studio).
	Admin bool
}

// UrgencyOptions say where the urgent line rings.
type UrgencyOptions struct {
	// Target is clubline.UrgencyOnCall or a group id. In office hours the urgent
	// key jumps the queue of the default group instead.
	Target string
	// Roster says who is on call (Target clubline.UrgencyOnCall).
	Roster *routing.Roster
	// Fallback is rung when the target does not answer: a SIP URI or an
	// outside number; empty: straight to an urgent message.
	Fallback string
	// RingTimeout bounds each ring (default routing.DefaultRingTimeout).
	RingTimeout time.Duration
}

// Menu is what the caller chooses from when the office is open.
type Menu struct {
	Options []MenuOption
	// Timeout is how long to wait for a key after the menu has been said.
	Timeout time.Duration
	// Retries is how many times the menu is said again after no key or
	// an invalid key, before the call goes to Default.
	Retries int
	// Default is the route taken when the caller never chooses.
	Default string
}

// MenuOption is one key of the menu.
type MenuOption struct {
	Key      string // one DTMF key: "1"… "9", "0", "*", "#"
	Category string // what the caller calls about ("registrations")
	Route    string // a group, "voicemail" or "urgency"
	// Prompt is the clip that says the category; empty: "category_"+Category.
	Prompt string
}

// VoicemailOptions are the limits of a message.
type VoicemailOptions struct {
	Dir       string        // where messages are written (created if missing)
	MaxLength time.Duration // recording stops there
	// SilenceTimeout: recording stops after that much silence, initial
	// silence included, counted in silent frames or on the clock when no
	// frame comes (a phone with voice activity detection, comfort noise).
	SilenceTimeout time.Duration
	MinLength      time.Duration // less audio than that is no message
	// SilenceLevel is the RMS level under which a frame is silence;
	// zero: clubline.DefaultSilenceLevel.
	SilenceLevel int
	// FollowUpWithin is the delay the club promises for a callback;
	// UrgentFollowUpWithin the same for urgent messages. The voicemail
	// instruction says the one of the call (prompts.Delay), unless the
	// language has an admin's whole instruction, voicemail_full.
	FollowUpWithin       time.Duration
	UrgentFollowUpWithin time.Duration
}

// Schedule says whether the office is open at an instant (*routing.Schedule).
type Schedule interface {
	At(t time.Time) routing.Status
}

// Prompts finds the clips the script plays (*prompts.Set).
type Prompts interface {
	// Source plays the named clips of one language, one after the other.
	Source(lang string, names ...string) media.Source
	// Has reports whether the clip exists in that language.
	Has(lang, name string) bool
}

// Recorder is a message being written: a Sink that knows how much it holds.
// *media.WAVRecorder is one.
type Recorder interface {
	media.Sink
	Close() error
	Duration() time.Duration
}

// Option changes how New builds a Script; tests use them.
type Option func(*Script)

// WithClock sets the clock the script reads (time.Now by default).
func WithClock(now func() time.Time) Option { return func(s *Script) { s.now = now } }

// WithIDs sets the generator of voicemail ids (random hex by default).
func WithIDs(newID func() string) Option { return func(s *Script) { s.newID = newID } }

// WithRecorder sets how a message file is created (media.CreateWAV by default).
func WithRecorder(create func(path string) (Recorder, error)) Option {
	return func(s *Script) { s.create = create }
}

// Script runs calls according to one Options snapshot. It is safe for
// concurrent use: each Run is one call.
type Script struct {
	o       Options
	sched   Schedule
	prompts Prompts
	store   clubline.Store
	metrics *metrics.Metrics
	log     *slog.Logger

	now    func() time.Time
	newID  func() string
	create func(path string) (Recorder, error)
	dialer Dialer
	phones Phones
	bridge BridgeFunc
	acd    *routing.ACD
	// callbacks runs the queued callbacks (WithCallbacks); nil: none.
	callbacks *Callbacks
	// onMessage is told of messages saved and closed (WithMessageHook).
	onMessage func(before, after *clubline.Voicemail)
	// msgLock is held from reading a message to saving it (WithMessageLock).
	msgLock sync.Locker
	// recordings keeps what staff record by phone (WithRecordings); nil:
	// no recording by phone.
	recordings PromptRecordings

	groups map[string]*Group
	staff  map[string]*Staff
	keys   map[rune]MenuOption
}

// storeTimeout bounds one store write; the store in front is a local spool,
// so this is only reached when something is badly wrong.
const storeTimeout = 5 * time.Second

// New builds a Script. Zero durations in o take the line's defaults
// (clubline.Default…, routing.Default…); m and
// logger may be nil.
func New(o Options, sched Schedule, p Prompts, st clubline.Store, m *metrics.Metrics, logger *slog.Logger, opts ...Option) *Script {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Script{
		o: withDefaults(o), sched: sched, prompts: p, store: st, metrics: m, log: logger,
		now: time.Now, newID: randomID, create: createWAV, bridge: mediaBridge, phones: noPhones{},
		groups: map[string]*Group{}, staff: map[string]*Staff{}, keys: map[rune]MenuOption{},
	}
	for i := range s.o.Groups {
		s.groups[s.o.Groups[i].ID] = &s.o.Groups[i]
	}
	for i := range s.o.Staff {
		s.staff[s.o.Staff[i].ID] = &s.o.Staff[i]
	}
	for _, opt := range s.o.Menu.Options {
		if k, ok := keyRune(opt.Key); ok {
			if _, dup := s.keys[k]; !dup {
				s.keys[k] = opt
			}
		}
	}
	s.msgLock = &sync.Mutex{}
	for _, opt := range opts {
		opt(s)
	}
	if s.acd == nil {
		s.acd = routing.NewACD()
	}
	if s.o.Callback.Enabled && s.callbacks == nil {
		s.log.Warn("callbacks are enabled but nothing runs them (ivr.WithCallbacks): none is offered")
	}
	if s.o.Studio.Code != "" && s.recordings == nil {
		s.log.Warn("recording prompts by phone has a code but nowhere to keep them (ivr.WithRecordings): it is refused")
	}
	return s
}

// WithACD sets the queue state the script shares with the scripts of
// other config snapshots (one per process); default: its own.
func WithACD(q *routing.ACD) Option { return func(s *Script) { s.acd = q } }

func withDefaults(o Options) Options {
	if len(o.Languages) == 0 {
		o.Languages = []string{"fr"}
	}
	o.Languages = append([]string(nil), o.Languages...)
	o.Menu.Options = append([]MenuOption(nil), o.Menu.Options...)
	o.Groups = append([]Group(nil), o.Groups...)
	for i := range o.Groups {
		g := &o.Groups[i]
		g.Members = append([]string(nil), g.Members...)
		if g.RingTimeout <= 0 {
			g.RingTimeout = routing.DefaultRingTimeout
		}
		if g.MaxWait <= 0 {
			g.MaxWait = routing.DefaultMaxWait
		}
		if g.Retry <= 0 {
			g.Retry = routing.DefaultRetry
		}
		if g.Strategy == "" {
			g.Strategy = routing.RingAll
		}
	}
	o.Staff = append([]Staff(nil), o.Staff...)
	if o.Urgency.Target == "" {
		o.Urgency.Target = clubline.UrgencyOnCall
	}
	if o.Urgency.RingTimeout <= 0 {
		o.Urgency.RingTimeout = routing.DefaultRingTimeout
	}
	if o.Menu.Timeout <= 0 {
		o.Menu.Timeout = clubline.DefaultMenuTimeout
	}
	if o.Menu.Retries < 0 {
		o.Menu.Retries = 0
	}
	if o.Menu.Default == "" {
		o.Menu.Default = clubline.RouteVoicemail
	}
	v := &o.Voicemail
	if v.MaxLength <= 0 {
		v.MaxLength = clubline.DefaultMaxLength
	}
	if v.SilenceTimeout <= 0 {
		v.SilenceTimeout = clubline.DefaultSilenceTimeout
	}
	if v.MinLength <= 0 {
		v.MinLength = clubline.DefaultMinLength
	}
	if v.SilenceLevel <= 0 {
		v.SilenceLevel = clubline.DefaultSilenceLevel
	}
	if v.FollowUpWithin <= 0 {
		v.FollowUpWithin = clubline.DefaultFollowUpWithin
	}
	if v.UrgentFollowUpWithin <= 0 {
		v.UrgentFollowUpWithin = clubline.DefaultUrgentFollowUpWithin
	}
	o.Callback.withDefaults()
	if o.UrgencyKey == "" {
		for _, opt := range o.Menu.Options {
			if opt.Route == clubline.RouteUrgency {
				o.UrgencyKey = opt.Key
				break
			}
		}
	}
	return o
}

// keyRune is the DTMF key a one-character option key stands for.
func keyRune(k string) (rune, bool) {
	r := []rune(k)
	if len(r) != 1 {
		return 0, false
	}
	return r[0], true
}

func createWAV(path string) (Recorder, error) {
	w, err := media.CreateWAV(path)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return w, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Run carries one answered call from the greeting to the hang-up and
// returns when it is over (a staff member who dialled Options.Studio's
// code records prompts instead, studio.go): it hangs up itself unless the caller did, and
// leaves no goroutine behind but a callback the caller asked for, which
// runs in the script's Callbacks. The call record is written when the
// call starts and again when it ends (and by its callback).
func (s *Script) Run(ctx context.Context, in Inbound) {
	if in.Leg == nil {
		s.log.Error("call without a leg", "call", in.ID)
		return
	}
	if s.isStudioCall(in) {
		s.studio(ctx, in)
		return
	}
	c := s.newCall(ctx, in)
	s.gauge(1)
	c.saveCall()
	err := c.script()
	c.finish(err)
	s.gauge(-1)
	if c.cb != nil {
		s.startCallback(c)
	}
}

// Rejected counts a call refused before it was answered (the sip
// package's OnRejected). A refusal clubline made (outcome rejected: 404,
// 488, 503…) keeps no record: floods and scanners send thousands, and
// clubline_sip_rejected_total counts them by status (docs/data.md). A
// caller who hung up while it rang (487, outcome abandoned) is a caller:
// that record is kept, as Unstarted keeps it.
func (s *Script) Rejected(c clubline.Call) {
	s.unstarted(c, c.Outcome != "" && c.Outcome != clubline.OutcomeRejected)
}

// Unstarted records and counts a call answered that ended before its
// script started: no ACK, or the caller hung up at once (the sip
// package's OnUnstarted). Its outcome and stage come with it.
func (s *Script) Unstarted(c clubline.Call) { s.unstarted(c, true) }

// unstarted counts a call that never reached the script, and stores its
// record if keep. Missing fields are filled in: the hours from the
// schedule at StartedAt, the outcome rejected, the end time now. It waits
// for the store write (bounded by a timeout) and logs a failure.
func (s *Script) unstarted(c clubline.Call, keep bool) {
	// The script's clock dates every record, answered or not; the sip
	// package measured how long the call lasted.
	now := s.now()
	c.StartedAt, c.EndedAt = now.Add(-c.Duration), now
	if c.Hours == "" {
		// The hours come first in the trace, as for an answered call.
		st := s.sched.At(c.StartedAt)
		c.Hours, c.HoursReason = hoursOf(st)
		c.Trace = append([]string{st.String()}, c.Trace...)
	} else {
		c.Trace = append([]string(nil), c.Trace...)
	}
	if c.Outcome == "" {
		c.Outcome = clubline.OutcomeRejected
	}
	if s.metrics != nil {
		s.metrics.CallEnded(&c)
	}
	if !keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.store.SaveCall(ctx, &c); err != nil {
		s.log.Error("saving the record of a call that never reached the script", "call", c.ID, "err", err)
	}
}

func (s *Script) gauge(d float64) {
	if s.metrics != nil {
		s.metrics.ActiveCalls.Add(d)
	}
}

// hoursOf splits a status into the record's hours and reason
// ("weekly mon-fri 08:30-16:30", "holiday Fête nationale").
func hoursOf(st routing.Status) (clubline.Hours, string) {
	h := clubline.HoursClosed
	if st.Open {
		h = clubline.HoursOpen
	}
	reason := string(st.Reason)
	if st.Name != "" {
		reason += " " + st.Name
	}
	return h, reason
}
