package media

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Errors that end Play, Record, SendDigit or the session itself.
var (
	// ErrTimeout: the session ended because no RTP arrived in time.
	ErrTimeout = errors.New("media: no RTP received before the timeout")
	// ErrClosed: the session was closed.
	ErrClosed = errors.New("media: session closed")
	// ErrReplaced: a newer Play (or Record) took over from this one.
	ErrReplaced = errors.New("media: replaced by a newer call on the session")
	// ErrNotSending: the stream is on hold (our direction is recvonly or
	// inactive) or the peer's address is unknown, so no digit can be sent.
	ErrNotSending = errors.New("media: the stream does not allow sending")
)

const (
	// DefaultTimeout is the RTP inactivity timeout when SessionConfig.Timeout is 0.
	DefaultTimeout = 30 * time.Second
	// relatchAfter: after the peer's address is learned, packets from
	// another address are dropped unless the peer has been silent this long
	// (then the newcomer is the peer behind a rebound NAT).
	relatchAfter = time.Second
	// readFailures: consecutive socket errors before the reader gives up.
	readFailures = 10
	maxPacket    = 1500
	digitsBuffer = 32
)

// SessionConfig describes one RTP leg. Only Conn is required.
type SessionConfig struct {
	// Conn is the RTP socket (see ListenRTP). The session owns it and
	// closes it on Close.
	Conn *net.UDPConn
	// Remote is where to send RTP, from the SDP. After the first valid
	// packet from the peer, the session sends to its source instead
	// (symmetric RTP, for peers behind NAT).
	Remote netip.AddrPort
	// Codec of the audio; a zero Codec means PCMU.
	Codec Codec
	// DTMFPayloadType is the telephone-event number; 0: none.
	DTMFPayloadType uint8
	// Direction is clubline's direction (Negotiated.Direction); empty
	// means sendrecv. recvonly and inactive stop sending but keep the clock.
	Direction Direction
	// Timeout ends the session when no RTP arrives for that long: 0 means
	// DefaultTimeout, < 0 disables it. It is suspended while no media is
	// expected (our direction is sendonly or inactive, or Remote is 0.0.0.0).
	Timeout time.Duration
	// FirstTimeout applies until the first packet arrives; 0 means Timeout.
	FirstTimeout time.Duration
	// JitterDepth is the number of packets Record waits past a missing one
	// before playing silence in its place; 0 means DefaultJitterDepth.
	JitterDepth int
	// MaxBurst is how many late frames the clock sends back to back after
	// a stall before it skips; 0 means DefaultMaxBurst.
	MaxBurst int
	// Silence is what the clock sends while nothing plays: silent audio
	// (SendSilence, the default), nothing, or comfort noise. The last two
	// are for the test phone.
	Silence SilenceMode
	// Logger receives the session's start, end and address changes; nil
	// discards. Nothing is logged per packet.
	Logger *slog.Logger
	// SRTP is Negotiated.SRTP: the suite and keys when the stream is
	// SRTP, nil for plain RTP. Keys a context cannot be built from (a
	// wrong length) end the session at once with the reason.
	SRTP *SRTPKeys
}

// SessionStats are running counters of a session. Bytes count whole
// packets as on the wire (header, payload and, with SRTP, the
// authentication tag).
type SessionStats struct {
	PacketsSent     uint64
	BytesSent       uint64
	PacketsReceived uint64 // accepted audio and telephone-event packets
	BytesReceived   uint64
	PacketsLost     uint64 // RFC 3550 estimate: expected minus received
	PacketsLate     uint64 // too late or duplicated, while recording
	PacketsIgnored  uint64 // not RTP, another payload type, or a foreign address
	SendErrors      uint64
	FramesSkipped   uint64 // frames the clock skipped after a stall
	DigitsDropped   uint64 // digits lost because nobody read Digits
	// SRTP packets dropped unplayed: failed authentication (a wrong key,
	// a changed bit, a forgery, plain RTP, an unknown MKI) ...
	PacketsUnauthenticated uint64
	// ... or refused by the replay window: received already, or older
	// than the window (a network duplicate, or a replay).
	PacketsReplayed uint64
}

type counters struct {
	sent, sentBytes, recv, recvBytes, lost, late, ignored,
	sendErrors, skipped, digitsDropped, unauthenticated, replayed atomic.Uint64
}

// peerState is what signalling and the reader change under Session.mu and
// the clock reads once per frame.
type peerState struct {
	sdpRemote    netip.AddrPort // from SessionConfig or the last Update
	remote       netip.AddrPort // where RTP goes: sdpRemote or the learned source
	latched      bool
	lastFromPeer time.Time
	lastRx       time.Time // start of the inactivity window
	gotMedia     bool
	codec        Codec
	dtmfPT       uint8
	dir          Direction
	srtpOut      *srtpOut // nil: plain RTP
}

// txView is the clock's per-frame copy of peerState.
type txView struct {
	remote  netip.AddrPort
	codec   Codec
	dtmfPT  uint8
	canSend bool
	srtp    *srtpOut
}

// Session is one RTP leg: a reader goroutine for what arrives and a single
// clock goroutine that sends one packet every 20 ms, audio from Play or
// silence, and DTMF events from SendDigit in their place. With
// SessionConfig.SRTP (or an Update that brings keys) both directions are
// SRTP (session_srtp.go).
//
// Methods are safe for concurrent use. Close must always be called; after
// it returns no goroutine of the session remains.
type Session struct {
	conn         *net.UDPConn
	log          *slog.Logger
	local        netip.AddrPort
	timeout      time.Duration
	firstTimeout time.Duration
	maxBurst     int
	silence      SilenceMode

	mu   sync.Mutex
	peer peerState

	playq   playQueue
	dtmfReq chan *dtmfRequest
	tx      txState // clock goroutine only

	rxMu   sync.Mutex
	jb     jitterBuffer
	rec    *recorder
	digits chan rune
	rx     rxState // reader goroutine only

	stats counters

	rxKeys atomic.Pointer[srtpIn] // what the reader decrypts with; nil: plain RTP

	closing chan struct{}
	endOnce sync.Once
	err     error // set before closing is closed
	wg      sync.WaitGroup
	logOnce sync.Once
}

// NewSession starts a session on cfg.Conn. A nil Conn gives a session that
// has already ended with an error.
func NewSession(cfg SessionConfig) *Session {
	s := newSession(cfg)
	if s.conn == nil || s.ended() != nil {
		return s
	}
	s.log.Debug("rtp session started", "local", s.local, "remote", cfg.Remote,
		"codec", s.peer.codec.String(), "direction", s.peer.dir, "srtp", srtpName(cfg.SRTP))
	s.wg.Add(2)
	go s.runReader()
	go s.runClock(time.Now())
	return s
}

// newSession builds a session without starting its goroutines.
func newSession(cfg SessionConfig) *Session {
	s := &Session{
		conn:         cfg.Conn,
		log:          cfg.Logger,
		timeout:      cfg.Timeout,
		firstTimeout: cfg.FirstTimeout,
		maxBurst:     cfg.MaxBurst,
		silence:      cfg.Silence,
		dtmfReq:      make(chan *dtmfRequest),
		digits:       make(chan rune, digitsBuffer),
		closing:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.firstTimeout == 0 {
		s.firstTimeout = s.timeout
	}
	if cfg.Codec.Name == "" {
		cfg.Codec = PCMU
	}
	if cfg.Direction == "" {
		cfg.Direction = DirSendRecv
	}
	now := time.Now()
	s.peer = peerState{sdpRemote: cfg.Remote, remote: cfg.Remote, lastRx: now,
		codec: cfg.Codec, dtmfPT: cfg.DTMFPayloadType, dir: cfg.Direction}
	s.jb.depth = cfg.JitterDepth
	s.tx = txState{ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), tsBase: rand.Uint32(), marker: true}
	if s.conn == nil {
		s.end(errors.New("media: SessionConfig.Conn is nil"))
		return s
	}
	if la, ok := s.conn.LocalAddr().(*net.UDPAddr); ok {
		ap := la.AddrPort()
		s.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if err := s.setSRTPLocked(cfg.SRTP); err != nil {
		s.end(err)
	}
	return s
}

// LocalAddr is the address of the session's socket.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Done is closed when the session starts to end: Close, RTP timeout, or a
// failed socket. Call Close anyway to wait for its goroutines.
func (s *Session) Done() <-chan struct{} { return s.closing }

// Err is nil while the session runs and after Close; ErrTimeout or the
// socket error when one of those ended it.
func (s *Session) Err() error {
	select {
	case <-s.closing:
		return s.err
	default:
		return nil
	}
}

// Close ends the session, closes its socket and waits for its goroutines.
// It is idempotent and always returns nil.
func (s *Session) Close() error {
	s.end(nil)
	s.wg.Wait()
	s.logOnce.Do(func() {
		st := s.Stats()
		s.log.Debug("rtp session ended", "err", s.err, "sent", st.PacketsSent,
			"received", st.PacketsReceived, "lost", st.PacketsLost, "late", st.PacketsLate,
			"ignored", st.PacketsIgnored, "send_errors", st.SendErrors, "skipped", st.FramesSkipped,
			"unauthenticated", st.PacketsUnauthenticated, "replayed", st.PacketsReplayed)
	})
	return nil
}

func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.closing)
		if s.conn != nil {
			_ = s.conn.Close() // the error of a second close is of no use
		}
	})
}

// endErr is what blocked calls return once the session has ended.
func (s *Session) endErr() error {
	if s.err != nil {
		return s.err
	}
	return ErrClosed
}

// ended returns endErr if the session has ended, else nil.
func (s *Session) ended() error {
	select {
	case <-s.closing:
		return s.endErr()
	default:
		return nil
	}
}

// Update applies a new negotiation (re-INVITE): remote address, codec,
// telephone-event, our direction and SRTP keys. A new remote address is
// used until the peer's packets show its real source again. A zero Codec
// keeps the current one. The inactivity window restarts. New keys switch
// each direction's crypto context (session_srtp.go); keys no context can
// be built from end the session, never falling back to plain RTP.
func (s *Session) Update(n Negotiated) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.peer
	if n.Remote != p.sdpRemote {
		p.sdpRemote, p.remote, p.latched = n.Remote, n.Remote, false
	}
	if n.Codec.Name != "" {
		p.codec = n.Codec
	}
	p.dtmfPT = n.DTMFPayloadType
	p.dir = n.Direction
	if p.dir == "" {
		p.dir = DirSendRecv
	}
	p.lastRx = time.Now()
	if err := s.setSRTPLocked(n.SRTP); err != nil {
		s.log.Warn("rtp session ended: new SRTP keys unusable", "err", err)
		s.end(err)
	}
}

func (s *Session) txView() txView {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.peer
	return txView{remote: p.remote, codec: p.codec, dtmfPT: p.dtmfPT,
		canSend: canSend(p.dir, p.remote) && !p.sdpRemote.Addr().IsUnspecified(), srtp: p.srtpOut}
}

// Stats returns the session's counters so far.
func (s *Session) Stats() SessionStats {
	c := &s.stats
	return SessionStats{
		PacketsSent: c.sent.Load(), BytesSent: c.sentBytes.Load(),
		PacketsReceived: c.recv.Load(), BytesReceived: c.recvBytes.Load(),
		PacketsLost: c.lost.Load(), PacketsLate: c.late.Load(), PacketsIgnored: c.ignored.Load(),
		SendErrors: c.sendErrors.Load(), FramesSkipped: c.skipped.Load(),
		DigitsDropped: c.digitsDropped.Load(), PacketsUnauthenticated: c.unauthenticated.Load(),
		PacketsReplayed: c.replayed.Load(),
	}
}
