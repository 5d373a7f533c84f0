// Package probe is the line's mystery call: it calls the line as a caller
// would (package softphone), listens for the prompts the schedule says it
// should hear (package hearing), presses a key the menu answers, checks
// the next prompt, and hangs up. cmd runs it on the probe: section's
// schedule and from `clubline probe`, and exports what it found.
//
// Decisions
//
//   - What is checked, in order: the greeting; then, as the schedule has
//     it now, the menu (open) or the closed message (closed, a holiday or
//     a closure: any of the prompts that can start it); then a key. Open,
//     the key is the menu's voicemail option, and the voicemail
//     instruction must follow; closed, it is #, which skips to the beep.
//     Both lead to no person: a probe never rings a staff phone nor
//     leaves a message (it hangs up at the instruction, or at the beep,
//     well under the voicemail's minimum length). A menu without a
//     voicemail option is checked as far as the menu.
//   - A prompt counts as heard when the first second of it (all of it
//     when shorter) is found with the correlation the tests use (0.9):
//     the line's own audio, not a guess from timing.
//   - Steps have a fixed set of names (Steps), so that the metric of the
//     prompts heard has a bounded label.
package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/softphone"
)

// The steps of a probe, each a prompt it waits for.
const (
	StepGreeting = "greeting"  // the greeting
	StepMenu     = "menu"      // the menu (open)
	StepClosed   = "closed"    // the closed message (closed)
	StepAfterKey = "after_key" // the prompt that answers the key pressed
)

// Steps lists every step, in the order a probe takes them.
var Steps = []string{StepGreeting, StepMenu, StepClosed, StepAfterKey}

// Options say what to call and what to expect.
type Options struct {
	// URI is what to dial: "sip:+14505550100@127.0.0.1:5060", or the
	// club's number at its provider.
	URI string
	// Via says in words which way the call goes ("trunk voipms"); "":
	// directly to the line.
	Via string
	// AuthUser and AuthPassword answer a 401 or 407 to the INVITE: the
	// trunk's account, when the probe calls through the provider.
	AuthUser, AuthPassword string
	// Token goes in clubline.ProbeHeader, so that the line marks the
	// call's record as a probe; "": an ordinary caller.
	Token string
	// Prompts are the line's prompts, to recognise them; Lang the
	// language it greets in (club.languages' first).
	Prompts *prompts.Set
	Lang    string
	// Open is whether the schedule has the office open now.
	Open bool
	// VoicemailKey is the menu's key that leads to the voicemail; 0:
	// none, and the open line is checked as far as the menu.
	VoicemailKey rune
	// Timeout bounds the answer, and then each prompt awaited.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Step is one prompt waited for.
type Step struct {
	Name   string // one of Steps
	Prompt string // the prompt heard ("fr/greeting"), or the ones awaited
	Heard  bool
	At     time.Duration // from the answer, when heard
}

// Result is what one probe found.
type Result struct {
	OK     bool
	Setup  time.Duration // from the INVITE to the start of the greeting; 0 if never heard
	Steps  []Step
	Key    rune  // the key pressed; 0: none
	Err    error // why it failed; nil when OK
	Hours  clubline.Hours
	Target string
	Via    string // Options.Via
}

// Heard reports whether the step was heard in this probe.
func (r Result) Heard(step string) bool {
	for _, s := range r.Steps {
		if s.Name == step {
			return s.Heard
		}
	}
	return false
}

// Run places one probe call and says what it found.
func Run(ctx context.Context, o Options) Result {
	r := Result{Hours: clubline.HoursClosed, Target: o.URI, Via: o.Via}
	if o.Open {
		r.Hours = clubline.HoursOpen
	}
	if o.Timeout <= 0 {
		o.Timeout = clubline.DefaultProbeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var headers [][2]string
	if o.Token != "" {
		headers = [][2]string{{clubline.ProbeHeader, o.Token}}
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	c, err := softphone.Dial(dctx, o.URI, softphone.Options{From: "clubline-probe", Headers: headers, Logger: o.Logger,
		AuthUser: o.AuthUser, AuthPassword: o.AuthPassword})
	cancel()
	if err != nil {
		var refused *softphone.StatusError
		switch {
		case errors.As(err, &refused):
			r.Err = fmt.Errorf("the call was refused: %d %s", refused.Code, refused.Reason)
		case errors.Is(err, context.DeadlineExceeded):
			r.Err = fmt.Errorf("no answer within %s", o.Timeout)
		default:
			r.Err = err
		}
		return r
	}
	defer func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		select {
		case <-c.Done():
		default:
			_ = c.Hangup(hctx)
		}
	}()
	l := listener{c: c, o: o}

	greeting := l.await(ctx, StepGreeting, "greeting")
	r.Steps = append(r.Steps, greeting)
	if !greeting.Heard {
		r.Err = l.missed(ctx, greeting)
		return r
	}
	r.Setup = c.SetupTime() + greeting.At

	var hours Step
	if o.Open {
		hours = l.await(ctx, StepMenu, "menu_intro")
	} else {
		hours = l.await(ctx, StepClosed, closedPrompts(o.Prompts, o.Lang)...)
	}
	r.Steps = append(r.Steps, hours)
	if !hours.Heard {
		r.Err = l.missed(ctx, hours)
		return r
	}

	var after []string
	switch {
	case !o.Open:
		r.Key, after = '#', []string{"beep"}
	case o.VoicemailKey != 0:
		r.Key, after = o.VoicemailKey, []string{"voicemail", "voicemail_full"}
	default:
		r.OK = true
		return r
	}
	if err := c.SendDigit(ctx, r.Key); err != nil {
		r.Err = fmt.Errorf("pressing %c: %w", r.Key, err)
		return r
	}
	answer := l.await(ctx, StepAfterKey, after...)
	r.Steps = append(r.Steps, answer)
	if !answer.Heard {
		r.Err = l.missed(ctx, answer)
		return r
	}
	r.OK = true
	return r
}

// closedPrompts are the prompts a closed message may start with in lang:
// "closed", "closed_today", a holiday's or a closure's own.
func closedPrompts(set *prompts.Set, lang string) []string {
	out := []string{"closed", "closed_today", "closed_today_for"}
	for _, n := range set.Names(lang) {
		if strings.HasPrefix(n, "holiday_") || strings.HasPrefix(n, "closure_") {
			out = append(out, n)
		}
	}
	return out
}

// listener waits for prompts in what the call hears, each after the one
// before it.
type listener struct {
	c    *softphone.Call
	o    Options
	from int // samples already accounted for
}

// await waits up to the timeout for any of the prompts and returns the step.
func (l *listener) await(ctx context.Context, step string, names ...string) Step {
	s := Step{Name: step, Prompt: l.o.Lang + "/" + strings.Join(names, "|")}
	var clips [][]int16
	var found []string
	for _, n := range names {
		clip := media.Flatten(l.o.Prompts.Frames(l.o.Lang, n))
		if len(clip) == 0 {
			continue
		}
		if len(clip) > media.SampleRate {
			clip = clip[:media.SampleRate]
		}
		clips, found = append(clips, clip), append(found, n)
	}
	if len(clips) == 0 {
		return s
	}
	find := func() bool {
		heard := l.c.Heard()
		for i, clip := range clips {
			at, score := hearing.FindClip(heard[l.from:], clip)
			if score >= hearing.MinScore {
				start := l.from + int(at*media.SampleRate/time.Second)
				l.from = start + len(clip)
				s.Prompt, s.Heard, s.At = l.o.Lang+"/"+found[i], true, time.Duration(start)*time.Second/media.SampleRate
				return true
			}
		}
		return false
	}
	deadline := time.NewTimer(l.o.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !find() {
		select {
		case <-tick.C:
		case <-l.c.Done():
			find() // what came before the end may hold it
			return s
		case <-deadline.C:
			return s
		case <-ctx.Done():
			return s
		}
	}
	return s
}

// missed says why a step was not heard.
func (l *listener) missed(ctx context.Context, s Step) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: interrupted", s.Name)
	case l.c.EndedBy() != "":
		return fmt.Errorf("%s: the call ended (%s) before %s was heard", s.Name, l.c.EndedBy(), s.Prompt)
	}
	return fmt.Errorf("%s: %s not heard within %s", s.Name, s.Prompt, l.o.Timeout)
}

// Summary is what a person reads: one line per step, then the verdict.
func (r Result) Summary() string {
	var b strings.Builder
	if r.Via != "" {
		fmt.Fprintf(&b, "probe of %s through %s (%s hours)\n", r.Target, r.Via, r.Hours)
	} else {
		fmt.Fprintf(&b, "probe of %s (%s hours)\n", r.Target, r.Hours)
	}
	if r.Setup > 0 {
		fmt.Fprintf(&b, "greeting %.0f ms after the INVITE\n", float64(r.Setup.Microseconds())/1000)
	}
	for _, s := range r.Steps {
		if s.Name == StepAfterKey && r.Key != 0 {
			fmt.Fprintf(&b, "pressed %c\n", r.Key)
		}
		if s.Heard {
			fmt.Fprintf(&b, "%7.2fs  %-9s heard %s\n", s.At.Seconds(), s.Name, s.Prompt)
		} else {
			fmt.Fprintf(&b, "          %-9s NOT heard: %s\n", s.Name, s.Prompt)
		}
	}
	if r.OK {
		b.WriteString("result: success\n")
	} else {
		fmt.Fprintf(&b, "result: FAILED: %v\n", r.Err)
	}
	return b.String()
}
