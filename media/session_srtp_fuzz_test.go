package media_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/clubline/clubline/media"
)

// FuzzHandlePacketSRTP feeds what anyone can send to an SRTP port (the
// input format of FuzzHandlePacket) to a session that holds keys the
// sender does not know: nothing is received, recorded or pressed, and
// every packet is counted as ignored, unauthenticated or replayed. The
// suite has an 80-bit tag, which no fuzzer guesses.
func FuzzHandlePacketSRTP(f *testing.F) {
	remoteKey := bytes.Repeat([]byte{0x3c}, 30)
	for _, seed := range packetSeeds(f) {
		f.Add(seed)
	}
	// A sealed packet with one bit changed, cut short, and with its tag cut.
	sealed := newSealer(f, media.SuiteAESCM128SHA1_80, remoteKey).next(make([]byte, 160))
	flipped := bytes.Clone(sealed)
	flipped[30] ^= 4
	f.Add(append([]byte{101, 0, byte(len(flipped))}, flipped...))
	f.Add(append([]byte{101, 0, 20}, sealed[:20]...))
	f.Add(append([]byte{101, 1, byte(len(sealed) - 10)}, sealed[:len(sealed)-10]...))

	conn, err := media.ListenRTP(loopback, 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	sources := [2]netip.AddrPort{ap("192.0.2.7:4000"), ap("198.51.100.9:5000")}
	keys := &media.SRTPKeys{Suite: media.SuiteAESCM128SHA1_80, LocalKey: make([]byte, 30), RemoteKey: remoteKey}

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		// Idle: no goroutine, and never closed, as that would close conn.
		s := media.NewIdleSession(media.SessionConfig{Conn: conn, Remote: sources[0], Codec: media.PCMU,
			DTMFPayloadType: in[0] & 0x7f, Timeout: -1, SRTP: keys})
		s.StartRecording()
		fed := 0
		var frame media.Frame
		for rest := in[1:]; len(rest) >= 2; {
			from, n := sources[rest[0]&1], min(int(rest[1]), len(rest)-2)
			s.HandlePacket(rest[2:2+n], from)
			rest = rest[2+n:]
			fed++
		}
		st := s.Stats()
		if s.PopFrame(&frame) || len(s.Digits()) > 0 || st.PacketsReceived != 0 {
			t.Fatalf("something got through without the key: %+v", st)
		}
		if st.PacketsIgnored+st.PacketsUnauthenticated+st.PacketsReplayed != uint64(fed) {
			t.Fatalf("%d packets fed, stats %+v", fed, st)
		}
	})
}
