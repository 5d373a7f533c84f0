// Package hearing says what a phone heard, in words: which of clubline's
// prompts (Recognize, Sentences), which stretches of sound between
// silences (Segments) and which tones (DetectTone). The mystery call
// (clubline call) prints it, and the end-to-end tests assert on it, so a
// test checks what a caller would notice rather than bytes.
package hearing

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/prompts"
)

// Recognizing prompts: what the phone heard, in words. clubline plays its
// prompts frame-aligned (a clip is a whole number of 20 ms frames, clips of
// a sentence back to back) and the phone hears one frame per RTP packet, so
// a prompt starts on a frame boundary of Heard, and the next prompt of the
// same sentence starts exactly where the previous one ends. A key can stop
// a prompt (barge-in): then only its start is heard. Matching is normalized
// correlation of the whole clip (or of the start heard): about 0.99 for a
// prompt sent through G.711, near 0 for other speech.

// Clip is a prompt the phone can name: 8 kHz samples, a whole number of
// 20 ms frames (a trailing partial frame is ignored).
type Clip struct {
	Lang, Name string
	Samples    []int16
}

// String is "lang/name".
func (c Clip) String() string { return c.Lang + "/" + c.Name }

// ClipsOf returns every clip of set, by language then name.
func ClipsOf(set *prompts.Set) []Clip {
	var out []Clip
	for _, lang := range set.Languages() {
		for _, name := range set.Names(lang) {
			out = append(out, Clip{Lang: lang, Name: name, Samples: media.Flatten(set.Frames(lang, name))})
		}
	}
	return out
}

// Heard is a prompt found in what the phone heard.
type Heard struct {
	At time.Duration // from the answer
	// Duration is the part heard: the clip's length, unless Cut (up to its
	// last sound heard) or the audio ends in its closing silence.
	Duration time.Duration
	Lang     string
	Name     string
	Score    float64 // normalized correlation, at least MinScore
	// Cut: only the start of the clip was heard, at least MinCut of it: a
	// key stopped it, or the call ended during it.
	Cut bool
	// Alike lists, for a Cut prompt, the other clips ("lang/name") whose
	// start is the same as far as it was heard: it may be any of them.
	Alike []string
}

// End is when the prompt stops.
func (h Heard) End() time.Duration { return h.At + h.Duration }

func (h Heard) String() string {
	s := fmt.Sprintf("%s/%s at %s", h.Lang, h.Name, h.At)
	for _, a := range h.Alike {
		s += " or " + a
	}
	if h.Cut {
		s += fmt.Sprintf(" (cut after %s)", h.Duration)
	}
	return s
}

// Sentences groups prompts played back to back (each starting where the
// previous one ends), as clubline plays the pieces of one sentence. A cut
// prompt ends its sentence (a key stopped it: what follows answers the key).
func Sentences(found []Heard) [][]Heard {
	var out [][]Heard
	for i, h := range found {
		if i > 0 && h.At == found[i-1].End() && !found[i-1].Cut {
			out[len(out)-1] = append(out[len(out)-1], h)
			continue
		}
		out = append(out, []Heard{h})
	}
	return out
}

// How Recognize decides.
const (
	// MinScore: a clip matches where its correlation with what was heard
	// reaches this.
	MinScore = 0.9
	// TieScore: of matches this close to the best, a longer one wins if
	// its part beyond the best matches too (a short clip, a digit, can
	// match the start of a longer one).
	TieScore = 0.02
	// MinCut: a clip cut off (by a key, by the end of the call) is named
	// only if at least this much of it was heard.
	MinCut = 500 * time.Millisecond
)

const (
	frameLen = media.FrameSamples
	// A clip is compared in full only where the loudness of its first
	// envelopeFrames frames (from its first loud one) has the same shape as
	// what was heard, each frame within shapeDB of the first once their
	// levels are aligned, and the levels within gainDB; then where its
	// first screenFrames frames from there correlate by screenScore.
	envelopeFrames = 4
	shapeDB        = 3.0
	gainDB         = 10.0
	screenFrames   = 4
	screenScore    = 0.7
	// frameScore: frame by frame, a clip matches while each loud frame
	// correlates by this much; badFrames in a row that do not (a lost
	// packet is one) mean it was cut off.
	frameScore = 0.8
	badFrames  = 3
	// floorDB is the level given to silent frames when comparing levels.
	floorDB = -80.0
)

// loudFrame is the energy (sum of squares) above which a frame is sound:
// SilenceLevel dBFS RMS, as in Segments.
var loudFrame = int64(frameLen * 32768 * 32768 * math.Pow(10, SilenceLevel/10))

// FindClip looks for clip in heard at every frame boundary and returns the
// best place and its normalized correlation there: about 0.99 for the same
// audio through G.711, near 0 for other speech, 0 when heard is shorter
// than clip or either is silent. It does not allocate.
func FindClip(heard, clip []int16) (at time.Duration, score float64) {
	n := len(clip)
	if n == 0 || n > len(heard) {
		return 0, 0
	}
	clipEnergy := energy(clip)
	if clipEnergy == 0 {
		return 0, 0
	}
	window := energy(heard[:n]) // of heard[i : i+n], kept up to date
	best, bestAt := 0.0, 0
	for i := 0; ; i += frameLen {
		if window > 0 {
			if d := dot(heard[i:i+n], clip); d > 0 {
				if s := float64(d) / math.Sqrt(float64(window)*float64(clipEnergy)); s > best {
					best, bestAt = s, i
				}
			}
		}
		if i+frameLen+n > len(heard) {
			break
		}
		window += energy(heard[i+n:i+n+frameLen]) - energy(heard[i:i+frameLen])
	}
	return time.Duration(bestAt) * time.Second / media.SampleRate, best
}

// Recognize names the clips in heard (8 kHz samples from the answer, as
// Heard returns them), in order, and says how long the sound that matched
// none of them lasted (loud frames, as in Segments).
//
// It reads greedily: from where sound starts it tries every clip at every
// frame until one matches, takes the best match there, tries every clip
// again exactly where that one ends (the next piece of the sentence), and
// when none matches looks for the next start. A clip matches whole, or cut
// (Heard.Cut): its first MinCut or more, up to where a key stopped it or
// the call ended. Silent clips are never named, nor is silence. Of matches
// within TieScore of the best, a longer clip wins if the part beyond the
// shorter one matches too. Clips with identical samples (a digit and the
// same number, the beep of each language) get the language of the sentence
// they are in, else the language heard most; then the first name in clips.
func Recognize(heard []int16, clips []Clip) (found []Heard, unmatched time.Duration) {
	return newRecognizer(heard, clips).run()
}

// rclip is a clip ready to compare.
type rclip struct {
	clip    *Clip
	index   int     // in the clips given
	s       []int16 // whole frames
	frames  int
	lead    int       // silent frames before the first loud one
	tail    int       // frames up to the last loud one, included
	cumE    []int64   // cumE[k]: energy of the first k frames
	env     []float64 // level (dB) of envelopeFrames frames from lead
	screen  []int16   // screenFrames frames (or fewer) from lead
	screenE int64
	twins   []*rclip // clips with the same samples, this one included, in order; or none
}

// twinLangs reports whether c has a twin in another language.
func (c *rclip) twinLangs() bool {
	for _, t := range c.twins {
		if t.clip.Lang != c.clip.Lang {
			return true
		}
	}
	return false
}

type candidate struct {
	c     *rclip
	at, n int // frames
	score float64
	cut   bool
}

func (c *candidate) end() int { return c.at + c.n }

type recognizer struct {
	s       []int16 // heard, whole frames
	frames  int
	cumE    []int64   // cumE[i]: energy of heard's frames before i
	cumLoud []int32   // cumLoud[i]: loud frames before i
	level   []float64 // level[i]: of frame i, in dB
	clips   []rclip
	cands   []candidate
}

func newRecognizer(heard []int16, clips []Clip) *recognizer {
	nf := len(heard) / frameLen
	r := &recognizer{s: heard[:nf*frameLen], frames: nf,
		cumE: make([]int64, nf+1), cumLoud: make([]int32, nf+1), level: make([]float64, nf)}
	for i := range nf {
		e := energy(heard[i*frameLen : (i+1)*frameLen])
		r.cumE[i+1] = r.cumE[i] + e
		r.cumLoud[i+1] = r.cumLoud[i]
		if e > loudFrame {
			r.cumLoud[i+1]++
		}
		r.level[i] = level(e)
	}
	total := 0
	for _, c := range clips {
		total += len(c.Samples)/frameLen + 1
	}
	backing := make([]int64, total)
	levels := make([]float64, len(clips)*envelopeFrames)
	r.clips = make([]rclip, 0, len(clips))
	for i := range clips {
		c := &clips[i]
		n := len(c.Samples) / frameLen
		rc := rclip{clip: c, index: i, s: c.Samples[:n*frameLen], frames: n, lead: -1}
		rc.cumE, backing = backing[:n+1:n+1], backing[n+1:]
		for k := range n {
			e := energy(rc.s[k*frameLen : (k+1)*frameLen])
			rc.cumE[k+1] = rc.cumE[k] + e
			if e > loudFrame {
				rc.tail = k + 1
				if rc.lead < 0 {
					rc.lead = k
				}
			}
		}
		if rc.lead < 0 {
			continue // silence (English hours_from): never named
		}
		ef := min(envelopeFrames, n-rc.lead)
		rc.env, levels = levels[:ef:ef], levels[envelopeFrames:]
		for k := range ef {
			rc.env[k] = level(rc.cumE[rc.lead+k+1] - rc.cumE[rc.lead+k])
		}
		sf := min(screenFrames, n-rc.lead)
		rc.screen = rc.s[rc.lead*frameLen : (rc.lead+sf)*frameLen]
		rc.screenE = rc.cumE[rc.lead+sf] - rc.cumE[rc.lead]
		r.clips = append(r.clips, rc)
	}
	r.findTwins()
	return r
}

// findTwins sets the twins of the clips that have some.
func (r *recognizer) findTwins() {
	byEnergy := make([]*rclip, len(r.clips))
	for i := range r.clips {
		byEnergy[i] = &r.clips[i]
	}
	total := func(c *rclip) int64 { return c.cumE[c.frames] }
	slices.SortFunc(byEnergy, func(a, b *rclip) int { return cmp.Compare(total(a), total(b)) })
	for i := 0; i < len(byEnergy); {
		j := i + 1
		for j < len(byEnergy) && total(byEnergy[j]) == total(byEnergy[i]) {
			j++
		}
		for _, c := range byEnergy[i:j] {
			for _, t := range byEnergy[i:j] {
				if c != t && slices.Equal(c.s, t.s) {
					c.twins = append(c.twins, t)
				}
			}
		}
		i = j
	}
	for i := range r.clips {
		if c := &r.clips[i]; len(c.twins) > 0 {
			c.twins = append(c.twins, c)
			slices.SortFunc(c.twins, func(a, b *rclip) int { return cmp.Compare(a.index, b.index) })
		}
	}
}

func (r *recognizer) run() (found []Heard, unmatched time.Duration) {
	frameDur := media.FrameDuration
	var picked []*rclip
	unknown := 0 // loud frames matched by no clip
	for p, chained := 0, false; p < r.frames; {
		r.cands = r.cands[:0]
		if chained { // the next piece of the sentence, right here?
			for i := range r.clips {
				r.try(&r.clips[i], p)
			}
		}
		if len(r.cands) == 0 {
			q := r.nextLoud(p)
			if q < 0 {
				break
			}
			// j is where a clip's first loud frame would be, from one frame
			// early (G.711 can tip a quiet fade-in frame either way); where
			// some clip matches, the next frame is tried too (a tone or a
			// beep matches a frame off, a little less well).
			for j := max(p, q-1); j < r.frames; j++ {
				if r.tryAll(p, j); len(r.cands) > 0 {
					if j+1 < r.frames {
						r.tryAll(p, j+1)
					}
					break
				}
			}
		}
		if len(r.cands) == 0 {
			unknown += r.loudIn(p, r.frames)
			break
		}
		m := r.pick()
		unknown += r.loudIn(p, m.at)
		found = append(found, Heard{
			At: time.Duration(m.at) * frameDur, Duration: time.Duration(m.n) * frameDur,
			Lang: m.c.clip.Lang, Name: m.c.clip.Name, Score: m.score, Cut: m.cut, Alike: r.alike(m),
		})
		picked = append(picked, m.c)
		p, chained = m.end(), !m.cut
	}
	nameTwins(found, picked)
	return found, time.Duration(unknown) * frameDur
}

// tryAll tries every clip with its first loud frame at frame j, from frame
// p on.
func (r *recognizer) tryAll(p, j int) {
	for i := range r.clips {
		if c := &r.clips[i]; j-c.lead >= p {
			r.try(c, j-c.lead)
		}
	}
}

// try compares clip c with heard from frame at and keeps it as a candidate
// if it matches, whole or cut.
func (r *recognizer) try(c *rclip, at int) {
	s := at + c.lead
	if s+len(c.env) > r.frames || !c.envelopeFits(r.level[s:s+len(c.env)]) {
		return
	}
	sn := len(c.screen) / frameLen
	if s+sn > r.frames {
		return
	}
	e := r.cumE[s+sn] - r.cumE[s]
	if e == 0 {
		return
	}
	d := dot(r.s[s*frameLen:(s+sn)*frameLen], c.screen)
	if d <= 0 || float64(d)*float64(d) < screenScore*screenScore*float64(e)*float64(c.screenE) {
		return
	}
	n := r.matchingStart(c, at)
	cut := n < c.tail
	if cut && time.Duration(n)*media.FrameDuration < MinCut {
		return
	}
	if score := r.score(c, at, 0, n); score >= MinScore {
		r.cands = append(r.cands, candidate{c: c, at: at, n: n, score: score, cut: cut})
	}
}

// matchingStart is how many frames of clip c, played from frame at, match
// what was heard frame by frame: all of them, or up to the end of the
// audio, or up to the last loud frame that matched before a run of
// badFrames that do not (a key stopped the clip there). A frame matches if
// it is quiet in both, or correlates by frameScore.
func (r *recognizer) matchingStart(c *rclip, at int) int {
	n := min(c.frames, r.frames-at)
	last, bad := 0, 0
	for k := range n {
		he, ce := r.cumE[at+k+1]-r.cumE[at+k], c.cumE[k+1]-c.cumE[k]
		if he <= loudFrame && ce <= loudFrame {
			continue
		}
		if he > 0 && ce > 0 {
			d := dot(r.s[(at+k)*frameLen:(at+k+1)*frameLen], c.s[k*frameLen:(k+1)*frameLen])
			if d > 0 && float64(d)*float64(d) >= frameScore*frameScore*float64(he)*float64(ce) {
				last, bad = k+1, 0
				continue
			}
		}
		if bad++; bad == badFrames {
			return last
		}
	}
	if bad > 0 && last < c.tail {
		return last
	}
	return n
}

// envelopeFits reports whether heard levels have the shape of the clip's
// first frames.
func (c *rclip) envelopeFits(heard []float64) bool {
	gain := heard[0] - c.env[0]
	if gain > gainDB || gain < -gainDB {
		return false
	}
	for k := 1; k < len(c.env); k++ {
		if d := heard[k] - c.env[k] - gain; d > shapeDB || d < -shapeDB {
			return false
		}
	}
	return true
}

// score is the correlation of frames [from, to) of clip c, played from
// frame at, with what was heard there: 0 if either is silent there.
func (r *recognizer) score(c *rclip, at, from, to int) float64 {
	e, ce := r.cumE[at+to]-r.cumE[at+from], c.cumE[to]-c.cumE[from]
	if e == 0 || ce == 0 || r.loudIn(at+from, at+to) == 0 {
		return 0
	}
	d := dot(r.s[(at+from)*frameLen:(at+to)*frameLen], c.s[from*frameLen:to*frameLen])
	return float64(d) / math.Sqrt(float64(e)*float64(ce))
}

// pick chooses among the candidates: the best whole match (ties: the
// longest, the earliest, the first clip), else the longest cut one; then,
// repeatedly, a candidate within TieScore of it that ends later and whose
// part beyond it matches too.
func (r *recognizer) pick() candidate {
	var best *candidate
	for i := range r.cands {
		c := &r.cands[i]
		switch {
		case best == nil:
			best = c
		case c.cut != best.cut:
			if !c.cut {
				best = c
			}
		case c.cut && c.n != best.n:
			if c.n > best.n {
				best = c
			}
		case better(c, best):
			best = c
		}
	}
	for {
		var next *candidate
		for i := range r.cands {
			c := &r.cands[i]
			if c.score < best.score-TieScore || c.end() <= best.end() || (next != nil && c.end() <= next.end()) {
				continue
			}
			if r.score(c.c, c.at, best.end()-c.at, c.n) >= MinScore {
				next = c
			}
		}
		if next == nil {
			return *best
		}
		best = next
	}
}

// alike lists the clips of the other cut candidates that match as much as
// m, cut: those that start the same.
func (r *recognizer) alike(m candidate) []string {
	var out []string
	for _, c := range r.cands {
		if m.cut && c.cut && c.c != m.c && c.at == m.at && c.n >= m.n-1 && c.score >= m.score-TieScore {
			out = append(out, c.c.clip.String())
		}
	}
	return out
}

func better(a, b *candidate) bool {
	if math.Abs(a.score-b.score) > 1e-9 {
		return a.score > b.score
	}
	if a.n != b.n {
		return a.n > b.n
	}
	if a.at != b.at {
		return a.at < b.at
	}
	return a.c.index < b.c.index
}

// nameTwins renames the prompts found whose clip has an identical twin in
// another language: the language of the sentence, else the one heard most.
func nameTwins(found []Heard, picked []*rclip) {
	count := map[string]int{}
	most := ""
	for _, c := range picked {
		if l := c.clip.Lang; !c.twinLangs() {
			count[l]++
			if most == "" || count[l] > count[most] {
				most = l
			}
		}
	}
	for i, c := range picked {
		if !c.twinLangs() {
			continue
		}
		lang := most
		switch {
		case i > 0 && found[i-1].End() == found[i].At && !picked[i-1].twinLangs():
			lang = found[i-1].Lang
		case i+1 < len(found) && found[i].End() == found[i+1].At && !picked[i+1].twinLangs():
			lang = found[i+1].Lang
		}
		for _, t := range c.twins {
			if t.clip.Lang == lang {
				found[i].Lang, found[i].Name = t.clip.Lang, t.clip.Name
				break
			}
		}
	}
}

// loudIn counts the loud frames in [from, to).
func (r *recognizer) loudIn(from, to int) int { return int(r.cumLoud[to] - r.cumLoud[from]) }

// nextLoud is the first loud frame from p on, or -1.
func (r *recognizer) nextLoud(p int) int {
	for i := p; i < r.frames; i++ {
		if r.cumLoud[i+1] > r.cumLoud[i] {
			return i
		}
	}
	return -1
}

// level is the level of a frame of that energy in dB full scale, floorDB
// at least.
func level(e int64) float64 {
	return max(floorDB, 10*math.Log10(float64(e)/(frameLen*32768*32768)))
}

// energy is the sum of squares of s.
func energy(s []int16) int64 {
	var e0, e1 int64
	i := 0
	for ; i+2 <= len(s); i += 2 {
		e0 += int64(s[i]) * int64(s[i])
		e1 += int64(s[i+1]) * int64(s[i+1])
	}
	if i < len(s) {
		e0 += int64(s[i]) * int64(s[i])
	}
	return e0 + e1
}

// dot is the dot product of a and b[:len(a)].
func dot(a, b []int16) int64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += int64(x[0]) * int64(y[0])
		s1 += int64(x[1]) * int64(y[1])
		s2 += int64(x[2]) * int64(y[2])
		s3 += int64(x[3]) * int64(y[3])
	}
	for ; i < len(a); i++ {
		s0 += int64(a[i]) * int64(b[i])
	}
	return s0 + s1 + s2 + s3
}
