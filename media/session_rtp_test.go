package media_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubline/clubline/media"
)

// Crafted packets from a raw socket: reordering, duplicates, loss,
// timestamp gaps, telephone-events, symmetric RTP.

func TestSessionRecordReordersAndConceals(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Timeout: -1})
	to := s.LocalAddr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newFrameSink()
	go func() { _ = s.Record(ctx, sink) }()

	// Packet k carries 160 copies of one code, distinct per k.
	code := func(k int) byte { return media.EncodeULaw(int16(500 * (k + 1))) }
	value := func(k int) int16 { return media.DecodeULaw(code(k)) }
	const ts0 = 0xFFFFF000 // the timestamp wraps during the test
	send := func(k int, tsFrames int) {
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = code(k)
		}
		peer.send(to, rtp.Header{PayloadType: 0, SequenceNumber: 65530 + uint16(k), // wraps too
			Timestamp: ts0 + uint32(tsFrames)*160}, payload)
	}
	// Record starts asynchronously: repeat packet 0 until it is heard.
	for len(sink.snapshot()) == 0 {
		send(0, 0)
		select {
		case <-sink.more:
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, k := range []int{2, 1, 3, 3, 5, 6, 7, 8, 9, 10} { // 4 is lost, 3 doubled
		send(k, k)
	}
	send(11, 14) // silence suppression: 3 frames without packets
	send(4, 4)   // far too late
	send(12, 15)
	send(12, 15) // duplicate
	send(13, 16)

	want := []int16{value(0), value(1), value(2), value(3), 0, value(5), value(6), value(7),
		value(8), value(9), value(10), 0, 0, 0, value(11), value(12), value(13)}
	got := sink.waitFrames(t, len(want))
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i, f := range got {
		for _, v := range f {
			if v != want[i] {
				t.Fatalf("frame %d holds %d, want %d everywhere (frames: %v)", i, v, want[i], firstSamples(got))
			}
		}
	}
	st := s.Stats()
	if st.PacketsLate < 3 {
		t.Errorf("PacketsLate = %d, want at least 3 (late 4, duplicates 3 and 12)", st.PacketsLate)
	}
}

func firstSamples(frames []media.Frame) []int16 {
	out := make([]int16, len(frames))
	for i := range frames {
		out[i] = frames[i][0]
	}
	return out
}

func TestSessionReceiveDTMF(t *testing.T) {
	const stop = 11 // '#' ends each case
	tests := []struct {
		name string
		send func(p *rawPeer, to netip.AddrPort)
		want string
	}{
		{
			name: "five updates and three end packets are one digit",
			send: func(p *rawPeer, to netip.AddrPort) {
				for i := range 5 {
					p.sendEvent(to, 8000, i == 0, 5, false, uint16(160*(i+1)))
				}
				for range 3 {
					p.sendEvent(to, 8000, false, 5, true, 800)
				}
			},
			want: "5",
		},
		{
			name: "lost first packet, so no marker",
			send: func(p *rawPeer, to netip.AddrPort) {
				for i := 1; i < 4; i++ {
					p.sendEvent(to, 8000, false, 7, false, uint16(160*(i+1)))
				}
				for range 3 {
					p.sendEvent(to, 8000, false, 7, true, 640)
				}
			},
			want: "7",
		},
		{
			name: "only end packets",
			send: func(p *rawPeer, to netip.AddrPort) {
				for range 3 {
					p.sendEvent(to, 8000, false, 0, true, 640)
				}
			},
			want: "0",
		},
		{
			name: "the same digit twice",
			send: func(p *rawPeer, to netip.AddrPort) {
				for _, ts := range []uint32{8000, 12000} {
					p.sendEvent(to, ts, true, 1, false, 160)
					p.sendEvent(to, ts, false, 1, false, 320)
					for range 3 {
						p.sendEvent(to, ts, false, 1, true, 320)
					}
				}
			},
			want: "11",
		},
		{
			name: "a late end packet of the previous event",
			send: func(p *rawPeer, to netip.AddrPort) {
				p.sendEvent(to, 8000, true, 2, false, 160)
				p.sendEvent(to, 8000, false, 2, true, 320)
				p.sendEvent(to, 12000, true, 3, false, 160)
				p.sendEvent(to, 8000, false, 2, true, 320) // reordered, late
				p.sendEvent(to, 12000, false, 3, true, 320)
			},
			want: "23",
		},
		{
			name: "a late end packet of an event after the SSRC changed",
			send: func(p *rawPeer, to netip.AddrPort) {
				first := p.ssrc
				p.sendEvent(to, 8000, true, 4, true, 160)
				p.ssrc = 0x5eed
				p.sendEvent(to, 50000, true, 6, true, 160)
				p.ssrc = first
				p.sendEvent(to, 8000, false, 4, true, 160) // late repeat
				p.ssrc = 0x5eed
			},
			want: "46",
		},
		{
			name: "a long press split in two segments",
			send: func(p *rawPeer, to netip.AddrPort) {
				p.sendEvent(to, 8000, true, 9, false, 0xFFFF)
				p.sendEvent(to, 8000+0xFFFF, false, 9, false, 160)
				p.sendEvent(to, 8000+0xFFFF, false, 9, true, 320)
			},
			want: "9",
		},
		{
			name: "star, hash-free letters, and an unknown event",
			send: func(p *rawPeer, to netip.AddrPort) {
				p.sendEvent(to, 8000, true, 10, true, 160)
				p.sendEvent(to, 9000, true, 16, true, 160) // flash: not a digit
				p.sendEvent(to, 10000, true, 13, true, 160)
			},
			want: "*B",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			peer := newRawPeer(t)
			s := startSession(t, media.SessionConfig{Remote: peer.addr(), DTMFPayloadType: 101, Timeout: -1})
			tt.send(peer, s.LocalAddr())
			peer.sendEvent(s.LocalAddr(), 1_000_000, true, stop, true, 160)
			if got := digitsUntil(t, s, '#'); got != tt.want {
				t.Errorf("digits %q, want %q", got, tt.want)
			}
		})
	}
}

// RFC 4733 on the wire: marker on the first event packet, one timestamp for
// the event, growing durations, three end packets, sequence numbers shared
// with audio, and a marker on the audio that follows.
func TestSessionSendDigitOnTheWire(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), DTMFPayloadType: 101})
	first, _ := peer.recv() // the stream has started
	sent := make(chan error, 1)
	go func() { sent <- s.SendDigit(context.Background(), '#', 60*time.Millisecond) }()

	pkts := []rtp.Packet{first}
	for {
		p, _ := peer.recv()
		pkts = append(pkts, p)
		if n := len(pkts); n >= 2 && pkts[n-2].PayloadType == 101 && p.PayloadType == 0 {
			break
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("SendDigit: %v", err)
	}
	start := 0
	for pkts[start].PayloadType != 101 {
		start++
	}
	if start == 0 {
		t.Fatal("no audio packet before the event")
	}
	ev := pkts[start : len(pkts)-1]
	before, after := pkts[start-1], pkts[len(pkts)-1]
	if len(ev) != 6 {
		t.Fatalf("%d event packets, want 3 + 3 end packets", len(ev))
	}
	wantDur := []uint16{160, 320, 480, 480, 480, 480}
	for i, p := range ev {
		if p.SequenceNumber != before.SequenceNumber+uint16(i+1) {
			t.Errorf("event packet %d: seq %d, want %d", i, p.SequenceNumber, before.SequenceNumber+uint16(i+1))
		}
		if p.Timestamp != before.Timestamp+160 || p.Marker != (i == 0) {
			t.Errorf("event packet %d: ts %d marker %v", i, p.Timestamp, p.Marker)
		}
		end := p.Payload[1]&0x80 != 0
		dur := uint16(p.Payload[2])<<8 | uint16(p.Payload[3])
		if p.Payload[0] != 11 || end != (i >= 3) || dur != wantDur[i] || len(p.Payload) != 4 {
			t.Errorf("event packet %d: payload % x", i, p.Payload)
		}
	}
	if after.SequenceNumber != ev[5].SequenceNumber+1 || !after.Marker ||
		after.Timestamp != ev[0].Timestamp+6*160 {
		t.Errorf("audio after the event: seq %d marker %v ts %d (event ts %d)",
			after.SequenceNumber, after.Marker, after.Timestamp, ev[0].Timestamp)
	}
}

// Symmetric RTP: once the peer's packets arrive from another address than
// its SDP said, we send there; a third party is then ignored.
func TestSessionSymmetricRTP(t *testing.T) {
	checkLeaks(t)
	sdpAddr, real, stranger := newRawPeer(t), newRawPeer(t), newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: sdpAddr.addr(), Codec: media.PCMU, Timeout: -1})
	if _, from := sdpAddr.recv(); from != s.LocalAddr() {
		t.Fatalf("first packets must go to the SDP address")
	}
	// The real peer sends (from behind its NAT) until our packets reach it.
	got := make(chan struct{})
	go func() {
		defer close(got)
		real.recv()
	}()
	for seq := uint16(1); ; seq++ {
		real.send(s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160},
			make([]byte, 160))
		select {
		case <-got:
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	ignored := s.Stats().PacketsIgnored
	stranger.send(s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 9, Timestamp: 9}, make([]byte, 160))
	real.send(s.LocalAddr(), rtp.Header{PayloadType: 18, SequenceNumber: 5000, Timestamp: 5000}, make([]byte, 20)) // G.729: not ours
	real.send(s.LocalAddr(), rtp.Header{}, nil)                                                                    // header only, PT 0: fine
	if _, err := real.conn.WriteToUDPAddrPort([]byte("not rtp"), s.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLimit)
	for s.Stats().PacketsIgnored < ignored+3 {
		if time.Now().After(deadline) {
			t.Fatalf("ignored %d packets, want %d", s.Stats().PacketsIgnored, ignored+3)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 3 {
		if _, from := real.recv(); from != s.LocalAddr() {
			t.Fatal("unexpected sender")
		}
	}
}

// A re-INVITE puts the stream on hold (recvonly: we stop sending), then
// resumes it with another codec: the stream continues with a marker.
func TestSessionUpdate(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Codec: media.PCMU, Timeout: -1})
	last, _ := peer.recv()
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirRecvOnly})
	// At most one packet can be on its way after Update returns.
	if err := peer.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	late := 0
	for {
		n, _, err := peer.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		late++
		if err := last.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
	}
	if late > 2 {
		t.Errorf("%d packets sent on hold", late)
	}
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMA, Direction: media.DirSendRecv})
	p, _ := peer.recv()
	if p.PayloadType != 8 || !p.Marker || p.SequenceNumber != last.SequenceNumber+1 ||
		p.SSRC != last.SSRC || p.Timestamp-last.Timestamp < 160*5 {
		t.Errorf("after resume: PT %d marker %v seq %d (last %d) ts +%d", p.PayloadType, p.Marker,
			p.SequenceNumber, last.SequenceNumber, p.Timestamp-last.Timestamp)
	}
}
