package prompts

// Decisions (the club's own recordings):
//   - They live with the data, not with the config: <dir>/<lang>/<prompt>/
//     holds every version as 0001.wav (8 kHz mono 16-bit, as callers hear
//     it) beside 0001.json (who, when, how, how long), and state.json,
//     which says the current version and the last number given. Numbers
//     are never given twice, so "version 3" on the web page is always the
//     same recording. Every file is written to a temporary name and
//     renamed: a crash leaves the old state or the new, never half.
//   - The current version of a prompt is laid over the set callers hear
//     (Overlay), above the built-in, the admin's prompts folder and the
//     synthesized clips. A change (Save, Import, Restore, Delete,
//     UseDefault) takes effect in memory at once and is announced on
//     Changed(): the process then builds the call script again with
//     Overlay, so the next call hears it and calls in progress keep the
//     prompts they started with (a Set never changes).
//   - Only Recordables() may be recorded, in the built-in languages: the
//     page cannot fill the folder with names nothing plays.
//   - A version that cannot be read at start-up is logged and skipped:
//     the prompt falls back to what plays without it, and the line starts.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clubline/clubline/media"
)

// How a version was made (Meta.Via).
const (
	ViaPhone  = "phone"
	ViaUpload = "upload"
)

// Meta says who made a version and how.
type Meta struct {
	By   string // the staff id or admin login; never a phone number
	Via  string // ViaPhone or ViaUpload
	File string // the uploaded file's name (ViaUpload)
	// At is when it was made; zero: now.
	At time.Time
}

// Version is one recording of one prompt in one language.
type Version struct {
	Lang, Name string
	N          int // 1, 2, ... never given twice for one prompt
	Meta
	Duration time.Duration
	Current  bool
}

func (v Version) String() string {
	s := fmt.Sprintf("version %d", v.N)
	if v.By != "" {
		s += " by " + v.By
	}
	if v.Via != "" {
		s += " (" + v.Via + ")"
	}
	return s + ", " + v.At.Format("2006-01-02 15:04")
}

// RecordingsOptions configure OpenRecordings.
type RecordingsOptions struct {
	// Dir holds the recordings (created if missing): the data folder's
	// recordings/.
	Dir string
	// Converter reads uploads (Import); nil: FindConverter().
	Converter *Converter
	Logger    *slog.Logger     // nil: none
	Now       func() time.Time // nil: time.Now
}

// Recordings are the club's own recordings of its prompts, versioned. It
// is safe for concurrent use.
type Recordings struct {
	o       RecordingsOptions
	mu      sync.Mutex // serializes changes
	cur     sync.Map   // key → current
	changed chan struct{}
}

type key struct{ lang, name string }

type current struct {
	v      Version
	frames []media.Frame
}

// ErrNotRecordable is the error of a prompt or language that cannot be
// recorded; ErrNoVersion of a version that does not exist.
var (
	ErrNotRecordable = errors.New("not a prompt that can be recorded")
	ErrNoVersion     = errors.New("no such version")
)

// OpenRecordings opens (or creates) the recordings folder and reads the
// current version of every prompt.
func OpenRecordings(o RecordingsOptions) (*Recordings, error) {
	if o.Dir == "" {
		return nil, errors.New("prompts: no folder for the recordings")
	}
	if o.Converter == nil {
		o.Converter = FindConverter()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("prompts: recordings folder: %w", err)
	}
	r := &Recordings{o: o, changed: make(chan struct{}, 1)}
	for _, lang := range builtinLanguages() {
		for _, rc := range recordables {
			st, err := r.state(lang, rc.Name)
			if err != nil {
				o.Logger.Error("prompts: a recording's state cannot be read: the prompt plays without it", "prompt", lang+"/"+rc.Name, "err", err)
				continue
			}
			if st.Current == 0 {
				continue
			}
			c, err := r.read(lang, rc.Name, st.Current)
			if err != nil {
				o.Logger.Error("prompts: the current recording cannot be read: the prompt plays without it",
					"prompt", lang+"/"+rc.Name, "version", st.Current, "err", err)
				continue
			}
			r.cur.Store(key{lang, rc.Name}, c)
		}
	}
	return r, nil
}

func builtinLanguages() []string {
	if s, err := Builtin(); err == nil {
		return s.Languages()
	}
	return []string{English, French}
}

// Changed receives a value after each change of a current version (cap
// 1: changes close together give one). One goroutine of the process
// reads it and builds the call script again with Overlay.
func (r *Recordings) Changed() <-chan struct{} { return r.changed }

func (r *Recordings) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Overlay returns base with the current version of every recorded prompt
// in its place, marked FromRecorded. base is not changed.
func (r *Recordings) Overlay(base *Set) *Set {
	set := base.clone()
	r.cur.Range(func(k, v any) bool {
		kk, c := k.(key), v.(current)
		if base.clips[kk.lang] != nil {
			set.put(kk.lang, kk.name, c.frames, Origin{Kind: FromRecorded, Note: c.v.String()})
		}
		return true
	})
	return set
}

// Current returns the current version of a prompt, if it has one.
func (r *Recordings) Current(lang, name string) (Version, bool) {
	v, ok := r.cur.Load(key{lang, name})
	if !ok {
		return Version{}, false
	}
	return v.(current).v, true
}

// Frames returns what callers hear of one version.
func (r *Recordings) Frames(lang, name string, n int) ([]media.Frame, error) {
	if err := check(lang, name); err != nil {
		return nil, err
	}
	frames, err := readClip(r.file(lang, name, n, ".wav"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, ErrNoVersion)
	}
	return frames, err
}

// Import converts an uploaded recording (any common format, Converter)
// and saves it as the new current version of lang/name. A recording
// refused is an *AudioError.
func (r *Recordings) Import(ctx context.Context, lang, name string, data []byte, m Meta) (Version, error) {
	if err := check(lang, name); err != nil {
		return Version{}, err
	}
	frames, err := r.o.Converter.Convert(ctx, name, m.File, data)
	if err != nil {
		return Version{}, err
	}
	if m.Via == "" {
		m.Via = ViaUpload
	}
	return r.save(lang, name, frames, m)
}

// Save saves a recording made at 8 kHz (by phone) as the new current
// version of lang/name, prepared as Prepare does. A recording refused is
// an *AudioError.
func (r *Recordings) Save(lang, name string, frames []media.Frame, m Meta) (Version, error) {
	if err := check(lang, name); err != nil {
		return Version{}, err
	}
	frames, err := Prepare(name, frames)
	if err != nil {
		return Version{}, err
	}
	return r.save(lang, name, frames, m)
}

func (r *Recordings) save(lang, name string, frames []media.Frame, m Meta) (Version, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state(lang, name)
	if err != nil {
		return Version{}, err
	}
	if m.At.IsZero() {
		m.At = r.o.Now()
	}
	v := Version{Lang: lang, Name: name, N: st.Last + 1, Meta: m,
		Duration: time.Duration(len(frames)) * media.FrameDuration, Current: true}
	if err := writeClip(r.file(lang, name, v.N, ".wav"), frames); err != nil {
		return Version{}, fmt.Errorf("prompts: saving %s/%s: %w", lang, name, err)
	}
	if err := writeJSON(r.file(lang, name, v.N, ".json"), metaFile(v)); err != nil {
		os.Remove(r.file(lang, name, v.N, ".wav"))
		return Version{}, fmt.Errorf("prompts: saving %s/%s: %w", lang, name, err)
	}
	st.Last, st.Current = v.N, v.N
	if err := r.setState(lang, name, st); err != nil {
		return Version{}, err
	}
	r.cur.Store(key{lang, name}, current{v: v, frames: frames})
	r.o.Logger.Info("prompt recorded: new calls hear it", "prompt", lang+"/"+name, "version", v.N, "by", m.By, "via", m.Via)
	r.notify()
	return v, nil
}

// Versions lists the versions of lang/name, oldest first.
func (r *Recordings) Versions(lang, name string) ([]Version, error) {
	if err := check(lang, name); err != nil {
		return nil, err
	}
	st, err := r.state(lang, name)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(r.dir(lang, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prompts: versions of %s/%s: %w", lang, name, err)
	}
	var out []Version
	for _, e := range entries {
		n, ok := versionNumber(e.Name(), ".json")
		if !ok {
			continue
		}
		v, err := r.version(lang, name, n)
		if err != nil {
			r.o.Logger.Warn("prompts: a version's note cannot be read", "prompt", lang+"/"+name, "version", n, "err", err)
			continue
		}
		v.Current = n == st.Current
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Version) int { return a.N - b.N })
	return out, nil
}

// Restore makes version n of lang/name the current one again.
func (r *Recordings) Restore(lang, name string, n int) error {
	if err := check(lang, name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state(lang, name)
	if err != nil {
		return err
	}
	c, err := r.read(lang, name, n)
	if err != nil {
		return err
	}
	st.Current = n
	if err := r.setState(lang, name, st); err != nil {
		return err
	}
	r.cur.Store(key{lang, name}, c)
	r.o.Logger.Info("prompt restored: new calls hear it", "prompt", lang+"/"+name, "version", n)
	r.notify()
	return nil
}

// Delete removes version n of lang/name. When it was the current one, the
// newest version left becomes current, or none (UseDefault).
func (r *Recordings) Delete(lang, name string, n int) error {
	if err := check(lang, name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state(lang, name)
	if err != nil {
		return err
	}
	wav := r.file(lang, name, n, ".wav")
	if _, err := os.Stat(wav); err != nil {
		return fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, ErrNoVersion)
	}
	if st.Current == n {
		// The newest version left that can be read becomes current.
		var next *current
		st.Current = 0
		if older := r.newest(lang, name, n); older > 0 {
			if c, err := r.read(lang, name, older); err == nil {
				next, st.Current = &c, older
			}
		}
		if err := r.setState(lang, name, st); err != nil {
			return err
		}
		if next != nil {
			r.cur.Store(key{lang, name}, *next)
		} else {
			r.cur.Delete(key{lang, name})
		}
		defer r.notify()
	}
	if err := os.Remove(wav); err != nil {
		return fmt.Errorf("prompts: deleting %s/%s version %d: %w", lang, name, n, err)
	}
	if err := os.Remove(r.file(lang, name, n, ".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("prompts: deleting %s/%s version %d: %w", lang, name, n, err)
	}
	r.o.Logger.Info("prompt version deleted", "prompt", lang+"/"+name, "version", n)
	return nil
}

// UseDefault stops playing a recording of lang/name: callers hear the
// prompt as it is without one (the admin's folder, synthesized or
// built-in). The versions are kept, to Restore.
func (r *Recordings) UseDefault(lang, name string) error {
	if err := check(lang, name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state(lang, name)
	if err != nil {
		return err
	}
	if st.Current == 0 {
		return nil
	}
	st.Current = 0
	if err := r.setState(lang, name, st); err != nil {
		return err
	}
	r.cur.Delete(key{lang, name})
	r.o.Logger.Info("prompt recording set aside: new calls hear the default", "prompt", lang+"/"+name)
	r.notify()
	return nil
}

// check refuses a language or prompt that cannot be recorded.
func check(lang, name string) error {
	if _, ok := recordable(name); !ok {
		return fmt.Errorf("prompts: %q: %w", name, ErrNotRecordable)
	}
	if !slices.Contains(builtinLanguages(), lang) {
		return fmt.Errorf("prompts: language %q: %w", lang, ErrNotRecordable)
	}
	return nil
}

// read reads version n, as the current one.
func (r *Recordings) read(lang, name string, n int) (current, error) {
	v, err := r.version(lang, name, n)
	if err != nil {
		return current{}, err
	}
	frames, err := readClip(r.file(lang, name, n, ".wav"))
	if errors.Is(err, os.ErrNotExist) {
		return current{}, fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, ErrNoVersion)
	}
	if err != nil {
		return current{}, fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, err)
	}
	v.Current = true
	return current{v: v, frames: frames}, nil
}

// newest is the highest version number on disk but skip, or 0.
func (r *Recordings) newest(lang, name string, skip int) int {
	entries, _ := os.ReadDir(r.dir(lang, name))
	best := 0
	for _, e := range entries {
		if n, ok := versionNumber(e.Name(), ".wav"); ok && n != skip {
			best = max(best, n)
		}
	}
	return best
}

func (r *Recordings) dir(lang, name string) string { return filepath.Join(r.o.Dir, lang, name) }

func (r *Recordings) file(lang, name string, n int, ext string) string {
	return filepath.Join(r.dir(lang, name), fmt.Sprintf("%04d%s", n, ext))
}

func versionNumber(file, ext string) (int, bool) {
	base, ok := strings.CutSuffix(file, ext)
	if !ok || len(base) < 4 {
		return 0, false
	}
	n, err := strconv.Atoi(base)
	return n, err == nil && n > 0
}

// state is state.json: the current version (0: none) and the last
// number given.
type state struct {
	Current int `json:"current"`
	Last    int `json:"last"`
}

func (r *Recordings) state(lang, name string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(r.dir(lang, name), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return st, fmt.Errorf("prompts: state of %s/%s: %w", lang, name, err)
	}
	return st, nil
}

func (r *Recordings) setState(lang, name string, st state) error {
	if err := writeJSON(filepath.Join(r.dir(lang, name), "state.json"), st); err != nil {
		return fmt.Errorf("prompts: state of %s/%s: %w", lang, name, err)
	}
	return nil
}

// versionFile is a version's .json.
type versionFile struct {
	Version    int       `json:"version"`
	By         string    `json:"by,omitempty"`
	Via        string    `json:"via,omitempty"`
	File       string    `json:"file,omitempty"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
}

func metaFile(v Version) versionFile {
	return versionFile{Version: v.N, By: v.By, Via: v.Via, File: v.File, At: v.At, DurationMS: v.Duration.Milliseconds()}
}

func (r *Recordings) version(lang, name string, n int) (Version, error) {
	b, err := os.ReadFile(r.file(lang, name, n, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return Version{}, fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, ErrNoVersion)
	}
	var f versionFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		return Version{}, fmt.Errorf("prompts: %s/%s version %d: %w", lang, name, n, err)
	}
	return Version{Lang: lang, Name: name, N: n, Meta: Meta{By: f.By, Via: f.Via, File: f.File, At: f.At},
		Duration: time.Duration(f.DurationMS) * time.Millisecond}, nil
}

// writeJSON writes v to path through a temporary file renamed in place.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
