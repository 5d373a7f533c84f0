package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clubline/clubline/internal/redistest"
	"github.com/clubline/clubline/softphone"
	"github.com/clubline/clubline/store/redis"
)

// Redis goes down in the middle of the day: calls go on, their records
// wait on disk, and every one of them is in Redis once it is back.
func TestRedisOutageLosesNoRecord(t *testing.T) {
	t.Parallel()
	rdir := t.TempDir()
	rs := redistest.Start(t, 0, rdir, false)
	prefix := fmt.Sprintf("clubline-e2e-%d:", time.Now().UnixNano())
	url := "redis://" + rs.Addr() + "/0"
	l := startLine(t, lineOpts{at: tuesdayEve, redisURL: url, prefix: prefix})

	call := func() {
		c := l.dial(softphone.Options{})
		l.awaitHeard(c, "fr", "greeting", 5*time.Second)
		if err := c.Hangup(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	call()
	rs.Stop()
	call()
	call()
	// The writes fail (once go-redis gives up) and land in the spool on disk.
	deadline := time.Now().Add(30 * time.Second)
	for l.metric("clubline_store_spooled_records") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("records of calls made during the outage were not spooled to disk (%d pending)", l.m.Store.Pending())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rd := l.get("/readyz"); !strings.Contains(rd, "spooling") {
		t.Errorf("/readyz during the outage = %q, want it to say the store is spooling", rd)
	}

	redistest.Start(t, rs.Port, rdir, false)
	deadline = time.Now().Add(60 * time.Second)
	for l.m.Store.Pending() > 0 || l.metric("clubline_store_spooled_records") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still waiting a minute after Redis came back", l.m.Store.Pending())
		}
		time.Sleep(200 * time.Millisecond)
	}

	direct, err := redis.New(redis.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	calls, err := direct.Calls(context.Background(), time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	for _, c := range calls {
		if !c.EndedAt.IsZero() {
			ended++
		}
	}
	if len(calls) != 3 || ended != 3 {
		t.Fatalf("Redis holds %d call records (%d final) after the outage, want all 3 final", len(calls), ended)
	}
}

// Redis freezes (SIGSTOP: a VM paused, a disk stalled) while marie's phone
// registers and a caller picks the office: her REGISTER is answered at
// once and the caller is put through to her, not sent to voicemail
// (issue 7, finding 12). Her registration reaches Redis once it wakes.
func TestRedisFrozenStaffStillRung(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, 0, t.TempDir(), false)
	prefix := fmt.Sprintf("clubline-e2e-%d:", time.Now().UnixNano())
	url := "redis://" + rs.Addr() + "/0"
	l := startQueueLineWith(t, lineOpts{at: openTuesday, redisURL: url, prefix: prefix}, "ring-all", "1m")

	if err := rs.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thaw := func() { _ = rs.Signal(syscall.SIGCONT) }
	defer thaw()
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	l.awaitMetric("clubline_staff_registered", 1)
	c := l.dial(softphone.Options{From: "+15145550101"})
	l.chooseOffice(c)
	staff := answered(t, marie, 15*time.Second)
	_ = c.Hangup(context.Background())
	awaitEnd(t, staff, 10*time.Second)

	thaw()
	direct, err := redis.New(redis.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		regs, err := direct.Registrations(context.Background(), "marie", time.Now())
		if err == nil && len(regs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis holds %d registrations of marie (%v) after it woke, want 1", len(regs), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
