package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFromLdflagsAndBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/clubline/clubline", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "3f2a9c1d0e7b5a4c3b2a19f8e7d6c5b4a3928170"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		{"go build in a git clone", "", "", stamped,
			"clubline devel, commit 3f2a9c1d0e7b with uncommitted changes (go1.26.8)"},
		{"deploy/build.sh: both -X flags", "1.4.0", "aabbccddeeff00112233", stamped,
			"clubline 1.4.0, commit aabbccddeeff with uncommitted changes (go1.26.8)"},
		{"go install …@v1.4.0", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			"clubline v1.4.0, commit unknown: built without git (go run, or a copy of the source) (go1.26.8)"},
		{"go run", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"clubline devel, commit unknown: built without git (go run, or a copy of the source) (go1.26.8)"},
		{"no build info", "", "", nil,
			"clubline devel, commit unknown: built without git (go run, or a copy of the source)"},
	} {
		if got := versionOf(tc.version, tc.commit, tc.bi).String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || errOut.Len() > 0 {
			t.Fatalf("clubline %s: exit %d, stderr %q", args[0], code, errOut.String())
		}
		if got := out.String(); !strings.HasPrefix(got, "clubline ") || !strings.Contains(got, ", commit ") || strings.Count(got, "\n") != 1 {
			t.Errorf("clubline %s printed %q, want one line with the version and the commit", args[0], got)
		}
	}
}
