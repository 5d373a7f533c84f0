package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clubline/clubline/softphone"
)

// A staff phone registers to the running line with the password from the
// environment; the gauge follows; a person whose variable is unset cannot
// register.
func TestStaffRegister(t *testing.T) {
	t.Setenv("CLUBLINE_TEST_PW_MARIE", "secret-marie")
	os.Unsetenv("CLUBLINE_TEST_PW_LUC_UNSET")
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, []byte(`staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_TEST_PW_MARIE }
  - { id: luc, name: Luc Gagnon, extension: "202", password_env: CLUBLINE_TEST_PW_LUC_UNSET }
`)...)
	if err := os.WriteFile(filepath.Join(dir, "clubline.yaml"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, dir, path, openTuesday)
	registrar := "sip:" + l.m.sipAddr("udp")
	register := func(o softphone.RegisterOptions) (*softphone.Registration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return softphone.Register(ctx, registrar, o)
	}

	reg, err := register(softphone.RegisterOptions{User: "201", Password: "secret-marie", Expires: time.Hour})
	if err != nil {
		t.Fatalf("marie: %v", err)
	}
	if len(reg.Bindings) != 1 {
		t.Fatalf("marie: bindings %+v", reg.Bindings)
	}
	l.awaitMetric("clubline_staff_registered", 1)

	var se *softphone.StatusError
	if _, err := register(softphone.RegisterOptions{User: "201", Password: "not-her-password", Contacts: []string{"<sip:201@127.0.0.9:5999>"},
		Expires: time.Hour}); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("marie with a wrong password: %v, want 403", err)
	}
	if regs := l.m.Registrar.Bindings("marie"); len(regs) != 1 {
		t.Errorf("after a wrong password marie has %d contacts, want still 1", len(regs))
	}
	if _, err := register(softphone.RegisterOptions{User: "202", Password: "", Expires: time.Hour}); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("luc without a password variable: %v, want 403", err)
	}

	if _, err := register(softphone.RegisterOptions{User: "201", Password: "secret-marie", Contacts: []string{"*"}}); err != nil {
		t.Fatalf("marie un-REGISTER: %v", err)
	}
	l.awaitMetric("clubline_staff_registered", 0)
}
