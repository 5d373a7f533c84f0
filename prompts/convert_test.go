package prompts_test

import (
	"context"
	"encoding/binary"
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

// sine is n samples of a sine at freq Hz, sampled at rate, of peak amp
// (full scale 1).
func sine(freq float64, rate, n int, amp float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
	}
	return x
}

// wavFile is the bytes of a WAV file of the given WAV format tag (1 PCM,
// 3 float, 6 A-law, 7 µ-law; extensible wraps it in
// WAVE_FORMAT_EXTENSIBLE), one slice of samples (full scale 1) per
// channel.
func wavFile(format, rate, bits int, extensible bool, channels ...[]float64) []byte {
	le := binary.LittleEndian
	var data []byte
	for i := range channels[0] {
		for _, ch := range channels {
			v := ch[i]
			switch {
			case format == 6:
				data = append(data, media.EncodeALaw(int16(v*32767)))
			case format == 7:
				data = append(data, media.EncodeULaw(int16(v*32767)))
			case format == 3 && bits == 32:
				data = le.AppendUint32(data, math.Float32bits(float32(v)))
			case format == 3 && bits == 64:
				data = le.AppendUint64(data, math.Float64bits(v))
			case bits == 8:
				data = append(data, byte(int(v*127)+128))
			case bits == 16:
				data = le.AppendUint16(data, uint16(int16(v*32767)))
			case bits == 24:
				s := int32(v * (1<<23 - 1))
				data = append(data, byte(s), byte(s>>8), byte(s>>16))
			case bits == 32:
				data = le.AppendUint32(data, uint32(int32(v*(1<<31-1))))
			}
		}
	}
	block := len(channels) * bits / 8
	fmtChunk := le.AppendUint16(nil, uint16(format))
	if extensible {
		fmtChunk = le.AppendUint16(nil, 0xFFFE)
	}
	fmtChunk = le.AppendUint16(fmtChunk, uint16(len(channels)))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(rate))
	fmtChunk = le.AppendUint32(fmtChunk, uint32(rate*block))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(block))
	fmtChunk = le.AppendUint16(fmtChunk, uint16(bits))
	if extensible {
		fmtChunk = le.AppendUint16(fmtChunk, 22)
		fmtChunk = le.AppendUint16(fmtChunk, uint16(bits))
		fmtChunk = le.AppendUint32(fmtChunk, 3) // front left and right
		fmtChunk = le.AppendUint16(fmtChunk, uint16(format))
		fmtChunk = append(fmtChunk, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"...)
	}
	b := []byte("RIFF")
	b = le.AppendUint32(b, uint32(4+8+len(fmtChunk)+8+len(data)))
	b = append(b, "WAVE"...)
	// A LIST chunk first, as editors write, which the reader must skip.
	b = append(b, "LIST"...)
	b = le.AppendUint32(b, 5)
	b = append(b, "INFOx\x00"...) // odd size: a pad byte follows
	b = append(b, "fmt "...)
	b = le.AppendUint32(b, uint32(len(fmtChunk)))
	b = append(b, fmtChunk...)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// withSilence puts d of silence before and after x.
func withSilence(x []float64, rate int, d time.Duration) []float64 {
	pad := make([]float64, int(d.Seconds()*float64(rate)))
	return append(append(append([]float64(nil), pad...), x...), pad...)
}

// noTools reads WAV only.
var noTools = &prompts.Converter{}

func convert(t *testing.T, cv *prompts.Converter, data []byte) ([]media.Frame, error) {
	t.Helper()
	return cv.Convert(context.Background(), "greeting", "greeting.wav", data)
}

// checkTone checks that frames hold a tone at freq Hz lasting about want,
// at the built-in prompts' level (-3 dBFS peak).
func checkTone(t *testing.T, frames []media.Frame, freq float64, want time.Duration) {
	t.Helper()
	samples := media.Flatten(frames)
	segs := hearing.Segments(samples)
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one tone", segs)
	}
	if d := segs[0].Duration; d < want-100*time.Millisecond || d > want+100*time.Millisecond {
		t.Errorf("tone lasts %v, want about %v", d, want)
	}
	mid := segs[0].Samples(samples)
	mid = mid[len(mid)/4 : 3*len(mid)/4]
	if !hearing.DetectTone(mid, freq) {
		t.Errorf("no %v Hz tone after conversion (level %.3f)", freq, media.ToneLevel(mid, freq))
	}
	if p := peakDB(frames); p < -3.5 || p > -2.5 {
		t.Errorf("peak %.1f dBFS, want -3", p)
	}
	// The trimmed recording keeps 100 ms before the sound, and the clip
	// ends with the gap the built-in clips end with.
	if lead := segs[0].Start; lead > 150*time.Millisecond {
		t.Errorf("%v of silence before the sound, want it trimmed", lead)
	}
}

func TestConvertStereo44k(t *testing.T) {
	left := withSilence(sine(1000, 44100, 44100, 0.5), 44100, 500*time.Millisecond)
	right := withSilence(sine(1000, 44100, 44100, 0.3), 44100, 500*time.Millisecond)
	frames, err := convert(t, noTools, wavFile(1, 44100, 16, false, left, right))
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, frames, 1000, time.Second)
}

func TestConvertMuLaw(t *testing.T) {
	x := withSilence(sine(440, 8000, 8000, 0.5), 8000, 300*time.Millisecond)
	frames, err := convert(t, noTools, wavFile(7, 8000, 8, false, x))
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, frames, 440, time.Second)
}

func TestConvertEncodings(t *testing.T) {
	for _, tc := range []struct {
		name               string
		format, rate, bits int
		extensible, stereo bool
	}{
		{"A-law 8 kHz", 6, 8000, 8, false, false},
		{"8-bit 11.025 kHz", 1, 11025, 8, false, false},
		{"16-bit 16 kHz", 1, 16000, 16, false, false},
		{"24-bit 48 kHz extensible stereo", 1, 48000, 24, true, true},
		{"32-bit 22.05 kHz", 1, 22050, 32, false, false},
		{"float 32 44.1 kHz", 3, 44100, 32, false, false},
		{"float 64 96 kHz stereo", 3, 96000, 64, true, true},
		{"16-bit 6 kHz (up)", 1, 6000, 16, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := withSilence(sine(700, tc.rate, tc.rate/2, 0.4), tc.rate, 200*time.Millisecond)
			chans := [][]float64{x}
			if tc.stereo {
				chans = append(chans, x)
			}
			frames, err := convert(t, noTools, wavFile(tc.format, tc.rate, tc.bits, tc.extensible, chans...))
			if err != nil {
				t.Fatal(err)
			}
			checkTone(t, frames, 700, 500*time.Millisecond)
		})
	}
}

// The resampler keeps a tone at its frequency and level, and removes what
// lies above 4 kHz instead of folding it into the telephone band.
func TestResampleTone(t *testing.T) {
	for _, rate := range []int{44100, 48000, 22050, 11025, 16000, 6000} {
		x := prompts.Resample(sine(1000, rate, rate, 0.5), rate, 8000)
		if len(x) != 8000 {
			t.Errorf("%d Hz: %d samples out for a second, want 8000", rate, len(x))
		}
		s := toInt16(x[1000:7000])
		if !hearing.DetectTone(s, 1000) {
			t.Errorf("%d Hz: the 1 kHz tone is gone", rate)
		}
		if lvl := media.ToneLevel(s, 1000); math.Abs(20*math.Log10(lvl/0.5)) > 0.2 {
			t.Errorf("%d Hz: the tone's level changed by %.2f dB", rate, 20*math.Log10(lvl/0.5))
		}
		// 3.3 kHz, the top of the telephone band, passes.
		hi := toInt16(prompts.Resample(sine(3300, rate, rate, 0.5), rate, 8000)[1000:7000])
		if rate > 6600 && !hearing.DetectTone(hi, 3300) {
			t.Errorf("%d Hz: 3.3 kHz does not pass", rate)
		}
	}
	// 6 kHz at 44.1 kHz would fold back to 2 kHz without the filter.
	alias := toInt16(prompts.Resample(sine(6000, 44100, 44100, 0.5), 44100, 8000)[1000:7000])
	if lvl := media.ToneLevel(alias, 2000); 20*math.Log10(lvl/0.5) > -60 {
		t.Errorf("6 kHz folds back to 2 kHz at %.1f dB, want under -60", 20*math.Log10(lvl/0.5))
	}
	// 4.2 kHz, just above the new Nyquist, is gone too.
	near := prompts.Resample(sine(4200, 48000, 48000, 0.5), 48000, 8000)[1000:7000]
	if rms := rmsDB(near); rms > -60 {
		t.Errorf("4.2 kHz comes through at %.1f dBFS, want under -60", rms)
	}
}

func toInt16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(max(-32768, min(32767, math.Round(v*32768))))
	}
	return out
}

func rmsDB(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return 10 * math.Log10(s/float64(len(x)))
}

func TestConvertRefuses(t *testing.T) {
	long := sine(500, 8000, 31*8000, 0.5)
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		says string
	}{
		{"empty", nil, prompts.ErrEmpty, "is empty"},
		{"no samples", wavFile(1, 8000, 16, false, []float64{}), prompts.ErrEmpty, "no audio"},
		{"silent", wavFile(1, 44100, 16, false, make([]float64, 44100)), prompts.ErrSilent, "silent"},
		{"hiss", wavFile(1, 8000, 16, false, sine(3000, 8000, 8000, 0.002)), prompts.ErrSilent, "silent"},
		{"too long", wavFile(1, 8000, 16, false, long), prompts.ErrTooLong, "31.0 s"},
		{"garbage", []byte("this is not audio at all, it is a text file\n"), prompts.ErrUnreadable, "not a sound file"},
		{"cut WAV", []byte("RIFF\x10\x00\x00\x00WAVEfmt \x10\x00"), prompts.ErrUnreadable, "damaged"},
		{"MP3 without a tool", append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), make([]byte, 400)...), prompts.ErrNeedsTool, "is MP3"},
		{"FLAC without a tool", append([]byte("fLaC"), make([]byte, 400)...), prompts.ErrNeedsTool, "apt-get install -y ffmpeg"},
		{"ADPCM WAV without a tool", wavFile(2, 8000, 4, false, make([]float64, 100)), prompts.ErrNeedsTool, "ADPCM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := convert(t, noTools, tc.data)
			var ae *prompts.AudioError
			if !errors.Is(err, tc.kind) || !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want %v saying %q", err, tc.kind, tc.says)
			}
		})
	}
}

// Formats other than WAV go through sox or ffmpeg when one is installed.
func TestConvertWithTool(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox is not installed")
	}
	dir := t.TempDir()
	in, flac := filepath.Join(dir, "in.wav"), filepath.Join(dir, "take 1.flac")
	x := withSilence(sine(1000, 44100, 44100/2, 0.5), 44100, 200*time.Millisecond)
	if err := os.WriteFile(in, wavFile(1, 44100, 16, false, x, x), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sox, in, flac).CombinedOutput(); err != nil {
		t.Skipf("sox cannot write FLAC here: %v: %s", err, out)
	}
	data, err := os.ReadFile(flac)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := (&prompts.Converter{Sox: sox}).Convert(context.Background(), "greeting", "take 1.flac", data)
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, frames, 1000, 500*time.Millisecond)

	// What the tool cannot read is refused in words.
	_, err = (&prompts.Converter{Sox: sox}).Convert(context.Background(), "greeting", "x.mp3",
		append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), make([]byte, 400)...))
	if !errors.Is(err, prompts.ErrUnreadable) || !strings.Contains(err.Error(), "could not be read by sox") {
		t.Errorf("a broken MP3: %v", err)
	}
}

// Preparing a prepared recording changes nothing a caller can hear, so
// what the phone plays back before "1 to keep" is what is kept.
func TestPrepareTwice(t *testing.T) {
	x := withSilence(sine(440, 8000, 8000, 0.2), 8000, time.Second)
	frames := make([]media.Frame, len(x)/media.FrameSamples)
	for i, v := range x[:len(frames)*media.FrameSamples] {
		frames[i/media.FrameSamples][i%media.FrameSamples] = int16(v * 32767)
	}
	once, err := prompts.Prepare("greeting", frames)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := prompts.Prepare("greeting", once)
	if err != nil {
		t.Fatal(err)
	}
	if len(once) != len(twice) {
		t.Fatalf("%d frames, then %d", len(once), len(twice))
	}
	a, b := media.Flatten(once), media.Flatten(twice)
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > 40 || d < -40 {
			t.Fatalf("sample %d: %d then %d", i, a[i], b[i])
		}
	}
}
