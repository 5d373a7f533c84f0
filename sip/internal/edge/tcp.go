package edge

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// TCP connections from the network: how long one may stay silent, and how
// many one source may hold (issue 7, finding 8: 200 connections that sent
// nothing stayed open for good). Package sip wraps each TCP listener it
// gives sipgo, TLS ones included, in LimitListener.
//
// Decisions:
//
//   - IdleTimeout (sip.Options.TCPIdleTimeout), default 3 min: a
//     connection on which nothing has arrived for that long is closed. A
//     phone that keeps its flow alive sends a CRLF keep-alive every 80 to
//     100% of 120 s on TCP (RFC 5626 §4.4.1; baresip's libre waits
//     96–120 s, pjsip sends every 90 s), and a registered phone also
//     answers clubline's OPTIONS every 30 s (registrar/keepalive.go); 2 min
//     would cut a phone whose keep-alive is a little late, 3 min leaves it
//     a minute. pjsip closes idle server connections after 10 min, libre
//     after 15, yate after 2: all only when no transaction or dialog uses
//     them, as here.
//   - A connection that carries a call (an answered caller over TCP, or a
//     staff leg on its phone's connection: TCPOptions.Busy) is never
//     closed for silence: a caller waits in the queue for minutes without
//     a SIP message, and clubline's BYE has no other way to it (reach.go:
//     nothing is dialled for a caller).
//   - MaxPerSource (sip.Options.TCPMaxPerSource), default 32: connections
//     beyond it from one source are closed as they are accepted, before
//     sipgo reads a byte. A source is an IPv4 address or an IPv6 /64 (a
//     single host commonly holds a whole /64). 32 is room for every staff
//     phone of a club office behind one NAT address, one connection each,
//     and their reconnections; a slowloris of 200 connections from one
//     address is cut to 32, and to none after IdleTimeout.
//   - At the cap, one warning when a source reaches it, then debug lines
//     until it drops below: a flood is one line, not one per connection.
//   - Closed for silence, a connection reads as an ordinary end (io.EOF)
//     to sipgo, which logs it at debug; a deadline error it would log as
//     an error.

// TCP limits defaults.
const (
	DefaultTCPIdleTimeout  = 3 * time.Minute
	DefaultTCPMaxPerSource = 32
)

// TCPOptions are the limits of LimitListener.
type TCPOptions struct {
	// IdleTimeout closes a connection on which nothing arrived for this
	// long, unless Busy (0: DefaultTCPIdleTimeout; negative: never).
	IdleTimeout time.Duration
	// MaxPerSource is how many connections one source (an IPv4 address,
	// an IPv6 /64) may hold; more are closed as they are accepted (0:
	// DefaultTCPMaxPerSource; negative: no cap).
	MaxPerSource int
	// Busy reports whether the connection from remote ("host:port")
	// carries a call: it is never closed for silence. Nil: none does.
	Busy func(remote string) bool
	// Log gets the warning of a source at the cap, and debug lines (nil:
	// nothing is logged).
	Log *slog.Logger
}

// LimitListener hands on the connections ln accepts within the per-source
// cap, each closed after IdleTimeout of silence unless Busy.
func LimitListener(ln net.Listener, o TCPOptions) net.Listener {
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultTCPIdleTimeout
	}
	if o.MaxPerSource == 0 {
		o.MaxPerSource = DefaultTCPMaxPerSource
	}
	if o.Busy == nil {
		o.Busy = func(string) bool { return false }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &limitedListener{
		Listener: ln, idle: o.IdleTimeout, max: o.MaxPerSource, busy: o.Busy, log: o.Log,
		open: make(map[netip.Prefix]*sourceCount),
	}
}

// limitedListener applies TCPOptions.
type limitedListener struct {
	net.Listener
	idle time.Duration // ≤ 0: never
	max  int           // ≤ 0: no cap
	busy func(remote string) bool
	log  *slog.Logger

	mu   sync.Mutex
	open map[netip.Prefix]*sourceCount
}

type sourceCount struct {
	n      int
	warned bool // since it reached the cap
}

// Accept returns the next connection within the cap; it closes the ones
// beyond it.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		remote := c.RemoteAddr().String()
		src := sourceOf(c.RemoteAddr())
		if !l.admit(src, remote) {
			_ = c.Close()
			continue
		}
		ic := &idleConn{Conn: c, l: l, remote: remote}
		ic.release = func() { l.leave(src) }
		return ic, nil
	}
}

// sourceOf is the source a connection counts against: its IPv4 address, or
// the /64 of its IPv6 address.
func sourceOf(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

func (l *limitedListener) admit(src netip.Prefix, remote string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := l.open[src]
	if sc == nil {
		sc = &sourceCount{}
		l.open[src] = sc
	}
	if l.max > 0 && sc.n >= l.max {
		if !sc.warned {
			sc.warned = true
			l.log.Warn("TCP connections from one source at the cap: closing new ones until some end",
				"source", src.String(), "max", l.max)
		} else {
			l.log.Debug("TCP connection over the per-source cap closed", "remote", remote)
		}
		return false
	}
	sc.n++
	return true
}

func (l *limitedListener) leave(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := l.open[src]
	if sc == nil {
		return
	}
	sc.n--
	if sc.n < l.max {
		sc.warned = false
	}
	if sc.n <= 0 {
		delete(l.open, src)
	}
}

// idleConn is an accepted connection that ends after a silence.
type idleConn struct {
	net.Conn
	l       *limitedListener
	remote  string
	release func() // once, at the first Close
	once    sync.Once
}

// Close closes once; sipgo closes again what Read ended, and gets nil.
func (c *idleConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.release()
	})
	return err
}

// Read waits for bytes up to the idle timeout, again and again while the
// connection carries a call; past it, the connection is closed and reads
// as ended.
func (c *idleConn) Read(b []byte) (int, error) {
	for {
		if c.l.idle > 0 {
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.idle))
		}
		n, err := c.Conn.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.l.busy(c.remote) {
			continue
		}
		c.l.log.Debug("TCP connection closed after a silence", "remote", c.remote, "idle", c.l.idle)
		_ = c.Close()
		return 0, io.EOF
	}
}
