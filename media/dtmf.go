package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RFC 4733 telephone-events: DTMF digits as RTP packets.

// ErrNoTelephoneEvent is returned by SendDigit when the peer did not
// negotiate telephone-event; the caller may fall back to SIP INFO.
var ErrNoTelephoneEvent = errors.New("media: peer has no telephone-event payload type")

const (
	dtmfVolume      = 10 // -10 dBm0, as most phones send
	dtmfEndRepeats  = 3  // end packets per event (RFC 4733 section 2.5.1.4)
	dtmfDefaultDur  = 100 * time.Millisecond
	dtmfMaxDur      = 8 * time.Second // the 16-bit duration field holds 8.19 s
	dtmfGapTicks    = 2               // audio frames between two sent events
	dtmfRecentCount = 4               // event timestamps remembered against late repeats
	dtmfRestartBack = 60 * SampleRate // a timestamp this far back means the peer restarted its clock
)

// digitEvent maps a digit to its event code (0-9, * #, A-D).
func digitEvent(d rune) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return byte(d - '0'), true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return byte(12 + d - 'A'), true
	case d >= 'a' && d <= 'd':
		return byte(12 + d - 'a'), true
	}
	return 0, false
}

// eventDigit maps an event code back; codes above 15 (flash, tones) are not digits.
func eventDigit(e byte) (rune, bool) {
	const digits = "0123456789*#ABCD"
	if int(e) < len(digits) {
		return rune(digits[e]), true
	}
	return 0, false
}

// NormalizeDigit returns d as Digits delivers it (upper-case A-D) and
// whether it is a DTMF digit at all.
func NormalizeDigit(d rune) (rune, bool) {
	e, ok := digitEvent(d)
	if !ok {
		return 0, false
	}
	r, _ := eventDigit(e)
	return r, true
}

// putEvent writes an RFC 4733 payload: event, E bit and volume, duration.
func putEvent(b []byte, event byte, end bool, duration uint16) []byte {
	b = append(b, event, dtmfVolume, 0, 0)
	if end {
		b[len(b)-3] |= 0x80
	}
	binary.BigEndian.PutUint16(b[len(b)-2:], duration)
	return b
}

// dtmfReceiver turns RFC 4733 packets into digits. An event is identified
// by its SSRC and RTP timestamp, which all its packets share: the marker
// bit may be lost and the end packet is repeated, so neither can be
// trusted alone. Only the reader goroutine uses it.
type dtmfReceiver struct {
	have    bool
	ssrc    uint32 // of the newest event
	lastTs  uint32 // timestamp of the newest event
	lastEv  byte
	lastDur uint16
	lastEnd bool
	// recent events, kept across a change of SSRC: a late repeat of the
	// old stream's last event must not count again (found by
	// FuzzHandlePacket, issue 7).
	recent  [dtmfRecentCount]eventID
	nrecent int
}

type eventID struct{ ssrc, ts uint32 }

// packet handles one telephone-event packet and reports a new digit.
func (r *dtmfReceiver) packet(ssrc, ts uint32, payload []byte) (rune, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	ev, end, dur := payload[0], payload[1]&0x80 != 0, binary.BigEndian.Uint16(payload[2:4])
	sameStream := r.have && ssrc == r.ssrc
	if sameStream && ts == r.lastTs {
		r.lastDur, r.lastEnd = max(r.lastDur, dur), r.lastEnd || end
		return 0, false
	}
	if r.seen(eventID{ssrc, ts}) {
		return 0, false // a late repeat of an older event
	}
	// A new SSRC starts its own timeline: the checks below compare
	// timestamps of one stream only.
	if sameStream {
		if back := int32(r.lastTs - ts); back > 0 && back < dtmfRestartBack {
			return 0, false // older than the newest event: late
		}
		// A long key press is split into segments with new timestamps
		// (RFC 4733 section 2.5.1.3); the continuation is not a new digit.
		if !r.lastEnd && ev == r.lastEv && ts == r.lastTs+uint32(r.lastDur) {
			r.remember(ssrc, ts, ev, dur, end)
			return 0, false
		}
	}
	r.have = true
	r.remember(ssrc, ts, ev, dur, end)
	return eventDigit(ev)
}

func (r *dtmfReceiver) seen(id eventID) bool {
	for i := range min(r.nrecent, len(r.recent)) {
		if r.recent[i] == id {
			return true
		}
	}
	return false
}

func (r *dtmfReceiver) remember(ssrc, ts uint32, ev byte, dur uint16, end bool) {
	r.recent[r.nrecent%len(r.recent)] = eventID{ssrc, ts}
	r.nrecent++
	r.ssrc, r.lastTs, r.lastEv, r.lastDur, r.lastEnd = ssrc, ts, ev, dur, end
}

// dtmfRequest is a digit handed to the clock goroutine by SendDigit.
type dtmfRequest struct {
	event  byte
	ticks  int             // frames before the end packets
	cancel <-chan struct{} // the caller's ctx.Done(): end the event early
	done   chan error      // buffered; receives the outcome once
}

func newDTMFRequest(d rune, dur time.Duration, cancel <-chan struct{}) (*dtmfRequest, error) {
	ev, ok := digitEvent(d)
	if !ok {
		return nil, fmt.Errorf("media: %q is not a DTMF digit (0-9 * # A-D)", d)
	}
	if dur <= 0 {
		dur = dtmfDefaultDur
	}
	dur = min(dur, dtmfMaxDur)
	ticks := max(1, int((dur+FrameDuration-1)/FrameDuration))
	return &dtmfRequest{event: ev, ticks: ticks, cancel: cancel, done: make(chan error, 1)}, nil
}
