package media_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubline/clubline/media"
)

// recvWithin reads the next RTP packet sent to the peer, or reports that
// none came within d.
func (p *rawPeer) recvWithin(d time.Duration) (rtp.Packet, bool) {
	p.t.Helper()
	buf := make([]byte, 1500)
	if err := p.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		p.t.Fatal(err)
	}
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return rtp.Packet{}, false
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("not RTP: %v", err)
	}
	return pkt, true
}

// A phone with voice activity detection sends nothing while silent; its
// audio after a silence starts a talkspurt (marker), the timestamp counting
// the frames it did not send, the sequence number only the packets sent.
func TestSessionSendNothingWhileSilent(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Silence: media.SendNothing})
	if p, ok := peer.recvWithin(300 * time.Millisecond); ok {
		t.Fatalf("a silent session sent a packet: PT %d, %d bytes", p.PayloadType, len(p.Payload))
	}
	talkspurt := func() (first, last rtp.Packet) {
		t.Helper()
		if err := s.Play(context.Background(), media.Tone(1000, 100*time.Millisecond, 8000)); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			p, ok := peer.recvWithin(waitLimit)
			if !ok || p.PayloadType != 0 || p.Marker != (i == 0) || (i > 0 && p.SequenceNumber != last.SequenceNumber+1) {
				t.Fatalf("packet %d of the tone: received %v, PT %d, marker %v, seq %d after %d",
					i, ok, p.PayloadType, p.Marker, p.SequenceNumber, last.SequenceNumber)
			}
			if i == 0 {
				first = p
			}
			last = p
		}
		return first, last
	}
	_, end := talkspurt()
	if p, ok := peer.recvWithin(300 * time.Millisecond); ok {
		t.Fatalf("a packet after the tone: PT %d", p.PayloadType)
	}
	next, _ := talkspurt()
	if next.SequenceNumber != end.SequenceNumber+1 {
		t.Errorf("sequence %d after %d: the silence used sequence numbers", next.SequenceNumber, end.SequenceNumber)
	}
	if gap := next.Timestamp - end.Timestamp; gap < 15*160 {
		t.Errorf("timestamp moved %d samples over a silence of 300 ms or more, want at least 2400", gap)
	}
}

// A phone that sends comfort noise sends one RFC 3389 packet when the
// silence starts, then one a second, and its audio in between.
func TestSessionSendComfortNoise(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Silence: media.SendComfortNoise})
	cn, ok := peer.recvWithin(waitLimit)
	if !ok || cn.PayloadType != media.ComfortNoisePayloadType || len(cn.Payload) != 1 {
		t.Fatalf("first packet: received %v, PT %d, %d bytes; want one CN packet", ok, cn.PayloadType, len(cn.Payload))
	}
	next, ok := peer.recvWithin(waitLimit)
	if !ok || next.PayloadType != media.ComfortNoisePayloadType || next.SequenceNumber != cn.SequenceNumber+1 {
		t.Fatalf("second packet: received %v, PT %d, seq %d after %d", ok, next.PayloadType, next.SequenceNumber, cn.SequenceNumber)
	}
	if gap := next.Timestamp - cn.Timestamp; gap != 50*160 {
		t.Errorf("CN packets %d samples apart, want one second (8000)", gap)
	}
	if err := s.Play(context.Background(), media.Tone(1000, 60*time.Millisecond, 8000)); err != nil {
		t.Fatal(err)
	}
	var pts []uint8
	var marker []bool
	for len(pts) < 4 {
		p, ok := peer.recvWithin(waitLimit)
		if !ok {
			t.Fatalf("after %v: no more packets", pts)
		}
		pts, marker = append(pts, p.PayloadType), append(marker, p.Marker)
	}
	// Maybe one more periodic CN before the tone; then the tone's three
	// frames, the first with the marker, then CN as the silence starts again.
	if pts[0] == media.ComfortNoisePayloadType {
		pts, marker = pts[1:], marker[1:]
	}
	if pts[0] != 0 || pts[1] != 0 || pts[2] != 0 || !marker[0] || marker[1] {
		t.Errorf("packets after Play: PT %v marker %v; want 0 0 0 (marker on the first) then 13", pts, marker)
	}
	if len(pts) == 4 && pts[3] != media.ComfortNoisePayloadType {
		t.Errorf("after the tone: PT %d, want comfort noise", pts[3])
	}
}
