package media_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubline/clubline/media"
)

// The 20 ms paths run on idle sessions (goroutines not started), driven
// frame by frame through the hooks of export_test.go.

func idleSession(tb testing.TB) (*media.Session, netip.AddrPort) {
	tb.Helper()
	conn, err := media.ListenRTP(loopback, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	sink, err := media.ListenRTP(loopback, 0, 0) // receives and drops what is sent
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sink.Close() })
	s := media.NewIdleSession(media.SessionConfig{Conn: conn, Remote: addrOf(sink),
		Codec: media.PCMU, DTMFPayloadType: 101})
	tb.Cleanup(func() { s.Close() })
	return s, addrOf(sink)
}

func rtpPacket(tb testing.TB, seq uint16, ts uint32) []byte {
	tb.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: 7},
		Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The media path allocates nothing per frame in steady state.
func TestSessionFramePathsDoNotAllocate(t *testing.T) {
	s, peer := idleSession(t)
	f := toneFrame(t, 1000, 8000)
	s.Tick() // warm up
	if n := testing.AllocsPerRun(200, s.Tick); n != 0 {
		t.Errorf("sending a silent frame allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { s.QueueFrame(&f); s.Tick() }); n != 0 {
		t.Errorf("sending a played frame allocates %v times", n)
	}
	s.StartRecording()
	pkts := make([][]byte, 256)
	for i := range pkts {
		pkts[i] = rtpPacket(t, uint16(i), uint32(i)*160)
	}
	i := 0
	var out media.Frame
	receive := func() {
		s.HandlePacket(pkts[i%len(pkts)], peer)
		if !s.PopFrame(&out) {
			t.Fatalf("no frame after packet %d", i)
		}
		i++
	}
	receive()
	if n := testing.AllocsPerRun(200, receive); n != 0 {
		t.Errorf("receiving a frame allocates %v times", n)
	}
	if st := s.Stats(); st.SendErrors != 0 || st.PacketsSent == 0 || st.PacketsReceived == 0 {
		t.Errorf("stats %+v", st)
	}
}

func BenchmarkSessionSendFrame(b *testing.B) {
	s, _ := idleSession(b)
	f := toneFrame(b, 1000, 8000)
	b.ReportAllocs()
	for b.Loop() {
		s.QueueFrame(&f)
		s.Tick()
	}
}

func BenchmarkSessionReceiveFrame(b *testing.B) {
	s, peer := idleSession(b)
	s.StartRecording()
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = rtpPacket(b, uint16(i), uint32(i)*160)
	}
	var out media.Frame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.HandlePacket(pkts[i%len(pkts)], peer)
		s.PopFrame(&out)
	}
}

func BenchmarkToneLevel(b *testing.B) {
	samples := media.Flatten(readAll(b, media.Tone(1000, 200*time.Millisecond, 8000)))
	for b.Loop() {
		media.ToneLevel(samples, 1000)
	}
}
