package media

// An internal test: the ring is unit-tested directly. The bridge tests use
// only the exported API, on real UDP sockets on 127.0.0.1.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

// brWait bounds every wait: a failure deadline, never a timing assertion.
const brWait = 5 * time.Second

var brLoopback = netip.MustParseAddr("127.0.0.1")

// brCall is caller ⇄ (a) clubline (b) ⇄ staff: four sessions on loopback.
type brCall struct {
	caller, a, b, staff *Session
}

// newBrCall builds the four sessions; the caller side speaks callerCodec,
// the staff side staffCodec. bTimeout is the RTP timeout of leg b.
func newBrCall(t *testing.T, callerCodec, staffCodec Codec, bTimeout time.Duration) *brCall {
	t.Helper()
	caller, a := brPair(t, callerCodec, 0)
	staff, b := brPair(t, staffCodec, bTimeout)
	return &brCall{caller: caller, a: a, b: b, staff: staff}
}

// brPair is a phone and clubline's leg to it, sending to each other.
func brPair(t *testing.T, c Codec, nearTimeout time.Duration) (far, near *Session) {
	t.Helper()
	cf, cn := brListen(t), brListen(t)
	far = brStart(t, SessionConfig{Conn: cf, Remote: brAddr(t, cn), Codec: c, DTMFPayloadType: 101})
	near = brStart(t, SessionConfig{Conn: cn, Remote: brAddr(t, cf), Codec: c, DTMFPayloadType: 101,
		Timeout: nearTimeout})
	return far, near
}

func brListen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := ListenRTP(brLoopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func brAddr(t *testing.T, c *net.UDPConn) netip.AddrPort {
	t.Helper()
	return netip.AddrPortFrom(brLoopback, uint16(c.LocalAddr().(*net.UDPAddr).Port))
}

func brStart(t *testing.T, cfg SessionConfig) *Session {
	t.Helper()
	cfg.MaxBurst = 1000 // a loaded test machine must not cause skipped frames
	s := NewSession(cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// brCheckLeaks must come first in a test: its cleanup runs last.
func brCheckLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// bridge starts Bridge(ctx, a, b) and returns its result channel.
func (c *brCall) bridge(ctx context.Context, opts BridgeOptions) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Bridge(ctx, c.a, c.b, opts) }()
	return done
}

func brResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(brWait):
		t.Fatalf("Bridge still running %v after it should have ended", brWait)
		return nil
	}
}

// brSink collects what a phone hears.
type brSink struct {
	mu     sync.Mutex
	frames []Frame
	more   chan struct{}
}

func newBrSink() *brSink { return &brSink{more: make(chan struct{}, 1)} }

func (s *brSink) WriteFrame(f *Frame) error {
	s.mu.Lock()
	s.frames = append(s.frames, *f)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return nil
}

// waitLoud waits until n frames louder than quiet have been heard and
// returns them (A-law has no zero: its silence decodes to ±8).
func (s *brSink) waitLoud(t *testing.T, who string, n int) []int16 {
	t.Helper()
	deadline := time.After(brWait)
	for {
		s.mu.Lock()
		var loud []Frame
		for _, f := range s.frames {
			if brPeak(&f) > 1000 {
				loud = append(loud, f)
			}
		}
		s.mu.Unlock()
		if len(loud) >= n {
			return Flatten(loud[2 : n-2]) // leave out the edges of the tone
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("%s heard %d loud frames after %v, want %d", who, len(loud), brWait, n)
		}
	}
}

func brPeak(f *Frame) int {
	p := 0
	for _, x := range f {
		p = max(p, brAbs(int(x)))
	}
	return p
}

func brAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Two-way audio through the bridge, with and without transcoding: the
// caller's 440 Hz reaches the staff while the staff's 880 Hz reaches the
// caller.
func TestBridgeTwoWayAudio(t *testing.T) {
	for _, tc := range []struct {
		name                string
		callerCodec, staff  Codec
		wantChainAB, wantBA string
	}{
		{"PCMU both", PCMU, PCMU, "a PCMU → ring(10) → b PCMU", "b PCMU → ring(10) → a PCMU"},
		{"PCMU to PCMA", PCMU, PCMA, "a PCMU → ring(10) → b PCMA", "b PCMA → ring(10) → a PCMU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brCheckLeaks(t)
			c := newBrCall(t, tc.callerCodec, tc.staff, 0)
			if got := newRelay("a", c.a, "b", c.b).String(); got != tc.wantChainAB {
				t.Errorf("chain a→b = %q, want %q", got, tc.wantChainAB)
			}
			if got := newRelay("b", c.b, "a", c.a).String(); got != tc.wantBA {
				t.Errorf("chain b→a = %q, want %q", got, tc.wantBA)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bridged := c.bridge(ctx, BridgeOptions{})

			var wg sync.WaitGroup
			defer wg.Wait()
			heardByStaff, heardByCaller := newBrSink(), newBrSink()
			for _, r := range []struct {
				s    *Session
				sink *brSink
				tone float64
			}{{c.staff, heardByStaff, 880}, {c.caller, heardByCaller, 440}} {
				wg.Go(func() { _ = r.s.Record(ctx, r.sink) })
				wg.Go(func() { _ = r.s.Play(ctx, Tone(r.tone, 2*time.Second, 8000)) })
			}

			staff := heardByStaff.waitLoud(t, "staff", 30)
			caller := heardByCaller.waitLoud(t, "caller", 30)
			if !DetectTone(staff, 440) || DetectTone(staff, 880) {
				t.Errorf("staff heard 440 Hz at %.3f and 880 Hz at %.3f: want the caller's 440 Hz only",
					ToneLevel(staff, 440), ToneLevel(staff, 880))
			}
			if !DetectTone(caller, 880) || DetectTone(caller, 440) {
				t.Errorf("caller heard 880 Hz at %.3f and 440 Hz at %.3f: want the staff's 880 Hz only",
					ToneLevel(caller, 880), ToneLevel(caller, 440))
			}
			cancel()
			if err := brResult(t, bridged); !errors.Is(err, context.Canceled) {
				t.Errorf("Bridge = %v, want context.Canceled", err)
			}
		})
	}
}

// A digit the caller sends arrives once at the staff phone, as RFC 4733.
func TestBridgeRelaysDigits(t *testing.T) {
	brCheckLeaks(t)
	c := newBrCall(t, PCMU, PCMA, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bridged := c.bridge(ctx, BridgeOptions{})
	for _, d := range "5#" {
		if err := c.caller.SendDigit(ctx, d, 0); err != nil {
			t.Fatalf("SendDigit(%q): %v", d, err)
		}
	}
	if got := brDigitsUntil(t, c.staff, '#'); got != "5" {
		t.Errorf("staff got digits %q before #, want %q", got, "5")
	}
	if err := c.staff.SendDigit(ctx, '9', 0); err != nil {
		t.Fatalf("staff SendDigit: %v", err)
	}
	if got := brDigitsUntil(t, c.caller, '9'); got != "" {
		t.Errorf("caller got digits %q before 9", got)
	}
	cancel()
	if err := brResult(t, bridged); !errors.Is(err, context.Canceled) {
		t.Errorf("Bridge = %v, want context.Canceled", err)
	}
}

// With LeaveDigits the bridge leaves the digits to whoever reads the leg.
func TestBridgeLeaveDigits(t *testing.T) {
	brCheckLeaks(t)
	c := newBrCall(t, PCMU, PCMU, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bridged := c.bridge(ctx, BridgeOptions{LeaveDigits: true})
	if err := c.caller.SendDigit(ctx, '7', 0); err != nil {
		t.Fatalf("SendDigit: %v", err)
	}
	if got := brDigitsUntil(t, c.a, '7'); got != "" {
		t.Errorf("leg a got digits %q before 7", got)
	}
	select {
	case d := <-c.staff.Digits():
		t.Errorf("staff got digit %q although digits are left", d)
	default:
	}
	cancel()
	if err := brResult(t, bridged); !errors.Is(err, context.Canceled) {
		t.Errorf("Bridge = %v, want context.Canceled", err)
	}
}

func brDigitsUntil(t *testing.T, s *Session, stop rune) string {
	t.Helper()
	var got []rune
	deadline := time.After(brWait)
	for {
		select {
		case d := <-s.Digits():
			if d == stop {
				return string(got)
			}
			got = append(got, d)
		case <-deadline:
			t.Fatalf("no %q digit after %v; got %q", stop, brWait, string(got))
		}
	}
}

// A staff hold (our direction on leg b becomes recvonly) stops what goes
// to the staff without ending the bridge; the other way still flows, and
// taking the call back resumes both.
func TestBridgeStaffHold(t *testing.T) {
	brCheckLeaks(t)
	c := newBrCall(t, PCMU, PCMA, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bridged := c.bridge(ctx, BridgeOptions{})
	staffAt := c.staff.LocalAddr()
	c.b.Update(Negotiated{Remote: staffAt, Codec: PCMA, DTMFPayloadType: 101, Direction: DirRecvOnly})

	var wg sync.WaitGroup
	defer wg.Wait()
	heardByStaff, heardByCaller := newBrSink(), newBrSink()
	wg.Go(func() { _ = c.staff.Record(ctx, heardByStaff) })
	wg.Go(func() { _ = c.caller.Record(ctx, heardByCaller) })
	wg.Go(func() { _ = c.staff.Play(ctx, Tone(880, 2*time.Second, 8000)) })
	if err := c.caller.Play(ctx, Tone(440, 600*time.Millisecond, 8000)); err != nil {
		t.Fatalf("caller Play: %v", err)
	}
	if tone := heardByCaller.waitLoud(t, "caller", 20); !DetectTone(tone, 880) {
		t.Errorf("caller did not hear the staff's 880 Hz during the hold (level %.3f)", ToneLevel(tone, 880))
	}
	if err := c.caller.SendDigit(ctx, '3', 0); err != nil {
		t.Fatalf("SendDigit: %v", err)
	}
	heardByStaff.mu.Lock()
	for i := range heardByStaff.frames {
		if p := brPeak(&heardByStaff.frames[i]); p > 1000 {
			t.Errorf("staff heard a frame of peak %d while holding", p)
			break
		}
	}
	heardByStaff.mu.Unlock()
	select {
	case err := <-bridged:
		t.Fatalf("Bridge ended during the hold: %v", err)
	default:
	}

	c.b.Update(Negotiated{Remote: staffAt, Codec: PCMA, DTMFPayloadType: 101, Direction: DirSendRecv})
	wg.Go(func() { _ = c.caller.Play(ctx, Tone(440, 2*time.Second, 8000)) })
	if tone := heardByStaff.waitLoud(t, "staff", 20); !DetectTone(tone, 440) {
		t.Errorf("staff did not hear the caller's 440 Hz after the hold (level %.3f)", ToneLevel(tone, 440))
	}
	cancel()
	if err := brResult(t, bridged); !errors.Is(err, context.Canceled) {
		t.Errorf("Bridge = %v, want context.Canceled", err)
	}
}

// Either leg ending ends the bridge, and the error names the leg and why.
func TestBridgeEndsWithALeg(t *testing.T) {
	t.Run("leg b closed", func(t *testing.T) {
		brCheckLeaks(t)
		c := newBrCall(t, PCMU, PCMA, 0)
		bridged := c.bridge(context.Background(), BridgeOptions{})
		c.b.Close() // the staff hung up: BYE
		err := brResult(t, bridged)
		var le *LegEndedError
		if !errors.As(err, &le) || le.Leg != "b" || !errors.Is(err, ErrClosed) {
			t.Errorf("Bridge = %v, want leg b ended with ErrClosed", err)
		}
	})
	t.Run("leg b timed out", func(t *testing.T) {
		brCheckLeaks(t)
		c := newBrCall(t, PCMU, PCMA, time.Second)
		bridged := c.bridge(context.Background(), BridgeOptions{})
		c.staff.Close() // the staff phone vanished: no more RTP on leg b
		err := brResult(t, bridged)
		var le *LegEndedError
		if !errors.As(err, &le) || le.Leg != "b" || !errors.Is(err, ErrTimeout) {
			t.Errorf("Bridge = %v, want leg b ended with ErrTimeout", err)
		}
	})
	t.Run("leg a closed before", func(t *testing.T) {
		brCheckLeaks(t)
		c := newBrCall(t, PCMU, PCMA, 0)
		c.a.Close()
		err := Bridge(context.Background(), c.a, c.b, BridgeOptions{})
		var le *LegEndedError
		if !errors.As(err, &le) || le.Leg != "a" || !errors.Is(err, ErrClosed) {
			t.Errorf("Bridge = %v, want leg a ended with ErrClosed", err)
		}
	})
	t.Run("a Play on a bridged leg", func(t *testing.T) {
		brCheckLeaks(t)
		c := newBrCall(t, PCMU, PCMA, 0)
		bridged := c.bridge(context.Background(), BridgeOptions{})
		// Wait for the bridge to play on a, then take a over.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		deadline := time.Now().Add(brWait)
		for {
			played := make(chan error, 1)
			go func() { played <- c.a.Play(ctx, Silence(FrameDuration)) }()
			if err := <-played; err != nil && !errors.Is(err, ErrReplaced) {
				t.Fatalf("Play: %v", err)
			}
			select {
			case err := <-bridged:
				if !errors.Is(err, ErrReplaced) {
					t.Errorf("Bridge = %v, want ErrReplaced", err)
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("Bridge did not end when its Play was replaced")
			}
		}
	})
}

// The ring: a full ring drops the oldest frame, an empty one gives silence.
func TestBridgeRingOverflowAndSilence(t *testing.T) {
	var r frameRing
	var f Frame
	f[0] = 123
	if err := r.ReadFrame(&f); err != nil || f != (Frame{}) {
		t.Fatalf("empty ring gave %v, sample 0 = %d: want silence", err, f[0])
	}
	for i := range 3 * ringFrames { // a burst after a gap
		f[0] = int16(i)
		if err := r.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
		if r.Len() > ringFrames {
			t.Fatalf("ring holds %d frames, capacity %d", r.Len(), ringFrames)
		}
	}
	for want := 2 * ringFrames; want < 3*ringFrames; want++ {
		if err := r.ReadFrame(&f); err != nil || int(f[0]) != want {
			t.Fatalf("read frame %d (%v), want %d: the oldest are dropped", f[0], err, want)
		}
	}
	if err := r.ReadFrame(&f); err != nil || f != (Frame{}) {
		t.Fatalf("drained ring gave %v, sample 0 = %d: want silence", err, f[0])
	}
	if r.dropped != 2*ringFrames || r.silent != 2 {
		t.Errorf("dropped %d, silent %d: want %d and 2", r.dropped, r.silent, 2*ringFrames)
	}
}

// A standing delay (after a burst, or a sender's clock a little fast)
// shrinks back to ringKeep frames, one frame per window.
func TestBridgeRingTrimsStandingDelay(t *testing.T) {
	var r frameRing
	var f Frame
	for range ringFrames {
		_ = r.WriteFrame(&f)
	}
	for range (ringFrames + 1) * ringTrimWindow { // one in, one out
		_ = r.WriteFrame(&f)
		_ = r.ReadFrame(&f)
	}
	if n := r.Len(); n > ringKeep {
		t.Errorf("%d frames still wait, want at most %d", n, ringKeep)
	}
	if r.silent != 0 {
		t.Errorf("%d silent frames while audio was waiting", r.silent)
	}
	// A ring that keeps no more than ringKeep frames loses nothing.
	r = frameRing{}
	for range ringKeep {
		_ = r.WriteFrame(&f)
	}
	for range 10 * ringTrimWindow {
		_ = r.WriteFrame(&f)
		_ = r.ReadFrame(&f)
	}
	if r.dropped != 0 || r.Len() != ringKeep {
		t.Errorf("dropped %d frames, %d wait: want none dropped and %d waiting", r.dropped, r.Len(), ringKeep)
	}
}

// The frame path of one direction, driven by hand: packet in on a,
// Record's pop, the ring, Play's push, b's clock encodes and sends.
func brIdleLegs(tb testing.TB) (a, b *Session, pkts [][]byte, from netip.AddrPort) {
	tb.Helper()
	var conns [3]*net.UDPConn
	for i := range conns {
		c, err := ListenRTP(brLoopback, 0, 0)
		if err != nil {
			tb.Fatal(err)
		}
		conns[i] = c
	}
	tb.Cleanup(func() { conns[2].Close() })
	drop := netip.AddrPortFrom(brLoopback, uint16(conns[2].LocalAddr().(*net.UDPAddr).Port))
	a = NewIdleSession(SessionConfig{Conn: conns[0], Remote: drop, Codec: PCMU})
	b = NewIdleSession(SessionConfig{Conn: conns[1], Remote: drop, Codec: PCMA})
	tb.Cleanup(func() { a.Close(); b.Close() })
	a.StartRecording()
	pkts = make([][]byte, 1024)
	payload := make([]byte, FrameSamples)
	for i := range payload {
		payload[i] = byte(i)
	}
	for i := range pkts {
		p, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i),
			Timestamp: uint32(i) * FrameSamples, SSRC: 7}, Payload: payload}).Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		pkts[i] = p
	}
	return a, b, pkts, drop
}

func TestBridgeFramePathDoesNotAllocate(t *testing.T) {
	a, b, pkts, from := brIdleLegs(t)
	var ring frameRing
	var in, out Frame
	i := 0
	relay := func() {
		a.HandlePacket(pkts[i%len(pkts)], from)
		i++
		if !a.PopFrame(&in) {
			t.Fatalf("no frame after packet %d", i)
		}
		_ = ring.WriteFrame(&in)
		_ = ring.ReadFrame(&out)
		b.QueueFrame(&out)
		b.Tick()
	}
	relay()
	if n := testing.AllocsPerRun(200, relay); n != 0 {
		t.Errorf("relaying a frame allocates %v times", n)
	}
	if st := b.Stats(); st.PacketsSent == 0 || st.SendErrors != 0 {
		t.Errorf("leg b stats %+v", st)
	}
}

func BenchmarkBridgeFrame(b *testing.B) {
	a, bl, pkts, from := brIdleLegs(b)
	var ring frameRing
	var in, out Frame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.HandlePacket(pkts[i%len(pkts)], from)
		a.PopFrame(&in)
		_ = ring.WriteFrame(&in)
		_ = ring.ReadFrame(&out)
		bl.QueueFrame(&out)
		bl.Tick()
	}
}

func BenchmarkBridgeRing(b *testing.B) {
	var ring frameRing
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		_ = ring.WriteFrame(&f)
		_ = ring.ReadFrame(&f)
	}
}
