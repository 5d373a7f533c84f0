package sip

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/internal/sipx"
	"github.com/clubline/clubline/sip/mwi"
	"github.com/clubline/clubline/sip/registrar"
	"github.com/clubline/clubline/sip/trunk"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Options configure a Server. cmd/clubline fills them from the config; the
// zero value of each optional field picks the default named beside it.
type Options struct {
	// Listen lists the addresses to serve, as "udp://0.0.0.0:5060" or
	// "tcp://127.0.0.1:0" (port 0: any free port, read it from Addrs).
	Listen []string
	// PublicAddress is the IP address (or host name, resolved once at Start)
	// put in Contact and SDP, for a server behind NAT. Empty: the address of
	// the listener, or for a wildcard listener the local address that routes
	// to the caller.
	PublicAddress string
	// RTPPortMin and RTPPortMax bound the UDP ports of RTP legs
	// (default 10000–20000).
	RTPPortMin, RTPPortMax int
	// RTPTimeout ends a call when no RTP arrives for this long (default 30s).
	RTPTimeout time.Duration
	// Numbers are the request-URI users answered; any other gets 404. They
	// match ignoring separators, and a national number matches its E.164
	// form ("5145550101" and "+15145550101"). Empty answers every number.
	Numbers []string
	// StaffCodes are request-URI users answered only for a staff phone
	// that answers a digest challenge on the INVITE ("*77": recording the
	// club's prompts); for anyone else they are unknown numbers (404).
	StaffCodes []string
	// ProbeToken, when set, marks as the line's own probe a call from a
	// loopback address or a trunk's provider whose clubline.ProbeHeader
	// carries it (probe.go).
	ProbeToken string
	// MaxCalls is the number of calls handled at once; beyond it INVITEs get
	// 503 with Retry-After. Zero: no limit.
	MaxCalls int
	// AckTimeout is how long a 2xx to an INVITE waits for its ACK (default
	// 64*T1 = 32s, RFC 3261 §13.3.1.4; tests go lower). A call never ACKed
	// then ends without a BYE (call.go).
	AckTimeout time.Duration
	// MaxAwaitingAck and MaxAwaitingAckPerSource bound the calls answered
	// (or being set up) whose ACK has not come yet, in all and per source
	// IP address; beyond them INVITEs get 503 with Retry-After. Defaults:
	// MaxCalls/4 (at least 1; 50 without MaxCalls) and 10 (awaiting.go).
	MaxAwaitingAck, MaxAwaitingAckPerSource int
	// OnAwaitingAck is told each change (+1, -1) of the number of calls
	// awaiting their ACK, for a gauge. It is called with the server's lock
	// held: it must not block nor call the Server.
	OnAwaitingAck func(delta int)
	// Handle is the call script. It runs on the call's own goroutine with a
	// context that ends when the call does (BYE, RTP timeout, session timer,
	// shutdown); when it returns, the call is hung up if still up. Required.
	Handle func(ctx context.Context, in ivr.Inbound)
	// OnRejected receives the record of a call refused before the answer
	// (404, 488, 503…, outcome rejected) or cancelled by the caller (487,
	// outcome abandoned). It must not block for long: a flood calls it
	// thousands of times a minute, so count refusals rather than store
	// them (edge.RefusalLog).
	// status is the SIP status of the refusal (487 for a CANCEL).
	OnRejected func(c clubline.Call, status int)
	// OnUnstarted receives the record of a call answered with 200 OK that
	// ended before its script started: no ACK within AckTimeout, the
	// caller's BYE beside its ACK, an unusable answer in the ACK (outcome
	// abandoned or failed, stage answer). Handle never sees such a call.
	// It must not block for long.
	OnUnstarted func(c clubline.Call)
	// Logger receives the server's logs; each call logs with its call id.
	// Default: slog.Default().
	Logger *slog.Logger
	// NewCallID returns clubline's id for a new call (default: 12 hex digits
	// of Unix milliseconds, a dash and 8 random hex digits, which sorts by
	// arrival).
	NewCallID func() string

	// RingFor, when positive, sends 180 Ringing and waits this long before
	// answering; a CANCEL meanwhile ends the attempt with 487.
	RingFor time.Duration
	// RetryAfter is the Retry-After of a 503 (default 30s).
	RetryAfter time.Duration
	// Codecs are accepted in this order of preference (default PCMU, PCMA).
	Codecs []media.Codec
	// DTMFPayloadType is the RTP payload type offered for RFC 4733 events
	// (default 101).
	DTMFPayloadType uint8
	// MinSessionExpires is the shortest session timer accepted (RFC 4028,
	// default and lowest sensible value 90s; tests go lower).
	MinSessionExpires time.Duration
	// Registrar, when set, answers REGISTER from staff phones, and the
	// server sends its keep-alive pings while it runs. Nil: REGISTER gets
	// 405.
	Registrar *registrar.Registrar
	// Limits are the per-source request limits (edge.Limits); the zero
	// value takes the defaults.
	Limits Limits

	// Resolver looks up the host names clubline's own configuration gives:
	// PublicAddress, and a dial target such as a sip: fallback with a host
	// name (default net.DefaultResolver). Names that requests from the
	// network give are never looked up (sip/internal/edge/reach.go).
	Resolver *net.Resolver

	// TCPIdleTimeout closes a TCP connection on which nothing arrived for
	// this long, unless it carries a call (default 3 min; negative: never).
	// TCPMaxPerSource is how many TCP connections one source (an IPv4
	// address, an IPv6 /64) may hold; more are closed as they are accepted
	// (default 32; negative: no limit). See edge.LimitListener.
	TCPIdleTimeout  time.Duration
	TCPMaxPerSource int

	// Trunks are the club's SIP trunks (trunks.go): registered while the
	// server runs, their calls answered as calls to their numbers, and
	// outside numbers dialled through them. With a trunk or AllowFrom,
	// INVITEs are taken only from the trunks, AllowFrom and authenticated
	// staff phones; others get 403.
	Trunks []*trunk.Trunk
	// AllowFrom are the other addresses calls are taken from (IPs, CIDRs,
	// host names resolved at Start), sip.allow_from.
	AllowFrom []string
	// TrunkTiming tunes the trunks' retries (tests go lower).
	TrunkTiming trunk.Timing
	// STUN is a STUN server ("stun.example.org:3478") asked for the public
	// address when PublicAddress is empty (stun.go).
	STUN string
	// TLSCertFile and TLSKeyFile are the certificate and key of tls://
	// listeners (PEM), read again when they change (tls.go).
	TLSCertFile, TLSKeyFile string
	// TLSRootCAs verify the TLS peers clubline connects to (a trunk over
	// tls); nil: the system's roots.
	TLSRootCAs *x509.CertPool
	// TLSNames are host names a TLS peer's certificate may carry besides
	// those of the trunks (tls.go).
	TLSNames []string
	// OnTrunkRefused is told when a trunk could not place a call:
	// reason "not_registered", "channels" or "minutes" (metrics.Trunks).
	OnTrunkRefused func(trunk, reason string)

	// Mailbox, when set, turns on message-waiting indication (mwi.go):
	// staff phones subscribe to message-summary, authenticated by the
	// Registrar (required then), and the light shows whether messages
	// wait. It returns how many open messages concern the staff member
	// (newMsgs) and how many of them are urgent; it is called off any
	// call, within 5s, once per round of NOTIFYs (MailboxChanged).
	Mailbox func(ctx context.Context, staffID string) (newMsgs, urgent int, err error)
	// UnsolicitedMWI names the staff members whose registered phones get
	// a NOTIFY on each change without subscribing (some phones expect
	// that and never subscribe). Nil: nobody.
	UnsolicitedMWI func(staffID string) bool
	// MWIExpires bounds the interval of a subscription (mwi.Expiry: 60s,
	// 600s, default 600s).
	MWIExpires mwi.Expiry
}

// Defaults.
const (
	defaultRTPPortMin  = 10000
	defaultRTPPortMax  = 20000
	defaultRTPTimeout  = 30 * time.Second
	defaultRetryAfter  = 30 * time.Second
	defaultDTMFPayload = 101
)

// listenAddr is one parsed entry of Options.Listen.
type listenAddr struct {
	network string // "udp", "tcp" or "tls"
	addr    string // host:port
}

func parseListen(s string) (listenAddr, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return listenAddr{}, fmt.Errorf("listen address %q: want udp://host:port or tcp://host:port", s)
	}
	network := strings.ToLower(u.Scheme)
	if network != "udp" && network != "tcp" && network != "tls" {
		return listenAddr{}, fmt.Errorf("listen address %q: transport %q is not udp, tcp or tls", s, u.Scheme)
	}
	if u.Port() == "" {
		return listenAddr{}, fmt.Errorf("listen address %q: missing port (5060, or 0 for any)", s)
	}
	return listenAddr{network: network, addr: u.Host}, nil
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, []listenAddr, error) {
	var errs []error
	if o.Handle == nil {
		errs = append(errs, errors.New("Handle is required: it is the call script"))
	}
	if len(o.Listen) == 0 {
		errs = append(errs, errors.New("Listen is empty: give at least one udp:// or tcp:// address"))
	}
	var addrs []listenAddr
	for _, l := range o.Listen {
		a, err := parseListen(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.network == "tls" && (o.TLSCertFile == "" || o.TLSKeyFile == "") {
			errs = append(errs, fmt.Errorf("listen address %q: tls needs TLSCertFile and TLSKeyFile (sip.tls.cert_file, key_file)", l))
		}
		addrs = append(addrs, a)
	}
	if o.RTPPortMin == 0 && o.RTPPortMax == 0 {
		o.RTPPortMin, o.RTPPortMax = defaultRTPPortMin, defaultRTPPortMax
	}
	if o.RTPPortMin <= 0 || o.RTPPortMax > 65535 || o.RTPPortMin > o.RTPPortMax {
		errs = append(errs, fmt.Errorf("RTP ports %d–%d: want 1 ≤ min ≤ max ≤ 65535", o.RTPPortMin, o.RTPPortMax))
	}
	if o.MaxCalls < 0 {
		errs = append(errs, fmt.Errorf("MaxCalls %d is negative: use 0 for no limit", o.MaxCalls))
	}
	if o.AckTimeout < 0 {
		errs = append(errs, errors.New("AckTimeout is negative: use 0 for the default, 32s"))
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = 64 * sipmsg.T1
	}
	o, errs = o.withLimits(errs)
	if o.RTPTimeout <= 0 {
		o.RTPTimeout = defaultRTPTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = defaultRetryAfter
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if o.MinSessionExpires <= 0 {
		o.MinSessionExpires = MinSessionExpires
	}
	if o.DTMFPayloadType == 0 {
		o.DTMFPayloadType = defaultDTMFPayload
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NewCallID == nil {
		o.NewCallID = NewCallID
	}
	if o.OnRejected == nil {
		o.OnRejected = func(clubline.Call, int) {}
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.OnTrunkRefused == nil {
		o.OnTrunkRefused = func(string, string) {}
	}
	if o.OnUnstarted == nil {
		o.OnUnstarted = func(clubline.Call) {}
	}
	if o.Mailbox != nil && o.Registrar == nil {
		errs = append(errs, errors.New("Mailbox needs a Registrar: the phones that subscribe authenticate with it"))
	}
	if o.UnsolicitedMWI == nil {
		o.UnsolicitedMWI = func(string) bool { return false }
	}
	o.MWIExpires = o.MWIExpires.WithDefaults()
	return o, addrs, errors.Join(errs...)
}

// NewCallID returns a new call id that sorts by time of arrival: 12 hex
// digits of Unix milliseconds, a dash, 8 random hex digits.
func NewCallID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return fmt.Sprintf("%012x-%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// numberSet matches request-URI users against Options.Numbers.
type numberSet []string

func newNumberSet(numbers []string) numberSet {
	var s numberSet
	for _, n := range numbers {
		if d := sipx.Digits(n); d != "" {
			s = append(s, d)
		} else {
			s = append(s, strings.ToLower(n)) // a SIP user such as "office"
		}
	}
	return s
}

// accepts reports whether user is one of the numbers; an empty set accepts all.
func (s numberSet) accepts(user string) bool {
	return len(s) == 0 || s.has(user)
}

// has reports whether user is one of the numbers.
func (s numberSet) has(user string) bool {
	isNumber := sipx.Digits(user) != ""
	for _, n := range s {
		if isNumber && sipx.SameNumber(n, user) || !isNumber && strings.EqualFold(n, user) {
			return true
		}
	}
	return false
}

// shownTo is the number or SIP user a call was for, as logged: the
// club's own (Options.Numbers, a trunk's numbers) are no one's personal
// information and show in full, so that "to=club" reads as such; anything
// else (a number a scanner tried, a transfer to someone's mobile) is
// masked like a caller's.
func (s *Server) shownTo(to string) string {
	if to != "" && s.numbers.has(to) {
		return to
	}
	for _, t := range s.o.Trunks {
		if _, ok := t.Owns(to); ok {
			return to
		}
	}
	return sipx.MaskNumber(to)
}

// staffCode returns the staff code a request-URI user is, unescaped (a
// phone may send "*77" as "%2A77"); ok is false for any other user.
func (s *Server) staffCode(user string) (code string, ok bool) {
	if u, err := url.PathUnescape(user); err == nil {
		user = u
	}
	return user, user != "" && slices.Contains(s.o.StaffCodes, user)
}
