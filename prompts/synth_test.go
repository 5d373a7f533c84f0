package prompts_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

func needEspeak(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not installed")
	}
}

var aigles = prompts.Club{Name: "Club de soccer Les Aigles"}

// The club-naming prompts are said for the configured club, in both
// languages: speech at the built-in level, of a plausible length.
func TestSynthSaysTheClub(t *testing.T) {
	needEspeak(t)
	base := builtin(t)
	set, err := prompts.NewSynth(prompts.SynthOptions{}).Apply(context.Background(), base, aigles)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"fr", "en"} {
		for _, name := range prompts.ClubPrompts() {
			o, _ := set.Origin(lang, name)
			if o.Kind != prompts.FromSynthesized || !strings.Contains(o.Note, "Club de soccer Les Aigles") {
				t.Errorf("%s/%s: origin %v", lang, name, o)
			}
			frames := set.Frames(lang, name)
			segs := hearing.Segments(media.Flatten(frames))
			d := set.Duration(lang, name)
			// As long as the built-in, give or take the names' difference.
			if b := base.Duration(lang, name); len(segs) == 0 || d < b-time.Second || d > b+time.Second {
				t.Errorf("%s/%s: %v of audio, sounds %v; the built-in lasts %v", lang, name, d, segs, b)
			}
			if p := peakDB(frames); p < -3.5 || p > -2.5 {
				t.Errorf("%s/%s peaks at %.1f dBFS, want -3", lang, name, p)
			}
		}
		if d := set.Duration(lang, "greeting"); d >= 6*time.Second {
			t.Errorf("%s/greeting lasts %v, want < 6 s", lang, d)
		}
	}
	if o, _ := set.Origin("fr", "goodbye"); o.Kind != prompts.FromBuiltin {
		t.Errorf("fr/goodbye: origin %v, want the built-in", o)
	}
	if o, _ := base.Origin("fr", "greeting"); o.Kind != prompts.FromBuiltin {
		t.Errorf("Apply changed the base set: fr/greeting is %v", o)
	}
}

// Said for the built-in club, the sentence is the built-in clip: same
// voice, speed and shaping as generate.sh.
func TestSynthSoundsLikeTheBuiltin(t *testing.T) {
	needEspeak(t)
	base := builtin(t)
	sy := prompts.NewSynth(prompts.SynthOptions{})
	for _, lang := range []string{"fr", "en"} {
		frames, _, err := prompts.SaySentence(context.Background(), sy, lang, "greeting", prompts.Club{Name: prompts.BuiltinClub})
		if err != nil {
			t.Fatal(err)
		}
		want := base.Frames(lang, "greeting")
		if n := len(frames) - len(want); n < -2 || n > 2 {
			t.Errorf("%s: %d frames, the built-in %d", lang, len(frames), len(want))
		}
		if c := bestCorrelation(media.Flatten(frames), media.Flatten(want), 20); c < 0.95 {
			t.Errorf("%s: correlation with the built-in %.3f, want > 0.95", lang, c)
		}
	}
}

// bestCorrelation is the highest normalized correlation of a and b
// shifted by up to shift samples.
func bestCorrelation(a, b []int16, shift int) float64 {
	best := -1.0
	for off := -shift; off <= shift; off++ {
		var ab, aa, bb float64
		for i := range a {
			if j := i + off; j >= 0 && j < len(b) {
				x, y := float64(a[i]), float64(b[j])
				ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
			}
		}
		best = max(best, ab/math.Sqrt(aa*bb))
	}
	return best
}

// A restart reads the clips made before and runs nothing.
func TestSynthCache(t *testing.T) {
	needEspeak(t)
	cache := filepath.Join(t.TempDir(), "synth")
	base := builtin(t)
	first, err := prompts.NewSynth(prompts.SynthOptions{CacheDir: cache}).Apply(context.Background(), base, aigles)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.wav"))
	if len(files) != 2*len(prompts.ClubPrompts()) {
		t.Errorf("cache holds %d clips, want %d", len(files), 2*len(prompts.ClubPrompts()))
	}
	missing := filepath.Join(t.TempDir(), "espeak-ng")
	again, err := prompts.NewSynth(prompts.SynthOptions{CacheDir: cache, Espeak: missing}).Apply(context.Background(), base, aigles)
	if err != nil {
		t.Fatalf("from the cache: %v", err)
	}
	if a, b := media.Flatten(first.Frames("fr", "greeting")), media.Flatten(again.Frames("fr", "greeting")); len(a) != len(b) || bestCorrelation(a, b, 0) < 0.9999 {
		t.Error("the cached greeting differs from the one made")
	}
}

// Without espeak-ng the built-in clips stay, and Apply says so.
func TestSynthWithoutEspeak(t *testing.T) {
	base := builtin(t)
	sy := prompts.NewSynth(prompts.SynthOptions{Espeak: filepath.Join(t.TempDir(), "espeak-ng")})
	set, err := sy.Apply(context.Background(), base, aigles)
	if !errors.Is(err, prompts.ErrNoEspeak) || set != base {
		t.Errorf("Apply = %p, %v; want the base set and ErrNoEspeak", set, err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y espeak-ng") {
		t.Errorf("the error does not say how to fix it: %v", err)
	}
	// The built-in club needs no espeak-ng.
	if set, err := sy.Apply(context.Background(), base, prompts.Club{Name: " club de soccer  Roussillon", Article: "le"}); set != base || err != nil {
		t.Errorf("built-in club: %p, %v", set, err)
	}
}

// A clip of the admin's prompts folder is the club's choice: it stays.
func TestSynthKeepsPromptsFolder(t *testing.T) {
	needEspeak(t)
	dir := t.TempDir()
	writeClip(t, dir, "fr/greeting.wav", 50, 3000)
	base, err := prompts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := prompts.NewSynth(prompts.SynthOptions{}).Apply(context.Background(), base, aigles)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := set.Origin("fr", "greeting"); o.Kind != prompts.FromDir || !strings.HasSuffix(o.Note, "greeting.wav") {
		t.Errorf("fr/greeting: %v, want the prompts folder's", o)
	}
	if o, _ := set.Origin("en", "greeting"); o.Kind != prompts.FromSynthesized {
		t.Errorf("en/greeting: %v, want synthesized", o)
	}
}

// A name is text, whatever it holds: not SSML, not an option, not phonemes.
func TestSynthOddNames(t *testing.T) {
	needEspeak(t)
	odd := prompts.Club{Name: `-v xx A&B <voice name="en">Soccer</voice> [[h@l'oU]] "FC" ` + "\x00\n", Article: "none"}
	set, err := prompts.NewSynth(prompts.SynthOptions{}).Apply(context.Background(), builtin(t), odd)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := set.Origin("fr", "greeting")
	if !strings.Contains(o.Note, "A&amp;B &lt;voice") || strings.Contains(o.Note, "[[") {
		t.Errorf("sentence said: %s", o.Note)
	}
	if segs := hearing.Segments(media.Flatten(set.Frames("fr", "greeting"))); len(segs) == 0 {
		t.Error("nothing said")
	}
}

// espeak-ng gets the sentence on its input, never as an argument, and is
// stopped at its time limit.
func TestSynthSubprocess(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "espeak-ng")
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\ncat > " + dir + "/stdin\n" +
		"[ -e " + dir + "/slow ] && exec sleep 5\necho 'fake: no voice' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	sy := prompts.NewSynth(prompts.SynthOptions{Espeak: fake, Timeout: 300 * time.Millisecond})
	_, err := sy.Apply(context.Background(), builtin(t), prompts.Club{Name: "Club -w /tmp/x"})
	if err == nil || !strings.Contains(err.Error(), "fake: no voice") {
		t.Errorf("err = %v, want espeak-ng's own message", err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if strings.Contains(string(args), "Club") || !strings.Contains(string(stdin), "Club -w /tmp/x") {
		t.Errorf("args %q, stdin %q: want the sentence on stdin only", args, stdin)
	}
	if err := os.WriteFile(filepath.Join(dir, "slow"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = sy.Apply(context.Background(), builtin(t), prompts.Club{Name: "Club X"})
	if err == nil || !strings.Contains(err.Error(), "took more than") || time.Since(start) > 2*time.Second {
		t.Errorf("a stuck espeak-ng: %v after %v", err, time.Since(start))
	}
}

func TestArticles(t *testing.T) {
	for _, tc := range []struct {
		name, article, le, du string
	}{
		{"Club de soccer X", "", "le Club de soccer X", "du Club de soccer X"},
		{"Association de soccer X", "auto", "l'Association de soccer X", "de l'Association de soccer X"},
		{"AS Blainville", "", "l'AS Blainville", "de l'AS Blainville"},
		{"FC Laval", "", "le FC Laval", "du FC Laval"},
		{"Les Aigles de Roussillon", "", "les Aigles de Roussillon", "des Aigles de Roussillon"},
		{"La Ligue X", "", "la Ligue X", "de la Ligue X"},
		{"L’Académie X", "", "l'Académie X", "de l'Académie X"},
		{"Ligue de soccer X", "la", "la Ligue de soccer X", "de la Ligue de soccer X"},
		{"Académie X", "l'", "l'Académie X", "de l'Académie X"},
		{"Soccer Québec", "none", "Soccer Québec", "de Soccer Québec"},
		{"Élan de Laval", "none", "Élan de Laval", "d'Élan de Laval"},
		{"Dragons", "les", "les Dragons", "des Dragons"},
	} {
		le, du, err := prompts.Spoken(prompts.Club{Name: tc.name, Article: tc.article})
		if err != nil || le != tc.le || du != tc.du {
			t.Errorf("%q %q: %q, %q, %v; want %q, %q", tc.name, tc.article, le, du, err, tc.le, tc.du)
		}
	}
	for _, bad := range []prompts.Club{{Name: "X", Article: "el"}, {Name: " "}, {Name: strings.Repeat("x", 121)}} {
		if _, _, err := prompts.Spoken(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
