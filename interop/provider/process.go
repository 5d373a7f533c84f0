package provider

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/interop/internal/kamailiorun"
)

// start runs Kamailio and waits until it answers OPTIONS over UDP and
// accepts TCP (and TLS) connections.
func (p *Provider) start(t testing.TB) {
	t.Helper()
	command := exec.Command
	if p.opts.Exec != nil {
		command = p.opts.Exec
	}
	cmd := command(p.bin, p.args()...)
	cmd.Dir = p.dir
	fmt.Fprintf(p.logFile, "--- %s\n", strings.Join(cmd.Args, " "))
	proc, err := kamailiorun.Start(cmd, p.read)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	if err := proc.AwaitReady(p.probe, 10*time.Second); err != nil {
		p.Stop()
		t.Fatalf("provider on %s: %v%s; its log:\n%s", p.Addr(), err, p.hint(), p.tail(40))
	}
}

// args is Kamailio's command line: foreground, log on stderr, files in the
// test's directory, the options as defines.
func (p *Provider) args() []string {
	o := p.opts
	args := kamailiorun.Args(p.dir)
	def := func(name, value string) { args = append(args, "-A", name+"="+value) }
	str := func(name, value string) { def(name, `"`+value+`"`) }
	def("SIP_PORT", strconv.Itoa(p.port))
	if o.Host != "" {
		// Besides kamailio.cfg's listen lines on 127.0.0.1.
		for _, proto := range []string{"udp", "tcp"} {
			args = append(args, "-l", proto+":"+net.JoinHostPort(o.Host, strconv.Itoa(p.port)))
		}
	}
	str("TRUNK_USER", o.Username)
	str("TRUNK_PASSWORD", o.Password)
	str("TRUNK_REALM", o.Realm)
	str("DID", o.DID)
	str("DELIVERY", o.Delivery)
	if o.PSTN != "" {
		str("PSTN_DST", o.PSTN)
	}
	if o.CustomersOnly {
		args = append(args, "-A", "WITH_CUSTOMERS_ONLY")
	}
	if o.SHA256 {
		args = append(args, "-A", "WITH_SHA256")
	}
	if o.TLS {
		args = append(args, "-A", "WITH_TLS")
		def("TLS_PORT", strconv.Itoa(p.tlsPort))
		str("TLS_CERT", o.CertFile)
		str("TLS_KEY", o.KeyFile)
	}
	return args
}

// read copies a line of Kamailio's output to the log file and keeps the
// PROVIDER lines but the probes', whose waiters it wakes.
func (p *Provider) read(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.logFile, line)
	if i := strings.Index(line, logMarker); i >= 0 {
		if n, ok := probeNumber(line[i:]); ok {
			if ch := p.waiting[n]; ch != nil {
				close(ch)
				delete(p.waiting, n)
			}
		} else {
			p.lines = append(p.lines, line[i:])
		}
	}
}

// hint names the usual cause of a failed start.
func (p *Provider) hint() string {
	log := p.tail(40)
	switch {
	case strings.Contains(log, "tls.so"):
		return " — TLS needs the tls module: apt-get install kamailio-tls-modules"
	case strings.Contains(log, "Address already in use"):
		return " — a port was taken in between; rerun"
	}
	return ""
}

// tail returns the last n lines of Kamailio's log.
func (p *Provider) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return kamailiorun.Tail(p.logFile.Name(), n)
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
