// Package redistest runs a throwaway redis-server (Debian's redis-server)
// on a loopback port of its own, for tests only: the end-to-end tests of
// cmd and the interop tests of the cluster.
package redistest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t    *testing.T
	Port int
	dir  string
	cmd  *exec.Cmd
}

// Start runs redis-server on port (0: a free one) with its AOF in dir, and
// returns once it takes connections; it is killed at the end of the test.
// Without redis-server the test is skipped, unless must (or
// CLUBLINE_TEST_REDIS_URL) says the run needs it: then it fails.
func Start(t *testing.T, port int, dir string, must bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if must || os.Getenv("CLUBLINE_TEST_REDIS_URL") != "" {
			t.Fatal("redis-server is not installed: apt-get install redis-server")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); .ci/run installs it and runs this test")
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	s := &Server{t: t, Port: port, dir: dir}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", s.Addr())
		if err == nil {
			conn.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not come up on %s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Signal sends sig to the server (SIGSTOP freezes it: a Redis that
// takes connections and answers nothing).
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Stop kills the server (a Redis outage); Start on the same port and
// folder brings it back with its data.
func (s *Server) Stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}
