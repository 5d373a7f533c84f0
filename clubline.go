// Package clubline holds the domain of the club's phone line: the record of
// a call, the voicemail it may leave, the follow-up that voicemail is owed,
// and the Store that keeps them. Every other package speaks these types;
// this package imports nothing but the standard library.
package clubline

import (
	"context"
	"errors"
	"time"
)

// Outcome says how a call ended, from the caller's point of view.
type Outcome string

const (
	OutcomeAnswered  Outcome = "answered"  // a staff member talked to the caller
	OutcomeVoicemail Outcome = "voicemail" // the caller left a message
	OutcomeAbandoned Outcome = "abandoned" // the caller hung up before an answer or a message
	OutcomeRejected  Outcome = "rejected"  // clubline refused the call (404, 488, 503…)
	OutcomeFailed    Outcome = "failed"    // clubline could not carry the call (media or internal error)
)

// Stage is the last step of the call script a call reached.
type Stage string

const (
	// StageAnswer: answered (200 OK), but the call ended before the script
	// started: no ACK came, or the caller hung up at once.
	StageAnswer    Stage = "answer"
	StageGreeting  Stage = "greeting"
	StageMenu      Stage = "menu"
	StageQueue     Stage = "queue"
	StageVoicemail Stage = "voicemail"
	StageBridged   Stage = "bridged"
)

// Hours says whether the office was open when the call arrived.
type Hours string

const (
	HoursOpen   Hours = "open"
	HoursClosed Hours = "closed"
)

// Call is the record of one inbound call. It is written when the call
// arrives and again when it ends.
type Call struct {
	ID          string
	From        string // caller's number or SIP user, as received
	To          string // the number dialled: the request-URI user, or for a trunk's call the club's number it was for
	Trunk       string // the trunk that delivered the call ("" for a call straight to clubline)
	StartedAt   time.Time
	Hours       Hours
	HoursReason string // weekly range, season or closure name, holiday, override
	Language    string // "fr", "en"
	Choice      string // the menu key that routed the call ("" if none)
	Category    string // what the caller called about
	Route       string // where the choice led: a group id, "voicemail", "urgency"

	// The queue, for a call routed to a staff group.
	Group      string    // the staff group whose queue the call entered ("" if none)
	QueuedAt   time.Time // when it entered the queue (zero if never)
	AnsweredAt time.Time // when a staff member answered (zero if nobody did)
	AnsweredBy string    // the staff id of who answered: the first one, before any transfer
	// Wait is the time spent in the queue: from QueuedAt to a staff
	// member's answer, or to the caller hanging up or leaving for
	// voicemail. Stores keep it to the millisecond.
	Wait time.Duration
	// TransferredTo is where a staff member transferred the call: a staff
	// id or a group id ("" if nobody did).
	TransferredTo string
	// Survey is the caller's answer to the post-call survey, 1 to 5 (0:
	// none). It is never tied to the number outside this record.
	Survey int

	Outcome     Outcome
	Stage       Stage
	VoicemailID string
	EndedAt     time.Time
	Duration    time.Duration
	// Trace lists the decisions the call went through, in order, in words
	// an admin can read ("closed: holiday Fête nationale", "menu: 1 registrations → office").
	Trace []string
	// Probe marks the line's own mystery call (the probe: section): it is
	// kept like any call, but never counted in the answer rate, the
	// metrics of calls and queues, or the service report.
	Probe bool
}

// ProbeHeader is the SIP header by which the line's own probe makes itself
// known, with a secret drawn at each start; the line believes it only
// from its own machine.
const ProbeHeader = "X-Clubline-Probe"

// AddTrace appends one decision to the call's trace.
func (c *Call) AddTrace(step string) { c.Trace = append(c.Trace, step) }

// VoicemailStatus is where a message stands in its follow-up.
type VoicemailStatus string

const (
	VoicemailNew  VoicemailStatus = "new"  // nobody has answered it yet
	VoicemailDone VoicemailStatus = "done" // someone followed up
)

// Voicemail is one message a caller left.
type Voicemail struct {
	ID          string
	CallID      string
	From        string
	Category    string
	Urgent      bool
	RecordedAt  time.Time
	Duration    time.Duration
	Path        string // WAV file, 8 kHz 16-bit mono
	FollowUpDue time.Time
	Status      VoicemailStatus

	// Group is the staff group the message is for: the group of the
	// queue or menu option that led to it ("" when none did; then
	// voicemail.notify is told, and the on-call person for an urgent one).
	Group    string
	Language string // the caller's language, "fr" or "en"

	// The follow-up, as the office works it.
	AssignedTo  string    // staff id of who took it ("" nobody yet)
	Notes       []Note    // in the order they were written
	DoneAt      time.Time // when it was marked done (zero while new)
	DoneBy      string    // staff id of who marked it done ("" when clubline did)
	DoneHow     string    // how it was closed: one of the FollowUpClosed* values
	RemindedAt  time.Time // when the reminder before the due time was sent (zero: not yet)
	EscalatedAt time.Time // when its being overdue was escalated (zero: not yet)
}

// Note is a line the office wrote on a message ("rappelé, laissé un
// message"), with who wrote it and when.
type Note struct {
	By   string // staff id
	At   time.Time
	Text string
}

// How a follow-up was closed (Voicemail.DoneHow, and the how label of
// clubline_followups_closed_total).
const (
	FollowUpClosedWeb      = "web"         // marked done on the web page or the API
	FollowUpClosedCallback = "called_back" // the caller got through to a person on a later call
)

// FollowUp is a message still waiting for an answer, and when it is due.
type FollowUp struct {
	VoicemailID string
	Due         time.Time
}

// Registration is one contact a staff member's phone registered (RFC 3261
// §10): where to send that staff member's calls, until when.
type Registration struct {
	StaffID string // the staff member, as in the config
	Contact string // the Contact URI as the phone sent it
	// Received is where the phone really is, "transport:host:port" (e.g.
	// "udp:203.0.113.5:5062"): the source of the REGISTER, which differs
	// from the Contact behind a NAT. Requests to the phone go there.
	Received string
	// Path is the route to the phone through the proxies it registered
	// through (RFC 3327), the Path header values in order, the nearest to
	// clubline first ("<sip:192.0.2.10;lr;received=sip:203.0.113.5:5062>");
	// empty for a phone that registered directly. Requests to the phone
	// carry them as Route headers and go to the first one; Received is
	// then that proxy's address.
	Path      []string
	UserAgent string
	// Expires is when the registration ends: at that instant (to the
	// millisecond) it is no longer returned.
	Expires time.Time
	// CallID and CSeq are those of the REGISTER that made or last
	// refreshed it (RFC 3261 §10.3 step 7: a REGISTER with the same Call-ID
	// and a lower CSeq is out of order).
	CallID       string
	CSeq         uint32
	RegisteredAt time.Time // when it was made or last refreshed
}

// Live reports whether the registration has not expired at now (to the millisecond).
func (r *Registration) Live(now time.Time) bool {
	return r.Expires.UnixMilli() > now.UnixMilli()
}

// ErrNotFound is returned by a Store for an id it does not hold.
var ErrNotFound = errors.New("not found")

// Store keeps call records, voicemails and their follow-ups.
// Implementations must be safe for concurrent use.
type Store interface {
	// SaveCall writes the call record, replacing any earlier version.
	SaveCall(ctx context.Context, c *Call) error
	// Call returns the record with that id, or ErrNotFound.
	Call(ctx context.Context, id string) (*Call, error)
	// Calls returns the records of calls started in [from, to), oldest first,
	// at most limit of them (limit <= 0: no limit).
	Calls(ctx context.Context, from, to time.Time, limit int) ([]*Call, error)

	// SaveVoicemail writes the message. A message whose status is new is
	// added to the open follow-ups; one that is done is removed from them.
	SaveVoicemail(ctx context.Context, v *Voicemail) error
	// Voicemail returns the message with that id, or ErrNotFound.
	Voicemail(ctx context.Context, id string) (*Voicemail, error)
	// FollowUps returns the open follow-ups due before the given time, most
	// overdue first (a zero time: all of them).
	FollowUps(ctx context.Context, before time.Time) ([]FollowUp, error)
	// Voicemails returns the messages recorded in [from, to), oldest
	// first, at most limit of them (limit <= 0: no limit), whatever their
	// status.
	Voicemails(ctx context.Context, from, to time.Time, limit int) ([]*Voicemail, error)

	// DeleteCall deletes one call record (a caller's erasure under Law
	// 25); ErrNotFound if the store does not hold it.
	DeleteCall(ctx context.Context, id string) error
	// DeleteVoicemail deletes one message and its follow-up (not its
	// file); ErrNotFound if the store does not hold it.
	DeleteVoicemail(ctx context.Context, id string) error

	// SetState keeps one value of the line's own state under a key
	// ("override": the switch an admin set on the web page), so that it
	// survives a restart and every instance sees it. Like registrations it
	// is never deferred. An empty value deletes the key.
	SetState(ctx context.Context, key, value string) error
	// State returns the value kept under key, or ErrNotFound.
	State(ctx context.Context, key string) (string, error)

	// DeleteCallsBefore deletes the records of calls started before t (to
	// the millisecond: a call started at t is kept); it returns how many.
	// It deletes in batches, so a big purge does not hold the store; on an
	// error it returns how many it deleted before it.
	DeleteCallsBefore(ctx context.Context, t time.Time) (int, error)
	// DeleteVoicemailsBefore deletes the messages recorded before t (to the
	// millisecond: one recorded at t is kept) and their follow-ups, and
	// returns them, so that the caller can delete their files. It deletes
	// in batches; on an error it returns the messages it deleted before it.
	DeleteVoicemailsBefore(ctx context.Context, t time.Time) ([]*Voicemail, error)

	// SaveRegistration adds or refreshes one contact of a staff member
	// (keyed by staff id + contact URI), replacing what was kept for it.
	// Unlike the records above it is never deferred: when it returns nil
	// the contact is stored, so that a phone is not told it is registered
	// when nobody could reach it.
	SaveRegistration(ctx context.Context, r *Registration) error
	// DeleteRegistration removes one contact (un-REGISTER); ErrNotFound if
	// the store does not hold it.
	DeleteRegistration(ctx context.Context, staffID, contact string) error
	// Registrations returns the contacts of a staff member that have not
	// expired at now, or of all staff when staffID is "", ordered by staff
	// id then contact. Expired ones are never returned; a store deletes
	// them when it comes across them.
	Registrations(ctx context.Context, staffID string, now time.Time) ([]*Registration, error)

	// Ping reports whether the store can be reached now.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
