package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/softphone"
	"github.com/clubline/clubline/store/embedded"
)

// SIGTERM drains: a new call gets 503 while the active one goes on to its
// end, its record is flushed, and nothing clubline started is left running.
// Not parallel, so that the leak check sees only this line.
func TestDrainFinishesCallsAndLeavesNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	l := startLine(t, lineOpts{at: openTuesday})
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- l.shutdown(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !l.m.SIP.Draining() {
		if time.Now().After(deadline) {
			t.Fatal("the server did not start draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := softphone.Dial(context.Background(), l.sipURI, softphone.Options{From: "+15145550102"})
	wantStatus(t, err, 503)

	select {
	case <-c.Done():
		t.Fatalf("the active call was cut (%s) instead of going on during the drain", c.EndedBy())
	case err := <-drained:
		t.Fatalf("shutdown returned (%v) while a call was active", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown did not return after the last call ended")
	}

	// The record was flushed to the embedded store before it closed.
	st, err := embedded.Open(filepath.Join(l.dir, "data", "clubline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	calls, err := st.Calls(context.Background(), time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, rc := range calls {
		if rc.Outcome == clubline.OutcomeAbandoned && !rc.EndedAt.IsZero() {
			found = true
		}
	}
	if !found {
		t.Errorf("the drained call's final record is not in the store: %+v", calls)
	}
	goleak.VerifyNone(t, before)
}
