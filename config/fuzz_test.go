package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/clubline/clubline/config"
)

// FuzzParse checks that no file makes Parse panic, and that a failure is
// always a config.Errors with at least one error.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(head + "hours:\n  weekly:\n    mon-fri: 08:30-12:00,11:00-16:30\n"))
	f.Add([]byte(head + "menu:\n  options:\n    - { key: \"1\", category: x, route: y }\n    - &a { key: \"2\" }\n    - *a\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("club: &c\n  name: x\nsip: *c\n"))
	f.Add([]byte(trunks + "callback:\n  allowed: [\"+1514NXXXXXX\", \"+33.\"]\nsip:\n  listen: [tls://0.0.0.0:5061]\n  tls: { cert_file: c.pem, key_file: k.pem }\n  stun: stun.example.org\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if err == nil {
			if c == nil || c.Schedule() == nil || c.Club.Location == nil {
				t.Fatal("valid config without a schedule or a location")
			}
			return
		}
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is not config.Errors: %v", err)
		}
	})
}
