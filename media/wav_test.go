package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
)

// testFrames returns n frames of a deterministic signal that uses the whole
// int16 range, so byte order and sign mistakes show.
func testFrames(n int) []media.Frame {
	frames := make([]media.Frame, n)
	v := uint32(12345)
	for i := range frames {
		for j := range frames[i] {
			v = v*1664525 + 1013904223
			frames[i][j] = int16(v >> 16)
		}
	}
	return frames
}

// wavFile builds a WAV file with the given fmt fields, optional chunks
// placed before the data chunk, and raw data.
func wavFile(rate, channels, bits, format int, data []byte, extra ...[]byte) []byte {
	le := binary.LittleEndian
	var body []byte
	body = append(body, "WAVEfmt "...)
	body = le.AppendUint32(body, 16)
	body = le.AppendUint16(body, uint16(format))
	body = le.AppendUint16(body, uint16(channels))
	body = le.AppendUint32(body, uint32(rate))
	body = le.AppendUint32(body, uint32(rate*channels*bits/8))
	body = le.AppendUint16(body, uint16(channels*bits/8))
	body = le.AppendUint16(body, uint16(bits))
	for _, c := range extra {
		body = append(body, c...)
	}
	body = append(body, "data"...)
	body = le.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	out := append([]byte("RIFF"), le.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func samplesLE(s ...int16) []byte {
	var b []byte
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func decodeFile(t *testing.T, path string) []media.Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frames, err := media.DecodeWAV(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return frames
}

func record(t *testing.T, path string, frames []media.Frame) *media.WAVRecorder {
	t.Helper()
	rec, err := media.CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := rec.WriteFrame(&frames[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	return rec
}

func equalFrames(t *testing.T, got, want []media.Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestRecordDecodeRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 49, 50, 51, 123} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rec.wav")
			want := testFrames(n)
			rec := record(t, path, want)
			if got := rec.Samples(); got != n*media.FrameSamples {
				t.Errorf("Samples() = %d, want %d", got, n*media.FrameSamples)
			}
			if got, wantD := rec.Duration(), time.Duration(n)*media.FrameDuration; got != wantD {
				t.Errorf("Duration() = %v, want %v", got, wantD)
			}
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if size := int64(44 + n*media.FrameSamples*2); fi.Size() != size {
				t.Errorf("file size %d, want %d", fi.Size(), size)
			}
			equalFrames(t, decodeFile(t, path), want)
		})
	}
}

func TestRecorderHeaderIsCanonical(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	rec := record(t, path, testFrames(3))
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := wavFile(8000, 1, 16, 1, nil)
	binary.LittleEndian.PutUint32(want[4:], 36+960)
	binary.LittleEndian.PutUint32(want[40:], 960)
	if !bytes.Equal(b[:44], want) {
		t.Errorf("header\n got %x\nwant %x", b[:44], want)
	}
}

// TestRecorderSurvivesKill records in a child process that kills itself
// without calling Close, then checks that the file decodes up to the last
// once-a-second header update.
func TestRecorderSurvivesKill(t *testing.T) {
	if path := os.Getenv("CLUBLINE_WAV_KILL_PATH"); path != "" {
		n, _ := strconv.Atoi(os.Getenv("CLUBLINE_WAV_KILL_FRAMES"))
		rec, err := media.CreateWAV(path)
		if err != nil {
			os.Exit(3)
		}
		frames := testFrames(n)
		for i := range frames {
			if rec.WriteFrame(&frames[i]) != nil {
				os.Exit(4)
			}
		}
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		time.Sleep(time.Minute)
		os.Exit(5) // not reached
	}

	path := filepath.Join(t.TempDir(), "killed.wav")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecorderSurvivesKill$")
	cmd.Env = append(os.Environ(), "CLUBLINE_WAV_KILL_PATH="+path, "CLUBLINE_WAV_KILL_FRAMES=130")
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || (exit.ExitCode() >= 3 && exit.ExitCode() <= 5) {
		t.Fatalf("child should be killed after recording, got %v", err)
	}
	// 130 frames = 2.6 s: headers were updated at 1 s and 2 s.
	equalFrames(t, decodeFile(t, path), testFrames(100))
}

func TestRecorderWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "open.wav")
	all := testFrames(175)

	rec := record(t, path, all[:40])
	if got := decodeFile(t, path); len(got) != 0 {
		t.Errorf("before the first update: %d frames, want 0", len(got))
	}
	for i := 40; i < 175; i++ {
		if err := rec.WriteFrame(&all[i]); err != nil {
			t.Fatal(err)
		}
		if i+1 == 50 || i+1 == 75 || i+1 == 150 {
			want := (i + 1) / 50 * 50
			equalFrames(t, decodeFile(t, path), all[:want])
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	equalFrames(t, decodeFile(t, path), all)
	if err := rec.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := rec.WriteFrame(&all[0]); err == nil {
		t.Error("WriteFrame after Close should fail")
	}
}

func TestRecorderReadableBySox(t *testing.T) {
	soxi, err := exec.LookPath("soxi")
	if err != nil {
		t.Skip("soxi not installed")
	}
	path := filepath.Join(t.TempDir(), "rec.wav")
	rec := record(t, path, testFrames(75))
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(soxi, "-s", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "12000" {
		t.Errorf("soxi -s = %s, want 12000", got)
	}
}

func TestRecordingIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "rec.wav")
	if err := record(t, path, testFrames(1)).Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("recording has mode %v, want no access for group and others", perm)
	}
}

func TestCreateWAVError(t *testing.T) {
	_, err := media.CreateWAV(filepath.Join(t.TempDir(), "no", "such", "dir.wav"))
	if err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

func TestDecodePadsLastFrame(t *testing.T) {
	s := make([]int16, 200)
	for i := range s {
		s[i] = int16(i + 1)
	}
	frames, err := media.DecodeWAV(bytes.NewReader(wavFile(8000, 1, 16, 1, samplesLE(s...))))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 {
		t.Fatalf("got %d frames, want 2", len(frames))
	}
	if frames[0][0] != 1 || frames[0][159] != 160 || frames[1][0] != 161 || frames[1][39] != 200 {
		t.Errorf("samples out of place: %v %v", frames[0][:2], frames[1][:2])
	}
	for i := 40; i < media.FrameSamples; i++ {
		if frames[1][i] != 0 {
			t.Fatalf("padding sample %d = %d, want 0", i, frames[1][i])
		}
	}
}

func TestDecodeStereoDownmix(t *testing.T) {
	data := samplesLE(1000, 3000, -32768, -32768, 32767, 32767, -4, 2)
	frames, err := media.DecodeWAV(bytes.NewReader(wavFile(8000, 2, 16, 1, data)))
	if err != nil {
		t.Fatal(err)
	}
	want := [4]int16{2000, -32768, 32767, -1}
	if len(frames) != 1 || [4]int16(frames[0][:4]) != want {
		t.Errorf("got %v, want %v", frames[0][:4], want)
	}
}

func TestDecodeSkipsOtherChunks(t *testing.T) {
	list := append([]byte("LIST"), binary.LittleEndian.AppendUint32(nil, 10)...)
	list = append(list, "INFOabcdef"...)
	fact := append([]byte("fact"), binary.LittleEndian.AppendUint32(nil, 4)...)
	fact = binary.LittleEndian.AppendUint32(fact, 3)
	frames, err := media.DecodeWAV(bytes.NewReader(wavFile(8000, 1, 16, 1, samplesLE(7, 8, 9), list, fact)))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1 || frames[0][0] != 7 || frames[0][2] != 9 {
		t.Errorf("got %v", frames)
	}
}

// A prompt file's chunk sizes are claims, not allocations: go-audio/wav
// allocated 8 GiB, for most of a minute, for a 48-byte file whose LIST
// chunk claimed 4 GiB (found by FuzzDecodeWAV, issue 7).
func TestDecodeHugeChunkClaims(t *testing.T) {
	le := binary.LittleEndian
	chunk := func(id string, size uint32, body string) []byte {
		return append(le.AppendUint32([]byte(id), size), body...)
	}
	ok := wavFile(8000, 1, 16, 1, samplesLE(7, 8, 9))
	fmtOnly := ok[:36]
	tests := []struct {
		name   string
		file   []byte
		frames int // 0: an error is expected
	}{
		{"LIST claims 4 GiB", append(bytes.Clone(fmtOnly), chunk("LIST", 0xFFFFFFF0, "INFO")...), 0},
		{"smpl before fmt claims 4 GiB", append(append([]byte("RIFF\x00\x00\x00\x00WAVE"),
			chunk("smpl", 0xFFFFFFF0, "")...), ok[12:]...), 0},
		{"fmt claims 4 GiB", append(append([]byte("RIFF\x00\x00\x00\x00WAVE"),
			chunk("fmt ", 0xFFFFFFF0, string(ok[20:36]))...), ok[36:]...), 0},
		{"an INFO entry claims 4 GiB", wavFile(8000, 1, 16, 1, samplesLE(7, 8, 9),
			chunk("LIST", 12, "INFOINAM\xf0\xff\xff\xff")), 1},
		{"data claims 4 GiB", append(bytes.Clone(fmtOnly), chunk("data", 0xFFFFFFF0, string(samplesLE(7, 8)))...), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			frames, err := media.DecodeWAV(bytes.NewReader(tt.file))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("decoding %d bytes allocated %d bytes", len(tt.file), alloc)
			}
			if tt.frames == 0 && err == nil {
				t.Errorf("decoded %d frames from a damaged file, want an error", len(frames))
			}
			if tt.frames > 0 && (err != nil || len(frames) != tt.frames || frames[0][0] != 7) {
				t.Errorf("got %d frames, %v; want %d starting with sample 7", len(frames), err, tt.frames)
			}
		})
	}
}

func TestDecodeFormatErrors(t *testing.T) {
	tests := []struct {
		rate, channels, bits, format int
		says                         string
	}{
		{44100, 2, 16, 1, "44100 Hz stereo 16-bit linear PCM"},
		{16000, 1, 16, 1, "16000 Hz mono 16-bit"},
		{8000, 1, 8, 1, "8000 Hz mono 8-bit"},
		{8000, 1, 8, 6, "A-law"},
		{8000, 1, 8, 7, "µ-law"},
		{8000, 1, 32, 3, "floating point"},
		{8000, 6, 16, 1, "6 channels"},
	}
	for _, tt := range tests {
		t.Run(tt.says, func(t *testing.T) {
			data := make([]byte, 64*tt.channels*tt.bits/8)
			_, err := media.DecodeWAV(bytes.NewReader(wavFile(tt.rate, tt.channels, tt.bits, tt.format, data)))
			var fe *media.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *media.FormatError", err)
			}
			if fe.Rate != tt.rate || fe.Channels != tt.channels || fe.Bits != tt.bits || fe.AudioFormat != tt.format {
				t.Errorf("fields %+v", *fe)
			}
			msg := err.Error()
			for _, s := range []string{tt.says, "8000 Hz mono 16-bit", "sox in.wav -r 8000 -c 1 -b 16 out.wav"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
		})
	}
}

func TestFormatErrorSoxCommand(t *testing.T) {
	fe := &media.FormatError{Rate: 44100, Channels: 2, Bits: 16, AudioFormat: 1}
	tests := []struct{ in, out, want string }{
		{"/srv/p/fr/greeting.wav", "/tmp/g.wav", "sox /srv/p/fr/greeting.wav -r 8000 -c 1 -b 16 /tmp/g.wav"},
		{"my file's.wav", "out.wav", `sox 'my file'\''s.wav' -r 8000 -c 1 -b 16 out.wav`},
	}
	for _, tt := range tests {
		if got := fe.SoxCommand(tt.in, tt.out); got != tt.want {
			t.Errorf("SoxCommand(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDecodeNotWAV(t *testing.T) {
	inputs := map[string][]byte{
		"empty":     nil,
		"text":      []byte("this is not a wav file at all, not even close"),
		"no fmt":    append([]byte("RIFF\x04\x00\x00\x00"), "WAVE"...),
		"truncated": wavFile(8000, 1, 16, 1, samplesLE(1, 2))[:30],
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := media.DecodeWAV(bytes.NewReader(b))
			if err == nil {
				t.Fatal("want an error")
			}
			var fe *media.FormatError
			if errors.As(err, &fe) {
				t.Errorf("got a FormatError for a file that is not a WAV: %v", err)
			}
		})
	}
}

func TestFramesSource(t *testing.T) {
	frames := testFrames(3)
	src := media.NewFramesSource(frames)
	var _ media.Source = src
	if src.Len() != 3 {
		t.Errorf("Len() = %d", src.Len())
	}
	for pass := 0; pass < 2; pass++ {
		var got []media.Frame
		var f media.Frame
		for {
			err := src.ReadFrame(&f)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f)
		}
		equalFrames(t, got, frames)
		src.Rewind()
	}
}

func TestFramesSourceDoesNotAllocate(t *testing.T) {
	src := media.NewFramesSource(testFrames(10))
	var f media.Frame
	allocs := testing.AllocsPerRun(100, func() {
		if src.ReadFrame(&f) == io.EOF {
			src.Rewind()
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

func TestRecorderWriteAllocations(t *testing.T) {
	rec, err := media.CreateWAV(filepath.Join(t.TempDir(), "a.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	f := testFrames(1)[0]
	allocs := testing.AllocsPerRun(200, func() {
		if err := rec.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

func ExampleFormatError() {
	wav := make([]byte, 44)
	copy(wav, "RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\x00\x00\x00\x00")
	_, err := media.DecodeWAV(bytes.NewReader(wav))
	fmt.Println(err)
	// Output: WAV file is 44100 Hz stereo 16-bit linear PCM; clubline needs 8000 Hz mono 16-bit linear PCM; convert it with: sox in.wav -r 8000 -c 1 -b 16 out.wav
}
