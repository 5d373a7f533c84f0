package media_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

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
		// SRTP (RFC 4568): offers as phones and trunks write them, and
		// the crypto lines the parser refuses.
		withCrypto("RTP/SAVP", cryptoSeeds()[0]),
		withCrypto("RTP/AVP", cryptoSeeds()[1], cryptoSeeds()[2]),
		withCrypto("RTP/SAVP", cryptoSeeds()...),
		withCrypto("RTP/SAVP", "1 AES_256_CM_HMAC_SHA1_80 inline:"+b64(bytes.Repeat([]byte{7}, 46))),
		withCrypto("RTP/SAVP"),
		withCrypto("UDP/TLS/RTP/SAVP", cryptoSeeds()[0]),
		strings.Replace(asteriskOffer, "t=0 0\n", "t=0 0\na=crypto:"+cryptoSeeds()[0]+"\n", 1),
	}
}

// cryptoSeeds are a=crypto values, good ones first: the shapes real
// user agents send (lifetime, MKI, session parameters) and broken ones.
func cryptoSeeds() []string {
	k, g := base64.StdEncoding.EncodeToString(key30), base64.StdEncoding.EncodeToString(key28)
	return []string{
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k,
		"2 AEAD_AES_128_GCM inline:" + g,
		"3 AES_CM_128_HMAC_SHA1_32 inline:" + k + "|2^31",
		"4 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^31|1:1",
		"5 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:4 WSH=64 -X=1",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^20|1:32",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + ";inline:" + k,
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " KDR=1 UNENCRYPTED_SRTP",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k[:10],
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|99999999999999999999999:128",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:4|2^31",
		"1234567890 AES_CM_128_HMAC_SHA1_80",
		"1 AES_CM_128_HMAC_SHA1_80 inline:|||",
		"",
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
		media.ErrMulticast, media.ErrBroadcast, media.ErrAddressFamily,
		media.ErrNoUsableCrypto, media.ErrSRTPNotEnabled} {
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

// FuzzAnswerSRTP: under SRTPOptional and SRTPRequired, an accepted
// stream keeps the offer's RTP transport; it is SRTP exactly when the
// answer has one a=crypto line, whose tag and suite are those of an
// offered line and whose key is ours; the keys in Negotiated are ours and
// that line's; SRTPRequired never answers plain RTP.
func FuzzAnswerSRTP(f *testing.F) {
	for _, s := range sdpSeeds() {
		f.Add([]byte(s))
	}
	locals := []media.Local{srtpLocal(media.SRTPOptional), srtpLocal(media.SRTPRequired)}
	f.Fuzz(func(t *testing.T, offer []byte) {
		for _, local := range locals {
			answer, n, err := media.Answer(offer, local)
			if err != nil {
				if !knownSDPError(err) || answer != nil {
					t.Fatalf("unexpected error kind or an answer with it: %v", err)
				}
				continue
			}
			// Both through the clean-up: a refused m= line is echoed as
			// offered, which pion/sdp may not parse (m=image udptl).
			in, out := parsed(t, offer), parsed(t, answer)
			accepted := slices.IndexFunc(out.MediaDescriptions, func(m *sdp.MediaDescription) bool { return m.MediaName.Port.Value != 0 })
			om, am := in.MediaDescriptions[accepted], out.MediaDescriptions[accepted]
			proto := strings.Join(am.MediaName.Protos, "/")
			if proto != strings.Join(om.MediaName.Protos, "/") || (proto != "RTP/AVP" && proto != "RTP/SAVP") {
				t.Fatalf("offered %v, answered %v", om.MediaName.Protos, am.MediaName.Protos)
			}
			lines := cryptoAttrs(am)
			if n.SRTP == nil {
				if len(lines) != 0 || proto == "RTP/SAVP" || local.SRTP == media.SRTPRequired {
					t.Fatalf("plain RTP under %v with transport %s and crypto %q", local.SRTP, proto, lines)
				}
				continue
			}
			if len(lines) != 1 {
				t.Fatalf("SRTP answered with %d crypto lines", len(lines))
			}
			tag, suite, key, _, err := media.ParseCrypto(lines[0])
			if err != nil || suite != n.SRTP.Suite || !bytes.Equal(key, n.SRTP.LocalKey) {
				t.Fatalf("our crypto line %q does not say %v (%v)", lines[0], n.SRTP, err)
			}
			matched := false
			for _, v := range cryptoAttrs(om) {
				otag, osuite, okey, omki, err := media.ParseCrypto(v)
				if err == nil && otag == tag {
					matched = osuite == suite && bytes.Equal(okey, n.SRTP.RemoteKey) && bytes.Equal(omki, n.SRTP.RemoteMKI)
					break
				}
			}
			if !matched {
				t.Fatalf("answered tag %s with %s and the remote key of no offered line with that tag", tag, suite)
			}
		}
	})
}

// FuzzParseCrypto: the a=crypto parser takes a line only with a known
// suite, a key of its exact length, a tag of 1 to 9 digits and an MKI of
// 1 to 128 bytes; what it takes, written back, reads the same; its
// errors never quote the key.
func FuzzParseCrypto(f *testing.F) {
	for _, s := range cryptoSeeds() {
		f.Add(s)
	}
	lens := map[string]int{media.SuiteAESCM128SHA1_80: 30, media.SuiteAESCM128SHA1_32: 30, media.SuiteAEADAES128GCM: 28}
	f.Fuzz(func(t *testing.T, value string) {
		tag, suite, key, mki, err := media.ParseCrypto(value)
		if err != nil {
			// Only a known suite gets as far as the key; an unknown one is
			// quoted, and may look like anything.
			if fields := strings.Fields(value); len(fields) > 2 && lens[strings.ToUpper(fields[1])] != 0 {
				_, info, _ := strings.Cut(fields[2], ":")
				k, _, _ := strings.Cut(info, "|")
				elsewhere := strings.Contains(strings.Replace(value, k, "", 1), k) // the same text as a tag or suite, say
				if len(k) >= 8 && !elsewhere && strings.Contains(err.Error(), k) {
					t.Fatalf("the error quotes the key: %v", err)
				}
			}
			return
		}
		if len(tag) < 1 || len(tag) > 9 || strings.Trim(tag, "0123456789") != "" {
			t.Fatalf("tag %q", tag)
		}
		if want, ok := lens[suite]; !ok || len(key) != want {
			t.Fatalf("suite %q with a key of %d bytes", suite, len(key))
		}
		if mki != nil && (len(mki) < 1 || len(mki) > 128) {
			t.Fatalf("MKI of %d bytes", len(mki))
		}
		again := tag + " " + suite + " inline:" + base64.StdEncoding.EncodeToString(key)
		tag2, suite2, key2, _, err := media.ParseCrypto(again)
		if err != nil || tag2 != tag || suite2 != suite || !bytes.Equal(key2, key) {
			t.Fatalf("%q written back as %q reads %q %q (%v)", value, again, tag2, suite2, err)
		}
	})
}

func parsed(t *testing.T, raw []byte) *sdp.SessionDescription {
	t.Helper()
	var d sdp.SessionDescription
	text, _, err := media.NormalizeSDP(raw)
	if err == nil {
		err = d.UnmarshalString(text)
	}
	if err != nil {
		t.Fatalf("does not parse after the clean-up: %v\n%s", err, raw)
	}
	return &d
}
