package hearing_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/hearing"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// builtinClips returns the built-in prompts as clips.
func builtinClips(tb testing.TB) []hearing.Clip {
	tb.Helper()
	set, err := prompts.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	return hearing.ClipsOf(set)
}

// line builds what a phone hears: clips, silences and tones back to back,
// through G.711 µ-law as on the wire. It remembers where each clip starts.
type line struct {
	tb     testing.TB
	clips  map[string][]int16 // by "lang/name"
	pcm    []int16
	played []hearing.Heard // At and name of each clip appended

	toneTime time.Duration
}

func newLine(tb testing.TB, clips []hearing.Clip) *line {
	l := &line{tb: tb, clips: map[string][]int16{}}
	for _, c := range clips {
		l.clips[c.String()] = c.Samples
	}
	return l
}

func (l *line) at() time.Duration {
	return time.Duration(len(l.pcm)) * time.Second / media.SampleRate
}

// say appends clips ("fr/greeting") back to back, as one sentence.
func (l *line) say(names ...string) *line {
	l.tb.Helper()
	for _, n := range names {
		s, ok := l.clips[n]
		if !ok {
			l.tb.Fatalf("no clip %s", n)
		}
		lang, name, _ := strings.Cut(n, "/")
		l.played = append(l.played, hearing.Heard{At: l.at(), Lang: lang, Name: name})
		l.add(s)
	}
	return l
}

// sayCut appends the first d of a clip, as when a key stops a prompt.
func (l *line) sayCut(n string, d time.Duration) *line {
	l.tb.Helper()
	lang, name, _ := strings.Cut(n, "/")
	l.played = append(l.played, hearing.Heard{At: l.at(), Duration: d, Lang: lang, Name: name, Cut: true})
	l.add(l.clips[n][:int(d/media.FrameDuration)*media.FrameSamples])
	return l
}

func (l *line) silence(d time.Duration) *line { return l.src(media.Silence(d)) }

func (l *line) tone(hz float64, d time.Duration) *line { return l.src(media.Tone(hz, d, 8000)) }

func (l *line) src(src media.Source) *line {
	l.tb.Helper()
	frames, err := media.ReadAll(src, 0)
	if err != nil {
		l.tb.Fatal(err)
	}
	l.add(media.Flatten(frames))
	return l
}

// add appends samples through a G.711 µ-law encoder and decoder.
func (l *line) add(s []int16) {
	for _, x := range s {
		l.pcm = append(l.pcm, media.DecodeULaw(media.EncodeULaw(x)))
	}
}

// loudTime is how long the frames of s louder than hearing.SilenceLevel last.
func loudTime(s []int16) time.Duration {
	var d time.Duration
	for i := 0; i+media.FrameSamples <= len(s); i += media.FrameSamples {
		var sq float64
		for _, x := range s[i : i+media.FrameSamples] {
			sq += float64(x) * float64(x)
		}
		if 10*math.Log10(sq/media.FrameSamples/32768/32768) > hearing.SilenceLevel {
			d += media.FrameDuration
		}
	}
	return d
}

// names lists found as "lang/name@at".
func names(found []hearing.Heard) []string {
	out := make([]string, len(found))
	for i, h := range found {
		out[i] = fmt.Sprintf("%s/%s@%s", h.Lang, h.Name, h.At)
	}
	return out
}

func checkFound(t *testing.T, found, want []hearing.Heard) {
	t.Helper()
	if got, w := names(found), names(want); !slices.Equal(got, w) {
		t.Errorf("Recognize found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(w, "\n  "))
	}
	for _, h := range found {
		if h.Score < hearing.MinScore || h.Score > 1.0001 {
			t.Errorf("%s: score %.3f", h, h.Score)
		}
	}
}

func TestRecognizeSentences(t *testing.T) {
	clips := builtinClips(t)
	ms := time.Millisecond
	l := newLine(t, clips).
		silence(240*ms).
		say("fr/greeting").
		say("en/language_offer", "en/digit_8").
		silence(700*ms).tone(440, time.Second).silence(400*ms).
		say("fr/menu_intro").
		say("fr/for", "fr/category_registrations", "fr/press", "fr/digit_1").
		say("fr/for", "fr/category_urgent", "fr/press", "fr/digit_9").
		silence(3*time.Second).
		say("fr/invalid").
		say("fr/message_option", "fr/digit_0").
		silence(500*ms).
		say("fr/voicemail", "fr/beep")
	found, unmatched := hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
	for i, h := range found {
		want := l.clips[h.Lang+"/"+h.Name]
		if h.Cut || h.Duration != time.Duration(len(want)/media.FrameSamples)*media.FrameDuration {
			t.Errorf("prompt %d %s lasts %s (cut %v), want the whole clip", i, h, h.Duration, h.Cut)
		}
	}
	if unmatched != time.Second {
		t.Errorf("unmatched = %s, want 1s (the tone)", unmatched)
	}
	// Sentences: what was played back to back, between silences and tones.
	var sizes []int
	for _, s := range hearing.Sentences(found) {
		sizes = append(sizes, len(s))
	}
	if want := []int{3, 9, 3, 2}; !slices.Equal(sizes, want) {
		t.Errorf("sentences of %v prompts, want %v", sizes, want)
	}
}

// French and English say "six" and "minutes" alike; the voices differ.
func TestRecognizeTellsLanguagesApart(t *testing.T) {
	clips := builtinClips(t)
	l := newLine(t, clips).
		say("fr/digit_6").silence(time.Second).
		say("en/digit_6").silence(time.Second).
		say("en/minutes").silence(time.Second).
		say("fr/minutes").silence(time.Second).
		// Identical clips (the beep, a digit and the same number) take the
		// language of the prompt before, then the first name.
		say("en/voicemail", "en/beep").silence(time.Second).
		say("fr/voicemail", "fr/beep").silence(time.Second).
		say("en/digit_8").silence(time.Second)
	found, unmatched := hearing.Recognize(l.pcm, clips)
	l.played[3].Name = "minute" // fr/minute and fr/minutes are the same clip
	checkFound(t, found, l.played)
	if unmatched != 0 {
		t.Errorf("unmatched = %s, want 0", unmatched)
	}
}

func TestRecognizeUnmatched(t *testing.T) {
	clips := builtinClips(t)
	// A custom greeting: speech, but none of the built-in clips (the
	// English greeting played backwards).
	custom := slices.Clone(newLine(t, clips).clips["en/greeting"])
	slices.Reverse(custom)
	l := newLine(t, clips).silence(100 * time.Millisecond)
	l.add(custom)
	l.say("en/language_offer", "en/digit_8").silence(time.Second)
	customAt := len(l.pcm)
	l.add(custom)
	l.silence(200*time.Millisecond).say("en/goodbye").silence(time.Second).tone(440, 500*time.Millisecond)
	found, unmatched := hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
	// The loud frames of the recording, twice, and the tone.
	want := 2*loudTime(l.pcm[customAt:customAt+len(custom)]) + 500*time.Millisecond
	if d := unmatched - want; d < -40*time.Millisecond || d > 40*time.Millisecond {
		t.Errorf("unmatched = %s, want about %s", unmatched, want)
	}
	t.Logf("unmatched %s (recording %s twice, 500ms tone)", unmatched, time.Duration(len(custom))*time.Second/media.SampleRate)
}

func TestRecognizeSilenceAndCuts(t *testing.T) {
	clips := builtinClips(t)
	if found, unmatched := hearing.Recognize(nil, clips); len(found) != 0 || unmatched != 0 {
		t.Errorf("Recognize(nil) = %v, %s", found, unmatched)
	}
	quiet := newLine(t, clips).silence(5 * time.Second)
	if found, unmatched := hearing.Recognize(quiet.pcm, clips); len(found) != 0 || unmatched != 0 {
		t.Errorf("Recognize(silence) = %v, %s", found, unmatched)
	}

	// English hours_from is 200 ms of silence: it is never named, and the
	// clip after it is found where it starts.
	l := newLine(t, clips).say("en/hours_intro", "en/day_monday", "en/hours_from", "en/num_8", "en/num_30", "en/am")
	l.played = slices.Delete(l.played, 2, 3)
	l.played[2].Name = "digit_8" // the same clip as num_8, and first
	l.silence(time.Second)
	// The call ends 1.2 s into the menu: the clip is named, cut.
	l.say("en/menu_intro")
	l.pcm = l.pcm[:len(l.pcm)-len(l.clips["en/menu_intro"])+media.SampleRate*6/5]
	found, _ := hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
	if last := found[len(found)-1]; !last.Cut || last.Duration != 1200*time.Millisecond {
		t.Errorf("last = %+v, want menu_intro cut after 1.2s", last)
	}
	// Less than MinCut of a clip is not named.
	short := newLine(t, clips).say("en/menu_intro")
	short.pcm = short.pcm[:media.SampleRate*2/5]
	if found, unmatched := hearing.Recognize(short.pcm, clips); len(found) != 0 || unmatched == 0 {
		t.Errorf("400 ms of menu_intro: %v, %s unmatched", found, unmatched)
	}
}

func TestFindClip(t *testing.T) {
	clips := builtinClips(t)
	l := newLine(t, clips).silence(time.Second).say("fr/greeting").say("en/menu_intro").silence(time.Second)
	at, score := hearing.FindClip(l.pcm, l.clips["en/menu_intro"])
	if at != l.played[1].At || score < 0.97 {
		t.Errorf("FindClip(en/menu_intro) = %s, %.3f; want %s, ~0.99", at, score, l.played[1].At)
	}
	if _, score := hearing.FindClip(l.pcm, l.clips["fr/menu_intro"]); score > 0.5 {
		t.Errorf("FindClip(fr/menu_intro) scores %.3f in audio without it", score)
	}
	if at, score := hearing.FindClip(l.pcm[:100], l.clips["fr/greeting"]); at != 0 || score != 0 {
		t.Errorf("FindClip in too little audio = %s, %v", at, score)
	}
	if _, score := hearing.FindClip(l.pcm, make([]int16, 800)); score != 0 {
		t.Errorf("FindClip(silence) = %v", score)
	}
	clip := l.clips["en/menu_intro"]
	if n := testing.AllocsPerRun(5, func() { hearing.FindClip(l.pcm, clip) }); n != 0 {
		t.Errorf("FindClip allocates %v times", n)
	}
}

// Every clip, in random sentences, some cut off by a key: each is found
// where it was played (a clip identical to the one played may be named
// instead).
func TestRecognizeRandomSentences(t *testing.T) {
	clips := builtinClips(t)
	for seed := range uint64(4) {
		l := randomCall(t, clips, seed)
		found, unmatched := hearing.Recognize(l.pcm, clips)
		if len(found) != len(l.played) {
			t.Errorf("seed %d: found %d prompts, played %d", seed, len(found), len(l.played))
		}
		for i := range min(len(found), len(l.played)) {
			f, p := found[i], l.played[i]
			same := slices.Equal(l.clips[f.Lang+"/"+f.Name], l.clips[p.Lang+"/"+p.Name]) ||
				slices.Contains(f.Alike, p.Lang+"/"+p.Name)
			if f.At != p.At || f.Cut != p.Cut || !same {
				t.Errorf("seed %d: prompt %d is %s, played %s", seed, i, f, p)
				break
			}
		}
		if unmatched != l.toneTime {
			t.Errorf("seed %d: unmatched %s, want %s (the tones)", seed, unmatched, l.toneTime)
		}
	}
}

// randomCall is a minute of a call: sentences of random built-in clips
// (one in six of those over a second cut off) between silences (none, at
// times) and 440 Hz tones, through G.711.
func randomCall(tb testing.TB, clips []hearing.Clip, seed uint64) *line {
	rng := rand.New(rand.NewPCG(seed, 2))
	l := newLine(tb, clips)
	var speech []string
	for _, c := range clips {
		if c.Name != "hold_music" && c.Name != "hours_from" {
			speech = append(speech, c.String())
		}
	}
	for l.at() < time.Minute {
		for range 1 + rng.IntN(4) {
			n := speech[rng.IntN(len(speech))]
			d := time.Duration(len(l.clips[n])) * time.Second / media.SampleRate
			if d <= time.Second || rng.IntN(6) > 0 {
				l.say(n)
				continue
			}
			// A key stops it, and the next prompt starts at once.
			l.sayCut(n, (700*time.Millisecond + time.Duration(rng.Int64N(int64(d-time.Second)))).Truncate(media.FrameDuration))
		}
		l.silence(time.Duration(max(0, rng.IntN(1000)-200)) * time.Millisecond)
		if rng.IntN(4) == 0 {
			l.tone(440, 500*time.Millisecond).silence(200 * time.Millisecond)
			l.toneTime += 500 * time.Millisecond
		}
	}
	return l
}

func BenchmarkRecognize(b *testing.B) {
	clips := builtinClips(b)
	l := randomCall(b, clips, 0)
	l.pcm = l.pcm[:time.Minute/media.FrameDuration*media.FrameSamples]
	b.ReportAllocs()
	for b.Loop() {
		hearing.Recognize(l.pcm, clips)
	}
	found, unmatched := hearing.Recognize(l.pcm, clips)
	b.ReportMetric(float64(len(found)), "prompts")
	b.ReportMetric(unmatched.Seconds(), "unmatched-s")
	if len(found) < len(l.played)-1 {
		b.Errorf("found %d prompts of %d", len(found), len(l.played))
	}
}

// BenchmarkRecognizeUnknown is the worst case: a minute of speech that is
// no built-in clip (a conversation with staff).
func BenchmarkRecognizeUnknown(b *testing.B) {
	clips := builtinClips(b)
	l := randomCall(b, clips, 0)
	l.pcm = l.pcm[:time.Minute/media.FrameDuration*media.FrameSamples]
	slices.Reverse(l.pcm)
	b.ReportAllocs()
	for b.Loop() {
		hearing.Recognize(l.pcm, clips)
	}
	found, unmatched := hearing.Recognize(l.pcm, clips)
	b.ReportMetric(float64(len(found)), "prompts")
	b.ReportMetric(unmatched.Seconds(), "unmatched-s")
}

func BenchmarkFindClip(b *testing.B) {
	clips := builtinClips(b)
	l := randomCall(b, clips, 0)
	l.pcm = l.pcm[:time.Minute/media.FrameDuration*media.FrameSamples]
	clip := newLine(b, clips).clips["fr/greeting"][:media.SampleRate]
	for b.Loop() {
		hearing.FindClip(l.pcm, clip)
	}
}

// Hold music loops back to back; the call may end during it.
func TestRecognizeHoldMusic(t *testing.T) {
	clips := builtinClips(t)
	l := newLine(t, clips).say("en/queue_position", "en/num_2", "en/queue_position_suffix").
		say("en/hold_music", "en/hold_music", "en/hold_music")
	l.pcm = l.pcm[:len(l.pcm)-12*media.SampleRate]
	found, unmatched := hearing.Recognize(l.pcm, clips)
	l.played[1].Name = "digit_2"
	checkFound(t, found, l.played)
	if unmatched != 0 || len(found) != 6 || !found[5].Cut || found[5].Duration != 8*time.Second {
		t.Errorf("found %v, %s unmatched; want the music twice and 8s of it", found, unmatched)
	}
}

// A key stops a prompt (barge-in) and the next one starts at once, or after
// a while.
func TestRecognizeBargeIn(t *testing.T) {
	clips := builtinClips(t)
	l := newLine(t, clips).say("fr/greeting", "en/language_offer", "en/digit_8").
		sayCut("fr/menu_intro", 2260*time.Millisecond).
		sayCut("fr/voicemail", 3020*time.Millisecond).
		say("fr/beep").silence(8*time.Second).
		say("fr/no_input").silence(time.Second).
		sayCut("fr/menu_intro", 1500*time.Millisecond).silence(time.Second).
		sayCut("fr/greeting", 400*time.Millisecond). // too short to tell
		say("fr/goodbye")
	found, unmatched := hearing.Recognize(l.pcm, clips)
	want := slices.Delete(slices.Clone(l.played), 8, 9)
	checkFound(t, found, want)
	for i, h := range found {
		if w := want[i]; w.Cut != h.Cut || w.Cut && (h.Duration > w.Duration || h.Duration < w.Duration-300*time.Millisecond) {
			t.Errorf("%s: cut %v after %s, want cut %v after %s", h, h.Cut, h.Duration, w.Cut, w.Duration)
		}
	}
	if unmatched != 400*time.Millisecond {
		t.Errorf("unmatched %s, want 400ms (the start of the greeting)", unmatched)
	}
	// A cut prompt ends its sentence.
	var sizes []int
	for _, s := range hearing.Sentences(found) {
		sizes = append(sizes, len(s))
	}
	if want := []int{4, 1, 1, 1, 1, 1}; !slices.Equal(sizes, want) {
		t.Errorf("sentences of %v prompts, want %v", sizes, want)
	}

	// "Nous n'avons pas reçu de message" and "… votre choix" start alike.
	l = newLine(t, clips).say("fr/goodbye").sayCut("fr/no_message", 580*time.Millisecond)
	found, _ = hearing.Recognize(l.pcm, clips)
	if len(found) != 2 || !found[1].Cut || len(found[1].Alike) != 1 ||
		!slices.Equal(slices.Sorted(slices.Values([]string{found[1].Lang + "/" + found[1].Name, found[1].Alike[0]})),
			[]string{"fr/no_input", "fr/no_message"}) {
		t.Errorf("found %v; want no_input or no_message, cut", found)
	}

	// A beep alone after silence takes the language heard most.
	l = newLine(t, clips).say("fr/voicemail").silence(time.Second).say("en/beep").silence(time.Second).say("fr/goodbye")
	l.played[1].Lang = "fr"
	found, _ = hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
}

// A lost packet (a frame of silence from the jitter buffer) in the middle
// of a clip does not cut it.
func TestRecognizeLostPackets(t *testing.T) {
	clips := builtinClips(t)
	l := newLine(t, clips).say("fr/menu_intro", "fr/for", "fr/category_programs").silence(time.Second)
	for _, at := range []time.Duration{time.Second, 2 * time.Second, 2*time.Second + media.FrameDuration} {
		i := int(at/media.FrameDuration) * media.FrameSamples
		clear(l.pcm[i : i+media.FrameSamples])
	}
	found, unmatched := hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
	if len(found) > 0 && (found[0].Cut || found[0].Score < 0.95) {
		t.Errorf("%s: cut %v, score %.3f", found[0], found[0].Cut, found[0].Score)
	}
	if unmatched != 0 {
		t.Errorf("unmatched %s", unmatched)
	}
}

// Clips an admin records may start with silence; they are found all the
// same, at the start of the clip.
func TestRecognizeLeadingSilence(t *testing.T) {
	clips := builtinClips(t)
	pad := func(c hearing.Clip) hearing.Clip {
		c.Samples = append(make([]int16, 3*media.FrameSamples), c.Samples...)
		return c
	}
	for i, c := range clips {
		if c.Lang == "fr" && (c.Name == "greeting" || c.Name == "language_offer" || c.Name == "digit_8") {
			clips[i] = pad(c)
		}
	}
	l := newLine(t, clips).silence(time.Second).say("fr/greeting", "fr/language_offer", "fr/digit_8").silence(time.Second)
	found, unmatched := hearing.Recognize(l.pcm, clips)
	checkFound(t, found, l.played)
	if len(hearing.Sentences(found)) != 1 || unmatched != 0 {
		t.Errorf("found %v (%d sentences), %s unmatched", found, len(hearing.Sentences(found)), unmatched)
	}
}
