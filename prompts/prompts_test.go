package prompts_test

import (
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

func builtin(t testing.TB) *prompts.Set {
	t.Helper()
	s, err := prompts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuiltinLanguages(t *testing.T) {
	s := builtin(t)
	if got := s.Languages(); !slices.Equal(got, []string{"en", "fr"}) {
		t.Errorf("Languages() = %v", got)
	}
	if s2 := builtin(t); s2 != s {
		t.Error("Builtin() should decode once and return the same set")
	}
}

func TestCatalogueInEveryLanguage(t *testing.T) {
	s := builtin(t)
	for _, lang := range s.Languages() {
		if missing := s.Missing(lang, prompts.Catalogue()...); len(missing) > 0 {
			t.Errorf("%s is missing %v", lang, missing)
		}
	}
}

// reachable returns every name the composition functions can return for
// lang.
func reachable(lang string) []string {
	var names []string
	add := func(n []string) { names = append(names, n...) }
	for _, k := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"} {
		add(prompts.Digit(lang, k))
	}
	for n := 0; n <= 999; n++ {
		add(prompts.Number(lang, n))
		add(prompts.Minutes(lang, n))
		add(prompts.QueuePosition(lang, n+1))
	}
	for h := 0; h < 24; h++ {
		for m := 0; m < 60; m++ {
			add(prompts.Time(lang, h, m))
		}
	}
	for from := time.Sunday; from <= time.Saturday; from++ {
		for to := time.Sunday; to <= time.Saturday; to++ {
			add(prompts.Hours(lang, from, to, 8, 30, 16, 30))
		}
	}
	// Delays: every minute under 2 h, every hour to past 999, every whole
	// number of days to past 999.
	for d := time.Minute; d <= 1100*time.Hour; d += time.Minute {
		if d < 3*time.Hour || d%time.Hour == 0 {
			add(prompts.Delay(lang, d))
		}
	}
	for n := 1; n <= 1000; n++ {
		add(prompts.Delay(lang, time.Duration(n)*24*time.Hour))
	}
	add(prompts.VoicemailInstruction(lang, 48*time.Hour))
	now := time.Date(2026, 1, 9, 17, 0, 0, 0, time.UTC)
	for d := 0; d < 400; d++ {
		at := now.AddDate(0, 0, d).Add(time.Hour)
		add(prompts.Date(lang, at))
		add(prompts.Reopening(lang, at, now))
	}
	return names
}

func TestComposedNamesExist(t *testing.T) {
	s := builtin(t)
	for _, lang := range s.Languages() {
		names := reachable(lang)
		slices.Sort(names)
		names = slices.Compact(names)
		if missing := s.Missing(lang, names...); len(missing) > 0 {
			t.Errorf("%s: composition uses clips the set lacks: %v", lang, missing)
		}
	}
}

// TestNoStrayClips catches a clip in fr.txt or en.txt that no code asks
// for (a typo in a name, say).
func TestNoStrayClips(t *testing.T) {
	s := builtin(t)
	for _, lang := range s.Languages() {
		known := append(prompts.Catalogue(), reachable(lang)...)
		for _, name := range s.Names(lang) {
			if !slices.Contains(known, name) {
				t.Errorf("%s/%s.wav is neither in the catalogue nor used by a composition function", lang, name)
			}
		}
	}
}

func TestBuiltinClips(t *testing.T) {
	s := builtin(t)
	quiet := map[string]bool{"hours_from": true, "beep": true, "hold_music": true}
	for _, lang := range s.Languages() {
		for _, name := range s.Names(lang) {
			frames := s.Frames(lang, name)
			d := s.Duration(lang, name)
			switch {
			case len(frames) == 0:
				t.Errorf("%s/%s is empty", lang, name)
			case d >= 30*time.Second:
				t.Errorf("%s/%s lasts %v, want < 30 s", lang, name, d)
			case name == "greeting" && d >= 6*time.Second:
				t.Errorf("%s/greeting lasts %v, want < 6 s", lang, d)
			}
			if quiet[name] {
				continue
			}
			// Speech is normalized to -3 dBFS peak.
			if p := peakDB(frames); p < -4 || p > -2 {
				t.Errorf("%s/%s peaks at %.1f dBFS, want about -3", lang, name, p)
			}
		}
	}
}

func peakDB(frames []media.Frame) float64 {
	peak := 0
	for i := range frames {
		for _, s := range frames[i] {
			v := int(s)
			if v < 0 {
				v = -v
			}
			peak = max(peak, v)
		}
	}
	return 20 * math.Log10(float64(peak)/32768)
}

func TestHoldMusicAndBeep(t *testing.T) {
	s := builtin(t)
	for _, lang := range s.Languages() {
		if d := s.Duration(lang, "hold_music"); d < 15*time.Second || d > 25*time.Second {
			t.Errorf("%s/hold_music lasts %v, want about 20 s", lang, d)
		}
		if d := s.Duration(lang, "beep"); d != 400*time.Millisecond {
			t.Errorf("%s/beep lasts %v, want 400 ms", lang, d)
		}
		// 1 kHz at 8 kHz: the beep crosses zero 2,000 times a second.
		beep := s.Frames(lang, "beep")
		crossings := 0
		prev := int16(0)
		for i := range beep {
			for _, v := range beep[i] {
				if (prev < 0) != (v < 0) {
					crossings++
				}
				prev = v
			}
		}
		if crossings < 780 || crossings > 820 {
			t.Errorf("%s/beep crosses zero %d times in 400 ms, want about 800 (1 kHz)", lang, crossings)
		}
	}
}

func readAll(t *testing.T, src media.Source) []media.Frame {
	t.Helper()
	var out []media.Frame
	var f media.Frame
	for {
		err := src.ReadFrame(&f)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
		if len(out) > 100000 {
			t.Fatal("source does not end")
		}
	}
}

func TestSourcePlaysClipsInOrder(t *testing.T) {
	s := builtin(t)
	got := readAll(t, s.Source("fr", "closed_today_for", "no_such_clip", "holiday_christmas", "beep"))
	var want []media.Frame
	for _, name := range []string{"closed_today_for", "holiday_christmas", "beep"} {
		want = append(want, s.Frames("fr", name)...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d differs", i)
		}
	}
	if got := readAll(t, s.Source("de", "greeting")); len(got) != 0 {
		t.Errorf("unknown language played %d frames", len(got))
	}
	if got := readAll(t, s.Source("en")); len(got) != 0 {
		t.Errorf("no names played %d frames", len(got))
	}
}

func TestSourceAllocations(t *testing.T) {
	s := builtin(t)
	names := []string{"reopening", "tomorrow", "at", "hour_8", "num_30"}
	if allocs := testing.AllocsPerRun(50, func() { s.Source("fr", names...) }); allocs > 1 {
		t.Errorf("Source allocates %v times, want at most 1", allocs)
	}
	src := s.Source("fr", names...)
	var f media.Frame
	allocs := testing.AllocsPerRun(200, func() {
		if src.ReadFrame(&f) == io.EOF {
			src = s.Source("fr", names...)
		}
	})
	if allocs > 0.05 { // one Source every ~150 frames
		t.Errorf("ReadFrame allocates %v times a frame", allocs)
	}
}

func TestHasMissing(t *testing.T) {
	s := builtin(t)
	if !s.Has("fr", "greeting") || s.Has("fr", "nope") || s.Has("de", "greeting") {
		t.Error("Has is wrong")
	}
	if got := s.Missing("en", "greeting", "nope", "hour_8", "am"); !slices.Equal(got, []string{"nope", "hour_8"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := s.Missing("fr", "greeting"); got != nil {
		t.Errorf("Missing = %v, want nil", got)
	}
}

func BenchmarkSource(b *testing.B) {
	s := builtin(b)
	var f media.Frame
	b.ReportAllocs()
	for b.Loop() {
		src := s.Source("fr", "reopening", "tomorrow", "at", "hour_8", "num_30")
		for src.ReadFrame(&f) == nil {
		}
	}
}
