package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/clubline/clubline/media"
)

// mediaState is the RTP side of a dialog: the socket, the session once the
// remote address is known, and our half of the offer/answer history
// (session id and version, the SDP we last sent). Signalling handlers
// change it under its lock; the script reads the session.
type mediaState struct {
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	conn     *net.UDPConn
	sess     *media.Session
	local    media.Local
	neg      media.Negotiated
	sdp      []byte // the SDP we last sent
	offering bool   // we sent an offer and wait for the answer (in an ACK)
	closed   bool
	// unconfirmed holds the session back: the media of an answered call
	// waits for the ACK that confirms its dialog (call.go, Decisions).
	unconfirmed bool
}

// newMediaState takes ownership of conn, whose port is advertised at the
// address local.Addr.
// With SRTP on (local.SRTP), one keyring serves every offer and answer of
// the dialog: the answer to our offer must find the key it wrote.
func newMediaState(conn *net.UDPConn, local media.Local, timeout time.Duration, log *slog.Logger) *mediaState {
	local.SessionID = randomSessionID()
	local.Version = 1
	if local.SRTP != media.SRTPOff {
		local.SRTPKeyring = media.NewSRTPKeyring()
	}
	return &mediaState{conn: conn, local: local, timeout: timeout, log: log}
}

func randomSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 2 // keep it positive in any signed parser
}

func (m *mediaState) session() *media.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sess
}

// holdUntilConfirmed makes the session wait for confirm: nothing is sent
// or read until then. Call it before the media state is shared.
func (m *mediaState) holdUntilConfirmed() { m.unconfirmed = true }

// confirm lets media start: the ACK has confirmed the dialog. The session
// starts now if the offer/answer is complete.
func (m *mediaState) confirm() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unconfirmed = false
	if m.sess == nil && !m.offering && m.neg.Remote.IsValid() {
		m.startLocked()
	}
}

// answer answers the caller's initial offer and starts the session
// (once confirmed, when held).
func (m *mediaState) answer(offer []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sdp, n, err := media.Answer(offer, m.local)
	if err != nil {
		return nil, err
	}
	m.sdp, m.neg = sdp, n
	m.startLocked()
	return sdp, nil
}

// offer makes our offer for an INVITE that came without one (delayed
// offer); the answer comes in the ACK.
func (m *mediaState) offer() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sdp = media.Offer(m.local)
	m.offering = true
	return m.sdp
}

func (m *mediaState) awaitingAnswer() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offering
}

// takeAnswer applies the answer to our last offer: it starts the session
// on the first one and follows the peer on later ones.
func (m *mediaState) takeAnswer(answer []byte, log *slog.Logger) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offering = false
	if len(bytes.TrimSpace(answer)) == 0 {
		return errors.New("no SDP answer")
	}
	n, err := media.ParseAnswer(answer, m.local)
	if err != nil {
		return err
	}
	m.neg = n
	if m.sess == nil {
		m.startLocked()
		return nil
	}
	m.sess.Update(n)
	log.Info("media updated", "direction", string(n.Direction), "codec", n.Codec.Name)
	return nil
}

// reanswer answers an offer within the dialog (re-INVITE, UPDATE): same
// session id, next version (RFC 3264 §8). A failed negotiation leaves the
// session as it was (RFC 3261 §14.2).
func (m *mediaState) reanswer(offer []byte) ([]byte, media.Negotiated, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.local
	next.Version++
	sdp, n, err := media.Answer(offer, next)
	if err != nil {
		return nil, media.Negotiated{}, err
	}
	m.local, m.sdp, m.neg = next, sdp, n
	if m.sess == nil {
		m.startLocked()
	} else {
		m.sess.Update(n)
	}
	return sdp, n, nil
}

// reoffer makes the offer for a re-INVITE that came without SDP: a fresh
// sendrecv offer of our codecs, with the version moved on only if it
// differs from what we last sent.
func (m *mediaState) reoffer() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	sdp := media.Offer(m.local)
	if !bytes.Equal(sdp, m.sdp) {
		m.local.Version++
		sdp = media.Offer(m.local)
	}
	m.sdp, m.offering = sdp, true
	return sdp
}

// cancelOffer forgets an offer that was refused; the session goes on as
// it was.
func (m *mediaState) cancelOffer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offering = false
}

func (m *mediaState) startLocked() {
	if m.closed || m.unconfirmed {
		return
	}
	m.sess = media.NewSession(media.SessionConfig{
		Conn:            m.conn,
		Remote:          m.neg.Remote,
		Codec:           m.neg.Codec,
		DTMFPayloadType: m.neg.DTMFPayloadType,
		Direction:       m.neg.Direction,
		Timeout:         m.timeout,
		Logger:          m.log,
		SRTP:            m.neg.SRTP, // nil: plain RTP
	})
}

// close stops the session and frees the RTP port; it is safe to call more
// than once and before the session exists.
func (m *mediaState) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.sess != nil {
		_ = m.sess.Close() // closes the socket too
		return
	}
	closeConn(m.conn)
}
