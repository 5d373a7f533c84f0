package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// SIP over TLS (RFC 3261 §26.2, RFC 5630): a tls:// listener for staff
// phones and providers that deliver over TLS, and TLS connections to a
// trunk whose transport is tls.
//
// Decisions:
//
//   - The listener's certificate is read from files and read again when
//     they change (checked at most every certCheckEvery, on a handshake):
//     certbot renews a certificate without anyone restarting clubline. A
//     renewed pair that does not load keeps the old one, with a log line.
//   - clubline connects only to addresses its config names, and resolves
//     their names itself (reach.go): sipgo dials an IP address. So the
//     provider's certificate is verified here, against the system roots
//     (or TLSRootCAs) and the host names the config gives for TLS peers
//     (TLSNames) rather than the IP sipgo dialled.

// certCheckEvery bounds how often the certificate files are looked at.
var certCheckEvery = 10 * time.Second

// certFiles serves the listener's certificate and reloads it.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	modCert   time.Time
	modKey    time.Time
	checkedAt time.Time
}

func loadCertFiles(certFile, keyFile string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.reload(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// reload reads the pair when either file changed since the last read.
func (c *certFiles) reload(now time.Time) error {
	c.checkedAt = now
	mc, mk := modTime(c.certFile), modTime(c.keyFile)
	if c.cert != nil && mc.Equal(c.modCert) && mk.Equal(c.modKey) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("sip: tls certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if c.cert != nil {
		c.log.Info("tls certificate reloaded", "cert_file", c.certFile)
	}
	c.cert, c.modCert, c.modKey = &cert, mc, mk
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checkedAt) >= certCheckEvery {
		if err := c.reload(now); err != nil {
			c.log.Warn("tls certificate files changed but do not load: keeping the previous certificate", "error", err)
		}
	}
	return c.cert, nil
}

// serverTLS is the listener's TLS configuration.
func (s *Server) serverTLS() (*tls.Config, error) {
	if s.o.TLSCertFile == "" || s.o.TLSKeyFile == "" {
		return nil, errors.New("sip: a tls:// listener needs TLSCertFile and TLSKeyFile (sip.tls.cert_file, key_file)")
	}
	c, err := loadCertFiles(s.o.TLSCertFile, s.o.TLSKeyFile, s.log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12}, nil
}

// clientTLS is the configuration of connections clubline opens: the peer's
// chain is verified against roots, and its certificate must name one of
// the TLS peers the config gives (or the IP address dialled).
func clientTLS(roots *x509.CertPool, names []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard check would compare with the IP address sipgo
		// dialled; VerifyConnection does the whole check instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeer(cs, roots, names)
		},
	}
}

// verifyPeer checks a server's chain and name.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, names []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("sip tls: the peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return fmt.Errorf("sip tls: the peer's certificate is not trusted: %w", err)
	}
	candidates := append([]string(nil), names...)
	if cs.ServerName != "" {
		candidates = append(candidates, cs.ServerName) // Go sends no SNI for an IP address: then empty
	}
	for _, n := range candidates {
		if leaf.VerifyHostname(strings.Trim(n, "[]")) == nil {
			return nil
		}
	}
	return fmt.Errorf("sip tls: the peer's certificate (%s) names none of %s", certNames(leaf), strings.Join(candidates, ", "))
}

func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

// tlsNames are the host names of the TLS peers the config names: the
// trunks whose transport is tls (and their registrars), plus TLSNames.
func (o *Options) tlsNames() []string {
	names := append([]string(nil), o.TLSNames...)
	for _, t := range o.Trunks {
		if t.Transport() != "tls" {
			continue
		}
		host, _, _ := t.NextHop()
		names = append(names, host) // an IP address too: a certificate may name it
		if d := t.Domain(); d != host {
			names = append(names, d)
		}
	}
	return names
}

// listenTLS binds a TLS listener: TCP with the same limits, then TLS.
func (s *Server) listenTLS(b listenAddr) (net.Listener, netip.AddrPort, error) {
	conf, err := s.serverTLS()
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	ln, err := net.Listen(ipNetwork("tcp", b.addr), b.addr)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("sip: listen tls %s: %w", b.addr, err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return tls.NewListener(s.limitTCP(ln), conf), ap, nil
}
