package media

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/replaydetector"
)

// What a Session does with Negotiated.SRTP: the clock encrypts what it
// sends with the local key, the reader authenticates and decrypts what
// arrives with the remote key, and a packet that fails either check is
// dropped and counted, never played, and never teaches the session the
// peer's address.
//
// Decisions:
//
//   - One context per direction (pion's Context is one-way). NewSession
//     and Update build them, outside the 20 ms loop; the clock and the
//     reader each take theirs over and are then its only users. An Update
//     whose keys for a direction are unchanged keeps that direction's
//     context, with its rollover counter and replay window.
//   - A new sending context after one was used starts a new SSRC (and a
//     talkspurt): its rollover counter starts at 0, as the peer's new
//     receiving context does, and the new SSRC makes sure no keystream is
//     used twice should a key come back (a re-INVITE back to an earlier
//     suite, or from plain RTP to SRTP again).
//   - When the peer's key changes, the old receiving context stays for
//     srtpGrace: packets the peer sent before it applied the new
//     negotiation (re-INVITE glare, reordering) still play. With SRTP
//     turned off, a packet the old key authenticates is decrypted, every
//     other is plain RTP.
//   - Replay protection is on (a window of srtpReplayWindow packets). A
//     replayed packet, or one older than the window, is counted apart
//     from those that fail authentication: the network duplicates
//     packets, attackers forge them.
//   - SRTCP is not done: the session sends no RTCP and never reads it.

// srtpGrace is how long the previous receiving key is still tried.
const srtpGrace = 2 * time.Second

// srtpReplayWindow is the number of packets behind the newest that the
// receiver still accepts once (RFC 3711 §3.3.2; libsrtp uses 128): 2.56 s
// of 20 ms packets, more than the jitter buffer waits.
const srtpReplayWindow = 128

// newSRTPContext builds a one-way crypto context for suite i with key
// (key || salt). mki is the master key identifier expected in received
// packets (nil: none). replayed, when not nil, is set by the replay
// detector each time it refuses a packet.
func newSRTPContext(i int, key, mki []byte, replayed *bool) (*srtp.Context, error) {
	s := srtpSuites[i]
	if len(key) != s.keyLen+s.saltLen {
		return nil, fmt.Errorf("media: SRTP %s needs %d bytes of key and salt, got %d",
			s.name, s.keyLen+s.saltLen, len(key))
	}
	opts := []srtp.ContextOption{}
	if len(mki) > 0 {
		opts = append(opts, srtp.MasterKeyIndicator(mki))
	}
	if replayed != nil {
		opts = append(opts, srtp.SRTPReplayDetectorFactory(func() replayDetector {
			return newReplayWatch(srtpReplayWindow, replayed)
		}))
	}
	c, err := srtp.CreateContext(key[:s.keyLen], key[s.keyLen:], s.profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("media: SRTP %s context: %w", s.name, err)
	}
	return c, nil
}

// srtpOut protects what the session sends.
type srtpOut struct {
	suite int
	key   []byte
	ctx   *srtp.Context
	hdr   rtp.Header // scratch for EncryptRTP
}

// srtpIn authenticates and decrypts what arrives.
type srtpIn struct {
	suite    int
	key, mki []byte
	ctx      *srtp.Context
	hdr      rtp.Header // scratch for DecryptRTP
	replayed bool       // set when the replay window refuses a packet
}

func newSRTPOut(k *SRTPKeys) (*srtpOut, error) {
	i := suiteIndex(k.Suite)
	if i < 0 {
		return nil, errors.New("media: SRTP suite " + clip(k.Suite) + " is not supported")
	}
	ctx, err := newSRTPContext(i, k.LocalKey, nil, nil)
	if err != nil {
		return nil, err
	}
	return &srtpOut{suite: i, key: bytes.Clone(k.LocalKey), ctx: ctx}, nil
}

func newSRTPIn(k *SRTPKeys) (*srtpIn, error) {
	i := suiteIndex(k.Suite)
	if i < 0 {
		return nil, errors.New("media: SRTP suite " + clip(k.Suite) + " is not supported")
	}
	in := &srtpIn{suite: i, key: bytes.Clone(k.RemoteKey), mki: bytes.Clone(k.RemoteMKI)}
	ctx, err := newSRTPContext(i, k.RemoteKey, k.RemoteMKI, &in.replayed)
	if err != nil {
		return nil, err
	}
	in.ctx = ctx
	return in, nil
}

func (o *srtpOut) sameKeys(k *SRTPKeys) bool {
	return suiteIndex(k.Suite) == o.suite && bytes.Equal(o.key, k.LocalKey)
}

func (in *srtpIn) sameKeys(k *SRTPKeys) bool {
	return suiteIndex(k.Suite) == in.suite && bytes.Equal(in.key, k.RemoteKey) && bytes.Equal(in.mki, k.RemoteMKI)
}

// protect encrypts the RTP packet plain into dst's array.
func (o *srtpOut) protect(dst []byte, plain []byte) ([]byte, error) {
	return o.ctx.EncryptRTP(dst[:0], plain, &o.hdr)
}

// open authenticates and decrypts b into dst's array. On failure,
// replayed tells a replay from a packet that failed authentication.
func (in *srtpIn) open(dst, b []byte) (plain []byte, replayed bool, err error) {
	in.replayed = false
	plain, err = in.ctx.DecryptRTP(dst[:0], b, &in.hdr)
	return plain, in.replayed, err
}

// setSRTPLocked applies the SRTP outcome of a negotiation (nil: plain
// RTP), keeping each direction's context whose keys did not change. It
// changes nothing when a context cannot be built. Called with s.mu held.
func (s *Session) setSRTPLocked(k *SRTPKeys) error {
	if k == nil {
		s.peer.srtpOut = nil
		s.rxKeys.Store(nil)
		return nil
	}
	out, in := s.peer.srtpOut, s.rxKeys.Load()
	var err error
	if out == nil || !out.sameKeys(k) {
		if out, err = newSRTPOut(k); err != nil {
			return err
		}
	}
	if in == nil || !in.sameKeys(k) {
		if in, err = newSRTPIn(k); err != nil {
			return err
		}
	}
	s.peer.srtpOut = out
	s.rxKeys.Store(in)
	return nil
}

// followKeys makes the clock use the sending context of the last
// negotiation (see Decisions for the new SSRC).
func (s *Session) followKeys(out *srtpOut) {
	tx := &s.tx
	if out == tx.srtp {
		return
	}
	if tx.keyed {
		tx.ssrc, tx.marker = rand.Uint32(), true
	}
	tx.srtp = out
	tx.keyed = tx.keyed || out != nil
}

// rxSRTP is the reader's SRTP state.
type rxSRTP struct {
	cur, prev *srtpIn
	prevUntil time.Time
	buf       [maxPacket]byte
}

// unprotect returns the plain RTP packet of b, or ok false when it is
// dropped (and counted). Without SRTP it returns b.
func (s *Session) unprotect(b []byte, now time.Time) (plain []byte, ok bool) {
	r := &s.rx.srtp
	if in := s.rxKeys.Load(); in != r.cur {
		r.prev, r.prevUntil = r.cur, now.Add(srtpGrace)
		r.cur = in
	}
	if r.prev != nil && now.After(r.prevUntil) {
		r.prev = nil
	}
	switch {
	case r.cur == nil && r.prev == nil:
		return b, true
	case r.cur == nil: // plain RTP now; the old key may still be in flight
		if p, _, err := r.prev.open(r.buf[:], b); err == nil {
			return p, true
		}
		return b, true
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 { // RTCP multiplexed (RFC 5761 §4): not ours to read
		s.stats.ignored.Add(1)
		return nil, false
	}
	p, replayed, err := r.cur.open(r.buf[:], b)
	if err == nil {
		return p, true
	}
	if r.prev != nil {
		if p, _, err := r.prev.open(r.buf[:], b); err == nil {
			return p, true
		}
	}
	if replayed {
		s.stats.replayed.Add(1)
	} else {
		s.stats.unauthenticated.Add(1)
	}
	return nil, false
}

// replayWatch is pion's replay detector, telling us when it refuses a
// packet (pion's error for it is not exported).
type replayWatch struct {
	inner    replaydetector.ReplayDetector
	replayed *bool
}

// replayWatchAccepter keeps pion's allocation-free two-phase check.
type replayWatchAccepter struct {
	replayWatch
	ca replaydetector.CheckAccepter
}

type replayDetector = replaydetector.ReplayDetector

// maxSRTPIndex is the largest packet index: a 32-bit rollover counter
// and a 16-bit sequence number (RFC 3711 §3.3.1).
const maxSRTPIndex = 1<<48 - 1

func newReplayWatch(window uint, replayed *bool) replayDetector {
	d := replaydetector.New(window, maxSRTPIndex)
	w := replayWatch{inner: d, replayed: replayed}
	if ca, ok := d.(replaydetector.CheckAccepter); ok {
		return &replayWatchAccepter{replayWatch: w, ca: ca}
	}
	return &w
}

func (w *replayWatch) Check(seq uint64) (func() bool, bool) {
	accept, ok := w.inner.Check(seq)
	if !ok {
		*w.replayed = true
	}
	return accept, ok
}

func (w *replayWatchAccepter) CheckSeq(seq uint64) replaydetector.Token {
	t := w.ca.CheckSeq(seq)
	if !t.Passed() {
		*w.replayed = true
	}
	return t
}

func (w *replayWatchAccepter) Accept(t replaydetector.Token) bool { return w.ca.Accept(t) }

// srtpName is the suite of k for logs, "off" for plain RTP.
func srtpName(k *SRTPKeys) string {
	if k == nil {
		return "off"
	}
	return k.Suite
}
