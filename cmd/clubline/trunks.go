package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/sip/trunk"
)

// Wiring the trunks: the config's trunks[] as package sip/trunk runs them,
// their metrics and their line in /readyz.

// newTrunks builds the config's trunks, with their passwords from the
// environment. A password that is not set does not stop clubline: the
// trunk says why it cannot register, and direct calls still work.
func newTrunks(cfg *config.Config) ([]*trunk.Trunk, error) {
	var out []*trunk.Trunk
	for _, c := range cfg.Trunks {
		t, err := trunk.New(trunk.Account{
			Name:               c.Name,
			Registrar:          c.Registrar,
			OutboundProxy:      c.OutboundProxy,
			Transport:          c.Transport,
			Username:           c.Username,
			Password:           os.Getenv(c.PasswordEnv),
			PasswordEnv:        c.PasswordEnv,
			Numbers:            c.Numbers,
			AllowFrom:          c.AllowFrom,
			CallerID:           c.CallerID,
			DialFormat:         c.DialFormat,
			CountryCode:        c.CountryCode,
			MaxChannels:        c.MaxChannels,
			MaxOutboundPerHour: c.MaxOutboundPerHour,
			RegisterExpires:    c.RegisterExpires,
			KeepAlive:          keepAlive(c.KeepAlive),
			SRTP:               c.SRTP,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// keepAlive maps the config's 0 (off) to the trunk's negative (none).
func keepAlive(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// trunkRoots are the CAs that verify a provider's TLS certificate: the
// system's, plus each trunk's ca_file.
func trunkRoots(cfg *config.Config) (*x509.CertPool, error) {
	var files []string
	for _, t := range cfg.Trunks {
		if t.CAFile != "" {
			files = append(files, t.CAFile)
		}
	}
	if len(files) == 0 {
		return nil, nil // the system's roots
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trunks: ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trunks: ca_file %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// trunkMetrics registers the trunks' collectors and logs each change of
// registration.
func (m *Main) trunkMetrics(trunks []*trunk.Trunk) error {
	names := make([]string, len(trunks))
	for i, t := range trunks {
		names[i] = t.Name()
	}
	var err error
	m.trunkStats, err = metrics.NewTrunks(m.Registry, names, func() []metrics.TrunkStats {
		now := time.Now()
		out := make([]metrics.TrunkStats, len(trunks))
		for i, t := range trunks {
			a := t.Account()
			out[i] = metrics.TrunkStats{Name: t.Name(), Registers: t.Registers(), Registered: t.State().Registered,
				InUse: t.InUse(), Channels: a.MaxChannels, Outbound: t.OutboundUsed(now), Limit: a.MaxOutboundPerHour}
		}
		return out
	})
	return err
}

// trunksReady is the /readyz line of the trunks. A trunk that is not
// registered does not make clubline unready: direct calls and calls from
// the other trunks still work; the line says so for whoever looks.
func (m *Main) trunksReady(context.Context) (string, error) {
	var parts []string
	for _, t := range m.SIP.Trunks() {
		st := t.State()
		switch {
		case !t.Registers():
			parts = append(parts, "trunk "+t.Name()+" IP-authenticated")
		case st.Registered:
			parts = append(parts, "trunk "+t.Name()+" registered")
		default:
			parts = append(parts, "trunk "+t.Name()+" not registered: "+st.Reason)
		}
	}
	return strings.Join(parts, "; "), nil
}

// printTrunks is the trunks' part of `clubline check`: how each is set up,
// never its password (only whether the variable is set here). Whether a
// trunk is registered is for the running clubline: /readyz and
// clubline_trunk_registered.
func printTrunks(w io.Writer, c *config.Config) {
	if len(c.Trunks) == 0 {
		fmt.Fprintln(w, "Trunks: none — only calls sent straight to clubline are answered, and outside numbers are not rung")
		return
	}
	fmt.Fprintln(w, "Trunks:")
	for _, t := range c.Trunks {
		how := "registers at " + t.Registrar + " as " + t.Username
		if t.Registrar == "" {
			how = "known by its address (no registration), calls out to " + t.OutboundProxy
		} else if t.OutboundProxy != "" {
			how += ", through " + t.OutboundProxy
		}
		fmt.Fprintf(w, "  %s: %s, over %s\n", t.Name, how, t.Transport)
		fmt.Fprintf(w, "    delivers %s; calls out show %s, dialled as %s; %d channels; at most %d minutes of calls out per hour\n",
			strings.Join(t.Numbers, ", "), t.CallerID, t.DialFormat, t.MaxChannels, int(t.MaxOutboundPerHour/time.Minute))
		if t.PasswordEnv != "" {
			state := "set here"
			if _, set := os.LookupEnv(t.PasswordEnv); !set {
				state = "NOT set here: the trunk cannot register where it is unset"
			}
			fmt.Fprintf(w, "    password from %s (%s)\n", t.PasswordEnv, state)
		}
	}
	fmt.Fprintf(w, "  calls are taken only from the trunks, authenticated staff phones and sip.allow_from (%s)\n",
		strings.Join(c.SIP.AllowFrom, ", "))
}
