package media_test

import (
	"testing"

	"github.com/clubline/clubline/media"
)

// The 20 ms paths with SRTP, to set against BenchmarkSessionSendFrame and
// BenchmarkSessionReceiveFrame (plain RTP), on idle sessions driven frame
// by frame.

func srtpBenchSession(b *testing.B, suite string, keyLen int) (*media.Session, *media.SRTPKeys) {
	b.Helper()
	keys := &media.SRTPKeys{Suite: suite, LocalKey: randomKey(b, keyLen), RemoteKey: randomKey(b, keyLen)}
	s, peer := idleSession(b)
	s.Update(media.Negotiated{Remote: peer, Codec: media.PCMU, DTMFPayloadType: 101,
		Direction: media.DirSendRecv, SRTP: keys})
	return s, keys
}

func BenchmarkSessionSendFrameSRTP(b *testing.B) {
	for _, suite := range suites {
		b.Run(suite.name, func(b *testing.B) {
			s, _ := srtpBenchSession(b, suite.name, suite.keyLen)
			f := toneFrame(b, 1000, 8000)
			b.ReportAllocs()
			for b.Loop() {
				s.QueueFrame(&f)
				s.Tick()
			}
			if st := s.Stats(); st.SendErrors != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// Each packet is received once (the replay window drops it the second
// time), so they are sealed in batches with the timer stopped.
func BenchmarkSessionReceiveFrameSRTP(b *testing.B) {
	for _, suite := range suites {
		b.Run(suite.name, func(b *testing.B) {
			s, keys := srtpBenchSession(b, suite.name, suite.keyLen)
			s.StartRecording()
			f := toneFrame(b, 1000, 8000)
			payload := media.PCMU.Encode(nil, &f)
			seal := newSealer(b, suite.name, keys.RemoteKey)
			pkts := make([][]byte, 4096)
			from := s.LocalAddr() // any address: the first packet latches it
			var out media.Frame
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%len(pkts) == 0 {
					b.StopTimer()
					for j := range pkts {
						pkts[j] = seal.next(payload)
					}
					b.StartTimer()
				}
				s.HandlePacket(pkts[i%len(pkts)], from)
				s.PopFrame(&out)
			}
			if st := s.Stats(); st.PacketsUnauthenticated != 0 || st.PacketsReplayed != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}
