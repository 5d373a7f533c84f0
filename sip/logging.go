package sip

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// sipgo logs whole messages and request lines, which carry the caller's
// number, and peers' addresses (raddr, dst, the text of a network error).
// redactHandler sits between sipgo and clubline's logger: every logger
// sipgo is given (server, client, transaction and transport layers, and
// its package default) is redactedLogger's. It drops raw message bodies,
// masks every run of seven or more digits and every IP address but
// loopback ones, in the message and in every attribute.
type redactHandler struct{ next slog.Handler }

// redactedLogger wraps l for use by sipgo.
func redactedLogger(l *slog.Logger) *slog.Logger {
	return slog.New(redactHandler{next: l.Handler()}).With("component", "sipgo")
}

// sipgo logs its TCP transport (clubline's: edge.GuardedTCP, whose logger
// field is unexported) through its package default logger: that goes
// through the redacting handler too, over slog.Default() as it is at
// start, so garbage read over TCP is masked and demoted as over UDP.
func init() {
	sipmsg.SetDefaultLogger(redactedLogger(slog.Default()))
}

// rawKeys are the attributes under which sipgo logs raw SIP text.
var rawKeys = map[string]bool{"data": true, "req": true, "res": true, "msg": true}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	switch {
	case r.Message == "failed to parse":
		// Garbage from the network (SIP scanners): not clubline's error,
		// and a flood of it must not flood the logs.
		level = slog.LevelDebug
	case refusedOnPurpose(r):
		// An answer or a lookup clubline refuses (edge.IsRefused): a request's
		// doing, and a flood of them must not flood the logs either.
		level = slog.LevelDebug
	case level > slog.LevelWarn:
		level = slog.LevelWarn // sipgo's errors are about what peers sent
	}
	if level != r.Level && !h.next.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactHandler{next: h.next.WithAttrs(red)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case v.Kind() == slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case rawKeys[a.Key]:
		if v.Kind() == slog.KindString && len(v.String()) > 80 {
			return slog.String(a.Key, fmt.Sprintf("[%d bytes redacted]", len(v.String())))
		}
		return slog.String(a.Key, redact(v.String()))
	case v.Kind() == slog.KindString:
		return slog.String(a.Key, redact(v.String()))
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, redact(err.Error()))
		}
		return slog.String(a.Key, redact(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// redact masks the addresses and the numbers in a text sipgo logs.
func redact(s string) string { return sipx.MaskDigits(sipx.MaskAddrs(s)) }

// refusedOnPurpose reports whether a record's error is a connection or a
// lookup that package edge refused (edge.IsRefused).
func refusedOnPurpose(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Resolve().Any().(error)
		found = ok && edge.IsRefused(err)
		return !found
	})
	return found
}
