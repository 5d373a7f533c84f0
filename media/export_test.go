package media

import "net/netip"

// Hooks for the external tests and benchmarks: they drive one half of a
// session synchronously, with its goroutines not started.

// NewIdleSession builds a session without starting its goroutines; Close
// still closes its socket.
func NewIdleSession(cfg SessionConfig) *Session { return newSession(cfg) }

// Tick runs one frame of the clock.
func (s *Session) Tick() { s.tick() }

// QueueFrame queues f as if a Play were running.
func (s *Session) QueueFrame(f *Frame) bool {
	s.playq.mu.Lock()
	if s.playq.cur == nil {
		s.playq.cur = &player{wake: make(chan struct{}, 1), replaced: make(chan struct{})}
	}
	p := s.playq.cur
	s.playq.mu.Unlock()
	ok, _ := s.playq.push(p, f)
	return ok
}

// HandlePacket runs the reader's work for one datagram.
func (s *Session) HandlePacket(b []byte, from netip.AddrPort) { s.handlePacket(b, from) }

// StartRecording attaches a recorder as Record does.
func (s *Session) StartRecording() {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	s.rec = &recorder{notify: make(chan struct{}, 1), replaced: make(chan struct{})}
	s.jb.reset()
}

// PopFrame takes the next recorded frame, as Record does.
func (s *Session) PopFrame(f *Frame) bool {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	return s.jb.pop(f, popWait)
}

// NormalizeSDP runs the SDP clean-up alone: the text pion/sdp is given
// and the number of m= lines seen.
func NormalizeSDP(raw []byte) (string, int, error) {
	text, mlines, err := normalizeSDP(raw)
	return text, len(mlines), err
}

// MaxSDPSize is the largest body the SDP functions parse.
const MaxSDPSize = maxSDPSize

// ParseCrypto runs the a=crypto parser alone on an attribute value.
func ParseCrypto(value string) (tag, suite string, key, mki []byte, err error) {
	c, err := parseCrypto(value)
	if err != nil {
		return "", "", nil, nil, err
	}
	return c.tag, srtpSuites[c.suite].name, c.key, c.mki, nil
}
