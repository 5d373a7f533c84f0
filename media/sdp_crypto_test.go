package media_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/clubline/clubline/media"
)

// key30 and key28 are fixed keys for hand-written offers: 30 bytes
// (AES-CM: 16 of key, 14 of salt) and 28 (GCM: 16 and 12).
var (
	key30 = bytes.Repeat([]byte{0xA5}, 30)
	key28 = bytes.Repeat([]byte{0x5A}, 28)
	b64   = base64.StdEncoding.EncodeToString
)

// srtpLocal is ourLocal with an SRTP policy and a keyring of its own.
func srtpLocal(p media.SRTPPolicy) media.Local {
	l := ourLocal
	l.SRTP, l.SRTPKeyring = p, media.NewSRTPKeyring()
	return l
}

// peerLocal is the far end of an exchange in these tests.
func peerLocal(p media.SRTPPolicy) media.Local {
	l := srtpLocal(p)
	l.Addr = ap("192.0.2.10:17142")
	return l
}

// withCrypto turns asteriskOffer into an offer of transport proto with
// the given a=crypto values.
func withCrypto(proto string, values ...string) string {
	o := strings.Replace(asteriskOffer, "RTP/AVP", proto, 1)
	for _, v := range values {
		o += "a=crypto:" + v + "\n"
	}
	return o
}

// audioOf parses an SDP we wrote and returns its first m= section.
func audioOf(t *testing.T, raw []byte) *sdp.MediaDescription {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(raw); err != nil {
		t.Fatalf("our SDP does not parse: %v\n%s", err, raw)
	}
	if len(d.MediaDescriptions) == 0 {
		t.Fatalf("no m= line:\n%s", raw)
	}
	return d.MediaDescriptions[0]
}

func cryptoAttrs(md *sdp.MediaDescription) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == "crypto" {
			out = append(out, a.Value)
		}
	}
	return out
}

// Every pair of policies, through Offer, Answer and ParseAnswer: who ends
// up with SRTP, on which transport, and with keys that cross.
func TestSRTPOfferAnswerPolicies(t *testing.T) {
	const (
		plain = iota
		secure
		refusedNotEnabled
		refusedNoCrypto
	)
	tests := []struct {
		offerer, answerer media.SRTPPolicy
		proto             string // of the offer
		want              int
	}{
		{media.SRTPOff, media.SRTPOff, "RTP/AVP", plain},
		{media.SRTPOff, media.SRTPOptional, "RTP/AVP", plain},
		{media.SRTPOff, media.SRTPRequired, "RTP/AVP", refusedNoCrypto},
		{media.SRTPOptional, media.SRTPOff, "RTP/AVP", plain},
		{media.SRTPOptional, media.SRTPOptional, "RTP/AVP", secure},
		{media.SRTPOptional, media.SRTPRequired, "RTP/AVP", secure},
		{media.SRTPRequired, media.SRTPOff, "RTP/SAVP", refusedNotEnabled},
		{media.SRTPRequired, media.SRTPOptional, "RTP/SAVP", secure},
		{media.SRTPRequired, media.SRTPRequired, "RTP/SAVP", secure},
	}
	for _, tt := range tests {
		t.Run(tt.offerer.String()+"×"+tt.answerer.String(), func(t *testing.T) {
			us, them := srtpLocal(tt.offerer), peerLocal(tt.answerer)
			offer := media.Offer(us)
			om := audioOf(t, offer)
			if got := strings.Join(om.MediaName.Protos, "/"); got != tt.proto {
				t.Fatalf("offer transport %s, want %s", got, tt.proto)
			}
			if n := len(cryptoAttrs(om)); (tt.offerer == media.SRTPOff) != (n == 0) {
				t.Fatalf("offer under %v has %d crypto lines", tt.offerer, n)
			}
			answer, theirs, err := media.Answer(offer, them)
			switch tt.want {
			case refusedNotEnabled, refusedNoCrypto:
				want, other := media.ErrSRTPNotEnabled, media.ErrNoUsableCrypto
				if tt.want == refusedNoCrypto {
					want, other = other, want
				}
				if !errors.Is(err, want) || errors.Is(err, other) || !errors.Is(err, media.ErrNoCommonCodec) || answer != nil {
					t.Fatalf("Answer = %v, want %v (and ErrNoCommonCodec, not %v)", err, want, other)
				}
				return
			}
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			am := audioOf(t, answer)
			if got := strings.Join(am.MediaName.Protos, "/"); got != tt.proto {
				t.Errorf("answer transport %s, want the offer's %s", got, tt.proto)
			}
			ours, err := media.ParseAnswer(answer, us)
			if err != nil {
				t.Fatalf("ParseAnswer: %v\n%s", err, answer)
			}
			if tt.want == plain {
				if ours.SRTP != nil || theirs.SRTP != nil || len(cryptoAttrs(am)) != 0 {
					t.Fatalf("want plain RTP: ours %v, theirs %v, answer crypto %d", ours.SRTP, theirs.SRTP, len(cryptoAttrs(am)))
				}
				return
			}
			if ours.SRTP == nil || theirs.SRTP == nil {
				t.Fatalf("want SRTP: ours %v, theirs %v", ours.SRTP, theirs.SRTP)
			}
			if ours.SRTP.Suite != media.SuiteAESCM128SHA1_80 || theirs.SRTP.Suite != ours.SRTP.Suite {
				t.Errorf("suites %s and %s, want %s (our first)", ours.SRTP.Suite, theirs.SRTP.Suite, media.SuiteAESCM128SHA1_80)
			}
			if !bytes.Equal(ours.SRTP.LocalKey, theirs.SRTP.RemoteKey) || !bytes.Equal(ours.SRTP.RemoteKey, theirs.SRTP.LocalKey) ||
				bytes.Equal(ours.SRTP.LocalKey, ours.SRTP.RemoteKey) || len(ours.SRTP.LocalKey) != 30 {
				t.Error("the keys do not cross: each side must decrypt with the other's sending key")
			}
			if got := cryptoAttrs(am); len(got) != 1 || !strings.HasPrefix(got[0], "1 AES_CM_128_HMAC_SHA1_80 inline:") {
				t.Errorf("answer crypto lines %q, want one with tag 1", got)
			}
		})
	}
}

// The answer takes the first offered line it can honour, keeps its tag,
// and writes our key for that suite.
func TestSRTPAnswerSuiteAndTag(t *testing.T) {
	tests := []struct {
		name, tag, suite string
		lines            []string
	}{
		{"first supported wins", "7", media.SuiteAESCM128SHA1_32, []string{
			"5 AES_256_CM_HMAC_SHA1_80 inline:" + b64(bytes.Repeat([]byte{1}, 46)),
			"7 AES_CM_128_HMAC_SHA1_32 inline:" + b64(key30),
			"9 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key30),
		}},
		{"GCM", "2", media.SuiteAEADAES128GCM, []string{
			"2 AEAD_AES_128_GCM inline:" + b64(key28),
			"3 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key30),
		}},
		{"a broken line is skipped", "12", media.SuiteAESCM128SHA1_80, []string{
			"11 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key28),
			"12 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key30) + "|2^31|1:4",
		}},
		{"suite name in lower case", "1", media.SuiteAESCM128SHA1_80, []string{
			"1 aes_cm_128_hmac_sha1_80 INLINE:" + b64(key30),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := srtpLocal(media.SRTPOptional)
			answer, n, err := media.Answer([]byte(withCrypto("RTP/SAVP", tt.lines...)), local)
			if err != nil {
				t.Fatal(err)
			}
			if n.SRTP == nil || n.SRTP.Suite != tt.suite {
				t.Fatalf("negotiated %v, want %s", n.SRTP, tt.suite)
			}
			got := cryptoAttrs(audioOf(t, answer))
			prefix := tt.tag + " " + tt.suite + " inline:"
			if len(got) != 1 || !strings.HasPrefix(got[0], prefix) {
				t.Fatalf("answer crypto %q, want one line %q...", got, prefix)
			}
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got[0], prefix))
			if err != nil || !bytes.Equal(key, n.SRTP.LocalKey) {
				t.Errorf("the answer's key is not Negotiated.SRTP.LocalKey (%v)", err)
			}
			if bytes.Equal(n.SRTP.LocalKey, n.SRTP.RemoteKey) {
				t.Error("our key is the offerer's")
			}
		})
	}
}

func TestSRTPAnswerUsesTheDialogsKeyring(t *testing.T) {
	local := srtpLocal(media.SRTPRequired)
	offer := []byte(withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)))
	_, a, err1 := media.Answer(offer, local)
	local.Version++
	_, b, err2 := media.Answer(offer, local)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !a.SRTP.Equal(b.SRTP) {
		t.Error("a re-answer in the same dialog changed our key")
	}
	other := srtpLocal(media.SRTPRequired)
	if _, c, _ := media.Answer(offer, other); bytes.Equal(c.SRTP.LocalKey, a.SRTP.LocalKey) {
		t.Error("two keyrings gave the same key")
	}
}

func TestSRTPAnswerRefusals(t *testing.T) {
	good := "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key30)
	tests := []struct {
		name   string
		policy media.SRTPPolicy
		offer  string
		want   error
	}{
		{"required, plain offer", media.SRTPRequired, asteriskOffer, media.ErrNoUsableCrypto},
		{"off, SAVP only", media.SRTPOff, withCrypto("RTP/SAVP", good), media.ErrSRTPNotEnabled},
		{"optional, SAVP without crypto", media.SRTPOptional, withCrypto("RTP/SAVP"), media.ErrNoUsableCrypto},
		{"optional, SAVP with only unknown suites", media.SRTPOptional,
			withCrypto("RTP/SAVP", "1 AES_256_CM_HMAC_SHA1_80 inline:"+b64(bytes.Repeat([]byte{1}, 46))), media.ErrNoUsableCrypto},
		{"required, only a session-level crypto line", media.SRTPRequired,
			strings.Replace(asteriskOffer, "t=0 0\n", "t=0 0\na=crypto:"+good+"\n", 1), media.ErrNoUsableCrypto},
		{"DTLS-SRTP is not SDES", media.SRTPRequired,
			strings.Replace(asteriskOffer, "RTP/AVP", "UDP/TLS/RTP/SAVP", 1), media.ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, _, err := media.Answer([]byte(tt.offer), srtpLocal(tt.policy))
			if !errors.Is(err, tt.want) || answer != nil {
				t.Fatalf("Answer = %v, want %v", err, tt.want)
			}
		})
	}

	// Best effort declined: RTP/AVP with crypto to an Off or Optional
	// answerer that cannot use the line gives plain RTP, no crypto line.
	for _, p := range []media.SRTPPolicy{media.SRTPOff, media.SRTPOptional} {
		answer, n, err := media.Answer([]byte(withCrypto("RTP/AVP", "1 F8_128_HMAC_SHA1_80 inline:"+b64(key30))), srtpLocal(p))
		if err != nil || n.SRTP != nil || bytes.Contains(answer, []byte("crypto")) ||
			!bytes.Contains(answer, []byte("RTP/AVP")) {
			t.Errorf("%v: best-effort offer answered %v, %v:\n%s", p, n.SRTP, err, answer)
		}
	}
	// A policy without keys is a mistake of the caller, said at once.
	nokeys := ourLocal
	nokeys.SRTP = media.SRTPOptional
	if _, _, err := media.Answer([]byte(asteriskOffer), nokeys); err == nil {
		t.Error("Answer without a keyring succeeded")
	}
	if _, err := media.ParseAnswer([]byte(asteriskOffer), nokeys); err == nil {
		t.Error("ParseAnswer without a keyring succeeded")
	}
	if bytes.Contains(media.Offer(nokeys), []byte("crypto")) {
		t.Error("Offer without a keyring wrote a crypto line")
	}
}

// ParseAnswer: the answer's line must be one we offered; SAVP or Required
// without crypto is an error, never plain RTP.
func TestSRTPParseAnswer(t *testing.T) {
	us := srtpLocal(media.SRTPOptional)
	answer := func(proto string, lines ...string) []byte {
		return []byte(withCrypto(proto, lines...))
	}
	tests := []struct {
		name   string
		policy media.SRTPPolicy
		answer []byte
		suite  string // "" plain
		err    error
	}{
		{"tag 1, suite 80", media.SRTPOptional, answer("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)), media.SuiteAESCM128SHA1_80, nil},
		{"tag 2, GCM", media.SRTPRequired, answer("RTP/SAVP", "2 AEAD_AES_128_GCM inline:"+b64(key28)), media.SuiteAEADAES128GCM, nil},
		{"tag 3, suite 32", media.SRTPOptional, answer("RTP/SAVP", "3 AES_CM_128_HMAC_SHA1_32 inline:"+b64(key30)), media.SuiteAESCM128SHA1_32, nil},
		{"declined best effort", media.SRTPOptional, answer("RTP/AVP"), "", nil},
		{"tag of another suite", media.SRTPOptional, answer("RTP/AVP", "2 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)), "", media.ErrNoUsableCrypto},
		{"tag never offered", media.SRTPOptional, answer("RTP/AVP", "9 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)), "", media.ErrNoUsableCrypto},
		{"two lines", media.SRTPOptional, answer("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30),
			"3 AES_CM_128_HMAC_SHA1_32 inline:"+b64(key30)), "", media.ErrNoUsableCrypto},
		{"short key", media.SRTPOptional, answer("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key28)), "", media.ErrNoUsableCrypto},
		{"SAVP without crypto", media.SRTPOptional, answer("RTP/SAVP"), "", media.ErrNoUsableCrypto},
		{"required, answered plain", media.SRTPRequired, answer("RTP/SAVP"), "", media.ErrNoUsableCrypto},
		{"required, answered RTP/AVP without crypto", media.SRTPRequired, answer("RTP/AVP"), "", media.ErrNoUsableCrypto},
		{"off, crypto in the answer ignored", media.SRTPOff, answer("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)), "", nil},
		{"off, SAVP answer", media.SRTPOff, answer("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(key30)), "", media.ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := us
			local.SRTP = tt.policy
			n, err := media.ParseAnswer(tt.answer, local)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseAnswer = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			switch {
			case tt.suite == "" && n.SRTP != nil:
				t.Fatalf("want plain RTP, got %v", n.SRTP)
			case tt.suite == "":
			case n.SRTP == nil || n.SRTP.Suite != tt.suite:
				t.Fatalf("negotiated %v, want %s", n.SRTP, tt.suite)
			case bytes.Contains(media.Offer(local), []byte(b64(n.SRTP.LocalKey))) == false:
				t.Error("LocalKey is not the key our offer carried for the suite")
			}
		})
	}
}

// The parser alone: what it takes and what it refuses, without panicking.
func TestParseCrypto(t *testing.T) {
	k, g := b64(key30), b64(key28)
	ok := []struct {
		value, suite string
		mki          []byte
	}{
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k, media.SuiteAESCM128SHA1_80, nil},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^31", media.SuiteAESCM128SHA1_80, nil},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^48|1:4", media.SuiteAESCM128SHA1_80, []byte{0, 0, 0, 1}},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2147483648", media.SuiteAESCM128SHA1_80, nil},
		{"1 AES_CM_128_HMAC_SHA1_32 inline:" + k + "|258:2", media.SuiteAESCM128SHA1_32, []byte{1, 2}},
		{"123456789 AEAD_AES_128_GCM inline:" + g, media.SuiteAEADAES128GCM, nil},
		{"1 AEAD_AES_128_GCM inline:" + strings.TrimRight(g, "="), media.SuiteAEADAES128GCM, nil},
		{"1  AES_CM_128_HMAC_SHA1_80\tinline:" + k + " WSH=128 UNENCRYPTED_SRTCP -X-VENDOR=1 FEC_ORDER=FEC_SRTP", media.SuiteAESCM128SHA1_80, nil},
	}
	for _, tt := range ok {
		_, suite, key, mki, err := media.ParseCrypto(tt.value)
		if err != nil || suite != tt.suite || len(key) == 0 || !bytes.Equal(mki, tt.mki) {
			t.Errorf("ParseCrypto(%q) = %s, mki %x, %v; want %s, mki %x", tt.value, suite, mki, err, tt.suite, tt.mki)
		}
	}
	bad := []string{
		"", "1", "1 AES_CM_128_HMAC_SHA1_80",
		"x AES_CM_128_HMAC_SHA1_80 inline:" + k,
		"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + k,
		"-1 AES_CM_128_HMAC_SHA1_80 inline:" + k,
		"1 AES_CM_128_HMAC_SHA1_81 inline:" + k,
		"1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/key",
		"1 AES_CM_128_HMAC_SHA1_80 inline",
		"1 AES_CM_128_HMAC_SHA1_80 inline:",
		"1 AES_CM_128_HMAC_SHA1_80 inline:short",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + g, // 28 bytes for a 30-byte suite
		"1 AEAD_AES_128_GCM inline:" + k,        // and the other way round
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "AAAA",
		"1 AES_CM_128_HMAC_SHA1_80 inline:!!!!" + k[4:],
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + ";inline:" + k,
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^20",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1048576",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^x",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:0",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|256:1",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:129",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|99999999999999999999999:12",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|1:4|2^31",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + "|2^31|1:4|x",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " UNENCRYPTED_SRTP",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " UNAUTHENTICATED_SRTP",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " KDR=1",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " FEC_KEY=inline:" + k,
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " NEW_PARAM=1",
	}
	for _, v := range bad {
		if _, _, _, _, err := media.ParseCrypto(v); err == nil {
			t.Errorf("ParseCrypto(%q) accepted", v)
		} else if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), g) {
			t.Errorf("the error quotes the key: %v", err)
		}
		// In an offer, the line alone makes the stream unusable.
		answer, _, err := media.Answer([]byte(withCrypto("RTP/SAVP", v)), srtpLocal(media.SRTPOptional))
		if !errors.Is(err, media.ErrNoUsableCrypto) || answer != nil {
			t.Errorf("offer with a=crypto:%s: %v", v, err)
		}
	}
}

// Keys appear in our SDP and nowhere else: not in fmt, slog or errors.
func TestSRTPKeysAreRedacted(t *testing.T) {
	offerer, answerer := srtpLocal(media.SRTPRequired), peerLocal(media.SRTPRequired)
	_, n, err := media.Answer(media.Offer(offerer), answerer)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "negotiated", n, "keys", n.SRTP, "keyring", answerer.SRTPKeyring,
		"local", answerer)
	text := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", n, n, n, n.SRTP, *n.SRTP, answerer, answerer.SRTPKeyring) + logged.String()
	for _, key := range [][]byte{n.SRTP.LocalKey, n.SRTP.RemoteKey} {
		for _, form := range []string{b64(key), fmt.Sprintf("%x", key), fmt.Sprint(key), fmt.Sprintf("%v", key[:4])} {
			if strings.Contains(text, strings.Trim(form, "[]")) {
				t.Fatalf("a key shows as %q in:\n%s", form, text)
			}
		}
	}
	if !strings.Contains(text, "redacted") || !strings.Contains(text, media.SuiteAESCM128SHA1_80) {
		t.Errorf("want the suite and 'redacted':\n%s", text)
	}
}
