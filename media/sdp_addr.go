package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/sdp/v3"
)

// Where RTP may go: the connection address (c=) of an offer or an answer.
//
// Decisions (issue 7, finding 11):
//
//   - Multicast (224.0.0.0/4, ff00::/8) is refused: a call is one peer,
//     and RTP sent to a group reaches whoever joined it. Accepting would
//     also mean answering with the same group (RFC 3264 §6.2). Maps to
//     488 with Warning 330 "Multicast not available" (RFC 3261 §20.43).
//   - The limited broadcast 255.255.255.255 is refused: it is never a
//     peer, and every host on our segment would receive the audio.
//     A subnet broadcast (192.0.2.255/24) looks like a host without the
//     peer's netmask and is not caught; symmetric RTP moves us to the
//     peer's real source as soon as it sends.
//   - The peer's address must be of the family of our own c= (Local.Addr):
//     there is one c= per stream and no ICE, so an IPv6 peer could not
//     reach our IPv4 address, and an IPv4 socket cannot send to IPv6
//     ("non-IPv4 address"). ListenRTP binds the family it is given, and
//     clubline advertises IPv4 unless SIP listens on IPv6 or the public
//     address is IPv6, so in practice an IPv6 offer gets 488 with
//     Warning 301 "Incompatible network address formats".
//   - 0.0.0.0 (and :: for IPv6) is the RFC 2543 hold, which RFC 3264
//     §8.4 says an answerer MUST accept: "neither RTP nor RTCP is to be
//     sent to the peer". The offer is answered with our real address;
//     nothing is sent; the peer is taken as not receiving (its sendrecv
//     reads sendonly, its recvonly reads inactive), so a staff phone that
//     holds this way is seen on hold, as Asterisk's res_pjsip_sdp_rtp
//     does. The next offer with an address resumes.
//   - IP4 and IP6 in c= must match the address written after them; a
//     mismatch is malformed SDP (ErrBadSDP), not a guess.

// Errors for a connection address clubline will not send RTP to. Each is
// wrapped with the address; the SIP side answers 488 with a Warning.
var (
	ErrMulticast     = errors.New("media: multicast media address")
	ErrBroadcast     = errors.New("media: broadcast media address")
	ErrAddressFamily = errors.New("media: media address of another IP family than clubline's RTP")
)

// streamAddr resolves the c= line of the stream or, failing that, of the
// session.
func streamAddr(desc *sdp.SessionDescription, md *sdp.MediaDescription, port int) (netip.AddrPort, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = desc.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.AddrPort{}, fmt.Errorf("%w: no c= line for the audio stream", ErrBadSDP)
	}
	host, _, _ := strings.Cut(ci.Address.Address, "/") // drop a multicast TTL
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %q is not an IP address (host names are not supported)",
			ErrBadSDP, clip(host))
	}
	if (ci.AddressType == "IP4") != addr.Is4() {
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %s is not of type %s", ErrBadSDP, clip(host), ci.AddressType)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// usableRemote reports why clubline must not send RTP to remote, given
// its own RTP address local; nil when it may (or when remote is the
// 0.0.0.0 of a hold, to which nothing is sent).
func usableRemote(remote, local netip.Addr) error {
	remote, local = remote.Unmap(), local.Unmap()
	switch {
	case remote.Is4() != local.Is4():
		return fmt.Errorf("%w: the peer's is %s, clubline's RTP is %s", ErrAddressFamily, family(remote), family(local))
	case remote.IsMulticast():
		return fmt.Errorf("%w %s: clubline sends RTP to one unicast peer", ErrMulticast, remote)
	case remote == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w %s: clubline sends RTP to one unicast peer", ErrBroadcast, remote)
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// peerDirection is the direction the peer wrote, less receiving when its
// address is 0.0.0.0 (RFC 3264 §8.4: send it nothing).
func peerDirection(desc *sdp.SessionDescription, md *sdp.MediaDescription, remote netip.AddrPort) Direction {
	d := streamDirection(desc, md)
	if remote.Addr().IsUnspecified() {
		return (dirBits(d) &^ dirRecv).direction()
	}
	return d
}
