package hearing_test

import (
	"testing"
	"time"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// samplesOf renders sources one after the other.
func samplesOf(t *testing.T, srcs ...media.Source) []int16 {
	t.Helper()
	frames, err := media.ReadAll(media.Concat(srcs...), 0)
	if err != nil {
		t.Fatal(err)
	}
	return media.Flatten(frames)
}

func TestSegments(t *testing.T) {
	ms := time.Millisecond
	samples := samplesOf(t,
		media.Silence(200*ms),
		media.Tone(440, 500*ms, 8000),
		media.Silence(100*ms), // a pause inside a prompt: same segment
		media.Tone(440, 300*ms, 8000),
		media.Silence(600*ms),
		media.Tone(1000, 100*ms, 3000),
		media.Silence(300*ms),
		media.Tone(1000, 40*ms, 8000), // a click: not a segment
		media.Silence(400*ms),
	)
	got := hearing.Segments(samples)
	want := []hearing.Segment{{Start: 200 * ms, Duration: 900 * ms}, {Start: 1700 * ms, Duration: 100 * ms}}
	if len(got) != len(want) {
		t.Fatalf("Segments = %v, want %d segments", got, len(want))
	}
	for i := range want {
		if got[i].Start != want[i].Start || got[i].Duration != want[i].Duration {
			t.Errorf("segment %d = %v, want start %s length %s", i, got[i], want[i].Start, want[i].Duration)
		}
		if got[i].Level > -3 || got[i].Level < -30 {
			t.Errorf("segment %d level %.1f dBFS", i, got[i].Level)
		}
	}
	if !hearing.DetectTone(got[1].Samples(samples), 1000) {
		t.Error("the second segment is not the 1 kHz tone")
	}
	if hearing.DetectTone(got[0].Samples(samples), 1000) {
		t.Error("the first segment is not a 1 kHz tone")
	}
	if len(hearing.Segments(samplesOf(t, media.Silence(time.Second)))) != 0 {
		t.Error("silence has segments")
	}
	if len(hearing.Segments(nil)) != 0 {
		t.Error("nothing has segments")
	}
}

func TestStatusErrorHeader(t *testing.T) {
	e := &softphone.StatusError{Code: 503, Reason: "Service Unavailable"}
	if e.Header("Retry-After") != "" || e.Error() != "phone: call refused: 503 Service Unavailable" {
		t.Errorf("%q %q", e.Header("Retry-After"), e.Error())
	}
}
