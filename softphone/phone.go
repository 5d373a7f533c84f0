// Package softphone is a SIP phone written in Go: it dials, hears, presses
// keys, plays audio and hangs up, over real SIP (sipgo) and RTP (package
// media); it also registers and answers as a staff phone (Register,
// Listen) and follows its message-waiting light (Answerer.Subscribe). It
// is clubline's "mystery caller" (clubline call …) and the caller and
// staff phones of the end-to-end tests; it never carries a real call.
// What it heard is put into words by package hearing.
//
// One Call owns its own sipgo user agent and sockets and releases all of
// them when it ends: once Done is closed, nothing of it is left running.
package softphone

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clubline/clubline/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Options describe the phone.
type Options struct {
	// From is the caller's user or number in From and Contact
	// (default "phone").
	From string
	// AuthUser and AuthPassword answer a 401 or 407 to the INVITE (a
	// staff softphone calling a line that authenticates calls); empty: a
	// challenge is a refusal.
	AuthUser, AuthPassword string
	// SRTP is whether the phone offers encrypted audio (SDES): off (the
	// default), optional (RTP/AVP with a=crypto) or required (RTP/SAVP).
	SRTP media.SRTPPolicy
	// Transport is "udp" (default) or "tcp"; a ";transport=" parameter in
	// the URI wins.
	Transport string
	// LocalIP is the address of the phone's sockets; default: the local
	// address that routes to the callee.
	LocalIP netip.Addr
	// RTPPortMin and RTPPortMax bound the RTP port; 0 and 0: any free port.
	RTPPortMin, RTPPortMax int
	// Codecs are offered in this order (default PCMU, PCMA). A codec other
	// than G.711 (say G729/18) is written into the offer as is, to test how
	// a server refuses what it cannot speak.
	Codecs []media.Codec
	// Logger receives the phone's and sipgo's logs; nil discards them.
	Logger *slog.Logger
	// RecordTo, when set, writes everything heard from the answer on to
	// this WAV file (8 kHz, 16-bit, mono).
	RecordTo string
	// DelayedOffer sends the INVITE without SDP; the phone answers the
	// callee's offer in the ACK.
	DelayedOffer bool
	// SessionExpires, when positive, asks for a session timer (RFC 4028):
	// Supported: timer and Session-Expires in the INVITE. When the answer
	// makes the phone the refresher it refreshes with UPDATE at half the
	// interval.
	SessionExpires time.Duration
	// SessionRefresher, "uac" or "uas", goes in the Session-Expires of the
	// INVITE; empty lets the callee choose.
	SessionRefresher string
	// NoSessionRefresh never refreshes the session, to test the callee's
	// session timer.
	NoSessionRefresh bool
	// NoUpdate leaves UPDATE out of the phone's Allow, so the callee must
	// refresh with re-INVITE.
	NoUpdate bool
	// RTPTimeout ends the call when no RTP arrives for that long
	// (default 30s; negative: never).
	RTPTimeout time.Duration
	// Silent sends no RTP at all although the SDP says sendrecv, to test
	// the callee's RTP timeout.
	Silent bool
	// WhenQuiet is what the phone sends while it plays nothing: silent
	// audio every 20 ms (media.SendSilence, the default), nothing at all
	// (media.SendNothing: voice activity detection), or RFC 3389 comfort
	// noise (media.SendComfortNoise). Digits are sent either way.
	WhenQuiet media.SilenceMode
	// Headers are added to the INVITE as they are, name then value
	// (the line's own probe: clubline.ProbeHeader).
	Headers [][2]string
}

// StatusError is a non-2xx final answer: to the INVITE from Dial, or to a
// request within the call (Method says which).
type StatusError struct {
	Code     int
	Reason   string
	Method   string           // "" for the INVITE of Dial
	Response *sipmsg.Response // the whole answer, for its headers (Retry-After, Warning…)
}

func (e *StatusError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("phone: call refused: %d %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("phone: %s refused: %d %s", e.Method, e.Code, e.Reason)
}

// Header returns the value of a header of the refusal, or "".
func (e *StatusError) Header(name string) string {
	if e.Response == nil {
		return ""
	}
	if hs := e.Response.GetHeaders(name); len(hs) > 0 {
		return hs[0].Value()
	}
	return ""
}

// How a call ended, as EndedBy reports it.
const (
	EndedRemoteBye = "remote BYE"
	EndedLocalBye  = "local BYE"
	EndedTimeout   = "rtp timeout"
	EndedMedia     = "media error"
	EndedRefresh   = "session refresh failed"
)

const dtmfPayloadType = 101

// The methods the phone answers, for its Allow headers.
const (
	allowMethods  = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY"
	allowNoUpdate = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY" // Options.NoUpdate
)

// Dial calls uri ("sip:+15145550100@127.0.0.1:5060") and returns once the
// call is answered and acknowledged. A non-2xx final answer is returned as
// a *StatusError. Cancelling ctx before the answer sends CANCEL (after the
// first provisional response, as RFC 3261 §9.1 requires) and returns
// ctx.Err(); after the answer, ctx no longer matters: end the call with
// Hangup.
func Dial(ctx context.Context, uri string, o Options) (*Call, error) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &target); err != nil {
		return nil, fmt.Errorf("phone: bad URI %q: %w", uri, err)
	}
	if target.Scheme == "" {
		target.Scheme = "sip"
	}
	o, err := o.withDefaults(ctx, &target)
	if err != nil {
		return nil, err
	}
	c, err := newCall(o, target)
	if err != nil {
		return nil, err
	}
	if err := c.invite(ctx); err != nil {
		c.release()
		return nil, err
	}
	ackBody, err := c.negotiate(ctx)
	if err != nil {
		c.release()
		return nil, err
	}
	// Media first, the recorder running: a callee may play from the
	// instant it has the ACK (clubline starts RTP there, not before), and
	// what comes before Record starts is not heard.
	c.start()
	if err := c.writeAck(ctx, ackBody); err != nil {
		_ = c.Hangup(ctx)
		return nil, err
	}
	return c, nil
}

func (o Options) withDefaults(ctx context.Context, target *sipmsg.Uri) (Options, error) {
	if o.From == "" {
		o.From = "phone"
	}
	if tp, ok := target.UriParams.Get("transport"); ok && tp != "" {
		o.Transport = tp
	}
	o.Transport = strings.ToLower(o.Transport)
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.Transport != "udp" && o.Transport != "tcp" {
		return o, fmt.Errorf("phone: transport %q: use udp or tcp", o.Transport)
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RTPTimeout == 0 {
		o.RTPTimeout = 30 * time.Second
	}
	if !o.LocalIP.IsValid() {
		ip, err := routeTo(ctx, target)
		if err != nil {
			return o, err
		}
		o.LocalIP = ip
	}
	o.LocalIP = o.LocalIP.Unmap()
	return o, nil
}

// routeTo finds the local address that reaches the target's host.
func routeTo(ctx context.Context, target *sipmsg.Uri) (netip.Addr, error) {
	host := strings.Trim(target.Host, "[]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		if lerr != nil || len(ips) == 0 {
			return netip.Addr{}, fmt.Errorf("phone: cannot resolve %q: %v", host, lerr)
		}
		ip = ips[0]
	}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("phone: no route to %s: %w", ip, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// newCall builds the phone's user agent, its SIP and RTP sockets.
// newUA builds the phone's SIP user agent. Once deaf is set, whatever its
// socket still reads is dropped (the phone is releasing it).
func newUA(localIP netip.Addr, logger *slog.Logger, deaf *atomic.Bool) (*sipgo.UserAgent, error) {
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("clubline-phone"),
		sipgo.WithUserAgentHostname(localIP.String()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(logger),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(logger),
			sipmsg.WithTransportLayerReadFilter(func(_ sipmsg.TransportReadProps, data []byte) ([]byte, error) {
				if deaf.Load() {
					return nil, nil
				}
				return data, nil
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	return ua, nil
}

func newCall(o Options, target sipmsg.Uri) (*Call, error) {
	c := &Call{
		o: o, target: target, log: o.Logger.With("component", "phone"),
		ended: make(chan struct{}), done: make(chan struct{}),
		remoteBye: make(chan struct{}),
	}
	var err error
	if c.ua, err = newUA(o.LocalIP, o.Logger, &c.deaf); err != nil {
		return nil, err
	}
	srv, err := sipgo.NewServer(c.ua, sipgo.WithServerLogger(o.Logger))
	if err != nil {
		_ = c.ua.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	c.routes(srv)
	clientOpts := []sipgo.ClientOption{sipgo.WithClientHostname(o.LocalIP.String()), sipgo.WithClientLogger(o.Logger)}
	contact := sipmsg.Uri{Scheme: "sip", User: o.From, Host: hostOf(o.LocalIP)}
	if o.Transport == "udp" {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.LocalIP, 0)))
		if err != nil {
			_ = c.ua.Close()
			return nil, fmt.Errorf("phone: SIP socket: %w", err)
		}
		c.sipConn = conn
		contact.Port = conn.LocalAddr().(*net.UDPAddr).Port
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
		c.serving = make(chan struct{})
		go func() {
			defer close(c.serving)
			_ = srv.ServeUDP(conn)
		}()
		if err := waitServing(c.ua); err != nil {
			c.release()
			return nil, err
		}
	} else {
		contact.UriParams = sipmsg.NewParams()
		contact.UriParams.Add("transport", "tcp")
	}
	c.client, err = sipgo.NewClient(c.ua, clientOpts...)
	if err != nil {
		c.release()
		return nil, fmt.Errorf("phone: %w", err)
	}
	c.contact = contact

	c.rtpConn, err = media.ListenRTP(o.LocalIP, o.RTPPortMin, o.RTPPortMax)
	if err != nil {
		c.release()
		return nil, fmt.Errorf("phone: RTP socket: %w", err)
	}
	rtpAddr := c.rtpConn.LocalAddr().(*net.UDPAddr).AddrPort()
	c.local = media.Local{
		Addr:            netip.AddrPortFrom(o.LocalIP, rtpAddr.Port()),
		Codecs:          o.Codecs,
		DTMFPayloadType: dtmfPayloadType,
		SessionID:       randomID(),
		Version:         1,
		SRTP:            o.SRTP,
	}
	if o.SRTP != media.SRTPOff {
		c.local.SRTPKeyring = media.NewSRTPKeyring()
	}
	return c, nil
}

// waitServing waits until sipgo has taken the UDP socket into its pool:
// until then a request would try to bind the same port again.
func waitServing(ua *sipgo.UserAgent) error {
	for i := 0; i < 200; i++ {
		if p := ua.TransportLayer().Pool("udp"); p != nil && p.Size() > 0 {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("phone: SIP socket not served after 1s")
}

func hostOf(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 2
}

// invite sends the INVITE and waits for the answer; Dial ACKs it.
func (c *Call) invite(ctx context.Context) error {
	req := sipmsg.NewRequest(sipmsg.INVITE, c.target)
	req.SetTransport(strings.ToUpper(c.o.Transport))
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: c.o.From, Host: hostOf(c.o.LocalIP)},
		Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: c.target.Scheme, User: c.target.User, Host: c.target.Host,
		Port: c.target.Port}}
	req.AppendHeader(to)
	req.AppendHeader(&sipmsg.ContactHeader{Address: c.contact})
	allow := allowMethods
	if c.o.NoUpdate {
		allow = allowNoUpdate
	}
	req.AppendHeader(sipmsg.NewHeader("Allow", allow))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", "clubline-phone"))
	for _, h := range c.o.Headers {
		req.AppendHeader(sipmsg.NewHeader(h[0], h[1]))
	}
	if c.o.SessionExpires > 0 {
		se := fmt.Sprint(int(c.o.SessionExpires / time.Second))
		if c.o.SessionRefresher != "" {
			se += ";refresher=" + c.o.SessionRefresher
		}
		req.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
		req.AppendHeader(sipmsg.NewHeader("Session-Expires", se))
	}
	if !c.o.DelayedOffer {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(media.Offer(c.local))
	}

	dua := &sipgo.DialogUA{Client: c.client, ContactHDR: sipmsg.ContactHeader{Address: c.contact}}
	start := time.Now()
	ds, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return fmt.Errorf("phone: send INVITE: %w", err)
	}
	c.mu.Lock()
	c.dialog = ds
	c.mu.Unlock()
	err = ds.WaitAnswer(ctx, sipgo.AnswerOptions{Username: c.o.AuthUser, Password: c.o.AuthPassword, OnResponse: func(res *sipmsg.Response) error {
		if res.IsProvisional() {
			c.mu.Lock()
			c.provisional = append(c.provisional, res.StatusCode)
			c.mu.Unlock()
		}
		return nil
	}})
	if err != nil {
		var refused *sipgo.ErrDialogResponse
		if errors.As(err, &refused) {
			return &StatusError{Code: refused.Res.StatusCode, Reason: refused.Res.Reason, Response: refused.Res}
		}
		if ctx.Err() != nil {
			return ctx.Err() // cancelled: sipgo sent CANCEL
		}
		return fmt.Errorf("phone: INVITE: %w", err)
	}
	c.setup = time.Since(start)
	c.mu.Lock()
	c.answer = ds.InviteResponse
	c.mu.Unlock()
	return nil
}

// negotiate takes the media from the 200 OK and returns the body of the
// ACK: our answer when the INVITE had no offer. When the 200 OK is
// unusable it ACKs and hangs up itself.
func (c *Call) negotiate(ctx context.Context) ([]byte, error) {
	body := c.answer.Body()
	if c.o.DelayedOffer {
		sdp, n, err := media.Answer(body, c.local)
		if err != nil {
			_ = c.writeAck(ctx, nil)
			c.byeQuietly()
			return nil, fmt.Errorf("phone: offer in 200 OK: %w", err)
		}
		c.neg = n
		return sdp, nil
	}
	n, err := media.ParseAnswer(body, c.local)
	if err != nil {
		_ = c.writeAck(ctx, nil)
		c.byeQuietly()
		return nil, fmt.Errorf("phone: answer in 200 OK: %w", err)
	}
	c.neg = n
	return nil, nil
}

func (c *Call) writeAck(ctx context.Context, body []byte) error {
	recipient := c.target
	if ct := c.answer.Contact(); ct != nil {
		recipient = ct.Address
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, *recipient.Clone())
	if body != nil {
		ack.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(body)
	}
	if err := c.dialog.(*sipgo.DialogClientSession).WriteAck(ctx, ack); err != nil {
		return fmt.Errorf("phone: ACK: %w", err)
	}
	return nil
}

// byeQuietly ends the call from our side when it cannot go on (no usable
// media, RTP timeout, failed refresh); the error is of no use then.
func (c *Call) byeQuietly() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	_ = c.dialog.Bye(ctx)
}
