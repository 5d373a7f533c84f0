package embedded_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/store/storetest"
)

func open(t *testing.T, path string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T) (clubline.Store, func() clubline.Store) {
		path := filepath.Join(t.TempDir(), "clubline.db")
		return open(t, path), func() clubline.Store { return open(t, path) }
	})
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	s := open(t, path)
	defer s.Close()

	// bbolt's lock is flock(2) on its own file descriptor: a second open in
	// the same process is refused just as another process would be.
	start := time.Now()
	_, err := embedded.Open(path)
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("error %q should name the file and say it is locked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open waited %s for the lock, want about a second", d)
	}

	// Once released, the file opens.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path).Close()
}

func TestCreatesDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "clubline")
	s := open(t, filepath.Join(dir, "clubline.db"))
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode = %o, want 700", perm)
	}
	fi, err = os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode = %o, want 600", perm)
	}
}

func TestNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clubline.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := embedded.Open(path)
	if err == nil {
		t.Fatal("Open of a file that is not a store succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name the file", err)
	}
}
