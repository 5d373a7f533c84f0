package media

// The receive side of a leg: a small jitter buffer that puts packets back
// in sequence order and turns them into frames for Record.

const (
	// DefaultJitterDepth is how many packets past a missing one the buffer
	// waits for before it gives the missing one up (80 ms at 20 ms a packet).
	DefaultJitterDepth = 4

	jbSlots      = 64  // ring size in packets, a power of two
	jbMaxPayload = 480 // bytes kept of a payload: 60 ms of G.711
	// maxGapFill is the longest timestamp gap (silence suppression, a DTMF
	// event, lost packets) filled with silence; a longer jump is treated as
	// a new timeline and not filled.
	maxGapFill = 5 * SampleRate
	// seqRestartBack: a sequence number this far behind the playout point
	// means the peer restarted its counter, not a late packet.
	seqRestartBack = 200
)

type jbSlot struct {
	used  bool
	audio bool // false: a telephone-event packet, which only takes a number
	alaw  bool
	ext   uint64 // extended sequence number
	ts    uint32
	n     int
	data  [jbMaxPayload]byte
}

type pushResult int

const (
	pushOK pushResult = iota
	pushLate
	pushDuplicate
)

type popMode int

const (
	popWait     popMode = iota // wait for a missing packet up to the depth
	popSkipGaps                // give missing packets up now (the peer went quiet)
	popDrain                   // also pad the last partial frame (the session ended)
)

// jitterBuffer is not safe for concurrent use; Session guards it with rxMu.
type jitterBuffer struct {
	depth   int
	slots   [jbSlots]jbSlot
	count   int
	started bool
	ssrc    uint32
	highest uint64 // highest extended sequence number received
	next    uint64 // next extended sequence number to play out
	decided uint64 // every number below is here or given up as lost

	haveTs   bool
	expectTs uint32 // timestamp right after the last played audio
	pcm      [jbMaxPayload]int16
	pcmPos   int
	pcmLen   int
	silence  int // zero samples owed before pcm[pcmPos:]
	part     Frame
	partLen  int
}

func (j *jitterBuffer) reset() {
	depth := j.depth
	if depth <= 0 {
		depth = DefaultJitterDepth
	}
	for i := range j.slots {
		j.slots[i].used = false
	}
	*j = jitterBuffer{depth: min(depth, jbSlots/2), slots: j.slots}
}

// restart begins a new sequence space (new SSRC or reset counter) at seq.
func (j *jitterBuffer) restart(ssrc uint32, seq uint16) {
	for i := range j.slots {
		j.slots[i].used = false
	}
	j.count = 0
	j.started, j.ssrc = true, ssrc
	j.highest = 1<<16 + uint64(seq)
	j.next, j.decided = j.highest, j.highest
	j.haveTs = false
}

func (j *jitterBuffer) extend(seq uint16) uint64 {
	delta := int64(int16(seq - uint16(j.highest)))
	return uint64(int64(j.highest) + delta)
}

// push stores a packet; payload is copied.
func (j *jitterBuffer) push(ssrc uint32, seq uint16, ts uint32, payload []byte, audio, alaw bool) pushResult {
	if !j.started || ssrc != j.ssrc {
		j.restart(ssrc, seq)
	}
	ext := j.extend(seq)
	if ext < j.next {
		if j.next-ext < seqRestartBack {
			return pushLate
		}
		j.restart(ssrc, seq)
		ext = j.next
	}
	j.decided = max(j.decided, j.next)
	if ext >= j.next+jbSlots {
		// Far ahead: the reader of the buffer fell behind, or the peer
		// jumped. Make room by giving up the oldest packets.
		j.discardBefore(ext - jbSlots + 1)
	}
	s := &j.slots[ext%jbSlots]
	if s.used {
		return pushDuplicate // every used slot holds a number in [next, next+jbSlots)
	}
	if ext < j.decided {
		return pushLate // given up already
	}
	s.used, s.audio, s.alaw, s.ext, s.ts = true, audio, alaw, ext, ts
	s.n = copy(s.data[:], payload)
	j.count++
	j.highest = max(j.highest, ext)
	// A missing packet is given up once depth packets came after it, on
	// arrival, whenever the reader of the buffer runs: what is late is
	// decided by arrival order alone.
	j.decided = max(j.decided, j.highest+1-uint64(j.depth))
	return pushOK
}

func (j *jitterBuffer) discardBefore(next uint64) {
	if next-j.next >= jbSlots {
		for i := range j.slots {
			j.slots[i].used = false
		}
		j.count = 0
	} else {
		for e := j.next; e < next; e++ {
			if s := &j.slots[e%jbSlots]; s.used && s.ext == e {
				s.used = false
				j.count--
			}
		}
	}
	j.next = next
	j.decided = max(j.decided, next)
}

// advance plays out the next packet in sequence into pcm and silence. It
// reports false when the next packet is missing and it is still worth
// waiting for (or nothing is buffered).
func (j *jitterBuffer) advance(skipGaps bool) bool {
	if j.count == 0 {
		return false
	}
	s := &j.slots[j.next%jbSlots]
	for !s.used || s.ext != j.next { // ends: count > 0 and every used slot is ahead
		if !skipGaps && j.next >= j.decided {
			return false // still worth waiting for
		}
		j.next++
		s = &j.slots[j.next%jbSlots]
	}
	s.used = false
	j.count--
	j.next++
	if !s.audio {
		return true // the timestamp gap to the next audio packet covers the event
	}
	if j.haveTs {
		if gap := int32(s.ts - j.expectTs); gap > 0 && gap <= maxGapFill {
			j.silence += int(gap)
		}
	}
	j.pcmLen = decodeG711(j.pcm[:], s.data[:s.n], s.alaw)
	j.pcmPos = 0
	j.expectTs = s.ts + uint32(s.n)
	j.haveTs = true
	return true
}

// pop fills dst with the next frame of received audio if there is one.
func (j *jitterBuffer) pop(dst *Frame, mode popMode) bool {
	for j.partLen < FrameSamples {
		switch {
		case j.silence > 0:
			k := min(j.silence, FrameSamples-j.partLen)
			clear(j.part[j.partLen : j.partLen+k])
			j.partLen += k
			j.silence -= k
		case j.pcmPos < j.pcmLen:
			k := copy(j.part[j.partLen:], j.pcm[j.pcmPos:j.pcmLen])
			j.partLen += k
			j.pcmPos += k
		case j.advance(mode != popWait):
		case mode == popDrain && j.partLen > 0:
			clear(j.part[j.partLen:])
			j.partLen = FrameSamples
		default:
			return false
		}
	}
	*dst = j.part
	j.partLen = 0
	return true
}
