package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clubline/clubline/notify"
)

// The server defers the message twice (451), then takes it: it arrives
// once, and nothing is left queued.
func TestOutboxRetriesAfter4xx(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	srv.failData(errBusy, errBusy)
	res := make(results, 10)
	dir := t.TempDir()
	ob := startOutbox(t, notify.OutboxOptions{Dir: dir, Email: mailerFor(t, srv, smtpPassword), OnResult: res.hook})

	if err := ob.Enqueue(voicemail(t, "vm-20")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:retry")
	res.next(t, "email:retry")
	res.next(t, "email:sent")
	res.none(t, 100*time.Millisecond)
	if got := srv.received(); len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if f := pendingFiles(t, dir); len(f) != 0 || ob.Pending() != 0 {
		t.Fatalf("still queued: %v (%d)", f, ob.Pending())
	}
}

// The server is down; clubline stops and starts again; the server comes
// up: the notification queued before the restart is delivered, once.
func TestOutboxSurvivesRestart(t *testing.T) {
	addr := freeAddr(t)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	_, pool := testCert(t)
	down := &smtpServer{Host: host, Port: port, RootCAs: pool, mode: notify.TLSStartTLS}
	dir := t.TempDir()

	res := make(results, 10)
	ob, err := notify.NewOutbox(notify.OutboxOptions{Dir: dir, Email: mailerFor(t, down, smtpPassword), OnResult: res.hook,
		RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- ob.Run(context.Background()) }()
	if err := ob.Enqueue(voicemail(t, "vm-21")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:retry")
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if f := pendingFiles(t, dir); len(f) != 1 {
		t.Fatalf("queued files after the stop: %v, want 1", f)
	}
	if err := ob.Enqueue(voicemail(t, "vm-22")); !errors.Is(err, notify.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v, want ErrClosed", err)
	}

	srv := startSMTP(t, notify.TLSStartTLS, addr)
	ob2 := startOutbox(t, notify.OutboxOptions{Dir: dir, Email: mailerFor(t, srv, smtpPassword), OnResult: res.hook})
	res.next(t, "email:sent")
	got := srv.received()
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "Inscriptions") {
		t.Fatalf("server received %d messages, want the one queued", len(got))
	}
	if ob2.Pending() != 0 || len(pendingFiles(t, dir)) != 0 {
		t.Fatal("still queued after delivery")
	}
}

// A recipient the server refuses (550): failed at once, counted, its file
// removed; the other recipient of the same message still gets it.
func TestOutboxPermanentFailure(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	srv.refuseRcpt(errNoSuchRc)
	res := make(results, 10)
	dir := t.TempDir()
	ob := startOutbox(t, notify.OutboxOptions{Dir: dir, Email: mailerFor(t, srv, smtpPassword), OnResult: res.hook})
	if err := ob.Enqueue(voicemail(t, "vm-23")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:failed")
	res.none(t, 100*time.Millisecond)
	if f := pendingFiles(t, dir); len(f) != 0 || ob.Pending() != 0 {
		t.Fatalf("still queued after a permanent failure: %v", f)
	}
	if len(srv.received()) != 0 {
		t.Fatal("delivered")
	}
}

// Enqueuing the same notification again, while it waits or after it was
// sent, sends it once; the web hook is told once for two audiences.
func TestOutboxIdempotent(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	rcv := startReceiver(t, hookSecret)
	res := make(results, 10)
	ob := startOutbox(t, notify.OutboxOptions{Dir: t.TempDir(), Email: mailerFor(t, srv, smtpPassword),
		Webhook: newWebhook(t, rcv.URL, hookSecret), OnResult: res.hook, Workers: 1})

	admins := voicemail(t, "vm-24")
	admins.To, admins.ShowNumber = []string{"admin@club.example", "Admin@Club.example"}, true
	others := voicemail(t, "vm-24")
	for _, m := range []notify.Message{admins, others, admins} {
		if err := ob.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for range 3 {
		select {
		case r := <-res:
			seen[r]++
		case <-time.After(10 * time.Second):
			t.Fatalf("results so far %v", seen)
		}
	}
	if seen["email:sent"] != 2 || seen["webhook:sent"] != 1 {
		t.Fatalf("results %v, want 2 e-mails and 1 web hook", seen)
	}
	if err := ob.Enqueue(admins); err != nil { // after it was sent
		t.Fatal(err)
	}
	res.none(t, 200*time.Millisecond)
	if n := len(srv.received()); n != 2 {
		t.Fatalf("server received %d messages, want 2", n)
	}
	if n := len(rcv.received()); n != 1 {
		t.Fatalf("receiver took %d requests, want 1", n)
	}
}

// Law 25 erasure: the queued notifications about a caller go, before they
// are sent, and nothing of them is left on disk.
func TestOutboxPurge(t *testing.T) {
	dir := t.TempDir()
	ob, err := notify.NewOutbox(notify.OutboxOptions{Dir: dir, Email: senderFunc(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	a := voicemail(t, "vm-25")
	b := voicemail(t, "vm-26")
	b.From = "+15145550111"
	for _, m := range []notify.Message{a, b} {
		if err := ob.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	n, err := ob.Purge("514-555-0199") // as an admin types it
	if err != nil || n != 1 {
		t.Fatalf("Purge: %d, %v, want 1", n, err)
	}
	f := pendingFiles(t, dir)
	if len(f) != 1 || ob.Pending() != 1 {
		t.Fatalf("queued files %v, want 1", f)
	}
	for _, name := range f {
		b, _ := os.ReadFile(name)
		if strings.Contains(string(b), "5550199") {
			t.Fatalf("the erased number is still on disk in %s", name)
		}
	}
}

// A notification erased while it is being sent is not tried again.
func TestOutboxPurgeDuringAttempt(t *testing.T) {
	dir := t.TempDir()
	called, release := make(chan struct{}), make(chan struct{})
	var tries atomic.Int32
	busy := senderFunc(func(ctx context.Context, m notify.Message) error {
		if tries.Add(1) == 1 {
			close(called)
		}
		<-release
		return &notify.Error{Channel: notify.ChannelEmail, Msg: "busy"}
	})
	res := make(results, 10)
	ob := startOutbox(t, notify.OutboxOptions{Dir: dir, Email: busy, OnResult: res.hook})
	if err := ob.Enqueue(voicemail(t, "vm-31")); err != nil {
		t.Fatal(err)
	}
	<-called
	if n, err := ob.Purge(caller); n != 1 || err != nil {
		t.Fatalf("Purge: %d, %v", n, err)
	}
	close(release)
	res.none(t, 200*time.Millisecond)
	if tries.Load() != 1 || ob.Pending() != 0 || len(pendingFiles(t, dir)) != 0 {
		t.Fatalf("%d tries, %d pending, files %v", tries.Load(), ob.Pending(), pendingFiles(t, dir))
	}
}

// A notification still failing MaxAge after it was enqueued is given up.
func TestOutboxGivesUpAfterMaxAge(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	res := make(results, 100)
	fail := senderFunc(func(ctx context.Context, m notify.Message) error {
		return &notify.Error{Channel: notify.ChannelEmail, Msg: "busy"}
	})
	dir := t.TempDir()
	ob := startOutbox(t, notify.OutboxOptions{Dir: dir, Email: fail, OnResult: res.hook, Now: clock,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	if err := ob.Enqueue(voicemail(t, "vm-27")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:retry")
	mu.Lock()
	now = now.Add(notify.DefaultMaxAge)
	mu.Unlock()
	for {
		r := <-res
		if r == "email:failed" {
			break
		}
		if r != "email:retry" {
			t.Fatalf("result %q", r)
		}
	}
	if len(pendingFiles(t, dir)) != 0 {
		t.Fatal("still queued after MaxAge")
	}
}

// The SMTP password never reaches the log, refused or not; nor does the
// caller's full number.
func TestOutboxLogsNoSecrets(t *testing.T) {
	srv := startSMTP(t, notify.TLSStartTLS, "")
	var logs logBuffer
	res := make(results, 10)
	wrong := smtpPassword + "-old"
	ob := startOutbox(t, notify.OutboxOptions{Dir: t.TempDir(), Email: mailerFor(t, srv, wrong), OnResult: res.hook, Logger: logs.logger()})
	if err := ob.Enqueue(voicemail(t, "vm-28")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:failed")

	srv2 := startSMTP(t, notify.TLSStartTLS, "")
	srv2.failData(errBusy)
	ob2 := startOutbox(t, notify.OutboxOptions{Dir: t.TempDir(), Email: mailerFor(t, srv2, smtpPassword), OnResult: res.hook, Logger: logs.logger()})
	if err := ob2.Enqueue(voicemail(t, "vm-29")); err != nil {
		t.Fatal(err)
	}
	res.next(t, "email:retry")
	res.next(t, "email:sent")

	out := logs.String()
	if !strings.Contains(out, "535") || !strings.Contains(out, "notification sent") {
		t.Fatalf("the log lacks the failure or the delivery:\n%s", out)
	}
	for _, secret := range []string{smtpPassword, wrong, "5550199", "555-0199"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "+1 514 •••-••99") {
		t.Errorf("the log does not name the caller masked:\n%s", out)
	}
}

// A file a crash cut short is ignored; an unreadable one is set aside.
func TestOutboxLoadsLeftovers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte(`{"ver`), 0o600)
	os.WriteFile(filepath.Join(dir, "email-0000.json"), []byte(`not json`), 0o600)
	ob, err := notify.NewOutbox(notify.OutboxOptions{Dir: dir, Email: senderFunc(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.Pending() != 0 {
		t.Fatalf("%d pending", ob.Pending())
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !os.IsNotExist(err) {
		t.Error("the temporary file is still there")
	}
	if _, err := os.Stat(filepath.Join(dir, "email-0000.bad")); err != nil {
		t.Error("the unreadable file was not set aside")
	}
}

func TestOutboxEnqueueErrors(t *testing.T) {
	ob, err := notify.NewOutbox(notify.OutboxOptions{Dir: t.TempDir(), Webhook: senderFunc(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	m := voicemail(t, "vm-30")
	if err := ob.Enqueue(m); err == nil || !strings.Contains(err.Error(), "no mailer") {
		t.Errorf("recipients without a mailer: %v", err)
	}
	m.To = []string{"Marie <marie@club.example>"}
	if err := ob.Enqueue(m); err == nil || !strings.Contains(err.Error(), "name@example.org") {
		t.Errorf("a named address: %v", err)
	}
	m.To, m.ID = nil, ""
	if err := ob.Enqueue(m); err == nil || !strings.Contains(err.Error(), "no id") {
		t.Errorf("no id: %v", err)
	}
}

type senderFunc func(ctx context.Context, m notify.Message) error

func (f senderFunc) Send(ctx context.Context, m notify.Message) error { return f(ctx, m) }

// results collects what OutboxOptions.OnResult reports.
type results chan string

func (r results) hook(channel, result string) { r <- channel + ":" + result }

// next waits for the next result and checks it.
func (r results) next(t testing.TB, want string) {
	t.Helper()
	select {
	case got := <-r:
		if got != want {
			t.Fatalf("result %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no result; want %q", want)
	}
}

// none checks that no result comes for a while.
func (r results) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case got := <-r:
		t.Fatalf("unexpected result %q", got)
	case <-time.After(d):
	}
}

// logBuffer is a logger whose output the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startOutbox opens an outbox on dir and runs it until the test ends.
func startOutbox(t testing.TB, o notify.OutboxOptions) *notify.Outbox {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.RetryBase == 0 {
		o.RetryBase, o.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	}
	ob, err := notify.NewOutbox(o)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- ob.Run(t.Context()) }()
	t.Cleanup(func() {
		ob.Close()
		<-ran
	})
	return ob
}

// pendingFiles lists the queued deliveries' files in dir.
func pendingFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
