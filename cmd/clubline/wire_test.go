package main

import (
	"slices"
	"testing"

	"github.com/clubline/clubline/config"
)

// A reload that changes what phones register with says a restart is
// needed; one that changes only a group's members does not.
func TestRestartNeededForStaffCredentials(t *testing.T) {
	old := config.Default()
	old.Staff = []config.Staff{{ID: "marie", Name: "Marie", Extension: "201", PasswordEnv: "PW_MARIE"}}
	members := *old
	members.Groups = []config.Group{config.DefaultGroup("office")}
	members.Groups[0].Members = []string{"marie"}
	if got := restartNeeded(old, &members); len(got) != 0 {
		t.Errorf("group members changed: restart needed for %q, want nothing", got)
	}
	ext := *old
	ext.Staff = []config.Staff{{ID: "marie", Name: "Marie", Extension: "211", PasswordEnv: "PW_MARIE"}}
	if got := restartNeeded(old, &ext); !slices.Contains(got, "staff (extensions and passwords)") {
		t.Errorf("extension changed: restart needed for %q, want staff", got)
	}
}
