package media

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/pion/srtp/v3"
)

// SRTP with keys exchanged in the SDP (SDES, RFC 4568), for calls whose
// signalling runs over TLS. The transform is RFC 3711's, done by
// pion/srtp. The negotiation is in sdp_crypto.go; what a Session does
// with the keys is in session_srtp.go.
//
// Decisions:
//
//   - Suites, in clubline's order of preference: AES_CM_128_HMAC_SHA1_80
//     (RFC 4568's mandatory one, and the one every peer has), then
//     AEAD_AES_128_GCM (RFC 7714: stronger, and cheaper with AES-NI), then
//     AES_CM_128_HMAC_SHA1_32 (a 4-byte tag, which some phones prefer and
//     Asterisk offers with srtp_tag_32). The 256-bit suites are left out:
//     nothing we talk to needs them.
//   - Each suite has its own master key and salt in the dialog's
//     SRTPKeyring, drawn from crypto/rand, so one key is never used with
//     two transforms. The keyring lives as long as the dialog: a re-INVITE
//     that keeps the suite keeps the key and the crypto context, with its
//     rollover counter.
//   - Keys are never written anywhere but in our own SDP: SRTPKeyring and
//     SRTPKeys print and log as the suite name, and no error quotes a key.

// The SRTP crypto suites clubline speaks (the names of RFC 4568 §6.2 and
// RFC 7714 §14.2).
const (
	SuiteAESCM128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAESCM128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
	SuiteAEADAES128GCM   = "AEAD_AES_128_GCM"
)

// srtpSuite is one crypto suite: its name in SDP and pion's profile.
type srtpSuite struct {
	name    string
	profile srtp.ProtectionProfile
	keyLen  int // master key
	saltLen int // master salt
}

// srtpSuites are the suites clubline offers, in this order (the tag of
// each is its index plus one), and accepts.
var srtpSuites = [...]srtpSuite{
	{SuiteAESCM128SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14},
	{SuiteAEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm, 16, 12},
	{SuiteAESCM128SHA1_32, srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14},
}

// suiteIndex returns the index in srtpSuites of a suite name (any case:
// RFC 4568's grammar is ABNF, whose strings are case-insensitive), or -1.
func suiteIndex(name string) int {
	for i := range srtpSuites {
		if len(name) == len(srtpSuites[i].name) && equalFoldASCII(name, srtpSuites[i].name) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(a, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// SRTPPolicy is what a Local accepts and offers for the audio stream.
type SRTPPolicy int

const (
	// SRTPOff: plain RTP. An offer whose audio is RTP/SAVP only is refused
	// (ErrSRTPNotEnabled); a=crypto lines in an RTP/AVP offer are ignored.
	SRTPOff SRTPPolicy = iota
	// SRTPOptional: best-effort SRTP. Answer: SRTP when the offer carries
	// a usable a=crypto line, under RTP/SAVP or (best effort) RTP/AVP;
	// plain RTP for an RTP/AVP offer without one; an RTP/SAVP offer
	// without one is refused (ErrNoUsableCrypto). Offer: RTP/AVP with
	// a=crypto lines, as Asterisk (media_encryption_optimistic) and most
	// phones' "optional" setting do: a peer without SRTP answers plain
	// RTP/AVP, where an RTP/SAVP offer would be refused outright and two
	// m= lines (RFC 5939) are understood by few.
	SRTPOptional
	// SRTPRequired: SRTP or no call. Offer: RTP/SAVP with a=crypto lines.
	// Answer: only an offer with a usable a=crypto line (RTP/SAVP, or
	// RTP/AVP with crypto, which then becomes SRTP); any other is refused
	// with ErrNoUsableCrypto.
	SRTPRequired
)

// String returns "off", "optional" or "required".
func (p SRTPPolicy) String() string {
	switch p {
	case SRTPOff:
		return "off"
	case SRTPOptional:
		return "optional"
	case SRTPRequired:
		return "required"
	}
	return fmt.Sprintf("SRTPPolicy(%d)", int(p))
}

// SRTPKeyring is clubline's own SRTP keying material for one dialog: a
// master key and salt per suite, fresh from crypto/rand. Make one per
// dialog with NewSRTPKeyring and keep it in the dialog's Local for every
// offer and answer, so that ParseAnswer finds the key Offer wrote.
// It prints and logs as "[redacted]".
type SRTPKeyring struct {
	keys [len(srtpSuites)][]byte // key || salt, per suite
}

// NewSRTPKeyring draws new keys for every suite.
func NewSRTPKeyring() *SRTPKeyring {
	k := new(SRTPKeyring)
	for i, s := range srtpSuites {
		k.keys[i] = make([]byte, s.keyLen+s.saltLen)
		_, _ = rand.Read(k.keys[i]) // never fails: since Go 1.24 the program crashes instead
	}
	return k
}

// key is the key || salt of suite i (nil on a nil keyring).
func (k *SRTPKeyring) key(i int) []byte {
	if k == nil {
		return nil
	}
	return k.keys[i]
}

// String hides the keys.
func (k *SRTPKeyring) String() string { return "[redacted]" }

// GoString hides the keys from %#v.
func (k *SRTPKeyring) GoString() string { return "media.SRTPKeyring{[redacted]}" }

// LogValue hides the keys from slog.
func (k *SRTPKeyring) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// SRTPKeys are the keys of an SRTP stream, from an offer/answer exchange.
// A nil *SRTPKeys means plain RTP. Keys are master key || master salt, of
// the length the suite needs. The value prints, logs and marshals to
// JSON as its suite name only.
type SRTPKeys struct {
	// Suite is one of the Suite constants.
	Suite string
	// LocalKey protects what clubline sends (it is in our SDP).
	LocalKey []byte
	// RemoteKey authenticates and decrypts what the peer sends (it is in
	// the peer's SDP).
	RemoteKey []byte
	// RemoteMKI is the master key identifier the peer puts in each packet
	// (RFC 3711 §3.1), as bytes; nil when it puts none. clubline writes
	// no MKI of its own.
	RemoteMKI []byte
}

// String names the suite and hides the keys.
func (k SRTPKeys) String() string { return "SRTP " + k.Suite + " (keys redacted)" }

// GoString hides the keys from %#v.
func (k SRTPKeys) GoString() string { return "media.SRTPKeys{Suite: " + k.Suite + ", [redacted]}" }

// LogValue hides the keys from slog.
func (k SRTPKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON hides the keys from encoding/json, which slog's JSON
// handler uses for a struct that holds SRTPKeys (a Negotiated).
func (k SRTPKeys) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// Equal reports whether a and b hold the same suite and keys (nil: plain).
func (k *SRTPKeys) Equal(o *SRTPKeys) bool {
	if k == nil || o == nil {
		return k == o
	}
	return k.Suite == o.Suite && bytes.Equal(k.LocalKey, o.LocalKey) &&
		bytes.Equal(k.RemoteKey, o.RemoteKey) && bytes.Equal(k.RemoteMKI, o.RemoteMKI)
}
