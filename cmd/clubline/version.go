package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=1.4.0 -X main.commit=$(git rev-parse HEAD)"
//
// deploy/build.sh (which the Dockerfile runs) sets them, and modified to
// "true" when it builds a tree with uncommitted changes (the Go toolchain
// stamps no vcs.revision in a git worktree, nor without .git). Left empty, the
// version is the module's (a tagged `go install`) or "devel", and the
// commit is the one the Go toolchain stamps from git (vcs.revision).
var version, commit, modified string

// buildVersion says which clubline this is: version, commit, whether the
// tree had uncommitted changes, and the Go it was built with.
type buildVersion struct {
	Version  string // "1.4.0", "v0.0.0-2026…", or "devel"
	Commit   string // full hash; "" when unknown
	Modified bool   // built from a tree with uncommitted changes
	Go       string // "go1.26.8"
}

// currentVersion reads the -ldflags variables and the build info.
func currentVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	v := versionOf(version, commit, bi)
	v.Modified = v.Modified || modified == "true"
	return v
}

// versionOf is currentVersion for given values (tests).
func versionOf(version, commit string, bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: version, Commit: commit}
	if bi != nil {
		v.Go = bi.GoVersion
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// String is the line `clubline --version` prints:
//
//	clubline 1.4.0, commit 3f2a9c1d0e7b (go1.26.8)
//	clubline devel, commit unknown: built without git (go run, or a copy of the source) (go1.26.8)
func (v buildVersion) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "clubline %s, commit ", v.Version)
	switch {
	case v.Commit == "":
		b.WriteString("unknown: built without git (go run, or a copy of the source)")
	case len(v.Commit) > 12:
		b.WriteString(v.Commit[:12])
	default:
		b.WriteString(v.Commit)
	}
	if v.Modified {
		b.WriteString(" with uncommitted changes")
	}
	if v.Go != "" {
		fmt.Fprintf(&b, " (%s)", v.Go)
	}
	return b.String()
}

// runVersion is `clubline version` and `clubline --version`.
func runVersion(stdout io.Writer) int {
	fmt.Fprintln(stdout, currentVersion())
	return 0
}
