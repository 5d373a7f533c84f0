package prompts_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// writeClip records frames of a constant value to dir/rel as a valid
// 8 kHz mono 16-bit WAV.
func writeClip(t *testing.T, dir, rel string, frames int, value int16) []media.Frame {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	rec, err := media.CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	clip := make([]media.Frame, frames)
	for i := range clip {
		for j := range clip[i] {
			clip[i][j] = value
		}
		if err := rec.WriteFrame(&clip[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return clip
}

// writeWAV writes a WAV header for the given format and a little silence.
func writeWAV(t *testing.T, dir, rel string, rate, channels, bits int) {
	t.Helper()
	le := binary.LittleEndian
	data := make([]byte, rate/10*channels*bits/8)
	b := []byte("RIFF")
	b = le.AppendUint32(b, uint32(36+len(data)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	b = le.AppendUint16(b, uint16(bits))
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(data)))
	writeFile(t, dir, rel, append(b, data...))
}

// wavHeaderOnly is what a recorder leaves when killed in its first second.
func wavHeaderOnly() []byte {
	b := []byte("RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")
	return b
}

func writeFile(t *testing.T, dir, rel string, content []byte) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadEmptyDirIsBuiltin(t *testing.T) {
	s, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if s != builtin(t) {
		t.Error(`Load("") should return the built-in set`)
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	greeting := writeClip(t, dir, "fr/greeting.wav", 40, 1000)
	closure := writeClip(t, dir, "en/closure_spring_break.wav", 25, -2000)
	writeFile(t, dir, "README.txt", []byte("prompts for the club"))
	writeFile(t, dir, ".git/HEAD", []byte("ref"))
	writeFile(t, dir, "fr/.DS_Store", []byte{0, 1})

	s, err := prompts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	equal := func(name string, got, want []media.Frame) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d frames, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: frame %d differs", name, i)
			}
		}
	}
	equal("fr/greeting", s.Frames("fr", "greeting"), greeting)
	equal("en/closure_spring_break", s.Frames("en", "closure_spring_break"), closure)
	if s.Has("fr", "closure_spring_break") {
		t.Error("an English addition should not appear in French")
	}
	base := builtin(t)
	equal("en/greeting", s.Frames("en", "greeting"), base.Frames("en", "greeting"))
	if len(base.Frames("fr", "greeting")) == len(greeting) || base.Has("en", "closure_spring_break") {
		t.Error("Load changed the built-in set")
	}
	if missing := s.Missing("fr", prompts.Catalogue()...); missing != nil {
		t.Errorf("overrides lost built-in clips: %v", missing)
	}
}

func TestLoadStereo8kIsMixedDown(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, dir, "fr/goodbye.wav", 8000, 2, 16)
	s, err := prompts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.Frames("fr", "goodbye")); got != 5 {
		t.Errorf("goodbye has %d frames, want 5 (100 ms)", got)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeClip(t, dir, "fr/greeting.wav", 10, 100) // fine
	writeWAV(t, dir, "fr/menu_intro.wav", 44100, 2, 16)
	writeWAV(t, dir, "en/goodbye.wav", 8000, 1, 8)
	writeFile(t, dir, "en/invalid.wav", wavHeaderOnly())
	writeFile(t, dir, "en/broken.wav", []byte("not a wav file at all, sorry"))
	writeFile(t, dir, "fr/closed.mp3", []byte("ID3"))
	writeClip(t, dir, "fr/Closure Spring.wav", 5, 100)
	writeClip(t, dir, "de/greeting.wav", 5, 100)
	writeClip(t, dir, "voicemail.wav", 5, 100)
	writeClip(t, dir, "fr/old/greeting.wav", 5, 100)
	if err := os.Symlink(filepath.Join(dir, "nowhere.wav"), filepath.Join(dir, "en", "transfer.wav")); err != nil {
		t.Fatal(err)
	}

	_, err := prompts.Load(dir)
	var le *prompts.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *prompts.LoadError", err)
	}
	msg := err.Error()
	t.Log(msg)
	want := map[string][]string{
		"fr/menu_intro.wav":     {"44100 Hz stereo 16-bit", "sox " + filepath.Join(dir, "fr/menu_intro.wav") + " -r 8000 -c 1 -b 16 ", "&& mv "},
		"en/goodbye.wav":        {"8000 Hz mono 8-bit", "-r 8000 -c 1 -b 16"},
		"en/invalid.wav":        {"has no audio"},
		"en/broken.wav":         {"cannot be decoded (not a WAV file: no RIFF/WAVE header)"},
		"en/transfer.wav":       {"cannot be read"},
		"fr/closed.mp3":         {"not a .wav file", "fr/closed.wav"},
		"fr/Closure Spring.wav": {"lower-case", "closure_spring.wav"},
		"de":                    {"not a language folder", filepath.Join(dir, "en") + "/", filepath.Join(dir, "fr") + "/"},
		"voicemail.wav":         {"not in a language folder"},
		"fr/old":                {"is a folder"},
	}
	if len(le.Files) != len(want) {
		t.Errorf("got %d problems, want %d", len(le.Files), len(want))
	}
	for rel, says := range want {
		line := ""
		for _, l := range strings.Split(msg, "\n") {
			if strings.Contains(l, filepath.Join(dir, rel)+":") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no line names %s", rel)
			continue
		}
		for _, s := range says {
			if !strings.Contains(line, s) {
				t.Errorf("line %q does not say %q", line, s)
			}
		}
	}
	if !strings.HasPrefix(msg, "prompts: 10 problems in "+dir+":") {
		t.Errorf("message starts %q", strings.SplitN(msg, "\n", 2)[0])
	}
	var fe *media.FormatError
	if !errors.As(err, &fe) {
		t.Error("errors.As should find the *media.FormatError")
	}
}

func TestLoadMissingDir(t *testing.T) {
	_, err := prompts.Load(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	}
}
