package provider

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// probeUser is the From user of the provider's own OPTIONS, followed by the
// probe's number.
const probeUser = "provider-probe-"

// probeNumber tells the line of a probe, and which.
func probeNumber(line string) (uint64, bool) {
	_, after, ok := strings.Cut(line, "from=sip:"+probeUser)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(after, "@")
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// catchUp returns once Kamailio's output has been read up to a probe sent
// now. Kamailio logs each line before it answers or forwards the request,
// and a pipe keeps the order of writes; so every line about a request the
// test has seen answered is read by then. A stopped provider has nothing
// more to say.
func (p *Provider) catchUp() {
	p.mu.Lock()
	running := p.proc != nil
	p.probes++
	n := p.probes
	seen := make(chan struct{})
	if p.waiting == nil {
		p.waiting = make(map[uint64]chan struct{})
	}
	p.waiting[n] = seen
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, n)
		p.mu.Unlock()
	}()
	if !running {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := p.options(n); err == nil {
			c.Close() // the line is the answer that counts
		}
		select {
		case <-seen:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.t.Errorf("provider: its log did not catch up with an OPTIONS within 2s; lines may be missing")
}

// probe sends one OPTIONS over UDP and wants a 200, then checks that the
// TCP (and TLS) ports accept connections.
func (p *Provider) probe() error {
	p.mu.Lock()
	p.probes++
	n := p.probes
	p.mu.Unlock()
	c, err := p.options(n)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	size, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("OPTIONS over UDP: %w", err)
	}
	if !bytes.HasPrefix(buf[:size], []byte("SIP/2.0 200 ")) {
		first, _, _ := bytes.Cut(buf[:size], []byte("\r\n"))
		return fmt.Errorf("OPTIONS over UDP: %q, want 200", first)
	}
	for _, addr := range []string{p.Addr(), p.TLSAddr()} {
		if addr == "" {
			continue
		}
		tc, err := p.dial("tcp4", addr)
		if err != nil {
			return err
		}
		tc.Close()
	}
	return nil
}

// options sends the OPTIONS of probe n from a new UDP socket, which it
// returns for the answer (closed if there is an error).
func (p *Provider) options(n uint64) (net.Conn, error) {
	c, err := p.dial("udp4", p.Addr())
	if err != nil {
		return nil, err
	}
	local := c.LocalAddr().String()
	id := fmt.Sprintf("%s%d", probeUser, n)
	msg := "OPTIONS sip:" + p.Addr() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"From: <sip:" + id + "@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:" + p.Addr() + ">\r\n" +
		"Call-ID: " + id + "@" + local + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
