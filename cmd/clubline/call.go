package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/softphone"
)

// keyPress is one --dtmf entry: press key at a time after the answer.
type keyPress struct {
	key rune
	at  time.Duration
}

// tonePlay is one --tone entry: play freq Hz at a time after the answer.
type tonePlay struct {
	freq float64
	at   time.Duration
	dur  time.Duration
}

// callFlags are the parsed arguments of `clubline call`.
type callFlags struct {
	uri         string
	keys        []keyPress
	tones       []tonePlay
	info        bool
	record      string
	hangupAfter time.Duration
	from        string
	transport   string
	timeout     time.Duration
	prompts     string
	verbose     bool
}

const callUsage = `usage: clubline call URI [flags]

Places a call like a caller would, presses keys, plays tones, records what
it hears, and prints what happened: which prompts it heard, in order, the
keys it pressed, how the call ended. Times are counted from the answer.

  clubline call sip:+14505550100@127.0.0.1:5060 --dtmf "1@4s,0@9s" --record heard.wav --hangup-after 20s

calls the line of config/example.yaml started on this machine (clubline
serve). A line refuses a number it does not answer with 404; to a caller
on its machine or in its sip.allow_from it says which numbers it answers.

flags:
`

// runCall is `clubline call`. It returns 0 when the call was answered and
// everything asked of it was done, 1 when the call failed, 2 on bad usage.
func runCall(args []string, stdout, stderr io.Writer) int {
	f, code := parseCallFlags(args, stderr)
	if code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := placeCall(ctx, f, stdout); err != nil {
		fmt.Fprintf(stderr, "clubline call: %v\n", err)
		return 1
	}
	return 0
}

// parseCallFlags returns the flags, or an exit code (≥ 0) when the command
// must stop here (bad usage, --help).
func parseCallFlags(args []string, stderr io.Writer) (callFlags, int) {
	var f callFlags
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dtmf := fs.String("dtmf", "", "keys to press, as `KEY@TIME,…` (\"1@4s,0@9s\")")
	tones := fs.String("tone", "", "tones to play, as `HZ@TIME:LENGTH,…` (\"440@12s:2s\")")
	fs.BoolVar(&f.info, "info", false, "press keys with SIP INFO instead of RFC 4733 events")
	fs.StringVar(&f.record, "record", "", "write what is heard to this WAV `file`")
	fs.DurationVar(&f.hangupAfter, "hangup-after", 0, "hang up this long after the answer (default: wait for the other side, or Ctrl-C)")
	fs.StringVar(&f.from, "from", "+15145550199", "the caller's `number` or SIP user")
	fs.StringVar(&f.transport, "transport", "udp", "udp or tcp")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up if not answered within this long")
	fs.StringVar(&f.prompts, "prompts", "", "the line's prompt `folder` (prompts.dir), to name its own recordings too")
	fs.BoolVar(&f.verbose, "verbose", false, "log SIP and RTP details to stderr, and list the sounds heard")
	fs.Usage = func() {
		fmt.Fprint(stderr, callUsage)
		fs.PrintDefaults()
	}
	// The URI may come before the flags (as in the usage) or after them.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		f.uri, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, 0
		}
		return f, 2
	}
	if f.uri == "" && fs.NArg() > 0 {
		f.uri = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the URI
			return f, 2
		}
	}
	if fs.NArg() > 0 || f.uri == "" {
		if f.uri == "" {
			fmt.Fprintln(stderr, "clubline call: missing the URI to call (sip:NUMBER@HOST:PORT)")
		} else {
			fmt.Fprintf(stderr, "clubline call: unexpected argument %q\n", fs.Arg(0))
		}
		fs.Usage()
		return f, 2
	}
	if !strings.HasPrefix(f.uri, "sip:") {
		f.uri = "sip:" + f.uri
	}
	var err error
	if f.keys, err = parseKeys(*dtmf); err != nil {
		fmt.Fprintf(stderr, "clubline call: --dtmf: %v\n", err)
		return f, 2
	}
	if f.tones, err = parseTones(*tones); err != nil {
		fmt.Fprintf(stderr, "clubline call: --tone: %v\n", err)
		return f, 2
	}
	if f.transport != "udp" && f.transport != "tcp" {
		fmt.Fprintf(stderr, "clubline call: --transport %q: use udp or tcp\n", f.transport)
		return f, 2
	}
	return f, -1
}

// parseKeys reads "1@4s,0@9s"; the presses come back in time order.
func parseKeys(s string) ([]keyPress, error) {
	var out []keyPress
	for _, item := range splitList(s) {
		k, at, ok := strings.Cut(item, "@")
		r := []rune(strings.TrimSpace(k))
		if !ok || len(r) != 1 {
			return nil, fmt.Errorf("%q: want KEY@TIME, such as 1@4s", item)
		}
		key, valid := media.NormalizeDigit(r[0])
		if !valid {
			return nil, fmt.Errorf("%q: %q is not a phone key (0-9 * # A-D)", item, r[0])
		}
		d, err := parseOffset(at)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		out = append(out, keyPress{key: key, at: d})
	}
	slices.SortStableFunc(out, func(a, b keyPress) int { return int(a.at - b.at) })
	return out, nil
}

// parseTones reads "440@12s:2s".
func parseTones(s string) ([]tonePlay, error) {
	var out []tonePlay
	for _, item := range splitList(s) {
		hz, rest, ok := strings.Cut(item, "@")
		at, length, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q: want HZ@TIME:LENGTH, such as 440@12s:2s", item)
		}
		freq, err := strconv.ParseFloat(strings.TrimSpace(hz), 64)
		if err != nil || freq <= 0 || freq >= media.SampleRate/2 {
			return nil, fmt.Errorf("%q: frequency %q must be between 0 and 4000 Hz", item, hz)
		}
		start, err := parseOffset(at)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(length))
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("%q: length %q is not a positive duration such as 2s", item, length)
		}
		out = append(out, tonePlay{freq: freq, at: start, dur: dur})
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseOffset(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("time %q is not a duration such as 4s or 1.5s", s)
	}
	return d, nil
}

// placeCall dials, runs the schedule and prints what happened.
func placeCall(ctx context.Context, f callFlags, out io.Writer) error {
	set, err := prompts.Load(f.prompts)
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	fmt.Fprintf(out, "calling %s from %s over %s\n", f.uri, f.from, f.transport)
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	c, err := softphone.Dial(dctx, f.uri, softphone.Options{
		From: f.from, Transport: f.transport, RecordTo: f.record, Logger: logger,
	})
	cancel()
	if err != nil {
		var refused *softphone.StatusError
		switch {
		case errors.As(err, &refused):
			if w := warningText(refused.Header("Warning")); w != "" {
				return fmt.Errorf("the call was refused: %d %s: %s", refused.Code, refused.Reason, w)
			}
			return fmt.Errorf("the call was refused: %d %s", refused.Code, refused.Reason)
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("no answer within %s", f.timeout)
		case errors.Is(err, context.Canceled):
			return errors.New("interrupted before the answer")
		}
		return err
	}
	answered := time.Now()
	n := c.Negotiated()
	setup := fmt.Sprintf("%.0f", float64(c.SetupTime().Microseconds())/1000)
	if c.SetupTime() < 10*time.Millisecond {
		setup = fmt.Sprintf("%.1f", float64(c.SetupTime().Microseconds())/1000)
	}
	fmt.Fprintf(out, "answered in %s ms (%s, telephone-event %d)\n", setup, n.Codec.Name, n.DTMFPayloadType)

	sent, failures := runSchedule(ctx, c, f, answered, out)
	ended, by := waitEnd(ctx, c, f, answered)
	if by == softphone.EndedLocalBye || ctx.Err() != nil {
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Hangup(hctx); err != nil {
			failures = append(failures, fmt.Sprintf("hang up: %v", err))
		}
		cancel()
		by = c.EndedBy()
	}
	printSummary(out, c, f, set, sent, ended, by)
	if len(failures) > 0 {
		return fmt.Errorf("%d step(s) failed: %s", len(failures), strings.Join(failures, "; "))
	}
	return nil
}

// runSchedule presses keys and plays tones at their times, printing each
// as it happens, and returns the keys sent (at the time they were pressed)
// and what failed. Tones play alongside key presses.
func runSchedule(ctx context.Context, c *softphone.Call, f callFlags, answered time.Time, out io.Writer) ([]keyPress, []string) {
	var mu sync.Mutex
	var failures []string
	var sent []keyPress
	sayAt := func(at time.Time, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%7.2fs  %s\n", at.Sub(answered).Seconds(), fmt.Sprintf(format, a...))
	}
	say := func(format string, a ...any) { sayAt(time.Now(), format, a...) }
	fail := func(s string) {
		mu.Lock()
		failures = append(failures, s)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, tn := range f.tones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepUntil(ctx, c, answered.Add(tn.at)) {
				return
			}
			say("playing %g Hz for %s", tn.freq, tn.dur)
			if err := c.Play(ctx, media.Tone(tn.freq, tn.dur, 8000)); err != nil {
				fail(fmt.Sprintf("tone %g Hz at %s: %v", tn.freq, tn.at, err))
			}
		}()
	}
	how := "RFC 4733"
	if f.info {
		how = "SIP INFO"
	}
	for _, k := range f.keys {
		if !sleepUntil(ctx, c, answered.Add(k.at)) {
			fail(fmt.Sprintf("key %c at %s: the call ended first", k.key, k.at))
			continue
		}
		pressed := time.Now()
		var err error
		if f.info {
			err = c.SendDigitInfo(ctx, k.key)
		} else {
			err = c.SendDigit(ctx, k.key)
		}
		switch {
		case err != nil && c.EndedBy() != "":
			// The other side hung up while the key was down: it got the key.
			sayAt(pressed, "pressed %c (%s); the call ended meanwhile (%s)", k.key, how, c.EndedBy())
		case err != nil:
			fail(fmt.Sprintf("key %c at %s: %v", k.key, k.at, err))
			sayAt(pressed, "key %c NOT sent: %v", k.key, err)
			continue
		default:
			sayAt(pressed, "pressed %c (%s)", k.key, how)
		}
		sent = append(sent, keyPress{key: k.key, at: pressed.Sub(answered)})
	}
	wg.Wait()
	return sent, failures
}

// sleepUntil waits for t; false if the call or ctx ended first.
func sleepUntil(ctx context.Context, c *softphone.Call, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.Done():
		return false
	case <-ctx.Done():
		return false
	}
}

// warningText is the text of a Warning header (RFC 3261 §20.43:
// code agent "text"), such as the numbers a line answers in its 404 to a
// local caller; "" when there is none.
func warningText(h string) string {
	i, j := strings.IndexByte(h, '"'), strings.LastIndexByte(h, '"')
	if i < 0 || j <= i {
		return ""
	}
	text := []rune(h[i+1 : j])
	if len(text) > 200 { // a peer's text: no flood, no escape sequences
		text = text[:200]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, string(text))
}

// waitEnd waits for the other side to hang up, --hangup-after or Ctrl-C,
// and says when and how the call ended (EndedLocalBye: ours to send).
func waitEnd(ctx context.Context, c *softphone.Call, f callFlags, answered time.Time) (time.Duration, string) {
	var after <-chan time.Time
	if f.hangupAfter > 0 {
		t := time.NewTimer(time.Until(answered.Add(f.hangupAfter)))
		defer t.Stop()
		after = t.C
	}
	select {
	case <-c.Done():
		return time.Since(answered), c.EndedBy()
	case <-after:
		return time.Since(answered), softphone.EndedLocalBye
	case <-ctx.Done():
		return time.Since(answered), softphone.EndedLocalBye
	}
}

// putThrough are the prompts after which clubline puts a caller through
// to a person: "connecting", then hold music while their phone rings.
var putThrough = []string{"connecting", "hold_music"}

// heardPerson is a person heard after the caller was put through.
type heardPerson struct {
	at, length time.Duration
	sure       bool      // after a prompt that puts the caller through
	key        *keyPress // else the key after which they were heard
}

// person says when a person was heard and for how long. A staff member
// who answers says no prompt, and their voice read as a custom recording:
// it is the sound after the last prompt that puts the caller through, up
// to the next prompt heard; or, when their phone answered before any
// such prompt could be heard, the sound after the last key pressed, when
// no prompt was heard after that key (then it may be a recording of the
// club's own, unless they are all known: --prompts). Nil when nobody was
// heard.
func person(found []hearing.Heard, heard []int16, sent []keyPress, allPrompts bool) *heardPerson {
	p := &heardPerson{sure: true}
	from, until := time.Duration(-1), time.Duration(math.MaxInt64)
	for i := len(found) - 1; i >= 0; i-- {
		if slices.Contains(putThrough, found[i].Name) {
			from = found[i].End()
			if i+1 < len(found) {
				until = found[i+1].At
			}
			break
		}
	}
	if from < 0 && len(sent) > 0 {
		k := sent[len(sent)-1]
		if len(found) > 0 && found[len(found)-1].End() > k.at+time.Second/2 {
			return nil // a prompt after the key: the line answered it
		}
		from, p.key, p.sure = k.at, &k, allPrompts
	}
	if from < 0 {
		return nil
	}
	for _, s := range hearing.Segments(heard) {
		start, end := max(s.Start, from), min(s.Start+s.Duration, until)
		if end <= start {
			continue
		}
		if p.length == 0 {
			p.at = start
		}
		p.length += end - start
	}
	if p.length < time.Second/2 || (p.key != nil && p.length < 2*time.Second) { // a click, the end of a prompt: no one
		return nil
	}
	return p
}

// String is the line that names them, after the time.
func (p *heardPerson) String() string {
	switch {
	case p.key == nil:
		return fmt.Sprintf("connected to a person (%.1fs of audio that is no prompt)", p.length.Seconds())
	case p.sure:
		return fmt.Sprintf("connected to a person (%.1fs of audio after key %c that is no prompt)", p.length.Seconds(), p.key.key)
	}
	return fmt.Sprintf("connected to a person, it seems (%.1fs of audio after key %c that is no built-in prompt)", p.length.Seconds(), p.key.key)
}

// printSummary prints the prompts heard, the keys sent and how the call
// ended:
//
//	heard:
//	   0.00s  fr/greeting
//	   3.16s  en/language_offer en/digit_8
//	   6.02s  fr/connecting
//	   9.40s  connected to a person (16.9s of audio that is no prompt)
//	keys sent: 1 at 4.00s
//	ended: remote BYE at 31.2s (the other side hung up)
//
// Other audio that is no prompt is counted on a line of its own ("4.2s of
// audio not matching a built-in prompt: a custom recording?").
func printSummary(out io.Writer, c *softphone.Call, f callFlags, set *prompts.Set, sent []keyPress, ended time.Duration, by string) {
	heard := c.Heard()
	found, unmatched := hearing.Recognize(heard, hearing.ClipsOf(set))
	switch {
	case len(heard) == 0:
		fmt.Fprintln(out, "heard: no audio")
	case len(found) == 0 && unmatched == 0:
		fmt.Fprintf(out, "heard: only silence (%.1fs)\n", float64(len(heard))/media.SampleRate)
	default:
		fmt.Fprintln(out, "heard:")
	}
	p := person(found, heard, sent, f.prompts != "")
	saidPerson := p == nil
	sayPerson := func() {
		fmt.Fprintf(out, "%7.2fs  %s\n", p.at.Seconds(), p)
		saidPerson = true
	}
	for _, sentence := range hearing.Sentences(found) {
		if !saidPerson && sentence[0].At > p.at {
			sayPerson()
		}
		words := make([]string, len(sentence))
		for i, h := range sentence {
			words[i] = h.Lang + "/" + h.Name
			for _, a := range h.Alike {
				words[i] += " or " + a
			}
			if h.Cut {
				words[i] += fmt.Sprintf(" (cut off after %.2fs)", h.Duration.Seconds())
			}
		}
		line := fmt.Sprintf("%7.2fs  %s", sentence[0].At.Seconds(), words[0])
		for _, w := range words[1:] {
			if len(line)+1+len(w) > 100 { // a long sentence goes on below
				fmt.Fprintln(out, line)
				line = strings.Repeat(" ", 9)
			}
			line += " " + w
		}
		fmt.Fprintln(out, line)
	}
	if !saidPerson {
		sayPerson()
	}
	if p != nil {
		unmatched -= p.length
	}
	if unmatched > time.Second/2 {
		what := "a built-in prompt: a custom recording?"
		if f.prompts != "" {
			what = "any prompt"
		}
		other := ""
		if p != nil {
			other = "other "
		}
		fmt.Fprintf(out, "  (%.1fs of %saudio not matching %s)\n", unmatched.Seconds(), other, what)
	}
	if f.verbose {
		segs := hearing.Segments(heard)
		fmt.Fprintf(out, "sounds: %d in %.2fs\n", len(segs), float64(len(heard))/media.SampleRate)
		for _, s := range segs {
			fmt.Fprintf(out, "  at %7.2fs  for %6.2fs  (%.0f dBFS)\n", s.Start.Seconds(), s.Duration.Seconds(), s.Level)
		}
	}
	if len(sent) > 0 {
		keys := make([]string, len(sent))
		for i, k := range sent {
			keys[i] = fmt.Sprintf("%c at %.2fs", k.key, k.at.Seconds())
		}
		fmt.Fprintf(out, "keys sent: %s\n", strings.Join(keys, ", "))
	}
	who := map[string]string{
		softphone.EndedRemoteBye: "the other side hung up",
		softphone.EndedLocalBye:  "we hung up",
		softphone.EndedTimeout:   "no more audio",
	}[by]
	if who != "" {
		who = " (" + who + ")"
	}
	if by == "" {
		by = "unknown cause"
	}
	fmt.Fprintf(out, "ended: %s at %.1fs%s\n", by, ended.Seconds(), who)
	if f.record != "" {
		fmt.Fprintf(out, "recorded to %s\n", f.record)
	}
}
