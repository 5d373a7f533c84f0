package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// runServe is `clubline serve`: it runs the line until SIGINT or SIGTERM,
// then drains (new calls get 503, active calls finish within the config's
// sip.drain_timeout); a second signal ends the calls at once. SIGHUP
// reloads the config file.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/example.yaml", "the config `file`")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "clubline serve: --log-level %q: use debug, info, warn or error\n", *level)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	m := &Main{ConfigPath: *path, Logger: logger}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "clubline serve: not started")
		return 1
	}
	scheme := "http"
	if m.Config.HTTP.TLS.CertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "clubline: answering on %s; the office's page on %s://%s/, metrics on %s://%s/metrics\n",
		strings.Join(m.SIP.Addrs(), ", "), scheme, m.Admin.Addr(), scheme, m.Admin.Addr())
	if len(*m.users.Load()) == 0 {
		fmt.Fprintln(stdout, "clubline: nobody can sign in to the office's page yet: give a staff member web_password_env (or web_password_hash from `clubline passwd`) and roles: [admin] (docs/api.md)")
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			m.Reload()
			continue
		}
		break
	}
	logger.Info("draining: new calls get 503; a second signal ends active calls now",
		"active", m.SIP.Active(), "grace", m.Config.SIP.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(ctx, m.Config.SIP.DrainTimeout)
	defer cancel()
	go func() {
		for sig := range sigs {
			if sig != syscall.SIGHUP {
				logger.Warn("second signal: ending active calls now")
				cancel()
				return
			}
		}
	}()
	if err := m.Shutdown(drainCtx); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
