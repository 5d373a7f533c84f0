package softphone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Call is an answered call of the phone.
type Call struct {
	o        Options
	target   sipmsg.Uri
	log      *slog.Logger
	ua       *sipgo.UserAgent
	client   *sipgo.Client
	contact  sipmsg.Uri
	sipConn  *net.UDPConn  // UDP only
	serving  chan struct{} // closed when the UDP listener loop returned
	rtpConn  *net.UDPConn
	local    media.Local
	dialog   dialogSession    // *sipgo.DialogClientSession, or a DialogServerSession for an Answerer's call
	received *sipmsg.Request  // the INVITE received, for an Answerer's call; nil for Dial's
	shared   bool             // the user agent belongs to an Answerer: release leaves it open
	answer   *sipmsg.Response // the 200 OK
	setup    time.Duration
	sess     *media.Session
	wav      *media.WAVRecorder

	deaf      atomic.Bool  // release: drop whatever the SIP socket still reads
	refreshes atomic.Int32 // UPDATEs and re-INVITEs received

	mu          sync.Mutex
	neg         media.Negotiated
	provisional []int
	heard       []int16
	endedBy     string
	endedAt     time.Time
	answeredAt  time.Time
	notifies    []*sipmsg.Request // the NOTIFYs received, in order
	refreshSE   string            // the Session-Expires of the last refresh received
	notified    chan struct{}     // closed and replaced when a NOTIFY arrives

	endOnce       sync.Once
	ended         chan struct{} // the call is over (cause in endedBy)
	remoteBye     chan struct{}
	byeOnce       sync.Once
	remoteByeOnce sync.Once
	recording     chan struct{} // closed when the recorder returned
	done          chan struct{} // everything released
}

// start runs the media once the call is up.
func (c *Call) start() {
	c.mu.Lock()
	c.answeredAt = time.Now()
	n := c.neg
	c.mu.Unlock()
	if c.o.Silent {
		n.Direction = media.DirRecvOnly
	}
	sess := media.NewSession(media.SessionConfig{
		Conn: c.rtpConn, Remote: n.Remote, Codec: n.Codec, DTMFPayloadType: n.DTMFPayloadType,
		Direction: n.Direction, Timeout: c.o.RTPTimeout, Silence: c.o.WhenQuiet, Logger: c.log,
		SRTP: n.SRTP,
	})
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	c.rtpConn = nil // the session owns it now
	if c.o.RecordTo != "" {
		w, err := media.CreateWAV(c.o.RecordTo)
		if err != nil {
			c.log.Warn("cannot record", "path", c.o.RecordTo, "error", err)
		} else {
			c.wav = w
		}
	}
	c.recording = make(chan struct{})
	recordingStarted := make(chan struct{})
	go c.record(recordingStarted)
	<-recordingStarted
	go c.run()
}

// record keeps everything heard, from the answer on. started is closed
// as it starts recording.
func (c *Call) record(started chan<- struct{}) {
	defer close(c.recording)
	close(started)
	err := c.sess.Record(context.Background(), sinkFunc(func(f *media.Frame) error {
		c.mu.Lock()
		c.heard = append(c.heard, f[:]...)
		c.mu.Unlock()
		if c.wav != nil {
			return c.wav.WriteFrame(f)
		}
		return nil
	}))
	if err != nil && !errors.Is(err, media.ErrClosed) && !errors.Is(err, media.ErrTimeout) {
		c.log.Warn("recording stopped", "error", err)
	}
}

type sinkFunc func(f *media.Frame) error

func (s sinkFunc) WriteFrame(f *media.Frame) error { return s(f) }

// run waits for the end of the call and releases everything.
func (c *Call) run() {
	var refresh <-chan time.Time
	if t := c.refreshInterval(); t > 0 {
		tk := time.NewTicker(t)
		defer tk.Stop()
		refresh = tk.C
	}
	for loop := true; loop; {
		select {
		case <-c.ended:
			loop = false
		case <-c.remoteBye:
			c.end(EndedRemoteBye)
		case <-c.sess.Done():
			if errors.Is(c.sess.Err(), media.ErrTimeout) {
				c.end(EndedTimeout)
			} else {
				c.end(EndedMedia)
			}
			c.byeQuietly()
		case <-refresh:
			if err := c.refresh(); err != nil {
				c.log.Warn("session refresh failed", "error", err)
				c.end(EndedRefresh)
				c.byeQuietly()
			}
		}
	}
	_ = c.sess.Close()
	<-c.recording
	if c.wav != nil {
		if err := c.wav.Close(); err != nil {
			c.log.Warn("closing the recording", "error", err)
		}
	}
	c.release()
	close(c.done)
}

// end records why the call ended; the first cause wins.
func (c *Call) end(by string) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.endedBy, c.endedAt = by, time.Now()
		c.mu.Unlock()
		close(c.ended)
	})
}

// release closes the user agent and the sockets not owned by a session.
// A request sipgo reads once its connections are gone makes it open a
// socket of its own to answer, which nothing would close: the phone stops
// reading first, then closes what sipgo may still open.
func (c *Call) release() {
	if c.rtpConn != nil {
		_ = c.rtpConn.Close()
	}
	if c.shared {
		return
	}
	c.deaf.Store(true)
	if c.sipConn != nil {
		_ = c.sipConn.Close()
		<-c.serving
	}
	_ = c.ua.Close()
	tp := c.ua.TransportLayer()
	for range 10 {
		time.Sleep(5 * time.Millisecond)
		if tp.Pool("udp").Size() > 0 || tp.Pool("tcp").Size() > 0 {
			_ = tp.Close()
		}
	}
}

// refreshInterval is how often the phone refreshes the session: half the
// Session-Expires of the answer, when it names the phone as refresher: uac
// for a call it dialled, uas for one an Answerer took.
func (c *Call) refreshInterval() time.Duration {
	hs := c.answer.GetHeaders("Session-Expires")
	if len(hs) == 0 || c.o.NoSessionRefresh {
		return 0
	}
	mine := "refresher=uac"
	if c.received != nil {
		mine = "refresher=uas"
	}
	v := strings.ToLower(hs[0].Value())
	if !strings.Contains(v, mine) {
		return 0
	}
	secs, _, _ := strings.Cut(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(secs))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second / 2
}

// refresh sends a session refresh (UPDATE without SDP, RFC 4028).
func (c *Call) refresh() error {
	req := c.inDialog(sipmsg.UPDATE)
	req.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	req.AppendHeader(sipmsg.NewHeader("Session-Expires", c.answer.GetHeaders("Session-Expires")[0].Value()))
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	res, err := c.dialog.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("UPDATE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// inDialog starts a request to the callee's Contact.
func (c *Call) inDialog(method sipmsg.RequestMethod) *sipmsg.Request {
	recipient := c.target
	if c.received != nil {
		if ct := c.received.Contact(); ct != nil {
			recipient = ct.Address
		}
	} else if ct := c.answer.Contact(); ct != nil {
		recipient = ct.Address
	}
	return sipmsg.NewRequest(method, *recipient.Clone())
}

// SendDigit presses key d as an RFC 4733 event of 100 ms.
func (c *Call) SendDigit(ctx context.Context, d rune) error {
	return c.sess.SendDigit(ctx, d, 0)
}

// SendDigitInfo presses key d as a SIP INFO (application/dtmf-relay).
func (c *Call) SendDigitInfo(ctx context.Context, d rune) error {
	d, ok := media.NormalizeDigit(d)
	if !ok {
		return fmt.Errorf("phone: %q is not a DTMF key", d)
	}
	code, err := c.SendInfo(ctx, "application/dtmf-relay", []byte("Signal="+string(d)+"\r\nDuration=160\r\n"))
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return &StatusError{Code: code, Reason: "INFO not accepted", Method: "INFO"}
	}
	return nil
}

// SendInfo sends a SIP INFO with any body (none when contentType is "")
// and returns the status of the answer.
func (c *Call) SendInfo(ctx context.Context, contentType string, body []byte) (int, error) {
	req := c.inDialog(sipmsg.INFO)
	if contentType != "" {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
		req.SetBody(body)
	}
	res, err := c.dialog.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("phone: INFO: %w", err)
	}
	return res.StatusCode, nil
}

// Play sends src to the callee, paced in real time (a tone into a
// voicemail, a recorded question).
func (c *Call) Play(ctx context.Context, src media.Source) error {
	return c.sess.Play(ctx, src)
}

// Heard returns a copy of everything received since the answer, as 8 kHz
// samples.
func (c *Call) Heard() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.heard...)
}

// HeardFrames returns how many 20 ms frames have been received.
func (c *Call) HeardFrames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.heard) / media.FrameSamples
}

// Hangup sends BYE and waits for its answer and for the call's resources
// to be released. Hanging up a call that has ended does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	var err error
	c.byeOnce.Do(func() {
		select {
		case <-c.ended:
			return
		default:
		}
		err = c.dialog.Bye(ctx) // the user agent must live until it is answered
		c.log.Debug("BYE answered", "error", err)
		c.end(EndedLocalBye)
	})
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("phone: BYE: %w", err)
	}
	return nil
}

// Done is closed when the call has ended (BYE either way, RTP timeout) and
// the phone has released its sockets.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndedBy says how the call ended: EndedRemoteBye, EndedLocalBye,
// EndedTimeout…; "" while it goes on.
func (c *Call) EndedBy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedBy
}

// Duration is the time from the answer to the end (or to now).
func (c *Call) Duration() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endedAt.IsZero() {
		return time.Since(c.answeredAt)
	}
	return c.endedAt.Sub(c.answeredAt)
}

// SetupTime is the time from sending the INVITE to receiving the 200 OK.
func (c *Call) SetupTime() time.Duration { return c.setup }

// Response is the 200 OK that answered the call, for its headers.
func (c *Call) Response() *sipmsg.Response { return c.answer }

// Provisional lists the provisional statuses received before the answer
// (100, 180, 183).
func (c *Call) Provisional() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.provisional...)
}

// Negotiated is the media agreed on by the last offer/answer.
func (c *Call) Negotiated() media.Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg
}

// Digits delivers the DTMF keys the other side sends (RFC 4733 events),
// each once; nil before the call is up. The channel is never closed:
// select on Done too.
func (c *Call) Digits() <-chan rune {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess == nil {
		return nil
	}
	return sess.Digits()
}
