package media_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/clubline/clubline/media"
)

// offerAt is a one-stream PCMU offer whose session-level c= is conn
// ("IN IP4 224.0.0.1"), with dir as its direction attribute.
func offerAt(conn, dir string) string {
	return "v=0\r\no=- 1 2 IN IP4 192.0.2.30\r\ns=-\r\nc=" + conn + "\r\nt=0 0\r\n" +
		"m=audio 3456 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=" + dir + "\r\n"
}

// Finding 11 of issue 7: offers whose media address clubline must not
// send RTP to are refused, with an error the SIP side turns into 488.
func TestAnswerRefusesUnusableAddresses(t *testing.T) {
	v6Local := ourLocal
	v6Local.Addr = ap("[2001:db8::1]:20000")
	tests := []struct {
		name  string
		offer string
		local *media.Local
		want  error
	}{
		{"IPv4 multicast", offerAt("IN IP4 224.0.0.1", "sendrecv"), nil, media.ErrMulticast},
		{"IPv4 multicast with a TTL", offerAt("IN IP4 233.252.0.1/127", "sendrecv"), nil, media.ErrMulticast},
		{"IPv4 multicast, receive only", offerAt("IN IP4 239.1.2.3", "recvonly"), nil, media.ErrMulticast},
		{"limited broadcast", offerAt("IN IP4 255.255.255.255", "sendrecv"), nil, media.ErrBroadcast},
		{"IPv6 offer to IPv4 RTP", offerAt("IN IP6 2001:db8::7", "sendrecv"), nil, media.ErrAddressFamily},
		{"IPv6 hold (::) to IPv4 RTP", offerAt("IN IP6 ::", "sendrecv"), nil, media.ErrAddressFamily},
		{"IPv4 offer to IPv6 RTP", offerAt("IN IP4 192.0.2.30", "sendrecv"), &v6Local, media.ErrAddressFamily},
		{"IPv6 multicast to IPv6 RTP", offerAt("IN IP6 ff02::1", "sendrecv"), &v6Local, media.ErrMulticast},
		{"IP4 that is an IPv6 address", offerAt("IN IP4 2001:db8::7", "sendrecv"), nil, media.ErrBadSDP},
		{"IP6 that is an IPv4 address", offerAt("IN IP6 192.0.2.30", "sendrecv"), nil, media.ErrBadSDP},
		{
			name: "media-level multicast wins over a session unicast",
			offer: strings.Replace(offerAt("IN IP4 192.0.2.30", "sendrecv"),
				"a=rtpmap", "c=IN IP4 224.2.1.1/16\r\na=rtpmap", 1),
			want: media.ErrMulticast,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := ourLocal
			if tt.local != nil {
				local = *tt.local
			}
			answer, n, err := media.Answer([]byte(tt.offer), local)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Answer: err = %v (negotiated %+v), want %v", err, n, tt.want)
			}
			if answer != nil {
				t.Errorf("an answer came with the error:\n%s", answer)
			}
			if _, err := media.ParseAnswer([]byte(tt.offer), local); !errors.Is(err, tt.want) {
				t.Errorf("ParseAnswer of the same SDP: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAnswerSkipsAMulticastStreamForAUnicastOne(t *testing.T) {
	offer := "v=0\r\no=- 1 2 IN IP4 192.0.2.30\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 224.0.0.1\r\n" +
		"m=audio 5002 RTP/AVP 0\r\nc=IN IP4 192.0.2.30\r\n"
	answer, n, err := media.Answer([]byte(offer), ourLocal)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if n.Remote != ap("192.0.2.30:5002") {
		t.Errorf("RTP goes to %v, want the unicast stream 192.0.2.30:5002", n.Remote)
	}
	checkAnswer(t, answer, offer, ourLocal, n, []int{0})
}

func TestAnswerIPv6BothEnds(t *testing.T) {
	local := ourLocal
	local.Addr = ap("[2001:db8::1]:20000")
	answer, n, err := media.Answer([]byte(offerAt("IN IP6 2001:db8::7", "sendrecv")), local)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if n.Remote != ap("[2001:db8::7]:3456") || !n.CanSend() {
		t.Errorf("negotiated %+v, want RTP to [2001:db8::7]:3456", n)
	}
	if !strings.Contains(string(answer), "c=IN IP6 2001:db8::1\r\n") {
		t.Errorf("answer does not give our IPv6 address:\n%s", answer)
	}
}

// RFC 3264 §8.4: c=0.0.0.0 means "send nothing to me". The peer is on hold
// as if it had written sendonly (or inactive, if it would not send either),
// and the answer still gives our own address and port.
func TestAnswerOldStyleHold(t *testing.T) {
	tests := []struct {
		peer           string
		ours, peerSeen media.Direction
	}{
		{"sendrecv", media.DirRecvOnly, media.DirSendOnly},
		{"sendonly", media.DirRecvOnly, media.DirSendOnly},
		{"recvonly", media.DirInactive, media.DirInactive},
		{"inactive", media.DirInactive, media.DirInactive},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			offer := offerAt("IN IP4 0.0.0.0", tt.peer)
			answer, n, err := media.Answer([]byte(offer), ourLocal)
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			if n.CanSend() {
				t.Errorf("CanSend() with c=0.0.0.0: RTP would go to %v", n.Remote)
			}
			if n.Direction != tt.ours || n.RemoteDirection != tt.peerSeen {
				t.Errorf("directions: ours %q, peer %q; want %q, %q", n.Direction, n.RemoteDirection, tt.ours, tt.peerSeen)
			}
			checkAnswer(t, answer, offer, ourLocal, n, nil)

			got, err := media.ParseAnswer([]byte(offer), ourLocal)
			if err != nil || got.CanSend() || got.RemoteDirection != tt.peerSeen {
				t.Errorf("ParseAnswer: %+v, %v; want no sending and peer %q", got, err, tt.peerSeen)
			}
		})
	}
	// The re-INVITE that gives an address again takes the call off hold.
	_, n, err := media.Answer([]byte(offerAt("IN IP4 192.0.2.30", "sendrecv")), ourLocal)
	if err != nil || !n.CanSend() || n.Direction != media.DirSendRecv {
		t.Errorf("offer with an address after the hold: %+v, %v", n, err)
	}
}
