package media_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
)

func TestToneDetection(t *testing.T) {
	frames, err := media.ReadAll(media.Tone(1000, 200*time.Millisecond, 8000), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 10 {
		t.Fatalf("200 ms tone gave %d frames, want 10", len(frames))
	}
	samples := media.Flatten(frames)
	if lvl := media.ToneLevel(samples, 1000); lvl < 0.22 || lvl > 0.27 {
		t.Errorf("ToneLevel at 1000 Hz = %.3f, want about 8000/32768 = 0.244", lvl)
	}
	if !media.DetectTone(samples, 1000) {
		t.Error("1000 Hz tone not detected")
	}
	for _, f := range []float64{440, 697, 1209, 1100} {
		if media.DetectTone(samples, f) {
			t.Errorf("1000 Hz tone detected as %v Hz", f)
		}
	}
	silence, _ := media.ReadAll(media.Silence(200*time.Millisecond), 0)
	if media.DetectTone(media.Flatten(silence), 1000) {
		t.Error("tone detected in silence")
	}
	// Through G.711 and back the tone is still there.
	var coded []int16
	for i := range frames {
		var back media.Frame
		media.PCMU.Decode(&back, media.PCMU.Encode(nil, &frames[i]))
		coded = append(coded, back[:]...)
	}
	if !media.DetectTone(coded, 1000) {
		t.Error("tone lost through PCMU")
	}
	// Two tones at once: each carries half the energy, neither dominates.
	a := media.Flatten(readAll(t, media.Tone(697, 100*time.Millisecond, 6000)))
	b := media.Flatten(readAll(t, media.Tone(1209, 100*time.Millisecond, 6000)))
	for i := range a {
		a[i] += b[i]
	}
	if media.ToneLevel(a, 697) < 0.15 || media.ToneLevel(a, 1209) < 0.15 {
		t.Errorf("dual tone levels %.3f %.3f", media.ToneLevel(a, 697), media.ToneLevel(a, 1209))
	}
}

func TestSources(t *testing.T) {
	one := media.Frame{1}
	two := media.Frame{2}
	src := media.Concat(media.Silence(30*time.Millisecond), media.Tone(440, 0, 1000), media.Loop([]media.Frame{one, two}))
	got, err := media.ReadAll(src, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{0, 0, 1, 2, 1, 2}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i][0] != want[i] {
			t.Errorf("frame %d starts with %d, want %d", i, got[i][0], want[i])
		}
	}
	var f media.Frame
	if err := media.Loop(nil).ReadFrame(&f); !errors.Is(err, io.EOF) {
		t.Errorf("empty Loop: %v, want io.EOF", err)
	}
	tone := media.Tone(1000, time.Second, 1000)
	if n := testing.AllocsPerRun(20, func() { _ = tone.ReadFrame(&f) }); n != 0 {
		t.Errorf("Tone allocates %v times per frame", n)
	}
}

func readAll(tb testing.TB, src media.Source) []media.Frame {
	tb.Helper()
	frames, err := media.ReadAll(src, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return frames
}
