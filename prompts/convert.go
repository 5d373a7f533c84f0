package prompts

// Decisions (reading what an admin uploads):
//   - WAV is read here, whatever is in it: linear PCM of 8, 16, 24 or 32
//     bits, 32- or 64-bit float, µ-law and A-law, plain or
//     WAVE_FORMAT_EXTENSIBLE, any sample rate, any number of channels
//     (mixed down to their mean), then resampled in Go (resample.go).
//     media.DecodeWAV stays strict: it reads what clubline itself wrote.
//   - Other formats (MP3, OGG, Opus, FLAC, M4A, AIFF, WebM...) are
//     recognized by their first bytes, not by the file's name, and decoded
//     by ffmpeg, else sox, when one is installed: a subprocess with its
//     arguments in a list (never a shell), input and output in a private
//     temporary folder, a time limit, its output capped at two minutes.
//     Without either, the error names the format and the fix.
//   - Limits: 64 MiB in, two minutes of audio in, under 30 s out once the
//     silence at the ends is trimmed (the built-in prompts' own limit).
//     An empty, silent or unreadable file is refused with a sentence an
//     admin can act on (AudioError).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/clubline/clubline/media"
)

// Limits of what a recording may be.
const (
	// MaxDuration: a prompt lasts less than this once trimmed.
	MaxDuration = 30 * time.Second
	// MaxUploadBytes bounds an uploaded file.
	MaxUploadBytes = 64 << 20
	// maxInput bounds the audio decoded from a file, before trimming.
	maxInput = 2 * time.Minute
)

// What is wrong with a recording, for errors.Is; the AudioError that
// carries one says it in words.
var (
	ErrEmpty      = errors.New("empty recording")
	ErrSilent     = errors.New("silent recording")
	ErrTooLong    = errors.New("recording too long")
	ErrUnreadable = errors.New("not audio clubline can read")
	ErrNeedsTool  = errors.New("format needs ffmpeg or sox")
)

// AudioError is a recording refused, in words an admin can act on.
type AudioError struct {
	Kind error // ErrEmpty, ErrSilent, ...
	Msg  string
}

func (e *AudioError) Error() string { return e.Msg }
func (e *AudioError) Unwrap() error { return e.Kind }

func audioErr(kind error, format string, args ...any) *AudioError {
	return &AudioError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Converter turns uploaded audio into a prompt.
type Converter struct {
	// FFmpeg and Sox are the programs that decode formats other than WAV;
	// "" for none. ffmpeg is tried first: it reads more formats.
	FFmpeg, Sox string
	// Timeout bounds one run of either; zero: one minute.
	Timeout time.Duration
}

// FindConverter returns a Converter with the ffmpeg and sox found in PATH.
func FindConverter() *Converter {
	c := &Converter{}
	if p, err := exec.LookPath("ffmpeg"); err == nil {
		c.FFmpeg = p
	}
	if p, err := exec.LookPath("sox"); err == nil {
		c.Sox = p
	}
	return c
}

// Convert reads an uploaded recording (filename is its name as uploaded,
// for messages and as a hint to the decoder) and returns it as callers
// will hear it as prompt: 8 kHz mono, trimmed, at the level of the
// built-in prompts. A refusal is an *AudioError.
func (cv *Converter) Convert(ctx context.Context, prompt, filename string, data []byte) ([]media.Frame, error) {
	x, rate, err := cv.decode(ctx, filename, data)
	if err != nil {
		return nil, err
	}
	y, err := prepare(prompt, resample(x, rate, media.SampleRate))
	if err != nil {
		return nil, err
	}
	return toFrames(y), nil
}

// Prepare returns a recording made at 8 kHz (by phone) as callers will
// hear it as prompt, or an *AudioError saying why it cannot be one.
// Preparing a prepared recording again changes nothing a caller can hear.
func Prepare(prompt string, frames []media.Frame) ([]media.Frame, error) {
	y, err := prepare(prompt, fromFrames(frames))
	if err != nil {
		return nil, err
	}
	return toFrames(y), nil
}

func prepare(prompt string, x []float64) ([]float64, error) {
	if len(x) == 0 {
		return nil, audioErr(ErrEmpty, "the recording holds no audio: record it again")
	}
	sh := recordedSpeech
	if r, ok := recordable(prompt); ok && r.Music {
		sh = recordedMusic
	}
	y := sh.shape(x)
	if y == nil {
		return nil, audioErr(ErrSilent, "the recording is silent: nothing in it is louder than background noise; "+
			"check the microphone (or that the phone is not on mute) and record it again")
	}
	if duration(len(y)) >= MaxDuration {
		return nil, audioErr(ErrTooLong, "the recording lasts %.1f s without the silence at its ends; "+
			"a prompt must last under %d s: say it in fewer words, or cut it", duration(len(y)-sh.gap).Seconds(), int(MaxDuration.Seconds()))
	}
	return y, nil
}

// decode reads data into mono samples (full scale 1) and their rate.
func (cv *Converter) decode(ctx context.Context, filename string, data []byte) ([]float64, int, error) {
	switch {
	case len(data) == 0:
		return nil, 0, audioErr(ErrEmpty, "%s is empty: upload the recording again", theFile(filename))
	case len(data) > MaxUploadBytes:
		return nil, 0, audioErr(ErrTooLong, "%s is %d MB; a prompt's file is at most %d MB (and under %d s): cut it, or export it as MP3",
			theFile(filename), len(data)>>20, MaxUploadBytes>>20, int(MaxDuration.Seconds()))
	}
	kind := sniff(data)
	if kind == "WAV" {
		x, rate, err := parseWAV(data)
		var enc *wavEncodingError
		if !errors.As(err, &enc) {
			return x, rate, err
		}
		kind = "WAV (" + enc.what + ")"
	}
	if cv == nil || (cv.FFmpeg == "" && cv.Sox == "") {
		if kind == "" {
			return nil, 0, audioErr(ErrUnreadable, "%s is not a sound file clubline recognizes: upload a WAV recording (ffmpeg on the server would also read MP3, OGG, FLAC, M4A…)",
				theFile(filename))
		}
		return nil, 0, audioErr(ErrNeedsTool, "%s is %s: clubline reads WAV itself, and other formats with ffmpeg or sox, "+
			"neither of which is installed on the server: install one (apt-get install -y ffmpeg), or export the recording as WAV and upload that",
			theFile(filename), kind)
	}
	return cv.viaTool(ctx, kind, filename, data)
}

// theFile names an uploaded file in a message: the file "take 2.mp3".
func theFile(filename string) string {
	if filename == "" {
		return "the uploaded file"
	}
	return fmt.Sprintf("the file %q", filepath.Base(filename))
}

// sniff names the format of data from its first bytes; "" when unknown.
func sniff(b []byte) string {
	has := func(at int, s string) bool { return len(b) >= at+len(s) && string(b[at:at+len(s)]) == s }
	switch {
	case has(0, "RIFF") && has(8, "WAVE"):
		return "WAV"
	case has(0, "RF64") || has(0, "BW64"):
		return "WAV (RF64)"
	case has(0, "ID3"):
		return "MP3"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xF6 == 0xF0:
		return "AAC"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return "MP3"
	case has(0, "OggS"):
		if bytes.Contains(b[:min(len(b), 128)], []byte("OpusHead")) {
			return "Opus"
		}
		return "OGG"
	case has(0, "fLaC"):
		return "FLAC"
	case has(4, "ftyp"):
		return "M4A"
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return "AIFF"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "WebM"
	case has(0, "#!AMR"):
		return "AMR"
	case has(0, ".snd"):
		return "AU"
	case has(0, "caff"):
		return "CAF"
	}
	return ""
}

// extensions are the file name endings sox needs to know a format.
var extensions = map[string]string{
	"MP3": "mp3", "AAC": "aac", "OGG": "ogg", "Opus": "opus", "FLAC": "flac", "M4A": "m4a",
	"AIFF": "aiff", "WebM": "webm", "AMR": "amr", "AU": "au", "CAF": "caf",
}

var safeExt = regexp.MustCompile(`^[a-z0-9]{1,5}$`)

// viaTool decodes data with ffmpeg, else sox, into 16-bit mono WAV, then
// reads that.
func (cv *Converter) viaTool(ctx context.Context, kind, filename string, data []byte) ([]float64, int, error) {
	ext := extensions[kind]
	if strings.HasPrefix(kind, "WAV") {
		ext = "wav"
	}
	if ext == "" {
		ext = strings.ToLower(strings.TrimPrefix(filepath.Ext(filename), "."))
		if !safeExt.MatchString(ext) {
			ext = "bin"
		}
	}
	dir, err := os.MkdirTemp("", "clubline-convert-")
	if err != nil {
		return nil, 0, fmt.Errorf("converting %s: %w", theFile(filename), err)
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in."+ext), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, 0, fmt.Errorf("converting %s: %w", theFile(filename), err)
	}
	limit := fmt.Sprint(int(maxInput.Seconds()))
	tool, args := cv.FFmpeg, []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-i", in, "-t", limit, "-vn", "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", out}
	if tool == "" {
		tool, args = cv.Sox, []string{"-V1", in, "-c", "1", "-e", "signed-integer", "-b", "16", "-t", "wav", out, "trim", "0", limit}
	}
	timeout := cv.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, tool, args...)
	cmd.WaitDelay = time.Second
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		name := filepath.Base(tool)
		what := kind
		if what == "" {
			what = "in a format clubline does not recognize"
		}
		if tctx.Err() != nil {
			return nil, 0, audioErr(ErrUnreadable, "%s (%s) took more than %s to convert with %s: upload a shorter recording, or a WAV",
				theFile(filename), what, timeout, name)
		}
		fix := "export the recording as WAV and upload that"
		if cv.FFmpeg == "" {
			fix = "install ffmpeg (apt-get install -y ffmpeg), which reads more formats than sox, or " + fix
		}
		return nil, 0, audioErr(ErrUnreadable, "%s (%s) could not be read by %s (%s): %s",
			theFile(filename), what, name, stderr.firstLine(err), fix)
	}
	info, err := os.Stat(out)
	if err != nil {
		return nil, 0, fmt.Errorf("converting %s: %w", theFile(filename), err)
	}
	if info.Size() > MaxUploadBytes {
		return nil, 0, audioErr(ErrTooLong, "%s decodes to more than %d MB of audio: cut it to under %d s",
			theFile(filename), MaxUploadBytes>>20, int(MaxDuration.Seconds()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, 0, fmt.Errorf("converting %s: %w", theFile(filename), err)
	}
	x, rate, err := parseWAV(b)
	if err != nil {
		return nil, 0, fmt.Errorf("converting %s with %s: %w", theFile(filename), filepath.Base(tool), err)
	}
	return x, rate, nil
}

// limitedBuffer keeps the first 4 KiB written to it: a tool's error.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) firstLine(err error) string {
	line, _, _ := strings.Cut(strings.TrimSpace(b.String()), "\n")
	if line == "" {
		return err.Error()
	}
	return line
}

// WAV format tags.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavALaw       = 6
	wavMuLaw      = 7
	wavExtensible = 0xFFFE
)

// wavEncodingError is a WAV file holding audio clubline does not decode
// itself (ADPCM, MP3 in WAV...), which a tool may.
type wavEncodingError struct{ what string }

func (e *wavEncodingError) Error() string { return "WAV file in " + e.what }

// parseWAV reads a WAV file of any common encoding into mono samples (the
// mean of its channels, full scale 1) and their rate. A data chunk that
// claims more than the file holds (a stream written to a pipe, a file cut
// short) gives what there is.
func parseWAV(b []byte) ([]float64, int, error) {
	damaged := func(why string) error {
		return audioErr(ErrUnreadable, "the WAV file is damaged (%s): export it again", why)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, damaged("no RIFF/WAVE header")
	}
	le := binary.LittleEndian
	var fmtChunk, data []byte
	haveData := false
	for pos := 12; pos+8 <= len(b) && (fmtChunk == nil || !haveData); {
		id, size := string(b[pos:pos+4]), int64(le.Uint32(b[pos+4:]))
		body := b[pos+8:]
		if size < int64(len(body)) {
			body = body[:size]
		}
		switch {
		case id == "fmt " && fmtChunk == nil:
			fmtChunk = body
		case id == "data" && !haveData:
			data, haveData = body, true
		}
		next := int64(pos) + 8 + size + size%2
		if next > int64(len(b)) {
			break
		}
		pos = int(next)
	}
	if len(fmtChunk) < 16 {
		return nil, 0, damaged("no format chunk")
	}
	if !haveData {
		return nil, 0, damaged("no audio data chunk")
	}
	format, channels := int(le.Uint16(fmtChunk)), int(le.Uint16(fmtChunk[2:]))
	rate, bits := int(le.Uint32(fmtChunk[4:])), int(le.Uint16(fmtChunk[14:]))
	if format == wavExtensible {
		if len(fmtChunk) < 26 {
			return nil, 0, damaged("an extensible format chunk cut short")
		}
		format = int(le.Uint16(fmtChunk[24:])) // the sub-format GUID's first two bytes
	}
	switch {
	case channels < 1 || channels > 16:
		return nil, 0, damaged(fmt.Sprintf("%d channels", channels))
	case rate < 1000 || rate > 768000:
		return nil, 0, damaged(fmt.Sprintf("a sample rate of %d Hz", rate))
	}
	size := (bits + 7) / 8
	var sample func(p []byte) float64
	switch {
	case format == wavPCM && size == 1:
		sample = func(p []byte) float64 { return (float64(p[0]) - 128) / 128 }
	case format == wavPCM && size == 2:
		sample = func(p []byte) float64 { return float64(int16(le.Uint16(p))) / 32768 }
	case format == wavPCM && size == 3:
		sample = func(p []byte) float64 {
			return float64(int32(uint32(p[0])<<8|uint32(p[1])<<16|uint32(p[2])<<24)>>8) / (1 << 23)
		}
	case format == wavPCM && size == 4:
		sample = func(p []byte) float64 { return float64(int32(le.Uint32(p))) / (1 << 31) }
	case format == wavFloat && size == 4:
		sample = func(p []byte) float64 { return finite(float64(math.Float32frombits(le.Uint32(p)))) }
	case format == wavFloat && size == 8:
		sample = func(p []byte) float64 { return finite(math.Float64frombits(le.Uint64(p))) }
	case format == wavMuLaw && size == 1:
		sample = func(p []byte) float64 { return float64(media.DecodeULaw(p[0])) / 32768 }
	case format == wavALaw && size == 1:
		sample = func(p []byte) float64 { return float64(media.DecodeALaw(p[0])) / 32768 }
	default:
		return nil, 0, &wavEncodingError{what: wavEncoding(format, bits)}
	}
	frame := size * channels
	n := len(data) / frame
	if duration(n*media.SampleRate/rate) > maxInput {
		return nil, 0, audioErr(ErrTooLong, "the recording lasts %s; a prompt must last under %d s: cut it",
			(time.Duration(n) * time.Second / time.Duration(rate)).Round(time.Second), int(MaxDuration.Seconds()))
	}
	x := make([]float64, n)
	for i := range x {
		p := data[i*frame:]
		var sum float64
		for c := 0; c < channels; c++ {
			sum += sample(p[c*size:])
		}
		x[i] = sum / float64(channels)
	}
	return x, rate, nil
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func wavEncoding(format, bits int) string {
	switch format {
	case 2, 0x11:
		return "ADPCM"
	case 0x50, 0x55:
		return "MPEG audio"
	case 0x31:
		return "GSM 6.10"
	case wavPCM:
		return fmt.Sprintf("%d-bit linear PCM", bits)
	case wavFloat:
		return fmt.Sprintf("%d-bit floating point", bits)
	}
	return fmt.Sprintf("encoding %#x, %d bits", format, bits)
}
