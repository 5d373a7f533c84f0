package clubline

import "time"

// The line's defaults: the club's call-handling policy, made the behaviour
// of a config that says nothing. Package config fills a file's missing
// keys with them and package ivr a zero option, so the two can never
// disagree; the queue's own defaults sit beside the queue, in routing.
// docs/config.md lists them as admins see them.

// Routes a menu option may take besides a staff group.
const (
	RouteVoicemail = "voicemail" // leave a message
	RouteUrgency   = "urgency"   // the urgent line
)

// UrgencyOnCall is the urgency target that rings whoever is on call.
const UrgencyOnCall = "on-call"

// Follow-up: every message is owed a call back within this time (the
// club's policy, and what the voicemail instruction promises).
const (
	DefaultFollowUpWithin       = 48 * time.Hour
	DefaultUrgentFollowUpWithin = 2 * time.Hour
)

// The menu and the voicemail.
const (
	// DefaultMenuTimeout is how long the menu waits for a key after the
	// options were read.
	DefaultMenuTimeout = 5 * time.Second
	// DefaultMenuRetries is how many more times the menu is read to a
	// caller who did not choose (or chose a key that leads nowhere).
	DefaultMenuRetries = 2
	// DefaultMaxLength ends a message this long.
	DefaultMaxLength = 3 * time.Minute
	// DefaultSilenceTimeout ends a message after this much silence, heard
	// or not sent at all (a phone with voice activity detection sends
	// nothing while the caller is silent).
	DefaultSilenceTimeout = 8 * time.Second
	// DefaultMinLength: a shorter message is a hang-up, not a message.
	DefaultMinLength = time.Second
	// DefaultSilenceLevel is the RMS level (of 32767) under which a frame
	// counts as silence: about -44 dBFS, above a phone line's noise floor
	// and below quiet speech.
	DefaultSilenceLevel = 200
)

// DefaultRecordCode is what a staff member with the admin role dials to
// record the club's prompts by phone (prompts.record_code).
const DefaultRecordCode = "*77"

// Notifications (notify in docs/config.md).
const (
	// DefaultRemindBefore: a message's owners are reminded this long
	// before it is due, so a 48 h promise is not missed by a weekend.
	DefaultRemindBefore = 4 * time.Hour
	// DefaultSMTPPort is the submission port, with STARTTLS (RFC 6409).
	DefaultSMTPPort = 587
)

// A trunk (trunks[] in docs/config.md): what a provider's account carries
// when the file says nothing more.
const (
	// DefaultTrunkMaxChannels is the calls at once, in and out: what a
	// small provider plan sells.
	DefaultTrunkMaxChannels = 4
	// DefaultTrunkMaxOutboundPerHour bounds the minutes of calls placed in
	// any hour: an hour of calls out is more than a club's urgent line and
	// callbacks need, and far less than a fraud would run up.
	DefaultTrunkMaxOutboundPerHour = 60 * time.Minute
	// DefaultTrunkRegisterExpires is the registration lifetime asked.
	DefaultTrunkRegisterExpires = 5 * time.Minute
	// DefaultTrunkKeepAlive is the interval of OPTIONS keep-alives: under
	// the 30 s after which many NAT routers forget a UDP mapping.
	DefaultTrunkKeepAlive = 25 * time.Second
	// DefaultCountryCode is the trunk's country calling code: the club is
	// in North America.
	DefaultCountryCode = "1"
)

// The mystery call (probe in docs/config.md): the line calls itself.
const (
	// DefaultProbeEvery is how often the line calls itself when the file
	// gives no times of day (probe.at).
	DefaultProbeEvery = time.Hour
	// DefaultProbeTimeout bounds one probe: from the INVITE to the answer,
	// and again from the answer to the last prompt it waits for.
	DefaultProbeTimeout = 30 * time.Second
	// MinProbeEvery: a line that calls itself more often than this is
	// flooding its own records and its hold music.
	MinProbeEvery = time.Minute
)
