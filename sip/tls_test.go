package sip_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/sip"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, and
// returns its files.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{cn},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile+".new", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile+".new", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	// Renamed into place, as certbot does: never a half-written file.
	for _, f := range []string{certFile, keyFile} {
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// tlsOptions sends an OPTIONS over TLS and returns the status line and the
// name on the server's certificate.
func tlsOptions(t *testing.T, addr string) (status, cn string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	fmt.Fprintf(conn, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK%d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: tls-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		addr, local, time.Now().UnixNano(), addr, time.Now().UnixNano())
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer over TLS: %v", err)
	}
	return strings.TrimSpace(line), conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// A tls:// listener answers over TLS with the configured certificate, and
// takes a renewed one without a restart.
func TestTLSListenerAndCertificateReload(t *testing.T) {
	old := sip.SetCertCheckEvery(50 * time.Millisecond)
	t.Cleanup(func() { sip.SetCertCheckEvery(old) })
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "first.example")
	sc := newScript(nil)
	h := newHarness(t, sc.handle, func(o *sip.Options) {
		o.Listen = append(o.Listen, "tls://127.0.0.1:0")
		o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
	})
	var addr string
	for _, a := range h.srv.Addrs() {
		if strings.HasPrefix(a, "tls://") {
			addr = strings.TrimPrefix(a, "tls://")
		}
	}
	if addr == "" {
		t.Fatalf("no tls listener in %v", h.srv.Addrs())
	}
	status, cn := tlsOptions(t, addr)
	if !strings.HasPrefix(status, "SIP/2.0 200") || cn != "first.example" {
		t.Fatalf("over TLS: %q from %q; want 200 from first.example", status, cn)
	}
	time.Sleep(20 * time.Millisecond) // a new modification time
	writeCert(t, dir, "renewed.example")
	deadline := time.Now().Add(3 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		if _, cn = tlsOptions(t, addr); cn == "renewed.example" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q after the files were renewed", cn)
		}
	}
}

// A tls:// listener whose certificate does not load is an error at
// start, that names the files.
func TestTLSListenerNeedsCertificate(t *testing.T) {
	srv, err := sip.NewServer(sip.Options{Listen: []string{"tls://127.0.0.1:0"}, Handle: newScript(nil).handle,
		TLSCertFile: "/nonexistent/cert.pem", TLSKeyFile: "/nonexistent/key.pem", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Fatalf("Start: %v; want an error naming the certificate file", err)
	}
}
