package ivr

import (
	"context"
	"log/slog"

	"github.com/clubline/clubline/media"
)

// Leg is the caller's side of a call as the call script sees it: audio out,
// audio and digits in, hang-up. The sip package implements it over a SIP
// dialog and an RTP session; tests implement it with fakes.
type Leg interface {
	// Play sends src to the caller, paced in real time, until src returns
	// io.EOF (nil error), ctx is done (ctx.Err()), or the call ends.
	Play(ctx context.Context, src media.Source) error
	// Digits delivers each DTMF digit the caller presses, exactly once,
	// whether it came as an RFC 4733 event or a SIP INFO.
	Digits() <-chan rune
	// Record hands the caller's audio to sink, one frame per 20 ms in order
	// (silence for lost packets), until ctx is done or the call ends.
	Record(ctx context.Context, sink media.Sink) error
	// Hangup ends the call from clubline's side.
	Hangup(ctx context.Context) error
	// Done is closed when the call has ended, whichever side ended it.
	Done() <-chan struct{}
}

// Inbound is a call the sip package has answered and hands to the script.
type Inbound struct {
	ID   string // clubline's call id, also the id of the call record
	From string // the caller's number or SIP user
	To   string // the number dialled (request-URI user), or the trunk's number the call was for
	// Trunk is the trunk that delivered the call ("" for a direct call).
	Trunk string
	// Staff is the staff member whose phone placed the call, once the
	// registrar authenticated it ("" for any other caller). Only such a
	// call reaches Options.Studio.
	Staff string
	// Probe is the line's own mystery call: its record is marked, and it
	// is left out of the metrics of calls and queues.
	Probe bool
	Leg   Leg
	Log   *slog.Logger // carries the call id; never logs a full number or a digit
}
