package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// The sending half of a Session: one clock goroutine, fed by Play through
// a short queue and by SendDigit through a channel. The clock never calls a
// Source: Play reads it in the caller's goroutine, so a slow disk costs a
// silent frame, never a late one.

const playQueueLen = 4 // frames read ahead of the clock (80 ms)

// errEventCanceled tells SendDigit its context ended the event early.
var errEventCanceled = errors.New("media: digit canceled")

// player is one Play call.
type player struct {
	wake     chan struct{} // the clock took or sent a frame
	replaced chan struct{} // closed when a newer Play takes over
}

type playQueue struct {
	mu       sync.Mutex
	frames   [playQueueLen]Frame
	head, n  int
	cur      *player
	inflight *player // whose frame the clock took and has not sent yet
}

func (q *playQueue) start(p *player) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur != nil {
		close(q.cur.replaced)
	}
	q.cur, q.head, q.n = p, 0, 0
}

func (q *playQueue) stop(p *player) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur == p {
		q.cur, q.n = nil, 0
	}
}

// push queues a copy of f unless the queue is full or p was replaced.
func (q *playQueue) push(p *player, f *Frame) (ok, replaced bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur != p {
		return false, true
	}
	if q.n == playQueueLen {
		return false, false
	}
	q.frames[(q.head+q.n)%playQueueLen] = *f
	q.n++
	return true, false
}

// pop copies the next queued frame into dst and returns its player, or nil.
func (q *playQueue) pop(dst *Frame) *player {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 || q.cur == nil {
		return nil
	}
	*dst = q.frames[q.head]
	q.head = (q.head + 1) % playQueueLen
	q.n--
	q.inflight = q.cur
	return q.cur
}

// sent marks p's popped frame as gone to the wire and wakes p.
func (q *playQueue) sent(p *player) {
	if p == nil {
		return
	}
	q.mu.Lock()
	if q.inflight == p {
		q.inflight = nil
	}
	q.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// drained reports whether every frame p queued has been sent.
func (q *playQueue) drained(p *player) (done, replaced bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur != p {
		return false, true
	}
	return q.n == 0 && q.inflight != p, false
}

// Play sends src on the session until it ends, paced by the session's
// clock. It returns nil after the last frame has been sent, ctx.Err() when
// ctx ends (playback stops at once), ErrReplaced when another Play starts
// meanwhile (a new Play always takes over: barge-in needs no coordination),
// the Source's error, or ErrClosed / the session's error when it ends.
// While nothing plays the clock sends silence. While the stream may not
// send (hold), frames are consumed in real time and dropped.
func (s *Session) Play(ctx context.Context, src Source) error {
	if err := s.ended(); err != nil {
		return err
	}
	p := &player{wake: make(chan struct{}, 1), replaced: make(chan struct{})}
	s.playq.start(p)
	defer s.playq.stop(p)
	f := new(Frame)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := src.ReadFrame(f)
		if errors.Is(err, io.EOF) {
			return s.waitDrained(ctx, p)
		}
		if err != nil {
			return fmt.Errorf("media: play: %w", err)
		}
		for {
			ok, replaced := s.playq.push(p, f)
			if replaced {
				return ErrReplaced
			}
			if ok {
				break
			}
			if err := s.waitPlayer(ctx, p); err != nil {
				return err
			}
		}
	}
}

func (s *Session) waitDrained(ctx context.Context, p *player) error {
	for {
		done, replaced := s.playq.drained(p)
		if replaced {
			return ErrReplaced
		}
		if done {
			return nil
		}
		if err := s.waitPlayer(ctx, p); err != nil {
			return err
		}
	}
}

func (s *Session) waitPlayer(ctx context.Context, p *player) error {
	select {
	case <-p.wake:
		return nil
	case <-p.replaced:
		return ErrReplaced
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return s.endErr()
	}
}

// SendDigit sends d as an RFC 4733 event lasting dur (0 means 100 ms; at
// most 8 s) and returns once its last packet is sent. The event takes the
// place of audio (Play pauses meanwhile) and shares its sequence numbers.
// It fails with ErrNoTelephoneEvent when the peer did not negotiate
// telephone-event, ErrNotSending on hold. Cancelling ctx ends the event
// early, properly (with its end packets). Calls are served in turn.
func (s *Session) SendDigit(ctx context.Context, d rune, dur time.Duration) error {
	req, err := newDTMFRequest(d, dur, ctx.Done())
	if err != nil {
		return err
	}
	if err := s.ended(); err != nil {
		return err
	}
	if v := s.txView(); v.dtmfPT == 0 {
		return ErrNoTelephoneEvent
	} else if !v.canSend {
		return ErrNotSending
	}
	select {
	case s.dtmfReq <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return s.endErr()
	}
	select {
	case err := <-req.done:
		if errors.Is(err, errEventCanceled) {
			return ctx.Err()
		}
		return err
	case <-s.closing:
		return s.endErr()
	}
}

// txState is the sender's RTP state; only the clock goroutine touches it.
type txState struct {
	ssrc   uint32
	seq    uint16
	tsBase uint32
	frames uint32 // frames elapsed since the start (sent, silent or skipped)
	marker bool   // set the marker bit on the next audio packet
	hdr    rtp.Header
	buf    [maxPacket]byte
	frame  Frame

	srtp  *srtpOut             // the context packets go out under; nil: plain RTP
	keyed bool                 // a context has been used (see followKeys)
	sbuf  [maxPacket + 32]byte // the protected packet

	ev       *dtmfRequest // the event being sent
	evTick   int
	evTs     uint32
	canceled bool
	gap      int // audio frames to send before the next event

	quiet int // frames in a row with nothing to play (SendNothing, SendComfortNoise)
}

func (s *Session) runClock(start time.Time) {
	defer s.wg.Done()
	pacer := NewPacer(start, s.maxBurst)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.closing:
			s.abortEvent()
			return
		case <-timer.C:
		}
		send, skip := pacer.Due(time.Now())
		if skip > 0 {
			s.tx.frames += uint32(skip)
			s.stats.skipped.Add(uint64(skip))
		}
		for range send {
			s.tick()
		}
		timer.Reset(time.Until(pacer.Next()))
	}
}

// tick sends what frame number s.tx.frames carries: a DTMF event packet,
// the next frame of Play, or silence.
func (s *Session) tick() {
	tx := &s.tx
	ts := tx.tsBase + tx.frames*FrameSamples
	tx.frames++
	v := s.txView()
	s.followKeys(v.srtp)
	if tx.ev == nil {
		if tx.gap > 0 {
			tx.gap--
		} else {
			select {
			case req := <-s.dtmfReq:
				s.startEvent(req, ts, v)
			default:
			}
		}
	}
	if tx.ev != nil {
		tx.quiet = 0 // a silence after the event starts anew
		s.eventTick(v)
		return
	}
	p := s.playq.pop(&tx.frame)
	defer s.playq.sent(p)
	if !v.canSend {
		tx.marker = true // the next packet we send starts a talkspurt
		return
	}
	if p == nil && s.silence != SendSilence {
		s.quietTick(v, ts)
		return
	}
	tx.quiet = 0
	payload := tx.buf[rtpHeaderLen:rtpHeaderLen]
	if p != nil {
		payload = v.codec.Encode(payload, &tx.frame)
	} else {
		payload = payload[:FrameSamples]
		sb := v.codec.silenceByte()
		for i := range payload {
			payload[i] = sb
		}
	}
	s.send(v, v.codec.PayloadType, ts, tx.marker, len(payload))
	tx.marker = false
}

// quietTick is a frame with nothing to play under SendNothing or
// SendComfortNoise: no packet, or a comfort-noise packet at the start of
// the silence and every comfortNoiseEvery frames. The next audio packet
// starts a talkspurt (marker bit).
func (s *Session) quietTick(v txView, ts uint32) {
	tx := &s.tx
	if s.silence == SendComfortNoise && tx.quiet%comfortNoiseEvery == 0 {
		tx.buf[rtpHeaderLen] = comfortNoiseLevel
		s.send(v, ComfortNoisePayloadType, ts, false, 1)
	}
	tx.quiet++
	tx.marker = true
}

const rtpHeaderLen = 12

// send writes the header in front of the payload already in tx.buf.
func (s *Session) send(v txView, pt uint8, ts uint32, marker bool, payloadLen int) {
	tx := &s.tx
	tx.hdr = rtp.Header{Version: 2, Marker: marker, PayloadType: pt,
		SequenceNumber: tx.seq, Timestamp: ts, SSRC: tx.ssrc, CSRC: tx.hdr.CSRC[:0]}
	tx.seq++
	if _, err := tx.hdr.MarshalTo(tx.buf[:rtpHeaderLen]); err != nil {
		s.stats.sendErrors.Add(1)
		return
	}
	out := tx.buf[:rtpHeaderLen+payloadLen]
	if v.srtp != nil {
		var err error
		if out, err = v.srtp.protect(tx.sbuf[:], out); err != nil {
			s.stats.sendErrors.Add(1) // never sent plain
			return
		}
	}
	if _, err := s.conn.WriteToUDPAddrPort(out, v.remote); err != nil {
		// Counted, not logged: this is the 20 ms loop. The last send racing
		// Close is not an error of the network.
		if !errors.Is(err, net.ErrClosed) {
			s.stats.sendErrors.Add(1)
		}
		return
	}
	s.stats.sent.Add(1)
	s.stats.sentBytes.Add(uint64(len(out)))
}

func (s *Session) startEvent(req *dtmfRequest, ts uint32, v txView) {
	switch {
	case v.dtmfPT == 0:
		req.done <- ErrNoTelephoneEvent
	case !v.canSend:
		req.done <- ErrNotSending
	default:
		tx := &s.tx
		tx.ev, tx.evTick, tx.evTs, tx.canceled = req, 0, ts, false
	}
}

// eventTick sends one packet of the current event: ticks packets that grow
// the duration, then dtmfEndRepeats end packets, one per frame.
func (s *Session) eventTick(v txView) {
	tx := &s.tx
	ev := tx.ev
	if !tx.canceled && tx.evTick < ev.ticks {
		select {
		case <-ev.cancel:
			tx.canceled = true
			ev.ticks = max(tx.evTick, 1)
		default:
		}
	}
	end := tx.evTick >= ev.ticks
	dur := uint16(min(tx.evTick+1, ev.ticks) * FrameSamples)
	if v.canSend && v.dtmfPT != 0 {
		payload := putEvent(tx.buf[rtpHeaderLen:rtpHeaderLen], ev.event, end, dur)
		s.send(v, v.dtmfPT, tx.evTs, tx.evTick == 0, len(payload))
	}
	tx.evTick++
	if tx.evTick >= ev.ticks+dtmfEndRepeats {
		var err error
		if tx.canceled {
			err = errEventCanceled
		}
		ev.done <- err
		tx.ev, tx.marker, tx.gap = nil, true, dtmfGapTicks
	}
}

// abortEvent answers a SendDigit left waiting when the session ends.
func (s *Session) abortEvent() {
	if s.tx.ev != nil {
		s.tx.ev.done <- s.endErr()
		s.tx.ev = nil
	}
}
