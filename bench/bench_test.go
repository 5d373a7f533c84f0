// Package bench_test holds the Go benchmarks that complement those in the
// packages (media, prompts): the G.711 decode of a whole frame, and the
// cost of writing one call record to each store. The SIPp load test is
// run.sh in this directory; results and how to read them are in
// docs/PERFORMANCE.md.
//
//	go test -run='^$' -bench=. -benchmem ./bench/
//	CLUBLINE_BENCH_REDIS_URL=redis://127.0.0.1:6379/15 go test -run='^$' -bench=Redis ./bench/
package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/store/redis"
)

// BenchmarkPCMUDecodeFrame: one received 20 ms payload (160 bytes of
// µ-law) to a frame of linear PCM, as a leg does 50 times a second.
func BenchmarkPCMUDecodeFrame(b *testing.B) {
	payload := make([]byte, media.FrameSamples)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	var f media.Frame
	b.SetBytes(media.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		media.PCMU.Decode(&f, payload)
	}
}

// BenchmarkPCMUEncodeFrame: one frame to a 160-byte µ-law payload (the
// package's own benchmark does A-law).
func BenchmarkPCMUEncodeFrame(b *testing.B) {
	var f media.Frame
	if err := media.Tone(1000, media.FrameDuration, 8000).ReadFrame(&f); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, media.FrameSamples)
	b.SetBytes(media.FrameSamples * 2)
	b.ReportAllocs()
	for b.Loop() {
		buf = media.PCMU.Encode(buf[:0], &f)
	}
}

// record is a finished call as the script writes it at hang-up.
func record(i int) *clubline.Call {
	start := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return &clubline.Call{
		ID: fmt.Sprintf("bench-%09d", i), From: "+15145550101", To: "+14505550100",
		StartedAt: start, Hours: clubline.HoursOpen, HoursReason: "weekly mon-fri 08:30-16:30",
		Language: "fr", Choice: "1", Category: "registrations", Route: "office",
		Outcome: clubline.OutcomeAbandoned, Stage: clubline.StageVoicemail,
		EndedAt: start.Add(12 * time.Second), Duration: 12 * time.Second,
		Trace: []string{"open: weekly mon-fri 08:30-16:30", "menu: 1 registrations → office",
			"office: no staff reachable yet → voicemail", "caller hung up in voicemail"},
	}
}

// BenchmarkEmbeddedSaveCall: one call record into the embedded (bbolt)
// store, a new record each time, each write synced to disk. A call is
// written twice (when it arrives, when it ends). The spool in front keeps
// this off the call's path; it bounds how many records a second the box
// can keep.
func BenchmarkEmbeddedSaveCall(b *testing.B) {
	st, err := embedded.Open(filepath.Join(b.TempDir(), "clubline.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := st.SaveCall(ctx, record(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisSaveCall: the same into Redis (one MULTI/EXEC round trip),
// when CLUBLINE_BENCH_REDIS_URL names a database the benchmark may fill
// (keys under clubline-bench-<pid>:, left in place).
func BenchmarkRedisSaveCall(b *testing.B) {
	url := os.Getenv("CLUBLINE_BENCH_REDIS_URL")
	if url == "" {
		b.Skip("set CLUBLINE_BENCH_REDIS_URL to a Redis database it may write to, e.g. redis://127.0.0.1:6379/15")
	}
	st, err := redis.New(redis.Options{URL: url, KeyPrefix: fmt.Sprintf("clubline-bench-%d:", os.Getpid())})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		b.Fatalf("redis at %s: %v", url, err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := st.SaveCall(ctx, record(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisBoardReserve: a waiting caller's turn on the queues'
// board shared by a line's instances (store/redis.Board), with 20 callers
// in line and 10 staff members known: Reserve (a WATCH transaction on the
// whole state), Release, and a Position read, as a ringing round does.
// CLUBLINE_BENCH_REDIS_URL as for BenchmarkRedisSaveCall.
func BenchmarkRedisBoardReserve(b *testing.B) {
	url := os.Getenv("CLUBLINE_BENCH_REDIS_URL")
	if url == "" {
		b.Skip("set CLUBLINE_BENCH_REDIS_URL to a Redis database it may write to, e.g. redis://127.0.0.1:6379/15")
	}
	st, err := redis.New(redis.Options{URL: url, KeyPrefix: fmt.Sprintf("clubline-bench-board-%d-%d:", os.Getpid(), time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	board := st.Board("bench", nil)
	go board.Run(ctx)
	q := routing.NewSharedACD(board, "bench")
	var members []string
	registered := map[string]bool{}
	for i := range 10 {
		id := fmt.Sprintf("staff%d", i)
		members = append(members, id)
		registered[id] = true
	}
	var tickets []*routing.Ticket
	for i := range 20 {
		tickets = append(tickets, q.Join("office", fmt.Sprint(i), false, time.Now()))
	}
	first := tickets[0]
	b.ReportAllocs()
	for b.Loop() {
		ids := q.Reserve(first, routing.LongestIdle, members, registered, nil)
		if len(ids) != 1 {
			b.Fatalf("reserved %v", ids)
		}
		q.Release(first, ids[0])
		if q.Position(tickets[19]) != 20 {
			b.Fatal("position")
		}
	}
}
