package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtp"
)

// The receiving half of a Session: one reader goroutine that checks each
// packet, learns the peer's address, turns telephone-events into digits and
// feeds the jitter buffer that Record plays out.

// recordFlushAfter: when no packet has come for this long, Record gives up
// waiting for missing ones and plays out what is buffered.
const recordFlushAfter = 100 * time.Millisecond

// recorder is one Record call.
type recorder struct {
	notify   chan struct{} // a packet was buffered
	replaced chan struct{} // closed when a newer Record takes over
}

// rxState is the reader goroutine's own state.
type rxState struct {
	pkt  rtp.Packet
	dtmf dtmfReceiver
	seq  seqCounter
	srtp rxSRTP
}

// seqCounter estimates loss as RFC 3550 appendix A.3 does: packets expected
// from the sequence numbers, minus packets received.
type seqCounter struct {
	started        bool
	ssrc           uint32
	base, highest  uint64
	received       uint64
	lostPrevStream uint64
}

func (c *seqCounter) add(ssrc uint32, seq uint16) uint64 {
	if !c.started || ssrc != c.ssrc {
		c.lostPrevStream += c.lost()
		*c = seqCounter{started: true, ssrc: ssrc, lostPrevStream: c.lostPrevStream,
			base: 1<<16 + uint64(seq), highest: 1<<16 + uint64(seq)}
	}
	ext := uint64(int64(c.highest) + int64(int16(seq-uint16(c.highest))))
	c.highest = max(c.highest, ext)
	c.received++
	return c.lostPrevStream + c.lost()
}

func (c *seqCounter) lost() uint64 {
	if !c.started {
		return 0
	}
	expected := c.highest - c.base + 1
	if c.received >= expected {
		return 0
	}
	return expected - c.received
}

type rxKind int

const (
	rxIgnore rxKind = iota
	rxAudio
	rxDTMF
	rxComfortNoise // RFC 3389: silence, which takes a sequence number
)

func (s *Session) runReader() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket)
	failures := 0
	s.armDeadline()
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				if s.timedOut(time.Now()) {
					s.end(ErrTimeout)
					return
				}
				s.armDeadline()
				continue
			}
			if failures++; failures >= readFailures {
				s.end(fmt.Errorf("media: RTP socket failed %d times in a row: %w", failures, err))
				return
			}
			continue
		}
		failures = 0
		s.handlePacket(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

func (s *Session) handlePacket(b []byte, from netip.AddrPort) {
	rx := &s.rx
	pkt := &rx.pkt
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		s.stats.ignored.Add(1)
		return
	}
	now, wire := time.Now(), len(b)
	// Authenticate before anything else: a packet that fails is not
	// audio, and must not move where the session sends (accept).
	b, ok := s.unprotect(b, now)
	if !ok {
		return
	}
	if pkt.Unmarshal(b) != nil {
		s.stats.ignored.Add(1)
		return
	}
	kind, alaw := s.accept(from, pkt.PayloadType, now)
	if kind == rxIgnore {
		s.stats.ignored.Add(1)
		return
	}
	s.stats.recv.Add(1)
	s.stats.recvBytes.Add(uint64(wire))
	s.stats.lost.Store(rx.seq.add(pkt.SSRC, pkt.SequenceNumber))
	if kind == rxDTMF {
		if d, ok := rx.dtmf.packet(pkt.SSRC, pkt.Timestamp, pkt.Payload); ok {
			s.deliverDigit(d)
		}
	}
	s.rxMu.Lock()
	r := s.rec
	res := pushOK
	if r != nil {
		res = s.jb.push(pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, kind == rxAudio, alaw)
	}
	s.rxMu.Unlock()
	if r == nil {
		return
	}
	if res != pushOK {
		s.stats.late.Add(1)
		return
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// accept checks the payload type and the source of a packet and learns the
// peer's address (symmetric RTP).
func (s *Session) accept(from netip.AddrPort, pt uint8, now time.Time) (kind rxKind, alaw bool) {
	s.mu.Lock()
	p := &s.peer
	switch {
	case pt == p.codec.PayloadType:
		kind, alaw = rxAudio, p.codec.isALaw()
	case p.dtmfPT != 0 && pt == p.dtmfPT:
		kind = rxDTMF
	case pt == ComfortNoisePayloadType:
		kind = rxComfortNoise
	default:
		s.mu.Unlock()
		return rxIgnore, false
	}
	if p.latched && from != p.remote && now.Sub(p.lastFromPeer) < relatchAfter {
		s.mu.Unlock()
		return rxIgnore, false // someone else: a stale or forged stream
	}
	learned := !p.latched || from != p.remote
	prev := p.remote
	p.remote, p.latched = from, true
	p.lastFromPeer, p.lastRx, p.gotMedia = now, now, true
	s.mu.Unlock()
	if learned && from != prev {
		s.log.Debug("rtp: sending to the peer's source address", "from", from, "was", prev)
	}
	return kind, alaw
}

func (s *Session) deliverDigit(d rune) {
	select {
	case s.digits <- d:
	default:
		s.stats.digitsDropped.Add(1)
	}
}

// expectsMedia: the inactivity timeout runs only while the peer should send.
func (p *peerState) expectsMedia() bool {
	return receives(p.dir) && !p.sdpRemote.Addr().IsUnspecified()
}

func (s *Session) timedOut(now time.Time) bool {
	if s.timeout < 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.timeout
	if !s.peer.gotMedia {
		limit = s.firstTimeout
	}
	return s.peer.expectsMedia() && now.Sub(s.peer.lastRx) >= limit
}

// armDeadline wakes the reader when the inactivity window would end. It is
// re-armed only on wake-up, not per packet.
func (s *Session) armDeadline() {
	if s.timeout < 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	limit := s.timeout
	if !s.peer.gotMedia {
		limit = s.firstTimeout
	}
	at := s.peer.lastRx.Add(limit)
	if !s.peer.expectsMedia() {
		at = now.Add(limit) // suspended: look again later
	}
	s.mu.Unlock()
	if soon := now.Add(10 * time.Millisecond); at.Before(soon) {
		at = soon
	}
	_ = s.conn.SetReadDeadline(at) // fails only on a closed socket, which the read reports
}

// Digits delivers DTMF digits (0-9 * # A-D): RFC 4733 events, each once,
// and those given to InjectDigit. The channel is never closed; select on
// Done too. Up to 32 digits wait for a reader; more are dropped.
func (s *Session) Digits() <-chan rune { return s.digits }

// InjectDigit adds a digit that arrived another way (SIP INFO) to Digits.
// Anything that is not a DTMF digit is ignored.
func (s *Session) InjectDigit(d rune) {
	if d, ok := NormalizeDigit(d); ok {
		s.deliverDigit(d)
	}
}

// Record delivers the received audio to sink, one frame per 20 ms of
// media time, in sequence order: a small jitter buffer reorders packets,
// drops late and duplicated ones, and plays silence for lost packets and
// for gaps in the timestamps (silence suppression, comfort noise, DTMF
// events) once audio resumes. While the peer sends no audio (silence
// suppression, comfort noise), no frame comes. Audio received before
// Record starts is not delivered.
//
// Record returns ctx.Err() when ctx ends, the sink's error, ErrReplaced
// when another Record starts (only one records at a time), and, when the
// session ends, ErrClosed or the session's error after handing what was
// buffered to the sink.
//
// Frames come in bursts when packets do (after a gap, or a lost packet);
// a sink feeding another leg's Play must absorb them.
func (s *Session) Record(ctx context.Context, sink Sink) error {
	if err := s.ended(); err != nil {
		return err
	}
	r := &recorder{notify: make(chan struct{}, 1), replaced: make(chan struct{})}
	s.rxMu.Lock()
	if s.rec != nil {
		close(s.rec.replaced)
	}
	s.rec = r
	s.jb.reset()
	s.rxMu.Unlock()
	defer func() {
		s.rxMu.Lock()
		if s.rec == r {
			s.rec = nil
		}
		s.rxMu.Unlock()
	}()
	f := new(Frame)
	timer := time.NewTimer(recordFlushAfter)
	defer timer.Stop()
	mode := popWait
	for {
		ok, replaced := s.popRecorded(r, f, mode)
		if replaced {
			return ErrReplaced
		}
		if ok {
			if err := sink.WriteFrame(f); err != nil {
				return fmt.Errorf("media: record: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		mode = popWait
		timer.Reset(recordFlushAfter)
		select {
		case <-r.notify:
		case <-timer.C:
			mode = popSkipGaps
		case <-r.replaced:
			return ErrReplaced
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			for {
				ok, replaced := s.popRecorded(r, f, popDrain)
				if !ok || replaced {
					return s.endErr()
				}
				if err := sink.WriteFrame(f); err != nil {
					return fmt.Errorf("media: record: %w", err)
				}
			}
		}
	}
}

func (s *Session) popRecorded(r *recorder, f *Frame, mode popMode) (ok, replaced bool) {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if s.rec != r {
		return false, true
	}
	return s.jb.pop(f, mode), false
}
