package ivr_test

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/routing"
)

// ---- prompts ---------------------------------------------------------------

// fakePrompts hands out sources whose frames say which clip they belong to,
// so the fake leg knows which clips the caller actually heard.
type fakePrompts struct {
	mu      sync.Mutex
	ids     map[string]int16
	names   []string
	missing map[string]bool // "lang/name"
	// real, when set, decides which clips exist (the built-in set).
	real interface{ Has(lang, name string) bool }
}

const (
	clipMagic     = 12345
	framesPerClip = 3
)

// notBuiltin are clips the built-in set lacks, which only an admin's
// recordings add: the fake has them only after add.
var notBuiltin = []string{"fr/voicemail_full", "en/voicemail_full"}

func newFakePrompts(missing ...string) *fakePrompts {
	p := &fakePrompts{ids: map[string]int16{}, missing: map[string]bool{}}
	for _, m := range append(missing, notBuiltin...) {
		p.missing[m] = true
	}
	return p
}

// add makes clips ("fr/voicemail_full") exist, as an admin's recordings.
func (p *fakePrompts) add(clips ...string) *fakePrompts {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range clips {
		delete(p.missing, c)
	}
	return p
}

func (p *fakePrompts) Has(lang, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.real != nil && !p.real.Has(lang, name) {
		return false
	}
	return !p.missing[lang+"/"+name]
}

func (p *fakePrompts) Source(lang string, names ...string) media.Source {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &clipSource{}
	for _, n := range names {
		key := lang + "/" + n
		id, ok := p.ids[key]
		if !ok {
			id = int16(len(p.names))
			p.ids[key] = id
			p.names = append(p.names, key)
		}
		s.ids = append(s.ids, id)
	}
	return s
}

func (p *fakePrompts) name(id int16) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[id]
}

type clipSource struct {
	ids []int16
	pos int // frame index over all clips
}

func (s *clipSource) ReadFrame(f *media.Frame) error {
	clip, idx := s.pos/framesPerClip, s.pos%framesPerClip
	if clip >= len(s.ids) {
		return io.EOF
	}
	*f = media.Frame{}
	f[0], f[1], f[2] = clipMagic, s.ids[clip], int16(idx)
	s.pos++
	return nil
}

// ---- leg -------------------------------------------------------------------

// event is something the fake caller does when a clip starts ("during")
// or has been heard to its end ("after"): press a key or hang up.
type event struct {
	clip   string // "fr/greeting"
	nth    int    // which time the clip is heard, 1-based (0: the first)
	after  bool
	key    rune
	hangup bool
	do     func()
	fired  bool
}

func during(clip string, key rune) *event { return &event{clip: clip, key: key} }
func after(clip string, key rune) *event  { return &event{clip: clip, key: key, after: true} }
func hangupDuring(clip string) *event     { return &event{clip: clip, hangup: true} }

// recording is what the fake caller sends once the beep has been heard:
// frames, then an ending.
type recording struct {
	frames []media.Frame
	then   string // "#", "hangup", "silence", "tone", "" (wait)
}

var errLegGone = errors.New("fake leg: call ended")

// holdMusicPace is how long the fake caller takes to hear the hold music
// once, so that an endless loop of it does not fill the heard list.
const holdMusicPace = 20 * time.Millisecond

type fakeLeg struct {
	prompts *fakePrompts
	digits  chan rune
	done    chan struct{}
	once    sync.Once
	rec     recording

	mu       sync.Mutex
	heard    []string
	events   []*event
	count    map[string]int
	hungUpBy string // "caller" or "clubline"
}

func newFakeLeg(p *fakePrompts, rec recording, events ...*event) *fakeLeg {
	return &fakeLeg{
		prompts: p, digits: make(chan rune, 16), done: make(chan struct{}),
		rec: rec, events: events, count: map[string]int{},
	}
}

func (l *fakeLeg) Digits() <-chan rune   { return l.digits }
func (l *fakeLeg) Done() <-chan struct{} { return l.done }

func (l *fakeLeg) end(by string) {
	l.once.Do(func() {
		l.mu.Lock()
		l.hungUpBy = by
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *fakeLeg) Hangup(context.Context) error {
	l.end("clubline")
	return nil
}

func (l *fakeLeg) Heard() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.heard...)
}

func (l *fakeLeg) HungUpBy() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hungUpBy
}

// fire runs the events for clip at that moment; it reports whether the
// caller pressed a key or hung up.
func (l *fakeLeg) fire(clip string, isAfter bool) (acted bool) {
	l.mu.Lock()
	var todo []*event
	for _, e := range l.events {
		n := e.nth
		if n == 0 {
			n = 1
		}
		if !e.fired && e.clip == clip && e.after == isAfter && l.count[clip] == n {
			e.fired = true
			todo = append(todo, e)
		}
	}
	l.mu.Unlock()
	for _, e := range todo {
		if e.do != nil {
			e.do()
		}
		if e.key != 0 {
			l.digits <- e.key
		}
		if e.hangup {
			l.end("caller")
		}
		// A do alone (a change elsewhere) is not the caller acting: the
		// prompt goes on at once.
		acted = acted || e.key != 0 || e.hangup
	}
	return acted
}

// Play consumes src at once (no pacing), noting each clip heard, except
// hold music: each time it starts takes holdMusicPace, as the music loops
// for ever. After the fake caller acts in the middle of a prompt, it keeps
// "playing" until the script stops it (or a second, for a key the script
// ignores).
func (l *fakeLeg) Play(ctx context.Context, src media.Source) error {
	current := ""
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-l.done:
			return errLegGone
		default:
		}
		var f media.Frame
		err := src.ReadFrame(&f)
		if errors.Is(err, io.EOF) {
			if current != "" && l.fire(current, true) {
				// A key pressed as the prompt ends is still this
				// prompt's: give the script a moment to take it (it then
				// stops the prompt) before the prompt is over.
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-l.done:
					return errLegGone
				case <-time.After(100 * time.Millisecond):
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if f[0] != clipMagic || f[2] != 0 {
			continue
		}
		acted := false
		if current != "" {
			acted = l.fire(current, true)
		}
		current = l.prompts.name(f[1])
		l.mu.Lock()
		l.heard = append(l.heard, current)
		l.count[current]++
		l.mu.Unlock()
		acted = l.fire(current, false) || acted
		if !acted && strings.HasSuffix(current, "/hold_music") {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.done:
				return errLegGone
			case <-time.After(holdMusicPace):
			}
		}
		if acted {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.done:
				return errLegGone
			case <-time.After(time.Second):
			}
		}
	}
}

// Record feeds the scripted frames to sink, then ends as scripted.
func (l *fakeLeg) Record(ctx context.Context, sink media.Sink) error {
	write := func(f *media.Frame) bool {
		select {
		case <-ctx.Done():
			return false
		case <-l.done:
			return false
		default:
		}
		_ = sink.WriteFrame(f)
		return true
	}
	for i := range l.rec.frames {
		if !write(&l.rec.frames[i]) {
			return ctx.Err()
		}
	}
	switch l.rec.then {
	case "#":
		l.digits <- '#'
	case "hangup":
		l.end("caller")
		return nil
	case "silence", "tone":
		frames := silence(50)
		if l.rec.then == "tone" {
			frames = tone(50)
		}
		for {
			for i := range frames {
				if !write(&frames[i]) {
					return ctx.Err()
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return nil
	}
}

// tone is n frames of a 440 Hz sine, loud enough to be speech.
func tone(n int) []media.Frame {
	out := make([]media.Frame, n)
	for i := range out {
		for j := range out[i] {
			t := float64(i*media.FrameSamples+j) / media.SampleRate
			out[i][j] = int16(8000 * math.Sin(2*math.Pi*440*t))
		}
	}
	return out
}

func silence(n int) []media.Frame { return make([]media.Frame, n) }

func concatFrames(parts ...[]media.Frame) []media.Frame {
	var out []media.Frame
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ---- store -----------------------------------------------------------------

type fakeStore struct {
	mu            sync.Mutex
	err           error
	saves         []clubline.Call
	voicemails    []clubline.Voicemail
	registrations []clubline.Registration
	regErr        error // the error of Registrations
}

// register adds a live registration of a staff member's phone.
func (s *fakeStore) register(staff, contact string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, host, _ := strings.Cut(contact, "@")
	s.registrations = append(s.registrations, clubline.Registration{
		StaffID: staff, Contact: contact, Received: "udp:" + host,
		Expires: time.Now().Add(time.Hour), RegisteredAt: time.Now(),
	})
}

func (s *fakeStore) SaveCall(_ context.Context, c *clubline.Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	cp.Trace = append([]string(nil), c.Trace...)
	s.saves = append(s.saves, cp)
	return s.err
}

func (s *fakeStore) SaveVoicemail(_ context.Context, v *clubline.Voicemail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.voicemails = append(s.voicemails, *v)
	return s.err
}

func (s *fakeStore) Call(context.Context, string) (*clubline.Call, error) {
	return nil, clubline.ErrNotFound
}

func (s *fakeStore) Calls(context.Context, time.Time, time.Time, int) ([]*clubline.Call, error) {
	return nil, nil
}

func (s *fakeStore) Voicemail(context.Context, string) (*clubline.Voicemail, error) {
	return nil, clubline.ErrNotFound
}

func (s *fakeStore) FollowUps(context.Context, time.Time) ([]clubline.FollowUp, error) {
	return nil, nil
}

func (s *fakeStore) Voicemails(context.Context, time.Time, time.Time, int) ([]*clubline.Voicemail, error) {
	return nil, nil
}

func (s *fakeStore) DeleteCall(context.Context, string) error { return clubline.ErrNotFound }

func (s *fakeStore) DeleteVoicemail(context.Context, string) error { return clubline.ErrNotFound }

func (s *fakeStore) SetState(context.Context, string, string) error { return s.err }

func (s *fakeStore) State(context.Context, string) (string, error) { return "", clubline.ErrNotFound }

func (s *fakeStore) DeleteCallsBefore(context.Context, time.Time) (int, error) { return 0, nil }

func (s *fakeStore) DeleteVoicemailsBefore(context.Context, time.Time) ([]*clubline.Voicemail, error) {
	return nil, nil
}

func (s *fakeStore) SaveRegistration(context.Context, *clubline.Registration) error { return s.err }

func (s *fakeStore) DeleteRegistration(context.Context, string, string) error {
	return clubline.ErrNotFound
}

// Registrations returns the live registrations set with register, of one
// staff member or of all ("").
func (s *fakeStore) Registrations(_ context.Context, staff string, now time.Time) ([]*clubline.Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.regErr != nil {
		return nil, s.regErr
	}
	var out []*clubline.Registration
	for _, r := range s.registrations {
		if (staff == "" || r.StaffID == staff) && r.Live(now) {
			out = append(out, &r)
		}
	}
	return out, nil
}

func (s *fakeStore) Ping(context.Context) error { return s.err }

// Where is the fake registrar (ivr.Phones): the live registrations set
// with register.
func (s *fakeStore) Where(ctx context.Context, staff []string) (map[string][]ivr.Target, error) {
	regs, err := s.Registrations(ctx, "", time.Now())
	if err != nil {
		return nil, err
	}
	out := make(map[string][]ivr.Target)
	for _, r := range regs {
		if slices.Contains(staff, r.StaffID) {
			out[r.StaffID] = append(out[r.StaffID], ivr.Target{Staff: r.StaffID, URI: r.Contact, Destination: r.Received})
		}
	}
	return out, nil
}
func (s *fakeStore) Close() error { return nil }

func (s *fakeStore) Saves() []clubline.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]clubline.Call(nil), s.saves...)
}

// SavedVoicemails returns every message saved, in order, versions included.
func (s *fakeStore) SavedVoicemails() []clubline.Voicemail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]clubline.Voicemail(nil), s.voicemails...)
}

// ---- schedule --------------------------------------------------------------

type fixedSchedule struct{ st routing.Status }

func (s fixedSchedule) At(time.Time) routing.Status { return s.st }
