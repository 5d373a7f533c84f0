package media_test

import (
	"bytes"
	"context"
	"strings"
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
		// A Play starved by a loaded machine may leave a frame out (then
		// the next one has the marker again): only the first is checked.
		for i := range 5 {
			p, ok := peer.recvWithin(waitLimit)
			if !ok || p.PayloadType != 0 || (i == 0 && !p.Marker) || (i > 0 && p.SequenceNumber != last.SequenceNumber+1) {
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
	// The tone's three frames, the first with the marker (CN packets
	// before it, or between its frames when a loaded machine starves
	// Play, are skipped), then CN as the silence starts again.
	var tone []rtp.Packet
	for len(tone) < 3 {
		p, ok := peer.recvWithin(waitLimit)
		switch {
		case !ok:
			t.Fatalf("%d packets of the tone, then nothing", len(tone))
		case p.PayloadType == 0:
			tone = append(tone, p)
		case p.PayloadType != media.ComfortNoisePayloadType:
			t.Fatalf("a packet of payload type %d", p.PayloadType)
		}
	}
	if !tone[0].Marker {
		t.Error("the tone's first packet has no marker")
	}
	if after, ok := peer.recvWithin(waitLimit); !ok || after.PayloadType != media.ComfortNoisePayloadType {
		t.Errorf("after the tone: received %t, PT %d; want comfort noise", ok, after.PayloadType)
	}
}

// audioLine returns the m= line of an SDP body.
func audioLine(sdp string) string {
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "m=audio") {
			return l
		}
	}
	return ""
}

// clubline offers comfort noise, and answers it when the offer has it
// (under the static number 13, with or without an rtpmap).
func TestComfortNoiseInSDP(t *testing.T) {
	offer := string(media.Offer(ourLocal))
	if got := audioLine(offer); got != "m=audio 20000 RTP/AVP 0 8 13 101" || !strings.Contains(offer, "a=rtpmap:13 CN/8000\r\n") {
		t.Errorf("offer %q, want CN (13) after the codecs:\n%s", got, offer)
	}
	tests := []struct {
		name, offer, want string
	}{
		{"FreeSWITCH offers CN", crlf(freeswitchOffer), "m=audio 20000 RTP/AVP 8 13 101"},
		{"static 13 without rtpmap", strings.Replace(gatewayOffer, "RTP/AVP 8", "RTP/AVP 8 13", 1), "m=audio 20000 RTP/AVP 8 13"},
		{"Asterisk does not", asteriskOffer, "m=audio 20000 RTP/AVP 0 101"},
		{"CN under a dynamic number", crlf(strings.Replace(freeswitchOffer, "rtpmap:13 CN", "rtpmap:13 G723", 1)) +
			"a=rtpmap:98 CN/8000\r\n", "m=audio 20000 RTP/AVP 8 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer, _, err := media.Answer([]byte(tt.offer), ourLocal)
			if err != nil {
				t.Fatal(err)
			}
			if got := audioLine(string(answer)); got != tt.want {
				t.Errorf("answer %q, want %q:\n%s", got, tt.want, answer)
			}
			hasMap := strings.Contains(string(answer), "a=rtpmap:13 CN/8000\r\n")
			if hasMap != strings.Contains(tt.want, " 13") {
				t.Errorf("rtpmap of CN in the answer: %t\n%s", hasMap, answer)
			}
		})
	}
}

// Comfort noise from the peer is silence: no audio frame comes of it, the
// gap it covers is played as silence once audio resumes, and it keeps the
// session alive past its RTP timeout.
func TestSessionReceiveComfortNoise(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Timeout: 500 * time.Millisecond})
	to := s.LocalAddr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newFrameSink()
	go func() { _ = s.Record(ctx, sink) }()

	speech := media.EncodeULaw(4000)
	seq := uint16(100)
	audio := func(frame int) {
		seq++
		peer.send(to, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(frame) * 160},
			bytes.Repeat([]byte{speech}, 160))
	}
	// Record starts asynchronously: repeat the first frame until it is heard.
	for len(sink.snapshot()) == 0 {
		seq = 100
		audio(0)
		select {
		case <-sink.more:
		case <-time.After(20 * time.Millisecond):
		}
	}
	audio(1)
	// 1.5 s of comfort noise, a packet every 100 ms (5 frames), three
	// times the RTP timeout.
	for frame := 2; frame < 77; frame += 5 {
		seq++
		peer.send(to, rtp.Header{PayloadType: media.ComfortNoisePayloadType, SequenceNumber: seq,
			Timestamp: uint32(frame) * 160}, []byte{70})
		select {
		case <-s.Done():
			t.Fatalf("the session ended during comfort noise: %v", s.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got := len(sink.snapshot()); got != 2 {
		t.Errorf("%d frames recorded during comfort noise, want the 2 of speech only", got)
	}
	audio(77)
	got := sink.waitFrames(t, 78)
	for i, f := range got {
		wantSilent := i >= 2 && i < 77
		if silent := f == (media.Frame{}); silent != wantSilent {
			t.Fatalf("frame %d silent: %t, want %t", i, silent, wantSilent)
		}
	}
	st := s.Stats()
	if st.PacketsIgnored != 0 || st.PacketsLost != 0 {
		t.Errorf("stats %+v: CN packets ignored or counted lost", st)
	}
}
