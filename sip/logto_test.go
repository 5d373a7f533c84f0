package sip_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
)

// lockedBuffer is a log a server writes from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The number a call is for shows in full in the log when it is the
// club's own (a SIP user such as "club" read as c***, a caller's number);
// a number a stranger tried is masked like a caller's.
func TestLogShowsTheClubsNumbersOnly(t *testing.T) {
	logs := &lockedBuffer{}
	h := newHarness(t, func(ctx context.Context, in ivr.Inbound) { <-ctx.Done() }, func(o *sip.Options) {
		o.Numbers = append(o.Numbers, "club")
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	c := h.dialURI(strings.Replace(h.udpURI, clubNumber, "club", 1), softphone.Options{})
	_ = c.Hangup(context.Background())
	h.refused(strings.Replace(h.udpURI, clubNumber, "+15145559876", 1), softphone.Options{})

	log := logs.String()
	for _, want := range []string{`msg="incoming call"`, " to=club ", " to=+1514***9876 "} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "+15145559876") {
		t.Errorf("a stranger's number shows in full:\n%s", log)
	}
}
