package audit_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline/audit"
)

func TestAddReadDeleteBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.jsonl")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, a := range []string{audit.ActionLogin, audit.ActionListen, audit.ActionDone} {
		if err := l.Add(audit.Entry{At: t0.Add(time.Duration(i) * 24 * time.Hour), User: "marie", Action: a, Target: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Entries(func(e audit.Entry) bool { return e.Target == "v1" })
	if err != nil || len(got) != 3 || got[1].Action != audit.ActionListen {
		t.Fatalf("entries %+v %v", got, err)
	}
	n, err := l.DeleteBefore(t0.Add(36 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("DeleteBefore: %d %v, want 2", n, err)
	}
	if err := l.Add(audit.Entry{User: "luc", Action: audit.ActionNote}); err != nil {
		t.Fatal(err)
	}
	got, _ = l.Entries(nil)
	if len(got) != 2 || got[0].Action != audit.ActionDone || got[1].User != "luc" || got[1].At.IsZero() {
		t.Errorf("after the purge and one more: %+v", got)
	}
	l.Close()
	l2, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got, _ := l2.Entries(nil); len(got) != 2 {
		t.Errorf("reopened: %d entries, want 2", len(got))
	}
}
