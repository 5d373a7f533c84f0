package sip_test

// TCP connections that say nothing (issue 7, finding 8: 200 slowloris
// connections stayed open for good): how many one source keeps, for how
// long, and what is spared.

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// One source opens 41 TCP connections: one sends CRLF keep-alives (RFC
// 5626 §4.4.1), forty send nothing. Those beyond TCPMaxPerSource are
// closed as they come; the other silent ones once idle for
// TCPIdleTimeout; the one that keeps alive stays. Then the source may
// connect again.
func TestTCPSilentConnectionsCappedThenClosed(t *testing.T) {
	const idle, max, silentN = 2 * time.Second, 32, 40
	h := newHarness(t, noCall(t), func(o *sip.Options) {
		o.TCPIdleTimeout, o.TCPMaxPerSource = idle, max
	})
	server := serverAddr(h.t, h, "tcp")

	keep := dialWatched(t, server)
	keep.ping(t) // accepted first, and answered
	stop := keep.keepAlive(idle / 4)

	start := time.Now()
	silent := make([]*watchedConn, silentN)
	for i := range silent {
		silent[i] = dialWatched(t, server)
	}
	time.Sleep(idle / 2)
	if n := countClosed(silent); n != silentN+1-max {
		t.Errorf("%d of %d silent connections closed before the idle timeout, want the %d beyond the cap of %d",
			n, silentN, silentN+1-max, max)
	}
	eventually(t, idle+3*time.Second, "silent connections still open after the idle timeout", func() bool {
		return countClosed(silent) == silentN
	})
	early := 0
	for _, c := range silent {
		if at := c.closedAfter(start); at > idle/2 && at < idle*9/10 {
			early++
		}
	}
	if early > 0 {
		t.Errorf("%d silent connections within the cap closed before %s of silence", early, idle)
	}
	stop()
	if keep.isClosed() {
		t.Fatal("the connection that sent keep-alives was closed")
	}
	keep.ping(t)

	// The silent ones gone, the source may connect again.
	p := dialPeer(t, "tcp", server)
	p.send(newRawDialog("TCP", p.local(), "sip:"+clubNumber+"@"+server).request("OPTIONS", 1, nil, ""))
	if res := p.final(); res.StatusCode != 200 {
		t.Errorf("OPTIONS on a new connection: %d", res.StatusCode)
	}
}

// A TCP connection that carries a call is not closed for silence: a caller
// waits in the queue for minutes without a SIP message, and the BYE at the
// end must reach it on that connection.
func TestTCPIdleTimeoutSparesCalls(t *testing.T) {
	const idle = time.Second
	hangup := func(ctx context.Context, _ ivr.Inbound) { // after 3 idle timeouts
		select {
		case <-time.After(3 * idle):
		case <-ctx.Done():
		}
	}
	h := newHarness(t, hangup, func(o *sip.Options) { o.TCPIdleTimeout = idle })
	c := h.dialURI(h.tcpURI, softphone.Options{})
	waitDone(t, c, 3*idle+5*time.Second)
	if got := c.EndedBy(); got != softphone.EndedRemoteBye {
		t.Errorf("EndedBy = %q, want the server's BYE after %s of silence on the connection", got, 3*idle)
	}
	h.waitIdle()
}

// watchedConn is a TCP connection to the server that notes when the
// server closes it and counts the keep-alive answers it gets.
type watchedConn struct {
	conn     net.Conn
	pongs    atomic.Int32
	closedAt atomic.Int64 // UnixNano; 0 while open
	wg       sync.WaitGroup
}

func dialWatched(t *testing.T, addr string) *watchedConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &watchedConn{conn: c}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				w.closedAt.Store(time.Now().UnixNano())
				return
			}
			for _, b := range buf[:n] {
				if b == '\n' {
					w.pongs.Add(1)
				}
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); w.wg.Wait() })
	return w
}

func (w *watchedConn) isClosed() bool { return w.closedAt.Load() != 0 }

// closedAfter is how long after start the server closed it; 0 if open.
func (w *watchedConn) closedAfter(start time.Time) time.Duration {
	at := w.closedAt.Load()
	if at == 0 {
		return 0
	}
	return time.Unix(0, at).Sub(start)
}

func countClosed(cs []*watchedConn) int {
	n := 0
	for _, c := range cs {
		if c.isClosed() {
			n++
		}
	}
	return n
}

// ping sends a double CRLF and waits for the single CRLF answer
// (RFC 5626 §3.5.1).
func (w *watchedConn) ping(t *testing.T) {
	t.Helper()
	before := w.pongs.Load()
	if _, err := w.conn.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatalf("keep-alive: %v", err)
	}
	eventually(t, 2*time.Second, "no answer to a keep-alive", func() bool { return w.pongs.Load() > before })
}

// keepAlive sends a double CRLF every period until the returned stop.
func (w *watchedConn) keepAlive(every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_, _ = w.conn.Write([]byte("\r\n\r\n"))
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
