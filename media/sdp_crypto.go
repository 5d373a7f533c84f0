package media

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// The a=crypto attribute (RFC 4568 §9) and what Answer and ParseAnswer do
// with it under each SRTPPolicy.
//
// Decisions:
//
//   - A crypto line is read strictly: a tag of 1 to 9 digits, a suite,
//     exactly one inline key of exactly the suite's length (base64 with
//     or without its padding). A line clubline cannot honour is skipped,
//     never half-used: an unknown suite, several keys (they need MKIs to
//     tell apart), a key lifetime under 2^31 packets (clubline cannot
//     re-key within a call, and 2^31 packets at 50 a second is 497 days),
//     KDR (key derivation rate; pion re-derives no keys), and the session
//     parameters that change the transform (UNENCRYPTED_SRTP,
//     UNAUTHENTICATED_SRTP, FEC_KEY) or are unknown without the "-" that
//     makes them optional (RFC 4568 §6.3.7). UNENCRYPTED_SRTCP,
//     UNAUTHENTICATED_SRTCP and FEC_ORDER concern RTCP and FEC, which
//     clubline never sends; WSH is a hint. These are ignored.
//   - The peer's MKI (RFC 4568 §6.1, "|value:length") is honoured: the
//     receiver expects it in every packet. clubline writes none of its
//     own, so its packets carry no MKI.
//   - Answer takes the first crypto line of the offer that it can honour
//     and answers with that line's tag and suite and its own key for the
//     suite (RFC 4568 §7.1.2).
//   - ParseAnswer takes the answer's crypto line only if its tag and
//     suite are a pair clubline offered. An answer may keep RTP/AVP or
//     say RTP/SAVP: what decides SRTP is its crypto line. An answer that
//     says RTP/SAVP without one, or none when we required SRTP, is an
//     error, never a silent fall-back to plain RTP.

// Errors of SRTP negotiation, wrapped with the reason; test them with
// errors.Is. Both map to SIP 488 with a Warning of their own. Each also
// matches ErrNoCommonCodec (the offer has no stream clubline can take),
// so a caller that knows only that one still answers 488: test these
// two first.
var (
	// ErrNoUsableCrypto: the stream must be SRTP (our policy is
	// SRTPRequired, or the offer is RTP/SAVP) and no a=crypto line has a
	// suite and key parameters clubline supports; or an answer's crypto
	// line does not match what we offered.
	ErrNoUsableCrypto = errors.New("media: no usable SRTP crypto attribute")
	// ErrSRTPNotEnabled: the offer's audio is RTP/SAVP only and our policy
	// is SRTPOff.
	ErrSRTPNotEnabled = errors.New("media: SRTP offered but not enabled")
)

const (
	protoAVP  = "RTP/AVP"
	protoSAVP = "RTP/SAVP"
	// minKeyLifetime: shorter lifetimes are refused (see Decisions).
	minKeyLifetime = 1 << 31
	maxMKILength   = 128 // RFC 4568 §9.2
)

// cryptoLine is a parsed a=crypto attribute value.
type cryptoLine struct {
	tag   string // as written (digits), echoed in the answer
	suite int    // index in srtpSuites
	key   []byte // master key || salt
	mki   []byte // nil: none
}

// errUnknownSuite marks a line that is well formed for all we know but
// names a suite clubline does not speak: skipped without complaint.
var errUnknownSuite = errors.New("crypto suite not supported")

// parseCrypto reads the value of an a=crypto attribute: "<tag> <suite>
// <key-params> [<session-params>]". Its errors never quote the key.
func parseCrypto(value string) (cryptoLine, error) {
	f := strings.Fields(value)
	if len(f) < 3 {
		return cryptoLine{}, errors.New("fewer than 3 fields")
	}
	var c cryptoLine
	if len(f[0]) > 9 || !allDigits(f[0]) {
		return cryptoLine{}, fmt.Errorf("tag %q is not 1 to 9 digits", clip(f[0]))
	}
	c.tag = f[0]
	if c.suite = suiteIndex(f[1]); c.suite < 0 {
		return cryptoLine{}, fmt.Errorf("%w: %q", errUnknownSuite, clip(f[1]))
	}
	if strings.Contains(f[2], ";") {
		return cryptoLine{}, errors.New("several keys (only one inline key is supported)")
	}
	method, info, ok := strings.Cut(f[2], ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return cryptoLine{}, errors.New("key method is not inline")
	}
	if err := c.parseKeyInfo(info); err != nil {
		return cryptoLine{}, err
	}
	for _, p := range f[3:] {
		if err := checkSessionParam(p); err != nil {
			return cryptoLine{}, err
		}
	}
	return c, nil
}

// parseKeyInfo reads "key-salt [|lifetime] [|mki:length]".
func (c *cryptoLine) parseKeyInfo(info string) error {
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return errors.New("inline key has more than 3 parts")
	}
	s := srtpSuites[c.suite]
	key, err := decodeKey(parts[0])
	if err != nil || len(key) != s.keyLen+s.saltLen {
		return fmt.Errorf("inline key is not %d bytes of base64 for %s", s.keyLen+s.saltLen, s.name)
	}
	c.key = key
	rest := parts[1:]
	if len(rest) > 0 && !strings.Contains(rest[0], ":") {
		if err := checkLifetime(rest[0]); err != nil {
			return err
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if c.mki, err = parseMKI(rest[0]); err != nil {
			return err
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return errors.New("inline key parts out of order (lifetime, then MKI)")
	}
	return nil
}

// decodeKey reads standard base64, with or without padding.
func decodeKey(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") { // the decoder would skip them
		return nil, errors.New("line break in key")
	}
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func checkLifetime(s string) error {
	var ok bool
	if exp, isPow := strings.CutPrefix(s, "2^"); isPow {
		n, err := strconv.Atoi(exp)
		ok = err == nil && allDigits(exp) && n >= 31
	} else {
		n, err := strconv.ParseUint(s, 10, 64)
		ok = err == nil && allDigits(s) && n >= minKeyLifetime
	}
	if !ok {
		return fmt.Errorf("key lifetime %q is not at least 2^31 packets", clip(s))
	}
	return nil
}

// parseMKI reads "value:length" into length big-endian bytes.
func parseMKI(s string) ([]byte, error) {
	v, l, _ := strings.Cut(s, ":")
	value, err1 := strconv.ParseUint(v, 10, 64)
	length, err2 := strconv.Atoi(l)
	if err1 != nil || err2 != nil || !allDigits(v) || !allDigits(l) || len(l) > 3 ||
		length < 1 || length > maxMKILength || (length < 8 && value>>(8*length) != 0) {
		return nil, fmt.Errorf("MKI %q is not value:length with 1 to %d bytes", clip(s), maxMKILength)
	}
	mki := make([]byte, length)
	for i := length - 1; i >= 0 && value != 0; i-- {
		mki[i] = byte(value)
		value >>= 8
	}
	return mki, nil
}

func checkSessionParam(p string) error {
	name, _, _ := strings.Cut(p, "=")
	switch {
	case strings.HasPrefix(p, "-"):
		return nil // optional extension (RFC 4568 §6.3.7)
	case name == "UNENCRYPTED_SRTCP" || name == "UNAUTHENTICATED_SRTCP" || name == "FEC_ORDER" || name == "WSH":
		return nil // RTCP, FEC or a hint: nothing clubline does changes
	case name == "KDR":
		return errors.New("session parameter KDR (key derivation rate) is not supported")
	default:
		return fmt.Errorf("session parameter %q is not supported", clip(name))
	}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cryptoValue writes the value of our a=crypto attribute.
func cryptoValue(tag string, suite int, key []byte) string {
	return tag + " " + srtpSuites[suite].name + " inline:" + base64.StdEncoding.EncodeToString(key)
}

// cryptoValues are the values of the a=crypto attributes of md, in order.
func cryptoValues(md *sdp.MediaDescription) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == "crypto" {
			out = append(out, a.Value)
		}
	}
	return out
}

// pickCrypto returns the first crypto line of an offered stream that
// clubline can honour, or why there is none.
func pickCrypto(md *sdp.MediaDescription) (cryptoLine, error) {
	lines := cryptoValues(md)
	if len(lines) == 0 {
		return cryptoLine{}, errors.New("the offer has no a=crypto line")
	}
	var last error
	for _, v := range lines {
		c, err := parseCrypto(v)
		if err == nil {
			return c, nil
		}
		last = err
	}
	return cryptoLine{}, fmt.Errorf("none of its %d a=crypto lines is usable (last: %v)", len(lines), last)
}

// answerSRTP decides SRTP for an offered audio stream: the crypto line
// to answer with (nil: plain RTP), or the error that refuses the stream.
func answerSRTP(md *sdp.MediaDescription, proto string, local Local) (*cryptoLine, error) {
	savp := proto == protoSAVP
	if local.SRTP == SRTPOff {
		if savp {
			return nil, srtpRefusal(ErrSRTPNotEnabled, "the audio stream is RTP/SAVP and clubline's SRTP is off")
		}
		return nil, nil // crypto lines of a best-effort offer are declined by leaving them out
	}
	c, err := pickCrypto(md)
	if err == nil {
		return &c, nil
	}
	if savp || local.SRTP == SRTPRequired {
		why := "clubline requires SRTP"
		if savp {
			why = "the stream is RTP/SAVP"
		}
		return nil, srtpRefusal(ErrNoUsableCrypto, "%s and %v (supported: %s, %s, %s with one inline key)", why, err,
			srtpSuites[0].name, srtpSuites[1].name, srtpSuites[2].name)
	}
	return nil, nil
}

// offerProto is the transport of Offer(local).
func offerProto(local Local) string {
	if local.SRTP == SRTPRequired {
		return protoSAVP
	}
	return protoAVP
}

// answerTransportOK: the answer's transport is the offer's, or either
// RTP transport when SRTP was offered (what decides is the crypto line).
func answerTransportOK(proto string, local Local) bool {
	if local.SRTP == SRTPOff {
		return proto == protoAVP
	}
	return proto == protoAVP || proto == protoSAVP
}

// offerCrypto are the values of the crypto lines of Offer(local): one per
// suite, tag i+1 for srtpSuites[i]. None when SRTP is off or there are no
// keys to write.
func offerCrypto(local Local) []string {
	if local.SRTP == SRTPOff || local.SRTPKeyring == nil {
		return nil
	}
	out := make([]string, len(srtpSuites))
	for i := range srtpSuites {
		out[i] = cryptoValue(strconv.Itoa(i+1), i, local.SRTPKeyring.key(i))
	}
	return out
}

// parseAnswerSRTP reads the SRTP outcome of an answer to Offer(local).
func parseAnswerSRTP(md *sdp.MediaDescription, proto string, local Local) (*SRTPKeys, error) {
	lines := cryptoValues(md)
	if local.SRTP == SRTPOff {
		return nil, nil // we offered none: crypto lines in the answer mean nothing
	}
	if len(lines) == 0 {
		switch {
		case proto == protoSAVP:
			return nil, srtpRefusal(ErrNoUsableCrypto, "the answer is RTP/SAVP without an a=crypto line")
		case local.SRTP == SRTPRequired:
			return nil, srtpRefusal(ErrNoUsableCrypto, "the answer has no a=crypto line and clubline requires SRTP")
		}
		return nil, nil // best effort declined: plain RTP
	}
	if len(lines) > 1 {
		return nil, srtpRefusal(ErrNoUsableCrypto, "the answer has %d a=crypto lines, RFC 4568 wants one", len(lines))
	}
	c, err := parseCrypto(lines[0])
	if err != nil {
		return nil, srtpRefusal(ErrNoUsableCrypto, "the answer's a=crypto line: %v", err)
	}
	tag, err := strconv.Atoi(c.tag)
	if err != nil || tag < 1 || tag > len(srtpSuites) || tag-1 != c.suite {
		return nil, srtpRefusal(ErrNoUsableCrypto, "the answer's a=crypto tag %s with %s is not one clubline offered",
			c.tag, srtpSuites[c.suite].name)
	}
	return c.keys(local), nil
}

// keys pairs the peer's key of c with ours for the same suite.
func (c cryptoLine) keys(local Local) *SRTPKeys {
	return &SRTPKeys{Suite: srtpSuites[c.suite].name,
		LocalKey:  append([]byte(nil), local.SRTPKeyring.key(c.suite)...),
		RemoteKey: c.key, RemoteMKI: c.mki}
}

// checkKeyring: a policy other than SRTPOff needs the dialog's keys.
func checkKeyring(local Local) error {
	if local.SRTP != SRTPOff && local.SRTPKeyring == nil {
		return fmt.Errorf("media: Local.SRTP is %v but Local.SRTPKeyring is nil (use NewSRTPKeyring once per dialog)", local.SRTP)
	}
	return nil
}

// srtpError is an SRTP refusal: its sentinel and ErrNoCommonCodec.
type srtpError struct {
	sentinel error
	msg      string
}

func (e *srtpError) Error() string   { return e.msg }
func (e *srtpError) Unwrap() []error { return []error{e.sentinel, ErrNoCommonCodec} }

func srtpRefusal(sentinel error, format string, args ...any) error {
	return &srtpError{sentinel: sentinel, msg: sentinel.Error() + ": " + fmt.Sprintf(format, args...)}
}
