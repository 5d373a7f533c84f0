package media_test

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clubline/clubline/media"
)

// Fuzz targets for the SDP a caller or a staff phone sends. Seeds come
// from f.Add and from testdata/fuzz/<target>/, which holds the SDPs of
// issue 7's finding 11 and what earlier runs found worth keeping.
// Run one with: go test -run='^$' -fuzz='^FuzzAnswer$' -fuzztime=60s ./media/

// sdpSeeds are real offers and the odd ones of finding 11.
func sdpSeeds() []string {
	held := strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0", 1)
	return []string{
		asteriskOffer, crlf(freeswitchOffer), trunkOffer, gatewayOffer, "v=0\n", "",
		strings.Replace(asteriskOffer, "192.0.2.10\nt=", "224.0.0.1/127\nt=", 1),
		strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10", "c=IN IP4 255.255.255.255", 1),
		held,
		strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10", "c=IN IP6 2001:db8::10", 1),
		strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10\n", "", 1),
		strings.Replace(asteriskOffer, "m=audio 17142", "m=audio 99999999999999999999", 1),
		strings.Replace(asteriskOffer, "a=rtpmap:0 PCMU/8000", "a=rtpmap:300 PCMU/8000\na=rtpmap:\na=rtpmap:8", 1),
	}
}

// mLine is an m= line as the test reads it from the text.
type mLine struct {
	media, proto string
	port         int
	formats      []string
}

// mLines reads the m= lines of an SDP the way a person would: any line
// (ended by CR, LF or both) that starts with m= after blanks.
func mLines(sdp []byte) []mLine {
	var out []mLine
	for _, l := range strings.FieldsFunc(string(sdp), func(r rune) bool { return r == '\r' || r == '\n' }) {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "m=") {
			continue
		}
		f := strings.Fields(l[2:])
		ml := mLine{formats: []string{}}
		if len(f) >= 3 {
			p, _, _ := strings.Cut(f[1], "/")
			ml.port, _ = strconv.Atoi(p)
			ml.media, ml.proto, ml.formats = f[0], f[2], f[3:]
		}
		out = append(out, ml)
	}
	return out
}

// hasPT: the format list names payload type pt ("0" and "00" both do).
func hasPT(formats []string, pt uint8) bool {
	return slices.ContainsFunc(formats, func(f string) bool {
		n, err := strconv.ParseUint(f, 10, 7)
		return err == nil && uint8(n) == pt
	})
}

// knownSDPError: every refusal is one the SIP side maps to a status.
func knownSDPError(err error) bool {
	for _, e := range []error{media.ErrBadSDP, media.ErrNoCommonCodec,
		media.ErrMulticast, media.ErrBroadcast, media.ErrAddressFamily} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// checkRemote: RTP may go where Negotiated says (sdp_addr.go's rules).
func checkRemote(t *testing.T, n media.Negotiated, local media.Local) {
	t.Helper()
	r := n.Remote.Addr()
	if !r.IsValid() || r.IsMulticast() || r == netip.MustParseAddr("255.255.255.255") || r.Is4() != local.Addr.Addr().Is4() {
		t.Fatalf("negotiated a remote clubline must not send to: %v", n.Remote)
	}
	if r.IsUnspecified() && (n.CanSend() || n.RemoteDirection == media.DirSendRecv || n.RemoteDirection == media.DirRecvOnly) {
		t.Fatalf("peer on hold at %v, but %+v", n.Remote, n)
	}
}

// FuzzAnswer: whatever a caller offers, Answer refuses it with a known
// error or answers with one m= line per offered one, of which exactly one
// is accepted, on our port, naming only formats of the offered stream.
func FuzzAnswer(f *testing.F) {
	for _, s := range sdpSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, offer []byte) {
		answer, n, err := media.Answer(offer, ourLocal)
		if err != nil {
			if !knownSDPError(err) || answer != nil {
				t.Fatalf("unexpected error kind or an answer with it: %v", err)
			}
			return
		}
		offered, answered := mLines(offer), mLines(answer)
		if len(answered) != len(offered) {
			t.Fatalf("answer has %d m= lines, offer %d:\n%s", len(answered), len(offered), answer)
		}
		accepted := -1
		for i, a := range answered {
			if a.port == 0 {
				continue
			}
			if accepted >= 0 {
				t.Fatalf("two streams accepted:\n%s", answer)
			}
			accepted = i
		}
		if accepted < 0 {
			t.Fatalf("Answer succeeded but accepted no stream:\n%s", answer)
		}
		in, out := offered[accepted], answered[accepted]
		if in.media != "audio" || in.proto != "RTP/AVP" || in.port == 0 || out.port != int(ourLocal.Addr.Port()) {
			t.Fatalf("accepted %+v as %+v", in, out)
		}
		for _, fmtText := range out.formats {
			pt, err := strconv.ParseUint(fmtText, 10, 7)
			if err != nil || !hasPT(in.formats, uint8(pt)) {
				t.Fatalf("the answer names format %q, not offered in %v", fmtText, in.formats)
			}
		}
		if c := n.Codec; (c.Name != "PCMU" && c.Name != "PCMA") || !hasPT(in.formats, c.PayloadType) {
			t.Fatalf("negotiated codec %v from formats %v", c, in.formats)
		}
		if n.DTMFPayloadType != 0 && !hasPT(in.formats, n.DTMFPayloadType) {
			t.Fatalf("telephone-event %d not offered in %v", n.DTMFPayloadType, in.formats)
		}
		if int(n.Remote.Port()) != in.port {
			t.Fatalf("RTP to port %d, offered %d", n.Remote.Port(), in.port)
		}
		checkRemote(t, n, ourLocal)

		// ParseAnswer reads answers to clubline's one-stream offers: the
		// first audio stream must be the accepted one for it to apply.
		if slices.IndexFunc(answered, func(m mLine) bool { return m.media == "audio" }) != accepted {
			return
		}
		back, err := media.ParseAnswer(answer, ourLocal)
		if err != nil {
			t.Fatalf("our own answer does not parse: %v\n%s", err, answer)
		}
		if back.Codec != n.Codec || back.DTMFPayloadType != n.DTMFPayloadType ||
			back.Remote != ourLocal.Addr || back.RemoteDirection != n.Direction {
			t.Fatalf("answer reads as %+v, Answer returned %+v", back, n)
		}
	})
}

// FuzzParseAnswer: whatever a staff phone answers to our offer, the
// outcome is a known error or one of our codecs, from the answered
// formats, at an address RTP may go to.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range sdpSeeds() {
		f.Add([]byte(s))
	}
	local := media.Local{Addr: ap("192.0.2.1:20000"), DTMFPayloadType: 96}
	f.Fuzz(func(t *testing.T, answer []byte) {
		n, err := media.ParseAnswer(answer, local)
		if err != nil {
			if !knownSDPError(err) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		i := slices.IndexFunc(mLines(answer), func(m mLine) bool { return m.media == "audio" })
		if i < 0 {
			t.Fatalf("negotiated %+v from an answer without audio", n)
		}
		audio := mLines(answer)[i]
		if c := n.Codec; (c.Name != "PCMU" && c.Name != "PCMA") || !hasPT(audio.formats, c.PayloadType) {
			t.Fatalf("negotiated codec %v from formats %v", c, audio.formats)
		}
		if n.DTMFPayloadType != 0 && !hasPT(audio.formats, n.DTMFPayloadType) {
			t.Fatalf("telephone-event %d not in %v", n.DTMFPayloadType, audio.formats)
		}
		checkRemote(t, n, local)
	})
}

// FuzzNormalizeSDP: the clean-up gives CRLF lines of type=value that
// start with v=, keeps every m= line, and changes nothing the second time.
func FuzzNormalizeSDP(f *testing.F) {
	for _, s := range sdpSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, m, err := media.NormalizeSDP(raw)
		if err != nil {
			if !errors.Is(err, media.ErrBadSDP) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if m != len(mLines(raw)) {
			t.Fatalf("%d m= lines kept, the input has %d", m, len(mLines(raw)))
		}
		if !strings.HasPrefix(text, "v=") || !strings.HasSuffix(text, "\r\n") {
			t.Fatalf("output does not start with v= and end in CRLF: %q", text)
		}
		for _, l := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n") {
			if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("output line %q is not type=value", l)
			}
		}
		if len(text) > media.MaxSDPSize {
			return // CRLF made it longer than a second pass accepts
		}
		again, m2, err := media.NormalizeSDP([]byte(text))
		if err != nil || again != text || m2 != m {
			t.Fatalf("second pass changed the text (%v):\n%q\n%q", err, text, again)
		}
	})
}
