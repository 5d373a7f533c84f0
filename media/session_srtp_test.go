package media_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/clubline/clubline/media"
)

// suites are the SRTP suites the session tests run with, and pion's
// profile and authentication tag length for each.
var suites = []struct {
	name    string
	profile srtp.ProtectionProfile
	keyLen  int // key || salt
	tagLen  int
}{
	{media.SuiteAESCM128SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, 30, 10},
	{media.SuiteAEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm, 28, 16},
	{media.SuiteAESCM128SHA1_32, srtp.ProtectionProfileAes128CmHmacSha1_32, 30, 4},
}

func randomKey(tb testing.TB, n int) []byte {
	tb.Helper()
	k := make([]byte, n)
	_, _ = rand.Read(k)
	return k
}

// sealer is the far end's SRTP sender (or a forger's), for crafted packets.
type sealer struct {
	tb  testing.TB
	ctx *srtp.Context
	seq uint16
	ts  uint32
}

func newSealer(tb testing.TB, suite string, key []byte) *sealer {
	tb.Helper()
	for _, s := range suites {
		if s.name == suite {
			ctx, err := srtp.CreateContext(key[:16], key[16:], s.profile)
			if err != nil {
				tb.Fatal(err)
			}
			return &sealer{tb: tb, ctx: ctx, seq: 500, ts: 8000}
		}
	}
	tb.Fatalf("no suite %s", suite)
	return nil
}

// next seals the next PCMU packet of the stream with payload.
func (s *sealer) next(payload []byte) []byte {
	s.tb.Helper()
	s.seq++
	s.ts += media.FrameSamples
	plain, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: s.seq,
		Timestamp: s.ts, SSRC: 0x5eed}, Payload: payload}).Marshal()
	if err != nil {
		s.tb.Fatal(err)
	}
	out, err := s.ctx.EncryptRTP(nil, plain, nil)
	if err != nil {
		s.tb.Fatal(err)
	}
	return out
}

// opener decrypts what a session sends, as its peer would.
func opener(tb testing.TB, suite string, key []byte) *srtp.Context {
	tb.Helper()
	return newSealer(tb, suite, key).ctx
}

// srtpNegotiate runs Offer, ParseAnswer and Answer between sockets ca
// (the offerer, SRTPRequired) and cb (SRTPOptional), with only the
// offer's line of suite, and returns what each side negotiated.
func srtpNegotiate(t *testing.T, ca, cb *net.UDPConn, suite string) (na, nb media.Negotiated) {
	t.Helper()
	la := media.Local{Addr: addrOf(ca), SRTP: media.SRTPRequired, SRTPKeyring: media.NewSRTPKeyring()}
	lb := media.Local{Addr: addrOf(cb), SRTP: media.SRTPOptional, SRTPKeyring: media.NewSRTPKeyring()}
	var offer []string
	for _, l := range strings.Split(string(media.Offer(la)), "\r\n") {
		if !strings.HasPrefix(l, "a=crypto:") || strings.Contains(l, " "+suite+" ") {
			offer = append(offer, l)
		}
	}
	answer, nb, err := media.Answer([]byte(strings.Join(offer, "\r\n")), lb)
	if err != nil {
		t.Fatal(err)
	}
	if na, err = media.ParseAnswer(answer, la); err != nil {
		t.Fatal(err)
	}
	if na.SRTP == nil || na.SRTP.Suite != suite || nb.SRTP == nil || nb.SRTP.Suite != suite {
		t.Fatalf("negotiated %v and %v, want %s", na.SRTP, nb.SRTP, suite)
	}
	return na, nb
}

func sessionConfig(conn *net.UDPConn, n media.Negotiated) media.SessionConfig {
	return media.SessionConfig{Conn: conn, Remote: n.Remote, Codec: n.Codec,
		DTMFPayloadType: n.DTMFPayloadType, Direction: n.Direction, SRTP: n.SRTP}
}

// hearTone waits until sink holds n frames of sound and returns them,
// less the first and last two (where the tone may start or stop).
func hearTone(t *testing.T, sink *frameSink, n int) []int16 {
	t.Helper()
	var frames []media.Frame
	deadline := time.Now().Add(waitLimit)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("%d frames recorded, fewer than %d of sound, after %v", len(frames), n, waitLimit)
		}
		frames = sink.waitFrames(t, len(frames)+1)
		var loud []media.Frame
		for i := range frames {
			if frames[i] != (media.Frame{}) {
				loud = append(loud, frames[i])
			}
		}
		if len(loud) >= n {
			return media.Flatten(loud[2 : n-2])
		}
	}
}

// Two sessions negotiate SRTP in SDP and talk both ways over loopback:
// each hears the other's tone, and nothing is dropped.
func TestSessionSRTPToneBothWays(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			checkLeaks(t)
			ca, cb := listenLoopback(t), listenLoopback(t)
			na, nb := srtpNegotiate(t, ca, cb, suite.name)
			a, b := startSession(t, sessionConfig(ca, na)), startSession(t, sessionConfig(cb, nb))

			ctx, cancel := context.WithCancel(context.Background())
			sinkA, sinkB := newFrameSink(), newFrameSink()
			done := make(chan error, 4)
			go func() { done <- a.Record(ctx, sinkA) }()
			go func() { done <- b.Record(ctx, sinkB) }()
			// 50 frames each, of which 30 are enough: Record may start late.
			go func() { done <- a.Play(ctx, media.Tone(1000, time.Second, 8000)) }()
			go func() { done <- b.Play(ctx, media.Tone(1400, time.Second, 8000)) }()

			heardByB, heardByA := hearTone(t, sinkB, 30), hearTone(t, sinkA, 30)
			cancel()
			for range 4 {
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Play or Record: %v", err)
				}
			}
			if !media.DetectTone(heardByB, 1000) || media.DetectTone(heardByB, 1400) {
				t.Errorf("B did not hear A's 1000 Hz alone (levels %.3f, %.3f)",
					media.ToneLevel(heardByB, 1000), media.ToneLevel(heardByB, 1400))
			}
			if !media.DetectTone(heardByA, 1400) || media.DetectTone(heardByA, 1000) {
				t.Errorf("A did not hear B's 1400 Hz alone (levels %.3f, %.3f)",
					media.ToneLevel(heardByA, 1400), media.ToneLevel(heardByA, 1000))
			}
			for name, s := range map[string]*media.Session{"A": a, "B": b} {
				st := s.Stats()
				if st.PacketsReceived < 30 || st.PacketsUnauthenticated != 0 || st.PacketsReplayed != 0 ||
					st.PacketsIgnored != 0 || st.PacketsLost != 0 || st.SendErrors != 0 {
					t.Errorf("%s stats %+v: want 30+ received, nothing dropped", name, st)
				}
				if want := uint64(12 + 160 + suite.tagLen); st.BytesSent != st.PacketsSent*want {
					t.Errorf("%s sent %d bytes in %d packets, want %d a packet", name, st.BytesSent, st.PacketsSent, want)
				}
			}
		})
	}
}

// recvRaw reads the next datagram sent to the peer, as it was on the wire.
func (p *rawPeer) recvRaw() []byte {
	p.t.Helper()
	buf := make([]byte, 1500)
	if err := p.conn.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		p.t.Fatal(err)
	}
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		p.t.Fatalf("no packet: %v", err)
	}
	return buf[:n]
}

// What goes on the wire: the RTP header in clear, the payload encrypted
// (not the G.711 that was played), the suite's authentication tag after
// it; the peer's key opens it, and one flipped bit makes it fail.
func TestSessionSRTPOnTheWire(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			checkLeaks(t)
			peer := newRawPeer(t)
			keys := &media.SRTPKeys{Suite: suite.name, LocalKey: randomKey(t, suite.keyLen), RemoteKey: randomKey(t, suite.keyLen)}
			s := startSession(t, media.SessionConfig{Remote: peer.addr(), Codec: media.PCMU, Timeout: -1, SRTP: keys})
			played := make(chan error, 1)
			go func() { played <- s.Play(context.Background(), media.Tone(1000, 400*time.Millisecond, 8000)) }()

			open := opener(t, suite.name, keys.LocalKey)
			var tone []int16
			for i := 0; len(tone) < 15*media.FrameSamples; i++ {
				if i > 200 {
					t.Fatal("no tone in 200 packets")
				}
				wire := peer.recvRaw()
				if len(wire) != 12+160+suite.tagLen {
					t.Fatalf("packet of %d bytes, want 12 + 160 + a %d-byte tag", len(wire), suite.tagLen)
				}
				flipped := bytes.Clone(wire)
				flipped[40] ^= 0x10
				if _, err := opener(t, suite.name, keys.LocalKey).DecryptRTP(nil, flipped, nil); err == nil {
					t.Fatal("a packet with a flipped bit decrypts")
				}
				plain, err := open.DecryptRTP(nil, wire, nil)
				if err != nil {
					t.Fatalf("packet %d does not open with the local key: %v", i, err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(plain); err != nil || p.PayloadType != 0 || len(p.Payload) != 160 {
					t.Fatalf("decrypted packet: %v, PT %d, %d bytes", err, p.PayloadType, len(p.Payload))
				}
				if !bytes.Equal(wire[:12], plain[:12]) {
					t.Error("the RTP header is not sent in clear")
				}
				if bytes.Contains(wire, p.Payload[:16]) {
					t.Fatalf("packet %d carries its G.711 payload in clear", i)
				}
				var f media.Frame
				media.PCMU.Decode(&f, p.Payload)
				if f != (media.Frame{}) {
					tone = append(tone, f[:]...)
				}
			}
			if err := <-played; err != nil {
				t.Fatal(err)
			}
			if !media.DetectTone(tone, 1000) {
				t.Error("the decrypted audio is not the 1000 Hz played")
			}
		})
	}
}

// waitStat polls a counter until it reaches want.
func waitStat(t *testing.T, s *media.Session, what string, get func(media.SessionStats) uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for get(s.Stats()) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after %v, want %d (%+v)", what, get(s.Stats()), waitLimit, want, s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Packets with a wrong key, a flipped bit, or no SRTP at all are dropped
// and counted, never recorded, and do not move where the session sends;
// a replayed packet is counted apart; the peer's real packets play.
func TestSessionSRTPDropsForgeries(t *testing.T) {
	checkLeaks(t)
	suite := suites[0]
	peer, attacker := newRawPeer(t), newRawPeer(t)
	keys := &media.SRTPKeys{Suite: suite.name, LocalKey: randomKey(t, 30), RemoteKey: randomKey(t, 30)}
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Codec: media.PCMU, Timeout: -1, SRTP: keys})
	sink := newFrameSink()
	ctx, cancel := context.WithCancel(context.Background())
	recorded := make(chan error, 1)
	go func() { recorded <- s.Record(ctx, sink) }()
	defer func() { cancel(); <-recorded }()

	tone := toneFrame(t, 1000, 8000)
	payload := media.PCMU.Encode(nil, &tone)
	wrongKey := newSealer(t, suite.name, randomKey(t, 30))
	rightKey := newSealer(t, suite.name, keys.RemoteKey)
	for range 5 {
		attacker.conn.WriteToUDPAddrPort(wrongKey.next(payload), s.LocalAddr())
		flipped := rightKey.next(payload)
		flipped[20] ^= 1
		attacker.conn.WriteToUDPAddrPort(flipped, s.LocalAddr())
		attacker.seq++
		attacker.send(s.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: attacker.seq, Timestamp: 160 * uint32(attacker.seq)}, payload)
	}
	waitStat(t, s, "PacketsUnauthenticated", func(st media.SessionStats) uint64 { return st.PacketsUnauthenticated }, 15)
	if st := s.Stats(); st.PacketsReceived != 0 || st.PacketsUnauthenticated != 15 || len(sink.snapshot()) != 0 {
		t.Fatalf("forgeries got through: %+v, %d frames recorded", st, len(sink.snapshot()))
	}
	// Still sending to the peer, not to the forger.
	peer.recvRaw()
	if err := attacker.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := attacker.conn.ReadFromUDPAddrPort(make([]byte, 1500)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the forger received RTP (%v): its packets moved the session", err)
	}

	// The peer's own packets play; a replay of one is dropped.
	var last []byte
	for range 10 {
		last = rightKey.next(payload)
		peer.conn.WriteToUDPAddrPort(last, s.LocalAddr())
	}
	peer.conn.WriteToUDPAddrPort(last, s.LocalAddr())
	waitStat(t, s, "PacketsReplayed", func(st media.SessionStats) uint64 { return st.PacketsReplayed }, 1)
	frames := sink.waitFrames(t, 10)
	for i, f := range frames {
		if f != frames[0] {
			t.Fatalf("frame %d differs from frame 0: something else was played", i)
		}
	}
	var want media.Frame
	media.PCMU.Decode(&want, payload)
	if frames[0] != want {
		t.Error("the recorded frame is not the tone the peer sent")
	}
	if st := s.Stats(); st.PacketsReceived != 10 || st.PacketsReplayed != 1 || st.PacketsUnauthenticated != 15 {
		t.Errorf("stats %+v: want 10 received, 1 replayed, 15 unauthenticated", st)
	}
}

// srtpIdle is an idle session (its goroutines not started) with keys,
// sending to a socket the test reads.
func srtpIdle(t *testing.T, keys *media.SRTPKeys) (*media.Session, *rawPeer) {
	t.Helper()
	peer := newRawPeer(t)
	s := media.NewIdleSession(media.SessionConfig{Conn: listenLoopback(t), Remote: peer.addr(),
		Codec: media.PCMU, SRTP: keys})
	t.Cleanup(func() { s.Close() })
	s.StartRecording()
	return s, peer
}

// A re-INVITE's keys switch contexts safely: unchanged keys keep them
// (the replay window remembers), new local keys start a new SSRC, the
// peer's old key still opens what it sent before the switch, and SRTP
// off means plain RTP both ways.
func TestSessionSRTPUpdate(t *testing.T) {
	checkLeaks(t)
	suite := suites[0]
	k1 := &media.SRTPKeys{Suite: suite.name, LocalKey: randomKey(t, 30), RemoteKey: randomKey(t, 30)}
	s, peer := srtpIdle(t, k1)
	from := peer.addr()
	tone := toneFrame(t, 1000, 8000)
	payload := media.PCMU.Encode(nil, &tone)
	received := func() uint64 { return s.Stats().PacketsReceived }

	// sent ticks the clock and reads what went out, opened with open (nil:
	// plain RTP).
	sent := func(open *srtp.Context) rtp.Packet {
		t.Helper()
		s.Tick()
		wire := peer.recvRaw()
		if open != nil {
			var err error
			if wire, err = open.DecryptRTP(nil, wire, nil); err != nil {
				t.Fatalf("what the session sent does not open: %v", err)
			}
		}
		var p rtp.Packet
		if err := p.Unmarshal(wire); err != nil || len(p.Payload) != 160 {
			t.Fatalf("sent packet: %v, %d bytes of payload", err, len(p.Payload))
		}
		return p
	}
	out1 := opener(t, suite.name, k1.LocalKey)
	first := sent(out1)
	in1 := newSealer(t, suite.name, k1.RemoteKey)
	pkt := in1.next(payload)
	s.HandlePacket(pkt, from)
	if received() != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}

	// The same keys again (a re-INVITE that changes only the direction).
	same := &media.SRTPKeys{Suite: k1.Suite, LocalKey: bytes.Clone(k1.LocalKey), RemoteKey: bytes.Clone(k1.RemoteKey)}
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirSendRecv, SRTP: same})
	s.HandlePacket(pkt, from)
	if st := s.Stats(); st.PacketsReplayed != 1 {
		t.Fatalf("the replay was not caught after an Update with the same keys: %+v", st)
	}
	if p := sent(out1); p.SSRC != first.SSRC {
		t.Error("the SSRC changed with the keys unchanged")
	}

	// New keys both ways.
	k2 := &media.SRTPKeys{Suite: suites[1].name, LocalKey: randomKey(t, 28), RemoteKey: randomKey(t, 28)}
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirSendRecv, SRTP: k2})
	p2 := sent(opener(t, k2.Suite, k2.LocalKey))
	if p2.SSRC == first.SSRC || !p2.Marker {
		t.Errorf("new local key: SSRC %x (was %x), marker %v; want a new SSRC starting a talkspurt", p2.SSRC, first.SSRC, p2.Marker)
	}
	s.HandlePacket(in1.next(payload), from) // sent before the peer switched
	in2 := newSealer(t, k2.Suite, k2.RemoteKey)
	in2.seq, in2.ts = in1.seq, in1.ts // the peer's stream goes on under its new key
	s.HandlePacket(in2.next(payload), from)
	forger := newSealer(t, k2.Suite, randomKey(t, 28))
	forger.seq = in2.seq + 100 // not a replay: one the window has not seen
	s.HandlePacket(forger.next(payload), from)
	if st := s.Stats(); st.PacketsReceived != 3 || st.PacketsUnauthenticated != 1 {
		t.Fatalf("after new keys: %+v; want the old and new keys' packets in, the wrong key's out", st)
	}

	// SRTP off (an optional re-INVITE without crypto).
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirSendRecv})
	if p := sent(nil); p.Payload[0] != 0xFF || p.Payload[159] != 0xFF {
		t.Error("with SRTP off the session does not send plain silence")
	}
	for s.PopFrame(new(media.Frame)) { // what came before
	}
	lateBefore := s.Stats().PacketsLate
	// The peer's last packet under the old key, which must be decrypted,
	// not played as noise; then its first plain one.
	s.HandlePacket(in2.next(payload), from)
	plain, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: in2.seq + 1,
		Timestamp: in2.ts + 160, SSRC: 0x5eed}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s.HandlePacket(plain, from)
	if st := s.Stats(); st.PacketsReceived != 5 || st.PacketsUnauthenticated != 1 || st.PacketsIgnored != 0 ||
		st.PacketsLate != lateBefore {
		t.Fatalf("after SRTP off: %+v (late before %d)", st, lateBefore)
	}
	var want, got media.Frame
	media.PCMU.Decode(&want, payload)
	for range 2 {
		if !s.PopFrame(&got) || got != want {
			t.Fatal("the last old-key packet and the first plain one are not both the tone")
		}
	}
}

// Keys no context can be built from end the session at once: never plain
// RTP in their place.
func TestSessionSRTPBadKeysEndTheSession(t *testing.T) {
	checkLeaks(t)
	bad := &media.SRTPKeys{Suite: media.SuiteAESCM128SHA1_80, LocalKey: make([]byte, 5), RemoteKey: make([]byte, 30)}
	s := media.NewSession(media.SessionConfig{Conn: listenLoopback(t), Remote: netip.MustParseAddrPort("127.0.0.1:9"), SRTP: bad})
	waitDone(t, s)
	if s.Err() == nil {
		t.Error("a session with a 5-byte key runs")
	}
	s.Close()

	unknown := &media.SRTPKeys{Suite: "F8_128_HMAC_SHA1_80", LocalKey: make([]byte, 30), RemoteKey: make([]byte, 30)}
	peer := newRawPeer(t)
	s = startSession(t, media.SessionConfig{Remote: peer.addr(), Timeout: -1})
	peer.recv()
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirSendRecv, SRTP: unknown})
	waitDone(t, s)
	if s.Err() == nil {
		t.Error("Update with an unknown suite left the session running")
	}
}

// The SRTP paths allocate nothing per frame, as the plain ones.
func TestSessionSRTPFramePathsDoNotAllocate(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			keys := &media.SRTPKeys{Suite: suite.name, LocalKey: randomKey(t, suite.keyLen), RemoteKey: randomKey(t, suite.keyLen)}
			s, peer := srtpIdle(t, keys)
			f := toneFrame(t, 1000, 8000)
			s.Tick()
			if n := testing.AllocsPerRun(200, func() { s.QueueFrame(&f); s.Tick() }); n != 0 {
				t.Errorf("sending a frame with SRTP allocates %v times", n)
			}
			seal := newSealer(t, suite.name, keys.RemoteKey)
			payload := media.PCMU.Encode(nil, &f)
			pkts := make([][]byte, 300)
			for i := range pkts {
				pkts[i] = seal.next(payload)
			}
			i := 0
			var out media.Frame
			receive := func() {
				s.HandlePacket(pkts[i], peer.addr())
				if !s.PopFrame(&out) {
					t.Fatalf("no frame after packet %d (%+v)", i, s.Stats())
				}
				i++
			}
			receive()
			if n := testing.AllocsPerRun(200, receive); n != 0 {
				t.Errorf("receiving a frame with SRTP allocates %v times", n)
			}
		})
	}
}

// A peer that writes an MKI in its crypto line puts it in every packet
// (RFC 3711 §3.1); the session expects it there.
func TestSessionSRTPRemoteMKI(t *testing.T) {
	checkLeaks(t)
	peerKey := randomKey(t, 30)
	offer := withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(peerKey)+"|2^31|258:4")
	_, n, err := media.Answer([]byte(offer), srtpLocal(media.SRTPRequired))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.SRTP.RemoteMKI, []byte{0, 0, 1, 2}) {
		t.Fatalf("RemoteMKI %x, want 00000102", n.SRTP.RemoteMKI)
	}
	s, peer := srtpIdle(t, n.SRTP)
	seal := func(mki []byte) *sealer {
		ctx, err := srtp.CreateContext(peerKey[:16], peerKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80,
			srtp.MasterKeyIndicator(mki))
		if err != nil {
			t.Fatal(err)
		}
		return &sealer{tb: t, ctx: ctx, seq: 100, ts: 800}
	}
	payload := make([]byte, 160)
	s.HandlePacket(seal([]byte{0, 0, 1, 2}).next(payload), peer.addr())
	wrong := seal([]byte{0, 0, 1, 3})
	wrong.seq = 200
	s.HandlePacket(wrong.next(payload), peer.addr())
	none := newSealer(t, media.SuiteAESCM128SHA1_80, peerKey)
	none.seq = 300
	s.HandlePacket(none.next(payload), peer.addr())
	if st := s.Stats(); st.PacketsReceived != 1 || st.PacketsUnauthenticated != 2 {
		t.Errorf("stats %+v: want the packet with the MKI in, the wrong MKI and none out", st)
	}
}
