package media

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Comfort noise (RFC 3389) and what a session sends while nothing plays.
//
// Decisions:
//   - Comfort noise is RFC 3389 "CN/8000" under its static payload type 13
//     (RFC 3551 table 4), the only number clubline offers, answers and
//     receives it under. Asterisk, FreeSWITCH and most desk phones use 13;
//     a CN mapped to a dynamic number is not answered, so the peer does
//     not send it.
//   - A CN packet received is silence: it is not decoded as audio, it keeps
//     its sequence number in the jitter buffer (no loss is counted) and the
//     timestamp gap up to the next audio packet is played as silence, as
//     for a peer that sends nothing while silent. It proves the peer is
//     alive: it restarts the RTP inactivity timeout, like any packet of
//     the stream. Its noise level and spectrum are ignored: clubline
//     records and bridges silence, not synthesized noise.
//   - clubline itself always sends silent G.711 while nothing plays
//     (SendSilence): a trunk or phone never has to guess whether we are
//     still there. SendNothing and SendComfortNoise exist for the test
//     phone (package softphone), to call clubline as a phone with voice
//     activity detection does.

// ComfortNoisePayloadType is the static RTP payload type of RFC 3389
// comfort noise at 8000 Hz.
const ComfortNoisePayloadType = 13

// comfortNoise is CN as audioMedia writes it: "13" and "a=rtpmap:13 CN/8000".
var comfortNoise = Codec{Name: "CN", PayloadType: ComfortNoisePayloadType}

// SilenceMode is what a session's clock sends while nothing plays.
type SilenceMode int

const (
	// SendSilence sends a packet of silent audio every 20 ms (the default,
	// and what clubline does).
	SendSilence SilenceMode = iota
	// SendNothing sends no packet at all while nothing plays, as a phone
	// with voice activity detection and no comfort noise does. The
	// timestamp runs on, and the next audio packet has the marker bit.
	SendNothing
	// SendComfortNoise sends an RFC 3389 comfort-noise packet when the
	// silence starts and then every comfortNoiseEvery, nothing in between.
	SendComfortNoise
)

// comfortNoiseEvery is how often SendComfortNoise repeats its packet in a
// long silence: a phone's periodic SID update.
const comfortNoiseEvery = 50 // frames: one second

// comfortNoiseLevel is the noise level sent, in -dBov (RFC 3389 section 3.1):
// -70 dBov, a quiet line.
const comfortNoiseLevel = 70

// withCN is the codecs written in an m= line, with comfort noise after them
// when cn is set.
func withCN(codecs []Codec, cn bool) []Codec {
	if !cn {
		return codecs
	}
	return append(append([]Codec(nil), codecs...), comfortNoise)
}

// offersCN reports whether the stream lists payload type 13 as CN/8000,
// by rtpmap or, without one, as the static type it is.
func offersCN(md *sdp.MediaDescription) bool {
	pt := strconv.Itoa(ComfortNoisePayloadType)
	if !slices.Contains(md.MediaName.Formats, pt) {
		return false
	}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, _ := strings.Cut(strings.TrimSpace(a.Value), " ")
		if num == pt {
			return strings.EqualFold(strings.TrimSpace(enc), "CN/8000")
		}
	}
	return true
}
