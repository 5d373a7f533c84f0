package prompts_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// toneFrames is n frames of a sine at freq Hz, with 200 ms of silence
// each side, as a phone records it.
func toneFrames(freq float64, n int) []media.Frame {
	out := make([]media.Frame, n+20)
	for i := 10; i < n+10; i++ {
		for j := range out[i] {
			t := float64(i*media.FrameSamples+j) / media.SampleRate
			out[i][j] = int16(6000 * math.Sin(2*math.Pi*freq*t))
		}
	}
	return out
}

func openRecordings(t *testing.T, dir string, now *time.Time) *prompts.Recordings {
	t.Helper()
	r, err := prompts.OpenRecordings(prompts.RecordingsOptions{Dir: dir, Converter: noTools,
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// plays reports whether the greeting of set is a tone at freq.
func plays(set *prompts.Set, lang, name string, freq float64) bool {
	s := media.Flatten(set.Frames(lang, name))
	segs := hearing.Segments(s)
	return len(segs) == 1 && hearing.DetectTone(segs[0].Samples(s), freq)
}

func changed(r *prompts.Recordings) bool {
	select {
	case <-r.Changed():
		return true
	default:
		return false
	}
}

func TestRecordingsVersions(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 6, 20, 14, 3, 0, 0, time.UTC)
	r := openRecordings(t, dir, &now)
	base := builtin(t)

	v1, err := r.Save("fr", "greeting", toneFrames(440, 100), prompts.Meta{By: "marie", Via: prompts.ViaPhone})
	if err != nil {
		t.Fatal(err)
	}
	if v1.N != 1 || !v1.Current || v1.Duration < 2*time.Second || v1.Duration > 2500*time.Millisecond || !changed(r) {
		t.Errorf("first version %+v", v1)
	}
	now = now.Add(time.Hour)
	upload := wavFile(1, 44100, 16, false, withSilence(sine(880, 44100, 44100, 0.5), 44100, 300*time.Millisecond))
	v2, err := r.Import(context.Background(), "fr", "greeting", upload, prompts.Meta{By: "admin", File: "accueil.wav"})
	if err != nil {
		t.Fatal(err)
	}
	if v2.N != 2 || v2.Via != prompts.ViaUpload || !changed(r) {
		t.Errorf("second version %+v", v2)
	}
	set := r.Overlay(base)
	if o, _ := set.Origin("fr", "greeting"); o.Kind != prompts.FromRecorded || o.Note != "version 2 by admin (upload), 2026-06-20 15:03" {
		t.Errorf("origin %v", o)
	}
	if !plays(set, "fr", "greeting", 880) || plays(set, "en", "greeting", 880) {
		t.Error("the overlay does not play version 2 for fr only")
	}
	if o, _ := base.Origin("fr", "greeting"); o.Kind != prompts.FromBuiltin {
		t.Error("Overlay changed its base")
	}

	vs, err := r.Versions("fr", "greeting")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].By != "marie" || vs[0].Via != "phone" || vs[0].Current ||
		vs[1].File != "accueil.wav" || !vs[1].At.Equal(now) || !vs[1].Current || vs[1].Duration < time.Second {
		t.Errorf("versions %+v", vs)
	}

	// Restore the first: new sets play it.
	if err := r.Restore("fr", "greeting", 1); err != nil {
		t.Fatal(err)
	}
	if !plays(r.Overlay(base), "fr", "greeting", 440) || !changed(r) {
		t.Error("version 1 not restored")
	}
	if cur, _ := r.Current("fr", "greeting"); cur.N != 1 {
		t.Errorf("current %+v", cur)
	}

	// A restart finds the same current version.
	if cur, ok := openRecordings(t, dir, &now).Current("fr", "greeting"); !ok || cur.N != 1 || cur.By != "marie" {
		t.Errorf("after a restart: %+v", cur)
	}

	// Deleting the current version makes the newest left current.
	if err := r.Delete("fr", "greeting", 1); err != nil {
		t.Fatal(err)
	}
	if cur, _ := r.Current("fr", "greeting"); cur.N != 2 || !plays(r.Overlay(base), "fr", "greeting", 880) {
		t.Errorf("after deleting version 1: %+v", cur)
	}
	// Numbers are never given twice.
	v3, err := r.Save("fr", "greeting", toneFrames(660, 50), prompts.Meta{By: "marie", Via: prompts.ViaPhone})
	if err != nil || v3.N != 3 {
		t.Errorf("third version %+v, %v", v3, err)
	}
	if err := r.Delete("fr", "greeting", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Frames("fr", "greeting", 2); !errors.Is(err, prompts.ErrNoVersion) {
		t.Errorf("a deleted version's frames: %v", err)
	}

	// Back to the default: the built-in plays, the versions stay.
	if err := r.UseDefault("fr", "greeting"); err != nil {
		t.Fatal(err)
	}
	if o, _ := r.Overlay(base).Origin("fr", "greeting"); o.Kind != prompts.FromBuiltin {
		t.Errorf("after UseDefault: %v", o)
	}
	if vs, _ := r.Versions("fr", "greeting"); len(vs) != 1 || vs[0].N != 3 || vs[0].Current {
		t.Errorf("versions after UseDefault %+v", vs)
	}
	if err := r.Delete("fr", "greeting", 3); err != nil {
		t.Fatal(err)
	}
	if vs, _ := r.Versions("fr", "greeting"); len(vs) != 0 {
		t.Errorf("versions left %+v", vs)
	}
}

func TestRecordingsRefuse(t *testing.T) {
	now := time.Now()
	r := openRecordings(t, t.TempDir(), &now)
	meta := prompts.Meta{By: "marie", Via: prompts.ViaPhone}
	if _, err := r.Save("fr", "num_3", toneFrames(440, 50), meta); !errors.Is(err, prompts.ErrNotRecordable) {
		t.Errorf("a prompt not on the list: %v", err)
	}
	if _, err := r.Save("de", "greeting", toneFrames(440, 50), meta); !errors.Is(err, prompts.ErrNotRecordable) {
		t.Errorf("a language clubline does not speak: %v", err)
	}
	if _, err := r.Save("fr", "greeting", make([]media.Frame, 100), meta); !errors.Is(err, prompts.ErrSilent) {
		t.Errorf("silence: %v", err)
	}
	if _, err := r.Import(context.Background(), "fr", "greeting", []byte("GIF89a..."), prompts.Meta{File: "logo.gif"}); !errors.Is(err, prompts.ErrUnreadable) {
		t.Errorf("a picture: %v", err)
	}
	if err := r.Restore("fr", "greeting", 4); !errors.Is(err, prompts.ErrNoVersion) {
		t.Errorf("restoring a version that does not exist: %v", err)
	}
	if vs, _ := r.Versions("fr", "greeting"); len(vs) != 0 || changed(r) {
		t.Errorf("refused recordings left versions %+v", vs)
	}
}

// Hold music is levelled as music: -9 dBFS, no gap.
func TestRecordingsHoldMusic(t *testing.T) {
	now := time.Now()
	r := openRecordings(t, t.TempDir(), &now)
	if _, err := r.Save("fr", "hold_music", toneFrames(523, 200), prompts.Meta{By: "admin", Via: prompts.ViaUpload}); err != nil {
		t.Fatal(err)
	}
	frames := r.Overlay(builtin(t)).Frames("fr", "hold_music")
	if p := peakDB(frames); p < -9.5 || p > -8.5 {
		t.Errorf("hold music peaks at %.1f dBFS, want -9", p)
	}
}
