package ivr

// Decisions (the queued callback, as Amazon Connect's "queued callback"):
//   - The caller keeps their place: their routing.ACD ticket stays in the
//     line when they hang up, and a job of Callbacks (not the call, which
//     ends with the caller's leg) waits for its turn exactly as the caller
//     would have (ringQueue: the group's strategy, Reserve, ring timeouts,
//     the phones of Phones). A staff member is rung first, and only once
//     they answered is the caller dialled: a callback never makes the
//     caller wait on the line for the club.
//   - Between attempts the ticket is parked (routing.ACD.Park): it keeps
//     its place but holds nobody back, so a caller who does not pick up
//     does not stop the line for RetryAfter.
//   - Only numbers the config allows (CallbackOptions.Allows: own country,
//     no premium) are offered or accepted; the caller's own number must
//     be one, or there is no offer at all (a withheld number, a SIP user).
//     1 confirms, but a number typed instead may start with 1 too
//     ("1 450 …", as many dial long distance): after a 1 the script waits
//     a short pause (callbackConfirmPause) and takes a digit that follows
//     as the rest of a number; a 1 alone, or 1 #, confirms.
//   - The call record is the caller's, carried on by the job under the
//     same id: it says abandoned (stage queue, "callback asked at …") when
//     the caller's leg ends, then answered once the callback is put
//     through, or voicemail with a follow-up (a message without audio:
//     path "", duration 0, from = the callback number) when it is given
//     up. clubline_calls_total counts the call once, when the job ends,
//     with that final outcome. clubline has no "callback" outcome: none
//     was needed.
//   - A callback still waiting when the office closes, or when nobody in
//     the group is registered any more, or at shutdown, is given up at
//     once for a follow-up: staff are not rung for it at night, and a
//     promise made to a caller is never just dropped.
//   - Numbers in traces are masked as the sip package masks them in logs
//     (+1514***0199); the log never has one.

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/routing"
)

// CallbackOptions say whether a caller waiting in a group's queue may ask
// to be called back, keeping their place.
type CallbackOptions struct {
	Enabled bool
	// Key asks for the callback while waiting (default
	// routing.DefaultCallbackKey, '2'). It must not be the queue's exit
	// key, 0: then there is no offer.
	Key rune
	// Attempts is how many times a staff member waits on the line while
	// the caller is dialled, before the callback is given up for a
	// follow-up (default routing.DefaultCallbackAttempts, 3).
	Attempts int
	// RetryAfter is the pause after an attempt the caller did not answer
	// (default routing.DefaultCallbackRetryAfter, 2 minutes).
	RetryAfter time.Duration
	// Allows says whether a number, in E.164 ("+15145550199"), may be
	// called back (the config decides: own country only, no premium or
	// international numbers). Nil allows none: no offer. Calls ask it at
	// once: it must be safe for concurrent use.
	Allows func(e164 string) bool
}

func (o *CallbackOptions) withDefaults() {
	if o.Key == 0 {
		o.Key = routing.DefaultCallbackKey
	}
	if o.Attempts <= 0 {
		o.Attempts = routing.DefaultCallbackAttempts
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = routing.DefaultCallbackRetryAfter
	}
}

// Callbacks runs queued callbacks: the work that goes on after the caller
// who asked for it hung up. A callback outlives its call and a reload of
// the config (it keeps the Script it started with, as a call does), so
// Callbacks belongs to the process, as the ACD does: cmd makes one with
// NewCallbacks, gives it to every New with WithCallbacks, and calls
// Shutdown once no call can come any more (after the SIP server's drain),
// before it closes the store. A Script without one offers no callback.
type Callbacks struct {
	// wait ends the waits and rings of callbacks; talk cuts the callbacks
	// put through (the caller and the staff member talking).
	wait, talk               context.Context
	stopWaiting, stopTalking context.CancelFunc

	mu      sync.Mutex
	closed  bool
	pending int
	wg      sync.WaitGroup
}

// NewCallbacks returns an empty Callbacks.
func NewCallbacks() *Callbacks {
	j := &Callbacks{}
	j.wait, j.stopWaiting = context.WithCancel(context.Background())
	j.talk, j.stopTalking = context.WithCancel(context.Background())
	return j
}

// WithCallbacks sets where the script runs its queued callbacks (one per
// process, shared by the scripts of every config snapshot). Without it no
// callback is offered.
func WithCallbacks(j *Callbacks) Option { return func(s *Script) { s.callbacks = j } }

// Pending is how many callbacks are waiting for their turn, being
// attempted, or put through.
func (j *Callbacks) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pending
}

// Shutdown stops taking callbacks (no caller is offered one any more) and
// ends those still waiting for their turn or for their next attempt at
// once: each is given up for a follow-up, so the club still calls the
// caller back. A callback whose staff member has answered goes on (the
// caller is dialled, then put through) until it ends, or until ctx ends:
// then it is cut. Shutdown returns once every callback has ended and its
// record and follow-up are written (ctx.Err() if it had to cut some); it
// may be called again.
func (j *Callbacks) Shutdown(ctx context.Context) error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.stopWaiting()
	done := make(chan struct{})
	go func() {
		j.wg.Wait()
		close(done)
	}()
	defer j.stopTalking()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		j.stopTalking()
		<-done
		return ctx.Err()
	}
}

// open reports whether a callback may still be offered.
func (j *Callbacks) open() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return !j.closed
}

// reserve takes a place for one callback; false once Shutdown started.
// The place is given back by done.
func (j *Callbacks) reserve() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	j.pending++
	j.wg.Add(1)
	return true
}

func (j *Callbacks) done() {
	j.mu.Lock()
	j.pending--
	j.mu.Unlock()
	j.wg.Done()
}

// ---- numbers ---------------------------------------------------------------

// e164 normalises a caller's number or a typed one to E.164: "+…" as is
// (7 to 15 digits), 10 digits → "+1…", 11 digits starting with 1 → "+…".
// The North American forms must have an area code that starts with 2-9.
// Anything else ("anonymous", a SIP user such as "201", letters) is not
// dialable.
func e164(s string) (string, bool) {
	plus := strings.HasPrefix(s, "+")
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	switch n := len(digits); {
	case plus:
		if n < 7 || n > 15 || digits[0] == '0' {
			return "", false
		}
		return "+" + digits, true
	case n == 10 && digits[0] >= '2':
		return "+1" + digits, true
	case n == 11 && digits[0] == '1' && digits[1] >= '2':
		return "+" + digits, true
	}
	return "", false
}

// numberClips says a number digit by digit: a North American one without
// its +1 ("5 1 4 5 5 5 0 1 9 9"), any other with its country code.
func numberClips(lang, e164 string) []string {
	digits := strings.TrimPrefix(e164, "+")
	if len(digits) == 11 && digits[0] == '1' {
		digits = digits[1:]
	}
	var out []string
	for _, d := range digits {
		out = append(out, digitClips(lang, string(d))...)
	}
	return out
}

// ---- the caller's side -----------------------------------------------------

// pendingCallback is a callback the caller confirmed, handed from the
// call to its job when the call ends.
type pendingCallback struct {
	group    *Group
	ticket   *routing.Ticket
	number   string // E.164
	reserved bool   // Callbacks took it; false: shutdown came first
}

// callbackOffer is the caller's number in E.164 when they may be offered
// a callback in this queue, else "": the line offers callbacks, has a
// dialer and somewhere to run them, nobody has answered the call yet (a
// transfer to a group offers none), and the caller's number is dialable
// and allowed.
func (c *call) callbackOffer() string {
	o := c.s.o.Callback
	if !o.Enabled || o.Allows == nil || o.Key == exitKey || c.s.dialer == nil ||
		c.s.callbacks == nil || !c.s.callbacks.open() || c.answered || c.callbackTo != "" {
		return ""
	}
	n, ok := e164(c.rec.From)
	if !ok || !o.Allows(n) {
		return ""
	}
	return n
}

// callbackOfferClips is the offer said after how to leave the queue:
// "Pour être rappelé sans perdre votre place, faites le" + the key.
func (c *call) callbackOfferClips() phrase {
	return c.clips(append([]string{"callback_offer"}, digitClips(c.lang, string(c.s.o.Callback.Key))...)...)
}

// Bounds of the choice of a callback number.
const (
	// callbackFailures: after this many refused numbers or rounds without
	// a key, the caller is back in the queue.
	callbackFailures = 2
	// callbackRounds bounds the rounds in all (a caller typing number
	// after number).
	callbackRounds = 4
	// maxTypedDigits: E.164 has at most 15 digits.
	maxTypedDigits = 15
	// callbackConfirmPause is how long a 1 waits for a digit that would
	// make it the start of a number rather than the confirmation (at most
	// Menu.Timeout).
	callbackConfirmPause = 1500 * time.Millisecond
)

// chooseCallback asks the caller to confirm the number they will be
// called back at, or to type another one, with their ticket parked
// meanwhile. It returns the number confirmed, or "" when they did not
// confirm one (they go back to waiting).
func (c *call) chooseCallback(g *Group, t *routing.Ticket, number string) (string, error) {
	c.s.acd.Park(t)
	digitOrPound := func(k rune) bool { return k == '#' || ('0' <= k && k <= '9') }
	failures := 0
	for range callbackRounds {
		ask := append([]string{"callback_number"}, numberClips(c.lang, number)...)
		key, err := c.play(c.clips(append(ask, "callback_confirm")...), digitOrPound)
		if err != nil {
			return "", err
		}
		if key == 0 {
			if key, err = c.waitKey(c.s.o.Menu.Timeout, digitOrPound); err != nil {
				return "", err
			}
		}
		keys := []rune{key}
		if key == '1' { // the confirmation, or the first digit of a number
			next, err := c.waitKey(min(callbackConfirmPause, c.s.o.Menu.Timeout), digitOrPound)
			if err != nil {
				return "", err
			}
			if next == 0 || next == '#' {
				return number, nil
			}
			keys = append(keys, next)
		}
		if key == 0 {
			failures++
			if _, err := c.play(c.clips("no_input"), noKeys); err != nil {
				return "", err
			}
		} else {
			typed, err := c.typedNumber(keys...)
			if err != nil {
				return "", err
			}
			n, ok := e164(typed)
			if ok && c.s.o.Callback.Allows(n) {
				number = n
				continue
			}
			failures++
			if ok {
				c.trace("%s: callback number refused (%s)", g.ID, clubline.MaskNumber(n))
			} else {
				c.trace("%s: callback number refused (not a number)", g.ID)
			}
			c.s.countCallback(g.ID, metrics.CallbackRefusedNumber)
			if _, err := c.play(c.clips("callback_refused"), noKeys); err != nil {
				return "", err
			}
		}
		if failures >= callbackFailures {
			break
		}
	}
	return "", nil
}

// typedNumber reads the digits of a number, the first ones already
// pressed, until # or a pause of Menu.Timeout; * is ignored.
func (c *call) typedNumber(pressed ...rune) (string, error) {
	var b strings.Builder
	for i := 0; ; i++ {
		k := rune(0)
		if i < len(pressed) {
			k = pressed[i]
		} else {
			var err error
			if k, err = c.waitKey(c.s.o.Menu.Timeout, anyKey); err != nil {
				return "", err
			}
		}
		if k == '#' || k == 0 {
			return b.String(), nil
		}
		if '0' <= k && k <= '9' && b.Len() <= maxTypedDigits {
			b.WriteRune(k) // one digit too many is enough to refuse the number
		}
	}
}

// callbackConfirmed hands the caller's place to a callback and says
// goodbye; the call then ends, and Run starts the callback.
func (c *call) callbackConfirmed(g *Group, t *routing.Ticket, number string) error {
	c.cb = &pendingCallback{group: g, ticket: t, number: number, reserved: c.s.callbacks.reserve()}
	c.trace("%s: callback asked at %s", g.ID, clubline.MaskNumber(number))
	c.log.Info("callback asked", "group", g.ID)
	_, err := c.play(c.clips("callback_noted"), noKeys)
	return err
}
