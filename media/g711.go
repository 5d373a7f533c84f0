package media

import "math/bits"

// G.711 (ITU-T, 1988) companding, following the ITU-T G.191 software tool
// library: negative samples are folded with a one's complement, so -1
// encodes to the negative zero code. All four directions are table lookups;
// the tables are built once at start-up from the segment arithmetic below.

var (
	ulawDecode [256]int16
	alawDecode [256]int16
	// ulawEncode is indexed by the 14 most significant bits of the sample,
	// alawEncode by the 12 most significant bits: G.711 ignores the rest.
	ulawEncode [1 << 14]byte
	alawEncode [1 << 12]byte
)

func init() {
	for i := range 256 {
		ulawDecode[i] = ulawExpand(byte(i))
		alawDecode[i] = alawExpand(byte(i))
	}
	for i := range len(ulawEncode) {
		ulawEncode[i] = ulawCompress(int16(uint16(i) << 2))
	}
	for i := range len(alawEncode) {
		alawEncode[i] = alawCompress(int16(uint16(i) << 4))
	}
}

// EncodeULaw compresses a 16-bit linear sample to a µ-law (PCMU) code.
func EncodeULaw(s int16) byte { return ulawEncode[uint16(s)>>2] }

// DecodeULaw expands a µ-law (PCMU) code to a 16-bit linear sample.
func DecodeULaw(b byte) int16 { return ulawDecode[b] }

// EncodeALaw compresses a 16-bit linear sample to an A-law (PCMA) code.
func EncodeALaw(s int16) byte { return alawEncode[uint16(s)>>4] }

// DecodeALaw expands an A-law (PCMA) code to a 16-bit linear sample.
func DecodeALaw(b byte) int16 { return alawDecode[b] }

// ulawCompress is the G.711 µ-law encoder on a 16-bit sample (14 bits used).
func ulawCompress(s int16) byte {
	var mag int // 14-bit magnitude, biased by 33
	if s < 0 {
		mag = int(^s)>>2 + 33
	} else {
		mag = int(s)>>2 + 33
	}
	mag = min(mag, 0x1FFF)
	seg := bits.Len(uint(mag>>6)) + 1 // 1..8: position of the leading one
	code := byte(8-seg)<<4 | byte(0xF-(mag>>seg)&0xF)
	if s >= 0 {
		code |= 0x80
	}
	return code
}

// ulawExpand is the G.711 µ-law decoder; the result is left-justified in
// 16 bits (the 14-bit value times 4).
func ulawExpand(code byte) int16 {
	inv := ^code
	exp := int(inv>>4) & 7
	mant := int(inv) & 0xF
	step := 4 << (exp + 1)
	v := 0x80<<exp + step*mant + step/2 - 4*33
	if code < 0x80 {
		v = -v
	}
	return int16(v)
}

// alawCompress is the G.711 A-law encoder on a 16-bit sample (12 bits used).
func alawCompress(s int16) byte {
	var mag int // 11-bit magnitude
	if s < 0 {
		mag = int(^s) >> 4
	} else {
		mag = int(s) >> 4
	}
	code := mag
	if mag > 0xF {
		exp := bits.Len(uint(mag)) - 4 // 1..7
		code = exp<<4 | (mag>>(exp-1))&0xF
	}
	if s >= 0 {
		code |= 0x80
	}
	return byte(code) ^ 0x55
}

// alawExpand is the G.711 A-law decoder; the result is left-justified in
// 16 bits (the 13-bit value times 8).
func alawExpand(code byte) int16 {
	x := int(code^0x55) & 0x7F
	exp := x >> 4
	mant := x & 0xF
	if exp > 0 {
		mant += 16
	}
	v := mant<<4 + 8
	if exp > 1 {
		v <<= exp - 1
	}
	if code^0x55 < 0x80 {
		v = -v
	}
	return int16(v)
}
