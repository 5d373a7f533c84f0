// Package notify tells people that a message waits for them: an e-mail to
// the staff who should call the caller back (Mailer, over SMTP), a signed
// POST to a web hook (Webhook), and the on-disk outbox in front of both
// (Outbox) that keeps every notification until it is delivered or can
// never be.
//
// A Message is what one notification says: a new message, a reminder
// before its follow-up is due, the escalation of an overdue one, or a text
// of the caller's choosing. Compose turns it into the subject and body of
// an e-mail, in French or English. The package reads no config: cmd maps
// notify.smtp.*, notify.webhook.* and the attach-or-link choice to
// MailerOptions, WebhookOptions and the fields of each Message.
package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/clubline/clubline"
)

// Decisions:
//
//   - One delivery per e-mail recipient, not one e-mail to all: a bad
//     address (550 on RCPT) fails alone and the others still go; each is
//     retried on its own; recipients do not see each other's addresses;
//     and whether the caller's number is shown can differ per audience
//     (admins, others).
//   - A delivery is keyed by channel, kind, id and recipient. The key makes
//     enqueuing idempotent (Outbox.Enqueue) and gives the e-mail a fixed
//     Message-ID and the web hook a fixed delivery id, so that a retry after
//     a lost "250 OK" can be recognised by the receiver.
//   - The caller's number is masked unless the wiring says the recipient
//     may see it (Message.ShowNumber): only two digits are kept past the
//     area code, which leaves the region (a local call or not) and enough
//     to tell two callers apart in a list, not enough to dial.
//   - Failures are permanent or temporary (Error.Permanent), decided once
//     per channel (classifySMTP, webhookStatus): a temporary one is retried
//     by the outbox, a permanent one is not, and both say what to fix.

// Kind says why a notification is sent.
type Kind string

const (
	KindNew        Kind = "new"        // a caller left a message
	KindReminder   Kind = "reminder"   // the message is due soon and nobody answered it
	KindEscalation Kind = "escalation" // the message is overdue
	KindText       Kind = "text"       // a text of the sender's own: Message.Subject and Message.Text
)

func (k Kind) valid() bool {
	switch k {
	case KindNew, KindReminder, KindEscalation, KindText:
		return true
	}
	return false
}

// Channels, the channel label of OutboxOptions.OnResult and of
// clubline_notifications_total.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Results of one attempt, the result label of OutboxOptions.OnResult and of
// clubline_notifications_total.
const (
	ResultSent   = "sent"   // delivered
	ResultRetry  = "retry"  // failed for now; tried again later
	ResultFailed = "failed" // failed for good: dropped
)

// Message is one notification. Its JSON form is what the outbox keeps on
// disk until the notification is delivered: it holds the caller's number,
// personal information under Quebec's Law 25 (Outbox.Purge removes it).
type Message struct {
	Kind Kind `json:"kind"`
	// ID is the voicemail's id (for KindText, any id that names the notice
	// for good: the outbox sends a notice of one kind and id to a
	// recipient once).
	ID string `json:"id"`

	// The voicemail, as the recipient reads it.
	From           string        `json:"from,omitempty"`            // the caller's number as received
	ShowNumber     bool          `json:"show_number,omitempty"`     // the recipient sees From in full; otherwise masked (MaskNumber)
	Category       string        `json:"category,omitempty"`        // what the caller called about, as recorded ("registrations")
	CategoryLabel  string        `json:"category_label,omitempty"`  // the same in the recipient's language ("Inscriptions"); "" says Category
	Group          string        `json:"group,omitempty"`           // the staff group the message is for
	CallerLanguage string        `json:"caller_language,omitempty"` // "fr" or "en": the language to call back in
	Urgent         bool          `json:"urgent,omitempty"`
	RecordedAt     time.Time     `json:"recorded_at"`
	Duration       time.Duration `json:"duration,omitempty"`
	Due            time.Time     `json:"due"` // when someone should have called back

	// To are the e-mail recipients, bare addresses ("marie@example.org").
	// Empty: no e-mail, the web hook alone.
	To []string `json:"to,omitempty"`
	// Language is the e-mail's: "fr" (the default) or "en".
	Language string `json:"language,omitempty"`
	// Link is the address of the message on the web page ("" none).
	Link string `json:"link,omitempty"`
	// Attach is the path of the WAV file to attach; "" sends the link
	// alone. A file gone by the time of sending (the retention purge)
	// is left out and the e-mail says so.
	Attach string `json:"attach,omitempty"`

	// Subject and Text are the words of a KindText notice.
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`

	// attachGone: Attach named a file that was gone when the e-mail was
	// sent (Compose says so).
	attachGone bool
}

// ForVoicemail is the notification of kind k about v, with the fields the
// voicemail fills; the wiring adds the recipients, their language, the
// category's label, the link, the attachment and ShowNumber.
func ForVoicemail(k Kind, v *clubline.Voicemail) Message {
	return Message{
		Kind: k, ID: v.ID, From: v.From, Category: v.Category, Group: v.Group,
		CallerLanguage: v.Language, Urgent: v.Urgent, RecordedAt: v.RecordedAt,
		Duration: v.Duration, Due: v.FollowUpDue, Language: "fr",
	}
}

// check says what is wrong with m before it is sent or kept.
func (m *Message) check() error {
	var errs []error
	if !m.Kind.valid() {
		errs = append(errs, fmt.Errorf("kind %q: use new, reminder, escalation or text", m.Kind))
	}
	if m.ID == "" {
		errs = append(errs, errors.New("no id: give the voicemail's id (for a text notice, any id that names it)"))
	}
	if m.Language != "" && m.Language != "fr" && m.Language != "en" {
		errs = append(errs, fmt.Errorf("language %q: use fr or en", m.Language))
	}
	if m.Kind == KindText && m.Subject == "" && m.Text == "" {
		errs = append(errs, errors.New("a text notice with neither subject nor text"))
	}
	for _, a := range m.To {
		if _, err := bareAddress(a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify: message %q: %w", m.ID, errors.Join(errs...))
	}
	return nil
}

// bareAddress checks that s is one bare e-mail address ("a@b.org", not
// "Name <a@b.org>" nor a list) and returns it.
func bareAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) {
		return "", fmt.Errorf("recipient %q is not an e-mail address: write it as name@example.org", s)
	}
	return a.Address, nil
}

// key names one delivery: channel, kind, id and recipient (lower case:
// the same person written twice is one delivery).
func (m *Message) key(channel, recipient string) string {
	return channel + "|" + string(m.Kind) + "|" + m.ID + "|" + strings.ToLower(recipient)
}

// language is the e-mail's, "fr" unless it is "en".
func (m *Message) language() string {
	if m.Language == "en" {
		return "en"
	}
	return "fr"
}

// Error is a failed delivery: which channel, whether trying again can
// help, and what the other side answered.
type Error struct {
	Channel   string // ChannelEmail, ChannelWebhook
	Permanent bool   // trying again will not help: the outbox drops the delivery
	// Code is the SMTP reply code or the HTTP status (0: none came, e.g.
	// the connection failed).
	Code int
	// RetryAfter is how long the receiver asked to wait (HTTP 429 and 503
	// with Retry-After), 0 if it did not.
	RetryAfter time.Duration
	// What failed and what to do about it, in words.
	Msg string
	Err error // the cause, if any
}

func (e *Error) Error() string {
	s := e.Channel + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery failure that trying again
// will not mend. An error that is not an *Error is taken as temporary.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
