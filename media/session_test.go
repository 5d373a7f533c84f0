package media_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/clubline/clubline/media"
)

func TestSessionToneBetweenTwoSessions(t *testing.T) {
	checkLeaks(t)
	a, b := sessionPair(t, media.SessionConfig{Codec: media.PCMA, DTMFPayloadType: 101})
	ctx, cancel := context.WithCancel(context.Background())
	sink := newFrameSink()
	recorded := make(chan error, 1)
	go func() { recorded <- b.Record(ctx, sink) }()

	if err := a.Play(context.Background(), media.Tone(1000, 600*time.Millisecond, 8000)); err != nil {
		t.Fatalf("Play: %v", err)
	}
	// The tone is 30 frames after some silence; wait until B has heard it all.
	var frames []media.Frame
	first, loud := -1, 0
	for loud < 30 {
		frames = sink.waitFrames(t, len(frames)+1)
		loud = 0
		for i := range frames {
			if frames[i] != (media.Frame{}) {
				loud++
				if first < 0 {
					first = i
				}
			}
		}
	}
	tone := media.Flatten(frames[first+2 : first+28])
	if !media.DetectTone(tone, 1000) {
		t.Errorf("1000 Hz not detected in what B recorded (level %.3f)", media.ToneLevel(tone, 1000))
	}
	if media.DetectTone(tone, 1400) {
		t.Error("1400 Hz detected in a 1000 Hz tone")
	}
	cancel()
	if err := <-recorded; !errors.Is(err, context.Canceled) {
		t.Errorf("Record = %v, want context.Canceled", err)
	}
	st := b.Stats()
	if st.PacketsReceived < 30 || st.PacketsLost != 0 || st.PacketsIgnored != 0 {
		t.Errorf("B stats %+v: want 30+ received, none lost or ignored", st)
	}
	if sa := a.Stats(); sa.PacketsSent < 30 || sa.BytesSent != sa.PacketsSent*172 {
		t.Errorf("A stats %+v: want 30+ packets of 172 bytes", sa)
	}
}

// What a session puts on the wire: one RTP stream, sequence +1 and
// timestamp +160 per packet, marker on the first, silence when idle, the
// played audio in order.
func TestSessionPacketsOnTheWire(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Codec: media.PCMU})

	first, from := peer.recv()
	if from != s.LocalAddr() {
		t.Errorf("packet from %v, LocalAddr says %v", from, s.LocalAddr())
	}
	if !first.Marker || first.PayloadType != 0 || len(first.Payload) != 160 {
		t.Fatalf("first packet: marker %v, PT %d, %d bytes", first.Marker, first.PayloadType, len(first.Payload))
	}
	played := make(chan error, 1)
	go func() {
		played <- s.Play(context.Background(), media.Concat(
			media.Tone(1000, 200*time.Millisecond, 8000), media.Silence(20*time.Millisecond)))
	}()
	prev := first
	var tone []int16
	const n = 60
	for i := 1; i < n; i++ {
		p, _ := peer.recv()
		if p.SSRC != first.SSRC || p.Marker || p.PayloadType != 0 || len(p.Payload) != 160 {
			t.Fatalf("packet %d: ssrc %x marker %v PT %d len %d", i, p.SSRC, p.Marker, p.PayloadType, len(p.Payload))
		}
		if p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160 {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp,
				prev.SequenceNumber, prev.Timestamp)
		}
		var f media.Frame
		media.PCMU.Decode(&f, p.Payload)
		if f != (media.Frame{}) {
			tone = append(tone, f[:]...)
		}
		prev = p
	}
	if got := prev.Timestamp - first.Timestamp; got != (n-1)*160 {
		t.Errorf("%d packets advanced the timestamp by %d, want %d", n, got, (n-1)*160)
	}
	if err := <-played; err != nil {
		t.Fatalf("Play: %v", err)
	}
	if len(tone) != 10*160 || !media.DetectTone(tone, 1000) {
		t.Errorf("heard %d tone samples, want the 10 frames of 1000 Hz", len(tone))
	}
}

func TestSessionPlayReplacedAndCanceled(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Timeout: -1})

	music := make(chan error, 1)
	go func() { music <- s.Play(context.Background(), media.Loop([]media.Frame{{100}})) }()
	// Wait until the loop is on the wire, then barge in.
	for p, _ := peer.recv(); p.Payload[0] == 0xFF; p, _ = peer.recv() {
	}
	if err := s.Play(context.Background(), media.Tone(440, 60*time.Millisecond, 1000)); err != nil {
		t.Fatalf("second Play: %v", err)
	}
	if err := <-music; !errors.Is(err, media.ErrReplaced) {
		t.Errorf("replaced Play = %v, want ErrReplaced", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for p, _ := peer.recv(); p.Payload[0] == 0xFF; p, _ = peer.recv() {
		}
		cancel()
	}()
	if err := s.Play(ctx, media.Loop([]media.Frame{{100}})); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Play = %v, want context.Canceled", err)
	}
}

func TestSessionSendDigitBetweenSessions(t *testing.T) {
	checkLeaks(t)
	a, b := sessionPair(t, media.SessionConfig{DTMFPayloadType: 101})
	ctx := context.Background()
	for _, d := range "5a#" {
		if err := a.SendDigit(ctx, d, 40*time.Millisecond); err != nil {
			t.Fatalf("SendDigit(%q): %v", d, err)
		}
	}
	if got := digitsUntil(t, b, '#'); got != "5A" {
		t.Errorf("B got digits %q, want \"5A\"", got)
	}
	if err := a.SendDigit(ctx, 'x', 0); err == nil {
		t.Error("SendDigit('x') must fail")
	}
	b.InjectDigit('9')
	b.InjectDigit('?') // ignored
	b.InjectDigit('*')
	if got := digitsUntil(t, b, '*'); got != "9" {
		t.Errorf("injected digits %q, want \"9\"", got)
	}
}

func TestSessionSendDigitWithoutTelephoneEvent(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr()})
	if err := s.SendDigit(context.Background(), '1', 0); !errors.Is(err, media.ErrNoTelephoneEvent) {
		t.Errorf("err = %v, want ErrNoTelephoneEvent", err)
	}
	s.Update(media.Negotiated{Remote: peer.addr(), DTMFPayloadType: 101, Direction: media.DirRecvOnly})
	if err := s.SendDigit(context.Background(), '1', 0); !errors.Is(err, media.ErrNotSending) {
		t.Errorf("on hold: err = %v, want ErrNotSending", err)
	}
}

func TestSessionTimeout(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t) // never sends
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Timeout: 300 * time.Millisecond})
	played := make(chan error, 1)
	go func() { played <- s.Play(context.Background(), media.Loop([]media.Frame{{}})) }()
	waitDone(t, s)
	if err := s.Err(); !errors.Is(err, media.ErrTimeout) {
		t.Errorf("Err() = %v, want ErrTimeout", err)
	}
	if err := <-played; !errors.Is(err, media.ErrTimeout) {
		t.Errorf("Play = %v, want ErrTimeout", err)
	}
	if err := s.Record(context.Background(), newFrameSink()); !errors.Is(err, media.ErrTimeout) {
		t.Errorf("Record after the end = %v, want ErrTimeout", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// While the peer has us on hold (inactive) no media is expected, so the
// inactivity timeout waits; it runs again once the call resumes.
func TestSessionTimeoutSuspendedOnHold(t *testing.T) {
	checkLeaks(t)
	peer := newRawPeer(t)
	s := startSession(t, media.SessionConfig{Remote: peer.addr(), Direction: media.DirInactive,
		Timeout: 100 * time.Millisecond})
	select {
	case <-s.Done():
		t.Fatalf("session ended on hold: %v", s.Err())
	case <-time.After(500 * time.Millisecond):
	}
	s.Update(media.Negotiated{Remote: peer.addr(), Codec: media.PCMU, Direction: media.DirSendRecv})
	waitDone(t, s)
	if !errors.Is(s.Err(), media.ErrTimeout) {
		t.Errorf("Err() = %v, want ErrTimeout", s.Err())
	}
}

func TestSessionClose(t *testing.T) {
	checkLeaks(t)
	a, _ := sessionPair(t, media.SessionConfig{DTMFPayloadType: 101})
	recorded := make(chan error, 1)
	go func() { recorded <- a.Record(context.Background(), newFrameSink()) }()
	played := make(chan error, 1)
	go func() { played <- a.Play(context.Background(), media.Loop([]media.Frame{{1}})) }()
	time.Sleep(50 * time.Millisecond) // let both start; either order is correct
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, ch := range map[string]chan error{"Record": recorded, "Play": played} {
		if err := <-ch; !errors.Is(err, media.ErrClosed) {
			t.Errorf("%s = %v, want ErrClosed", name, err)
		}
	}
	if a.Err() != nil {
		t.Errorf("Err() after Close = %v, want nil", a.Err())
	}
	if err := a.SendDigit(context.Background(), '1', 0); !errors.Is(err, media.ErrClosed) {
		t.Errorf("SendDigit after Close = %v", err)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Close")
	}

	broken := media.NewSession(media.SessionConfig{})
	if broken.Err() == nil {
		t.Error("a session without a socket must report an error")
	}
	if err := broken.Close(); err != nil {
		t.Error(err)
	}
}

func TestSessionIPv6(t *testing.T) {
	checkLeaks(t)
	ip := netip.IPv6Loopback()
	ca, err := media.ListenRTP(ip, 0, 0)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cb, err := media.ListenRTP(ip, 0, 0)
	if err != nil {
		ca.Close()
		t.Skipf("no IPv6 loopback: %v", err)
	}
	a := startSession(t, media.SessionConfig{Conn: ca, Remote: addrOf(cb), DTMFPayloadType: 101})
	b := startSession(t, media.SessionConfig{Conn: cb, Remote: addrOf(ca), DTMFPayloadType: 101})
	if !a.LocalAddr().Addr().Is6() {
		t.Errorf("LocalAddr %v is not IPv6", a.LocalAddr())
	}
	if err := a.SendDigit(context.Background(), '#', 0); err != nil {
		t.Fatal(err)
	}
	if got := digitsUntil(t, b, '#'); got != "" {
		t.Errorf("digits %q before '#'", got)
	}
}
