package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/web"
)

// What callers hear is three layers: the built-in prompts with the
// admins' prompts folder (loadConfig), the prompts that name the club
// said for club.name by espeak-ng (the synth), and the club's own
// recordings on top, made by phone or uploaded on the web page. A new
// recording applies to the next call.

// openRecordings opens the club's recordings and the synth's cache, in
// the data folder.
func (m *Main) openRecordings(cfg *config.Config) error {
	m.synth = prompts.NewSynth(prompts.SynthOptions{CacheDir: filepath.Join(cfg.Store.DataDir, "prompts-cache"), Logger: m.Logger})
	recs, err := prompts.OpenRecordings(prompts.RecordingsOptions{Dir: filepath.Join(cfg.Store.DataDir, "recordings"), Logger: m.Logger, Now: m.Now})
	if err != nil {
		return fmt.Errorf("store.data_dir: recordings: %w", err)
	}
	m.recs = recs
	return nil
}

// basePrompts is set with the club-naming prompts said for the club; a
// failure is logged and leaves set (with the warning check gives).
func (m *Main) basePrompts(cfg *config.Config, set *prompts.Set) *prompts.Set {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, err := m.synth.Apply(ctx, set, prompts.Club{Name: cfg.Club.Name, Article: cfg.Club.Article})
	if err != nil {
		m.Logger.Warn("the prompts that name the club could not be said for it", "club", cfg.Club.Name, "err", err)
	}
	return base
}

// composed is the prompt set new calls hear.
func (m *Main) composed() *prompts.Set { return m.recs.Overlay(m.prompts.Load()) }

// rebuild makes the script new calls take again, from the config and
// prompts in force (a recording or the override changed).
func (m *Main) rebuild() {
	m.rebuildMu.Lock()
	defer m.rebuildMu.Unlock()
	m.script.Store(m.newScript(m.current.Load(), m.composed()))
}

// watchRecordings rebuilds the script after each change of a recording.
func (m *Main) watchRecordings(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.recs.Changed():
			m.rebuild()
			m.warnClub(m.current.Load())
			m.Logger.Info("the club's recordings changed: new calls hear them")
		}
	}
}

// warnClub logs where the club-naming prompts come from, and warns when
// callers hear another club's name.
func (m *Main) warnClub(cfg *config.Config) {
	check := prompts.CheckClub(m.composed(), prompts.Club{Name: cfg.Club.Name, Article: cfg.Club.Article}, cfg.Club.Languages)
	if w := check.Warning(cfg.Prompts.RecordCode); w != "" {
		m.Logger.Warn(w)
	}
}

// webRecordings is the Recordings page's side of the recordings.
type webRecordings struct{ m *Main }

func (w webRecordings) List(ctx context.Context) ([]web.Prompt, error) {
	cfg := w.m.current.Load()
	set := w.m.composed()
	var out []web.Prompt
	for _, lang := range cfg.Club.Languages {
		for _, r := range prompts.Recordables() {
			p := web.Prompt{Lang: lang, Name: r.Name, Description: r.French}
			if lang == "en" {
				p.Description = r.English
			}
			if o, ok := set.Origin(lang, r.Name); ok {
				p.Origin = o.String()
			}
			vs, err := w.m.recs.Versions(lang, r.Name)
			if err != nil {
				return nil, err
			}
			for i := len(vs) - 1; i >= 0; i-- {
				v := vs[i]
				p.Versions = append(p.Versions, web.Version{ID: strconv.Itoa(v.N), At: v.At, By: v.By, Seconds: v.Duration.Seconds(), Current: v.Current})
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func (w webRecordings) Upload(ctx context.Context, lang, name, by string, audio io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(audio, prompts.MaxUploadBytes+1))
	if err != nil {
		return err
	}
	if len(data) > prompts.MaxUploadBytes {
		return fmt.Errorf("the file is over %d MB: a prompt needs less than 30 seconds of audio", prompts.MaxUploadBytes>>20)
	}
	_, err = w.m.recs.Import(ctx, lang, name, data, prompts.Meta{By: by, Via: prompts.ViaUpload})
	return err
}

func (w webRecordings) Restore(ctx context.Context, lang, name, version, by string) error {
	if version == "default" {
		return w.m.recs.UseDefault(lang, name)
	}
	n, err := strconv.Atoi(version)
	if err != nil {
		return errors.New(`version: a version number, or "default" for the built-in`)
	}
	return w.m.recs.Restore(lang, name, n)
}

// Audio serves what callers hear for a prompt now (version "") or one
// version, as a WAV.
func (w webRecordings) Audio(ctx context.Context, lang, name, version string) (io.ReadSeekCloser, time.Time, error) {
	n := 0
	if version != "" {
		var err error
		if n, err = strconv.Atoi(version); err != nil {
			return nil, time.Time{}, errors.New("version: a version number")
		}
	}
	var frames = w.m.composed().Frames(lang, name)
	if n > 0 {
		var err error
		if frames, err = w.m.recs.Frames(lang, name, n); err != nil {
			return nil, time.Time{}, err
		}
	}
	if len(frames) == 0 {
		return nil, time.Time{}, errors.New("no such prompt")
	}
	return nopCloser{bytes.NewReader(wavOf(frames))}, time.Time{}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// wavOf is frames as a WAV file: 8 kHz, 16-bit, mono.
func wavOf(frames []media.Frame) []byte {
	samples := media.Flatten(frames)
	var b bytes.Buffer
	data := uint32(len(samples) * 2)
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, 36+data)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(media.SampleRate), uint32(media.SampleRate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, data)
	_ = binary.Write(&b, binary.LittleEndian, samples)
	return b.Bytes()
}

// staffCodes are the numbers only staff phones may call: the code to
// record prompts.
func staffCodes(cfg *config.Config) []string {
	if cfg.Prompts.RecordCode == "" {
		return nil
	}
	return []string{cfg.Prompts.RecordCode}
}

// printPrompts is check's part about what callers hear the club called:
// where each club-naming prompt comes from, and a warning when one says
// another club's name. It writes nothing: the synth's cache and the
// recordings are read only where they exist.
func printPrompts(w io.Writer, c *config.Config) {
	set, err := prompts.Load(c.Prompts.Dir)
	if err != nil {
		return // checkPrompts has said why
	}
	club := prompts.Club{Name: c.Club.Name, Article: c.Club.Article}
	cache := filepath.Join(c.Store.DataDir, "prompts-cache")
	if _, err := os.Stat(cache); err != nil {
		cache = ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if set, err = prompts.NewSynth(prompts.SynthOptions{CacheDir: cache}).Apply(ctx, set, club); err != nil && !errors.Is(err, prompts.ErrNoEspeak) {
		fmt.Fprintf(w, "note: %v\n", err)
	}
	if dir := filepath.Join(c.Store.DataDir, "recordings"); dirExists(dir) {
		if recs, err := prompts.OpenRecordings(prompts.RecordingsOptions{Dir: dir}); err == nil {
			set = recs.Overlay(set)
		}
	}
	check := prompts.CheckClub(set, club, c.Club.Languages)
	fmt.Fprintln(w, "Prompts that name the club:")
	for _, l := range check.Lines() {
		fmt.Fprintln(w, "  "+l)
	}
	if warn := check.Warning(c.Prompts.RecordCode); warn != "" {
		fmt.Fprintln(w, "warning: "+warn)
	}
}

func dirExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}
