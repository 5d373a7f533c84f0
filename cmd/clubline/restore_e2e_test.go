package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
)

// The backup and restore of docs/install.md, on the embedded store: a
// line whose config keeps its data beside it (relative paths) takes a
// call that leaves a message; clubline is stopped and the folder saved
// with tar; the folder is lost and restored from the archive into a new,
// empty folder at the same path (a new box); clubline starts on it and the
// call, the message with its recording and its follow-up are there.
func TestBackupAndRestore(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "clubline") // /var/lib/clubline on a box
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, lineOpts{})
	editConfig(t, path, filepath.Join(dir, "voicemail"), "voicemail", filepath.Join(dir, "data"), "data")
	l := startLineIn(t, dir, path, openTuesday)

	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	if err := c.SendDigit(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "voicemail_saved", 10*time.Second)
	awaitEnd(t, c, 10*time.Second)
	call := l.lastCall()
	if call.VoicemailID == "" {
		t.Fatalf("the call left no message: %+v", call)
	}
	vm := l.voicemail(call.VoicemailID)
	if !strings.HasPrefix(vm.Path, filepath.Join(dir, "voicemail")+string(filepath.Separator)) {
		t.Errorf("the recording is at %s, not in the voicemail folder beside the config", vm.Path)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "clubline.db")); err != nil {
		t.Errorf("the embedded store is not in data/ beside the config: %v", err)
	}

	// The backup: stop clubline (the store is one file it writes in
	// place), archive the folder, start again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "clubline-backup.tar.gz")
	runTool(t, "tar", "-C", filepath.Dir(dir), "-czf", archive, filepath.Base(dir))

	// The box is lost; a new one gets the archive back in place.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	runTool(t, "tar", "-C", filepath.Dir(dir), "-xzf", archive)
	restored := startLineIn(t, dir, path, openTuesday.Add(time.Hour))

	got := restored.voicemail(call.VoicemailID)
	if got.CallID != call.ID || got.Path != vm.Path || got.Duration != vm.Duration {
		t.Errorf("restored message %+v, want %+v", got, vm)
	}
	if !media.DetectTone(restored.voicemailAudio(got), 440) {
		t.Error("the restored recording does not hold the caller's 440 Hz tone")
	}
	if rec := restored.lastCall(); rec.ID != call.ID || rec.Outcome != clubline.OutcomeVoicemail {
		t.Errorf("restored call record %+v, want %s with outcome voicemail", rec, call.ID)
	}
	fus, err := restored.m.Store.FollowUps(context.Background(), openTuesday.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(fus) != 1 || fus[0].VoicemailID != call.VoicemailID {
		t.Errorf("restored follow-ups %+v, want the message's", fus)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "audit.jsonl")); err != nil {
		t.Errorf("the audit log was not restored: %v", err)
	}
}

// editConfig rewrites the config at path with the replacements (old, new,
// old, new…).
func editConfig(t *testing.T, path string, replace ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("the config has no %q", replace[i])
		}
		text = strings.Replace(text, replace[i], replace[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
