package media_test

import (
	"testing"

	"github.com/clubline/clubline/media"
)

// Reference pairs from ITU-T G.711 as implemented in the G.191 software
// tool library (cross-checked against the Sun Microsystems reference code
// for positive samples).
func TestG711ReferenceEncode(t *testing.T) {
	tests := []struct {
		in         int16
		ulaw, alaw byte
	}{
		{0, 0xFF, 0xD5},
		{1, 0xFF, 0xD5},
		{-1, 0x7F, 0x55}, // one's complement folding: negative zero
		{4, 0xFE, 0xD5},
		{-5, 0x7E, 0x55},
		{100, 0xF2, 0xD3},
		{-100, 0x73, 0x53},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
		{4000, 0xAF, 0x9A},
		{8000, 0xA0, 0x8A},
		{-8000, 0x20, 0x0A},
		{16000, 0x90, 0xBA},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
	}
	for _, tt := range tests {
		if got := media.EncodeULaw(tt.in); got != tt.ulaw {
			t.Errorf("EncodeULaw(%d) = %#02x, want %#02x", tt.in, got, tt.ulaw)
		}
		if got := media.EncodeALaw(tt.in); got != tt.alaw {
			t.Errorf("EncodeALaw(%d) = %#02x, want %#02x", tt.in, got, tt.alaw)
		}
	}
}

func TestG711ReferenceDecode(t *testing.T) {
	ulaw := map[byte]int16{0x00: -32124, 0x80: 32124, 0xFF: 0, 0x7F: 0, 0xFE: 8, 0x7E: -8,
		0xCE: 988, 0xF0: 120, 0xEF: 132}
	for code, want := range ulaw {
		if got := media.DecodeULaw(code); got != want {
			t.Errorf("DecodeULaw(%#02x) = %d, want %d", code, got, want)
		}
	}
	alaw := map[byte]int16{0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xFA: 1008, 0xD4: 24}
	for code, want := range alaw {
		if got := media.DecodeALaw(code); got != want {
			t.Errorf("DecodeALaw(%#02x) = %d, want %d", code, got, want)
		}
	}
}

// Every code survives decode then encode; for µ-law the negative zero
// (0x7F) comes back as the positive zero (0xFF).
func TestG711RoundTripAllCodes(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		want := c
		if c == 0x7F {
			want = 0xFF
		}
		if got := media.EncodeULaw(media.DecodeULaw(c)); got != want {
			t.Errorf("µ-law %#02x -> %d -> %#02x", c, media.DecodeULaw(c), got)
		}
		if got := media.EncodeALaw(media.DecodeALaw(c)); got != c {
			t.Errorf("A-law %#02x -> %d -> %#02x", c, media.DecodeALaw(c), got)
		}
	}
}

// The encoders match a literal transcription of the G.191 loops for every
// 16-bit sample, and the decoders the G.191 expansion for every code.
func TestG711MatchesG191(t *testing.T) {
	for i := -32768; i <= 32767; i++ {
		s := int16(i)
		if got, want := media.EncodeULaw(s), g191ULawCompress(s); got != want {
			t.Fatalf("EncodeULaw(%d) = %#02x, G.191 says %#02x", s, got, want)
		}
		if got, want := media.EncodeALaw(s), g191ALawCompress(s); got != want {
			t.Fatalf("EncodeALaw(%d) = %#02x, G.191 says %#02x", s, got, want)
		}
	}
	for i := range 256 {
		if got, want := media.DecodeULaw(byte(i)), g191ULawExpand(byte(i)); got != want {
			t.Errorf("DecodeULaw(%#02x) = %d, G.191 says %d", i, got, want)
		}
		if got, want := media.DecodeALaw(byte(i)), g191ALawExpand(byte(i)); got != want {
			t.Errorf("DecodeALaw(%#02x) = %d, G.191 says %d", i, got, want)
		}
	}
}

// Quantization is monotonic and its error stays within the step of the
// segment (about 1/16 of the magnitude, at least 16 near zero).
func TestG711QuantizationError(t *testing.T) {
	codecs := []struct {
		name   string
		encode func(int16) byte
		decode func(byte) int16
	}{
		{"PCMU", media.EncodeULaw, media.DecodeULaw},
		{"PCMA", media.EncodeALaw, media.DecodeALaw},
	}
	for _, c := range codecs {
		prev := int16(-32768)
		for i := -32768; i <= 32767; i++ {
			got := c.decode(c.encode(int16(i)))
			if got < prev {
				t.Fatalf("%s: not monotonic at %d: %d after %d", c.name, i, got, prev)
			}
			prev = got
			err := int(got) - i
			if err < 0 {
				err = -err
			}
			if limit := max(abs(i)/16, 16); abs(i) <= 32000 && err > limit {
				t.Fatalf("%s: %d -> %d, error %d > %d", c.name, i, got, err, limit)
			}
		}
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func g191ULawCompress(x int16) byte {
	var absno int
	if x < 0 {
		absno = int(^x)>>2 + 33
	} else {
		absno = int(x)>>2 + 33
	}
	if absno > 0x1FFF {
		absno = 0x1FFF
	}
	i := absno >> 6
	segno := 1
	for i != 0 {
		segno++
		i >>= 1
	}
	high := 8 - segno
	low := 0xF - (absno>>segno)&0xF
	v := high<<4 | low
	if x >= 0 {
		v |= 0x80
	}
	return byte(v)
}

func g191ALawCompress(x int16) byte {
	var ix int
	if x < 0 {
		ix = int(^x) >> 4
	} else {
		ix = int(x) >> 4
	}
	if ix > 15 {
		iexp := 1
		for ix > 16+15 {
			ix >>= 1
			iexp++
		}
		ix -= 16
		ix += iexp << 4
	}
	if x >= 0 {
		ix |= 0x80
	}
	return byte(ix ^ 0x55)
}

func g191ULawExpand(code byte) int16 {
	sign := 1
	if code < 0x80 {
		sign = -1
	}
	mantissa := int(^code)
	exponent := (mantissa >> 4) & 7
	segment := exponent + 1
	mantissa &= 0xF
	step := 4 << segment
	return int16(sign * (0x80<<exponent + step*mantissa + step/2 - 4*33))
}

func g191ALawExpand(code byte) int16 {
	ix := int(code^0x55) & 0x7F
	iexp := ix >> 4
	mant := ix & 0xF
	if iexp > 0 {
		mant += 16
	}
	mant = mant<<4 + 8
	if iexp > 1 {
		mant <<= iexp - 1
	}
	if code > 127 {
		return int16(mant)
	}
	return int16(-mant)
}

func TestCodecEncodeDecode(t *testing.T) {
	var f media.Frame
	for i := range f {
		f[i] = int16(i*100 - 8000)
	}
	for _, c := range []media.Codec{media.PCMU, media.PCMA} {
		prefix := []byte{1, 2, 3}
		out := c.Encode(prefix, &f)
		if len(out) != 3+media.FrameSamples || out[0] != 1 || out[2] != 3 {
			t.Fatalf("%v: Encode must append 160 bytes after the prefix, got %d bytes", c, len(out))
		}
		var back media.Frame
		c.Decode(&back, out[3:])
		for i := range f {
			if d := abs(int(back[i]) - int(f[i])); d > max(abs(int(f[i]))/16, 16) {
				t.Fatalf("%v: sample %d: %d -> %d", c, i, f[i], back[i])
			}
		}
		// A short payload leaves the rest silent.
		back[100] = 1234
		c.Decode(&back, out[3:13])
		if back[9] == 0 && f[9] != 0 || back[10] != 0 || back[159] != 0 {
			t.Fatalf("%v: short payload: got %d %d %d", c, back[9], back[10], back[159])
		}
	}
	// Encode into a buffer with room does not allocate.
	buf := make([]byte, 0, 200)
	if n := testing.AllocsPerRun(100, func() { buf = media.PCMU.Encode(buf[:0], &f) }); n != 0 {
		t.Errorf("Encode allocates %v times per frame", n)
	}
}

func BenchmarkEncodeULaw(b *testing.B) {
	var sink byte
	for i := 0; b.Loop(); i++ {
		sink ^= media.EncodeULaw(int16(i))
	}
	_ = sink
}

func BenchmarkDecodeULaw(b *testing.B) {
	var sink int16
	for i := 0; b.Loop(); i++ {
		sink ^= media.DecodeULaw(byte(i))
	}
	_ = sink
}

func BenchmarkCodecEncodeFrame(b *testing.B) {
	f := toneFrame(b, 1000, 8000)
	buf := make([]byte, 0, media.FrameSamples)
	b.SetBytes(media.FrameSamples * 2)
	for b.Loop() {
		buf = media.PCMA.Encode(buf[:0], &f)
	}
}

func toneFrame(tb testing.TB, freq float64, amp int16) media.Frame {
	tb.Helper()
	var f media.Frame
	if err := media.Tone(freq, media.FrameDuration, amp).ReadFrame(&f); err != nil {
		tb.Fatal(err)
	}
	return f
}
