package media_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/clubline/clubline/media"
)

// FuzzHandlePacket feeds what anyone on the internet can send to an RTP
// port through the reader's packet handling (RTP parsing, symmetric RTP,
// RFC 4733 events, the jitter buffer and Record's frames), with no socket.
//
// An input is one configuration byte, then packets: a byte whose low bit
// picks one of two source addresses, a length byte, and that many bytes.
// The configuration's top bit picks PCMA over PCMU and its low 7 bits are
// the telephone-event payload type (0: none).
func FuzzHandlePacket(f *testing.F) {
	for _, seed := range packetSeeds(f) {
		f.Add(seed)
	}
	conn, err := media.ListenRTP(loopback, 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	sources := [2]netip.AddrPort{ap("192.0.2.7:4000"), ap("198.51.100.9:5000")}

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		cfg := media.SessionConfig{Conn: conn, Remote: sources[0], Codec: media.PCMU,
			DTMFPayloadType: in[0] & 0x7f, Timeout: -1}
		if in[0]&0x80 != 0 {
			cfg.Codec = media.PCMA
		}
		// Idle: no goroutine, and never closed, as that would close conn.
		s := media.NewIdleSession(cfg)
		s.StartRecording()
		var (
			fed, samples, bound int
			digits              strings.Builder
			events              = map[[2]uint32]bool{} // (SSRC, timestamp) of telephone-events
			frame               media.Frame
			pkt                 rtp.Packet
		)
		for rest := in[1:]; len(rest) >= 2; {
			from, n := sources[rest[0]&1], min(int(rest[1]), len(rest)-2)
			b := rest[2 : 2+n]
			rest = rest[2+n:]
			if pkt.Unmarshal(b) == nil && cfg.DTMFPayloadType != 0 && pkt.PayloadType == cfg.DTMFPayloadType {
				events[[2]uint32{pkt.SSRC, pkt.Timestamp}] = true
			}
			s.HandlePacket(b, from)
			fed++
			// A packet is at most a full jitter slot of G.711 and a gap
			// of silence (5 s) before it.
			bound += 480 + 5*media.SampleRate
			for s.PopFrame(&frame) {
				if samples += media.FrameSamples; samples > bound+media.FrameSamples {
					t.Fatalf("%d samples of audio out of %d packets", samples, fed)
				}
			}
			for len(s.Digits()) > 0 {
				digits.WriteRune(<-s.Digits())
			}
		}
		for _, d := range digits.String() {
			if !strings.ContainsRune("0123456789*#ABCD", d) {
				t.Fatalf("digit %q delivered", d)
			}
		}
		if got := digits.Len(); got > len(events) {
			t.Fatalf("%d digits from %d telephone-events", got, len(events))
		}
		st := s.Stats()
		if st.PacketsReceived+st.PacketsIgnored != uint64(fed) || st.DigitsDropped != 0 {
			t.Fatalf("%d packets fed, stats %+v", fed, st)
		}
	})
}

// packetSeeds are well-formed streams and the shapes a fuzzer takes long
// to find: key presses as RFC 4733 sends them, reordered audio, a new
// SSRC, and headers with padding, CSRCs and an extension.
func packetSeeds(tb testing.TB) [][]byte {
	event := func(ssrc uint32, seq uint16, ts uint32, ev byte, end bool, dur uint16) []byte {
		payload := []byte{ev, 10, 0, 0}
		if end {
			payload[1] |= 0x80
		}
		binary.BigEndian.PutUint16(payload[2:], dur)
		return marshalRTP(tb, rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, payload)
	}
	audio := func(ssrc uint32, seq uint16, ts uint32, n int) []byte {
		return marshalRTP(tb, rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, make([]byte, n))
	}
	stream := func(cfg byte, pkts ...[]byte) []byte {
		out := []byte{cfg}
		for i, p := range pkts {
			out = append(out, byte(i%3/2), byte(len(p))) // now and then from the second source
			out = append(out, p...)
		}
		return out
	}
	keyPress := []([]byte){
		event(7, 1, 8000, 5, false, 160), event(7, 2, 8000, 5, false, 320),
		event(7, 3, 8000, 5, true, 480), event(7, 4, 8000, 5, true, 480), event(7, 5, 8000, 5, true, 480),
	}
	longPress := [][]byte{
		event(7, 1, 8000, 9, false, 0xFFFF), event(7, 2, 8000+0xFFFF, 9, false, 160),
		event(7, 3, 8000+0xFFFF, 9, true, 320),
	}
	reordered := [][]byte{audio(9, 10, 0, 160), audio(9, 12, 320, 160), audio(9, 11, 160, 160),
		audio(9, 40000, 99999, 160), audio(10, 1, 5, 80)}
	odd := [][]byte{
		marshalRTP(tb, rtp.Header{Version: 2, Padding: true, PaddingSize: 3, CSRC: []uint32{1, 2}, SequenceNumber: 1}, make([]byte, 10)),
		marshalRTP(tb, rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0xBEDE, SequenceNumber: 2}, make([]byte, 160)),
		{0x80, 101, 0, 1},                                                    // shorter than a header
		event(7, 6, 9000, 16, true, 160), event(7, 7, 10000, 255, true, 160), // flash, no event
	}
	return [][]byte{
		stream(101, keyPress...), stream(101, longPress...), stream(0x80|101, reordered...),
		stream(101, odd...), stream(0, keyPress...), {101},
	}
}

func marshalRTP(tb testing.TB, h rtp.Header, payload []byte) []byte {
	tb.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
