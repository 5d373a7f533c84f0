package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 3264 section 5.1).
type Direction string

// The four directions. The empty Direction means DirSendRecv everywhere.
const (
	DirSendRecv Direction = "sendrecv"
	DirSendOnly Direction = "sendonly"
	DirRecvOnly Direction = "recvonly"
	DirInactive Direction = "inactive"
)

// DefaultDTMFPayloadType is the telephone-event number used in offers when
// Local.DTMFPayloadType is 0.
const DefaultDTMFPayloadType = 101

// Errors of the offer/answer functions. Both are wrapped with the reason;
// test them with errors.Is. ErrNoCommonCodec maps to SIP 488, ErrBadSDP to
// 400 (or 488 when the body came in a response). The errors for a media
// address clubline will not send to are in sdp_addr.go, those of SRTP
// (which also match ErrNoCommonCodec) in sdp_crypto.go.
var (
	ErrNoCommonCodec = errors.New("media: no common audio codec")
	ErrBadSDP        = errors.New("media: malformed SDP")
)

// Local describes clubline's end of an audio stream.
type Local struct {
	// Addr is the RTP address written in c= and m= (the socket's address,
	// or the public address when behind a static NAT).
	Addr netip.AddrPort
	// Codecs in order of preference; empty means DefaultCodecs. Only their
	// names matter in Answer (the offerer's numbers are used).
	Codecs []Codec
	// DTMFPayloadType is the telephone-event number written by Offer; 0 means
	// DefaultDTMFPayloadType. Answer always uses the offerer's number.
	DTMFPayloadType uint8
	// SessionID and Version go in o=. Pick SessionID once per dialog and
	// increment Version on every new offer or answer in that dialog.
	SessionID, Version uint64
	// Direction is what clubline wants (e.g. sendonly to put a staff leg
	// on hold); empty means sendrecv. Answer intersects it with the offer.
	Direction Direction
	// SRTP is what clubline accepts and offers (see SRTPPolicy); the zero
	// value is plain RTP, as before SRTP existed.
	SRTP SRTPPolicy
	// SRTPKeyring holds clubline's keys for the dialog (NewSRTPKeyring);
	// it is needed unless SRTP is SRTPOff: Answer and ParseAnswer fail
	// without it, and Offer writes no a=crypto line.
	SRTPKeyring *SRTPKeyring
}

// Negotiated is the outcome of an offer/answer exchange for the audio stream.
type Negotiated struct {
	// Remote is where the peer wants RTP. Its address is unspecified
	// (0.0.0.0) when the peer is on old-style hold; then nothing is sent.
	Remote netip.AddrPort
	// Codec carries the peer's payload type number.
	Codec Codec
	// DTMFPayloadType is the telephone-event number; 0: the peer has none.
	DTMFPayloadType uint8
	// Direction is clubline's direction, as written in our SDP.
	Direction Direction
	// RemoteDirection is the direction the peer wrote, less receiving
	// when its address is 0.0.0.0 (sendrecv reads sendonly): a peer on
	// old-style hold is on hold.
	RemoteDirection Direction
	// SRTP holds the suite and keys when the stream is SRTP; nil means
	// plain RTP. Hand it to the Session (SessionConfig.SRTP, Update).
	SRTP *SRTPKeys
}

// CanSend reports whether clubline may send RTP on this stream.
func (n Negotiated) CanSend() bool { return canSend(n.Direction, n.Remote) }

// Answer answers an SDP offer (RFC 3264). It accepts the first audio
// stream that has a port, a codec in local.Codecs and an address RTP may
// go to (see sdp_addr.go), choosing the first such codec in the offer's
// order, plus telephone-event/8000 under the offerer's number; every other
// stream is answered with port 0. When no stream qualifies the error wraps
// ErrNoCommonCodec, ErrMulticast, ErrBroadcast or ErrAddressFamily (for the
// last stream refused), or ErrBadSDP. Under local.SRTP, a stream is
// also refused with ErrSRTPNotEnabled or ErrNoUsableCrypto (sdp_crypto.go);
// the accepted one is answered with its transport and, when SRTP, the
// chosen crypto line's tag and suite and our key.
func Answer(offer []byte, local Local) ([]byte, Negotiated, error) {
	if !local.Addr.IsValid() {
		return nil, Negotiated{}, fmt.Errorf("media: Local.Addr %v is not an address and port", local.Addr)
	}
	if err := checkKeyring(local); err != nil {
		return nil, Negotiated{}, err
	}
	desc, mlines, err := parseSDP(offer)
	if err != nil {
		return nil, Negotiated{}, err
	}
	var (
		n      Negotiated
		chosen = -1
		cn     bool
		crypto *cryptoLine
		fail   = fmt.Errorf("%w: the offer has no audio stream", ErrNoCommonCodec)
	)
	for i, md := range desc.MediaDescriptions {
		ml := mlines[i]
		if ml.media != "audio" {
			continue
		}
		if ml.port == 0 {
			fail = fmt.Errorf("%w: the offer's audio stream is disabled (port 0)", ErrNoCommonCodec)
			continue
		}
		if ml.proto != protoAVP && ml.proto != protoSAVP {
			fail = fmt.Errorf("%w: transport %s is not supported (only RTP/AVP and RTP/SAVP)", ErrNoCommonCodec, clip(ml.proto))
			continue
		}
		sc, err := answerSRTP(md, ml.proto, local)
		if err != nil {
			fail = err
			continue
		}
		c, dtmf, ok := pickCodec(md, localCodecs(local))
		if !ok {
			fail = fmt.Errorf("%w: offered formats %s, supported %s", ErrNoCommonCodec,
				strings.Join(ml.formats, " "), codecNames(localCodecs(local)))
			continue
		}
		remote, err := streamAddr(desc, md, ml.port)
		if err != nil {
			return nil, Negotiated{}, err
		}
		if err := usableRemote(remote.Addr(), local.Addr.Addr()); err != nil {
			fail = err // another audio stream may have a usable address
			continue
		}
		n = negotiated(desc, md, remote, c, dtmf, local.Direction)
		chosen, cn, crypto = i, offersCN(md), sc
		if sc != nil {
			n.SRTP = sc.keys(local)
		}
		break
	}
	if chosen < 0 {
		return nil, Negotiated{}, fail
	}
	out := localDescription(local)
	for i, ml := range mlines {
		if i == chosen {
			md := audioMedia(local.Addr.Port(), withCN([]Codec{n.Codec}, cn), n.DTMFPayloadType, n.Direction)
			var lines []string
			if crypto != nil {
				lines = []string{cryptoValue(crypto.tag, crypto.suite, local.SRTPKeyring.key(crypto.suite))}
			}
			out.MediaDescriptions = append(out.MediaDescriptions, withTransport(md, ml.proto, lines))
			continue
		}
		formats := ml.formats
		if len(formats) == 0 {
			formats = []string{"0"}
		}
		out.MediaDescriptions = append(out.MediaDescriptions, &sdp.MediaDescription{
			MediaName: sdp.MediaName{Media: ml.media, Protos: []string{ml.proto}, Formats: formats},
		})
	}
	b, err := out.Marshal()
	if err != nil {
		return nil, Negotiated{}, fmt.Errorf("media: marshal answer: %w", err)
	}
	return b, n, nil
}

// Offer writes an SDP offer for one audio stream with local.Codecs and
// telephone-event; under local.SRTP, RTP/AVP (SRTPOptional) or RTP/SAVP
// (SRTPRequired) with one a=crypto line per suite, keys from
// local.SRTPKeyring.
func Offer(local Local) []byte {
	pt := local.DTMFPayloadType
	if pt == 0 {
		pt = DefaultDTMFPayloadType
	}
	out := localDescription(local)
	dir := local.Direction
	if dir == "" {
		dir = DirSendRecv
	}
	md := audioMedia(local.Addr.Port(), withCN(localCodecs(local), true), pt, dir)
	out.MediaDescriptions = append(out.MediaDescriptions, withTransport(md, offerProto(local), offerCrypto(local)))
	b, _ := out.Marshal() // cannot fail: pion only appends to a buffer
	return b
}

// ParseAnswer reads the answer to an Offer(local). Its address is held to
// the rules of Answer: a multicast, broadcast or other-family address is
// an error. Under local.SRTP the answer's crypto line must match one we
// offered, and an answer without one is plain RTP only when SRTP was
// optional; otherwise the error wraps ErrNoUsableCrypto.
func ParseAnswer(answer []byte, local Local) (Negotiated, error) {
	if err := checkKeyring(local); err != nil {
		return Negotiated{}, err
	}
	desc, mlines, err := parseSDP(answer)
	if err != nil {
		return Negotiated{}, err
	}
	for i, md := range desc.MediaDescriptions {
		ml := mlines[i]
		if ml.media != "audio" {
			continue
		}
		if ml.port == 0 {
			return Negotiated{}, fmt.Errorf("%w: the answer rejected the audio stream (port 0)", ErrNoCommonCodec)
		}
		// RFC 3264 §6: the answer keeps the offer's transport; with SRTP
		// offered, RTP/AVP and RTP/SAVP are both taken (sdp_crypto.go).
		if !answerTransportOK(ml.proto, local) {
			return Negotiated{}, fmt.Errorf("%w: the answer's audio stream uses transport %s, offered %s",
				ErrNoCommonCodec, clip(ml.proto), offerProto(local))
		}
		keys, err := parseAnswerSRTP(md, ml.proto, local)
		if err != nil {
			return Negotiated{}, err
		}
		c, dtmf, ok := pickCodec(md, localCodecs(local))
		if !ok {
			return Negotiated{}, fmt.Errorf("%w: answered formats %s, offered %s",
				ErrNoCommonCodec, strings.Join(ml.formats, " "), codecNames(localCodecs(local)))
		}
		remote, err := streamAddr(desc, md, ml.port)
		if err != nil {
			return Negotiated{}, err
		}
		if err := usableRemote(remote.Addr(), local.Addr.Addr()); err != nil {
			return Negotiated{}, err
		}
		n := negotiated(desc, md, remote, c, dtmf, local.Direction)
		n.SRTP = keys
		return n, nil
	}
	return Negotiated{}, fmt.Errorf("%w: the answer has no audio stream", ErrNoCommonCodec)
}

func parseSDP(raw []byte) (*sdp.SessionDescription, []mline, error) {
	text, mlines, err := normalizeSDP(raw)
	if err != nil {
		return nil, nil, err
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(text); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(desc.MediaDescriptions) != len(mlines) {
		return nil, nil, fmt.Errorf("%w: %d m= lines, parsed %d", ErrBadSDP, len(mlines), len(desc.MediaDescriptions))
	}
	return &desc, mlines, nil
}

// negotiated is the outcome for the chosen stream: our direction is what
// the peer's allows and we want (RFC 3264 §6.1).
func negotiated(desc *sdp.SessionDescription, md *sdp.MediaDescription, remote netip.AddrPort,
	c Codec, dtmf uint8, want Direction) Negotiated {
	rdir := peerDirection(desc, md, remote)
	ours := mirror(rdir) & dirBits(want)
	return Negotiated{Remote: remote, Codec: c, DTMFPayloadType: dtmf,
		Direction: ours.direction(), RemoteDirection: rdir}
}

// pickCodec returns the first format of md that is a codec in want, and the
// telephone-event/8000 payload type (0 if none).
func pickCodec(md *sdp.MediaDescription, want []Codec) (Codec, uint8, bool) {
	names := map[uint8]string{} // payload type -> "NAME/rate[/channels]"
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if ok && err == nil {
			names[uint8(pt)] = strings.ToUpper(strings.TrimSpace(enc))
		}
	}
	var (
		chosen Codec
		found  bool
		dtmf   uint8
	)
	for _, f := range md.MediaName.Formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(pt64)
		name, mapped := names[pt]
		if !mapped {
			switch pt { // RFC 3551 static payload types need no rtpmap
			case 0:
				name = "PCMU/8000"
			case 8:
				name = "PCMA/8000"
			}
		}
		switch name {
		case "TELEPHONE-EVENT/8000":
			if dtmf == 0 {
				dtmf = pt
			}
		case "PCMU/8000", "PCMU/8000/1", "PCMA/8000", "PCMA/8000/1":
			c := Codec{Name: name[:4], PayloadType: pt}
			if !found && supports(want, c) {
				chosen, found = c, true
			}
		}
	}
	return chosen, dtmf, found
}

func supports(want []Codec, c Codec) bool {
	for _, w := range want {
		if strings.EqualFold(w.Name, c.Name) {
			return true
		}
	}
	return false
}

// streamDirection is the media-level direction, else the session-level one,
// else sendrecv.
func streamDirection(desc *sdp.SessionDescription, md *sdp.MediaDescription) Direction {
	for _, attrs := range [][]sdp.Attribute{md.Attributes, desc.Attributes} {
		for _, a := range attrs {
			switch d := Direction(a.Key); d {
			case DirSendRecv, DirSendOnly, DirRecvOnly, DirInactive:
				return d
			}
		}
	}
	return DirSendRecv
}

// dirSet is a direction as two bits, so that answers are intersections.
type dirSet uint8

const (
	dirSend dirSet = 1 << iota
	dirRecv
)

func dirBits(d Direction) dirSet {
	switch d {
	case DirSendOnly:
		return dirSend
	case DirRecvOnly:
		return dirRecv
	case DirInactive:
		return 0
	default:
		return dirSend | dirRecv
	}
}

// mirror is what the other side may do given the peer's direction.
func mirror(d Direction) dirSet {
	b := dirBits(d)
	var m dirSet
	if b&dirSend != 0 {
		m |= dirRecv
	}
	if b&dirRecv != 0 {
		m |= dirSend
	}
	return m
}

func (b dirSet) direction() Direction {
	switch b {
	case dirSend:
		return DirSendOnly
	case dirRecv:
		return DirRecvOnly
	case 0:
		return DirInactive
	default:
		return DirSendRecv
	}
}

// canSend: our direction allows it and the peer gave a usable address.
func canSend(d Direction, remote netip.AddrPort) bool {
	return dirBits(d)&dirSend != 0 && remote.IsValid() && remote.Port() != 0 &&
		!remote.Addr().IsUnspecified()
}

// receives: our direction says we expect media from the peer.
func receives(d Direction) bool { return dirBits(d)&dirRecv != 0 }

func localCodecs(l Local) []Codec {
	if len(l.Codecs) == 0 {
		return DefaultCodecs
	}
	return l.Codecs
}

func codecNames(cs []Codec) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

func localDescription(l Local) *sdp.SessionDescription {
	addr := l.Addr.Addr().Unmap()
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	return &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "clubline", SessionID: l.SessionID, SessionVersion: l.Version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: addr.String()},
		SessionName: "clubline",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType,
			Address: &sdp.Address{Address: addr.String()}},
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
}

func audioMedia(port uint16, codecs []Codec, dtmf uint8, dir Direction) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media: "audio", Port: sdp.RangedPort{Value: int(port)}, Protos: []string{"RTP", "AVP"}}}
	for _, c := range codecs {
		pt := strconv.Itoa(int(c.PayloadType))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", pt+" "+strings.ToUpper(c.Name)+"/8000"))
	}
	if dtmf != 0 {
		pt := strconv.Itoa(int(dtmf))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("rtpmap", pt+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", pt+" 0-16"))
	}
	md.Attributes = append(md.Attributes,
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute(string(dir)))
	return md
}

// withTransport sets md's transport (RTP/AVP or RTP/SAVP) and adds the
// a=crypto lines.
func withTransport(md *sdp.MediaDescription, proto string, crypto []string) *sdp.MediaDescription {
	if proto == protoSAVP {
		md.MediaName.Protos = []string{"RTP", "SAVP"}
	}
	for _, v := range crypto {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("crypto", v))
	}
	return md
}
