package media

import (
	"strconv"
	"strings"
)

// ClockRate is the RTP clock rate of every codec clubline speaks.
const ClockRate = SampleRate

// Codec is an RTP audio payload format at 8000 Hz, one channel. clubline
// speaks G.711 only: a Codec whose Name is "PCMA" (any case) is A-law, any
// other is treated as µ-law (PCMU). PayloadType is the number on the wire:
// 0 and 8 are the static ones, but a peer may map G.711 to a dynamic number
// with a=rtpmap, and then that number is used.
type Codec struct {
	Name        string
	PayloadType uint8
}

// The two codecs clubline offers, in its order of preference.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0}
	PCMA = Codec{Name: "PCMA", PayloadType: 8}
)

// DefaultCodecs is what an empty Local.Codecs means.
var DefaultCodecs = []Codec{PCMU, PCMA}

// String returns "PCMU/8000 (0)" style text for logs and test messages.
func (c Codec) String() string {
	return c.Name + "/8000 (" + strconv.Itoa(int(c.PayloadType)) + ")"
}

func (c Codec) isALaw() bool { return strings.EqualFold(c.Name, "PCMA") }

// Encode appends one frame of G.711 (160 bytes) to dst and returns the
// extended slice. It allocates only when dst lacks the capacity.
func (c Codec) Encode(dst []byte, f *Frame) []byte {
	n := len(dst)
	if cap(dst)-n < FrameSamples {
		grown := make([]byte, n, n+FrameSamples)
		copy(grown, dst)
		dst = grown
	}
	out := dst[n : n+FrameSamples]
	if c.isALaw() {
		for i, s := range f {
			out[i] = alawEncode[uint16(s)>>4]
		}
	} else {
		for i, s := range f {
			out[i] = ulawEncode[uint16(s)>>2]
		}
	}
	return dst[:n+FrameSamples]
}

// Decode fills dst from a G.711 payload. A payload shorter than a frame
// leaves the rest of the frame silent; bytes beyond 160 are ignored.
func (c Codec) Decode(dst *Frame, payload []byte) {
	n := decodeG711(dst[:], payload, c.isALaw())
	clear(dst[n:])
}

// decodeG711 decodes min(len(dst), len(src)) samples and returns the count.
func decodeG711(dst []int16, src []byte, alaw bool) int {
	n := min(len(dst), len(src))
	table := &ulawDecode
	if alaw {
		table = &alawDecode
	}
	for i, b := range src[:n] {
		dst[i] = table[b]
	}
	return n
}

// silenceByte is the code of a zero sample.
func (c Codec) silenceByte() byte {
	if c.isALaw() {
		return 0xD5
	}
	return 0xFF
}
