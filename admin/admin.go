// Package admin serves clubline's HTTP side: /metrics for Prometheus,
// /healthz (the process is up) and /readyz (clubline can take calls).
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one part of clubline is ready: a nil error means
// ready, and detail (may be empty) says in what state, e.g. "spooling to
// disk: redis unreachable".
type Check func(ctx context.Context) (detail string, err error)

// Options are the values the admin server needs.
type Options struct {
	Listen   string              // "127.0.0.1:9468"; port 0 picks a free port
	Gatherer prometheus.Gatherer // what /metrics exposes
	Checks   map[string]Check    // named readiness checks for /readyz
	// App serves every other path: the office's web page and its API
	// (package web), which answers 401 without a session. Nil: 404.
	App http.Handler
	// TLSCertFile and TLSKeyFile serve HTTPS instead (http.tls), the
	// certificate read again when its files change.
	TLSCertFile, TLSKeyFile string
	Logger                  *slog.Logger
}

// Server is the admin HTTP server.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// New builds the server; Start binds it.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if o.App != nil {
		mux.Handle("/", o.App)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

// Handler returns the HTTP handler, for tests that do not need a socket.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %q: %w (pick a free port, or stop what uses it)", s.opts.Listen, err)
	}
	if s.opts.TLSCertFile != "" {
		certs := &certFiles{cert: s.opts.TLSCertFile, key: s.opts.TLSKeyFile}
		if _, err := certs.get(nil); err != nil {
			ln.Close()
			return fmt.Errorf("http.tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get})
	}
	s.ln = ln
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return nil
}

// Addr is the bound address, once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server, letting requests in flight finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.opts.Checks))
	for name := range s.opts.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	ready := true
	for _, name := range names {
		detail, err := s.opts.Checks[name](ctx)
		switch {
		case err != nil:
			ready = false
			fmt.Fprintf(&b, "%s: not ready: %v\n", name, err)
		case detail != "":
			fmt.Fprintf(&b, "%s: ok (%s)\n", name, detail)
		default:
			fmt.Fprintf(&b, "%s: ok\n", name)
		}
	}
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprint(w, b.String())
}

// certFiles reads the certificate again when its files change (a renewal
// by certbot), without a restart.
type certFiles struct {
	cert, key string
	mu        sync.Mutex
	loaded    *tls.Certificate
	mod       time.Time
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci, err1 := os.Stat(c.cert)
	ki, err2 := os.Stat(c.key)
	if err := errors.Join(err1, err2); err != nil {
		if c.loaded != nil {
			return c.loaded, nil
		}
		return nil, err
	}
	mod := ci.ModTime()
	if ki.ModTime().After(mod) {
		mod = ki.ModTime()
	}
	if c.loaded != nil && !mod.After(c.mod) {
		return c.loaded, nil
	}
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		if c.loaded != nil {
			return c.loaded, nil // a renewal half-written: keep the one that works
		}
		return nil, err
	}
	c.loaded, c.mod = &cert, mod
	return c.loaded, nil
}
