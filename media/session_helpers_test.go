package media_test

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/clubline/clubline/media"
)

// waitLimit bounds every wait in these tests. It is a failure deadline,
// never a timing assertion: tests pass as soon as the awaited thing happens.
const waitLimit = 5 * time.Second

// checkLeaks must be called first in a test: its cleanup runs last, after
// the sessions' Close.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := media.ListenRTP(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// startSession starts a session on a loopback socket, closed at cleanup.
func startSession(t *testing.T, cfg media.SessionConfig) *media.Session {
	t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = listenLoopback(t)
	}
	if cfg.MaxBurst == 0 {
		cfg.MaxBurst = 1000 // a loaded test machine must not cause skipped frames
	}
	s := media.NewSession(cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// sessionPair is two sessions sending to each other.
func sessionPair(t *testing.T, cfg media.SessionConfig) (a, b *media.Session) {
	t.Helper()
	ca, cb := listenLoopback(t), listenLoopback(t)
	cfgA, cfgB := cfg, cfg
	cfgA.Conn, cfgA.Remote = ca, addrOf(cb)
	cfgB.Conn, cfgB.Remote = cb, addrOf(ca)
	return startSession(t, cfgA), startSession(t, cfgB)
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// frameSink collects frames for a test.
type frameSink struct {
	mu     sync.Mutex
	frames []media.Frame
	more   chan struct{}
}

func newFrameSink() *frameSink { return &frameSink{more: make(chan struct{}, 1)} }

func (s *frameSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	s.frames = append(s.frames, *f)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return nil
}

func (s *frameSink) snapshot() []media.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]media.Frame(nil), s.frames...)
}

// waitFrames waits until the sink holds at least n frames.
func (s *frameSink) waitFrames(t *testing.T, n int) []media.Frame {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if got := s.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("sink has %d frames after %v, want %d", len(s.snapshot()), waitLimit, n)
		}
	}
}

// rawPeer is a plain UDP socket that sends crafted RTP and reads what a
// session sends.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	seq  uint16
	ssrc uint32
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	c := listenLoopback(t)
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, seq: 1000, ssrc: 0x1234abcd}
}

func (p *rawPeer) addr() netip.AddrPort { return addrOf(p.conn) }

func (p *rawPeer) send(to netip.AddrPort, h rtp.Header, payload []byte) {
	p.t.Helper()
	h.Version = 2
	if h.SSRC == 0 {
		h.SSRC = p.ssrc
	}
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// sendEvent sends one RFC 4733 packet with the next sequence number.
func (p *rawPeer) sendEvent(to netip.AddrPort, ts uint32, marker bool, digit byte, end bool, dur uint16) {
	p.t.Helper()
	flags := byte(10)
	if end {
		flags |= 0x80
	}
	p.seq++
	p.send(to, rtp.Header{PayloadType: 101, SequenceNumber: p.seq, Timestamp: ts, Marker: marker},
		[]byte{digit, flags, byte(dur >> 8), byte(dur)})
}

// recv reads the next RTP packet sent to the peer.
func (p *rawPeer) recv() (rtp.Packet, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 1500)
	if err := p.conn.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		p.t.Fatal(err)
	}
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		p.t.Fatalf("no RTP packet: %v", err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("not RTP: %v", err)
	}
	return pkt, from
}

// digitsUntil reads digits until stop arrives and returns them without it.
func digitsUntil(t *testing.T, s *media.Session, stop rune) string {
	t.Helper()
	var got []rune
	deadline := time.After(waitLimit)
	for {
		select {
		case d := <-s.Digits():
			if d == stop {
				return string(got)
			}
			got = append(got, d)
		case <-deadline:
			t.Fatalf("no %q digit after %v; got %q", stop, waitLimit, string(got))
		}
	}
}

func waitDone(t *testing.T, s *media.Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(waitLimit):
		t.Fatalf("session not done after %v", waitLimit)
	}
}
