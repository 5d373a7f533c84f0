package embedded_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/embedded"
)

// A deleted record's bytes are gone from the file once it is compacted,
// and the store goes on working.
func TestCompactLeavesNoDeletedBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	s, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, c := range []*clubline.Call{{ID: "gone", From: "+15145550101", StartedAt: at}, {ID: "kept", From: "+14505550177", StartedAt: at}} {
		if err := s.SaveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteCall(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("5145550101")) {
		t.Fatal("the deleted record's bytes are not in the file before Compact: this test would show nothing")
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("5145550101")) {
		t.Error("the deleted record's number is still in the file after Compact")
	}
	if c, err := s.Call(ctx, "kept"); err != nil || c.From != "+14505550177" {
		t.Errorf("after Compact: %+v %v", c, err)
	}
	if err := s.SaveCall(ctx, &clubline.Call{ID: "new", StartedAt: at}); err != nil {
		t.Errorf("a write after Compact: %v", err)
	}
}
