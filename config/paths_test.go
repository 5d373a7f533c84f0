package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clubline/clubline/config"
)

// Every path the file names starts from the file's folder, whatever the
// folder clubline runs in; absolute paths stay as written.
func TestPathsStartFromTheConfigFilesFolder(t *testing.T) {
	y := `club: { name: Test }
sip:
  listen: [tls://0.0.0.0:5061]
  tls: { cert_file: tls/fullchain.pem, key_file: /etc/ssl/private/club.pem }
voicemail: { dir: ../data/voicemail }
store: { data_dir: ../data }
prompts: { dir: mes-messages }
http:
  listen: 127.0.0.1:9468
  tls: { cert_file: web/fullchain.pem, key_file: web/privkey.pem }
trunks:
  - { name: voipms, registrar: "sips:montreal.voip.ms", transport: tls, username: u, password_env: PW, numbers: ["+14505550100"], ca_file: provider-ca.pem }
`
	c, err := config.Parse("/etc/clubline/clubline.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, got, want string }{
		{"sip.tls.cert_file", c.SIP.TLS.CertFile, "/etc/clubline/tls/fullchain.pem"},
		{"sip.tls.key_file", c.SIP.TLS.KeyFile, "/etc/ssl/private/club.pem"},
		{"voicemail.dir", c.Voicemail.Dir, "/etc/data/voicemail"},
		{"store.data_dir", c.Store.DataDir, "/etc/data"},
		{"prompts.dir", c.Prompts.Dir, "/etc/clubline/mes-messages"},
		{"http.tls.cert_file", c.HTTP.TLS.CertFile, "/etc/clubline/web/fullchain.pem"},
		{"http.tls.key_file", c.HTTP.TLS.KeyFile, "/etc/clubline/web/privkey.pem"},
		{"trunks[1].ca_file", c.Trunks[0].CAFile, "/etc/clubline/provider-ca.pem"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, tc.got, tc.want)
		}
	}

	// Left out, the data folders are the defaults', from the same folder;
	// an empty prompts.dir stays empty (built-in prompts only).
	c, err = config.Parse("/srv/club/clubline.yaml", []byte("club: { name: Test }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.DataDir != "/srv/club/data" || c.Voicemail.Dir != "/srv/club/data/voicemail" || c.Prompts.Dir != "" {
		t.Errorf("defaults: data_dir %q, voicemail.dir %q, prompts.dir %q", c.Store.DataDir, c.Voicemail.Dir, c.Prompts.Dir)
	}
}

// CheckFiles looks for a relative file beside the config file, and says
// so when it is missing, whatever the working directory.
func TestCheckFilesBesideTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("-----BEGIN-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := "club: { name: Test }\nhttp:\n  tls: { cert_file: fullchain.pem, key_file: privkey.pem }\nsip:\n  tls: { cert_file: fullchain.pem, key_file: missing.pem }\n"
	c, err := config.Parse(filepath.Join(dir, "clubline.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	errs := c.CheckFiles()
	if len(errs) != 1 {
		t.Fatalf("want 1 error (sip.tls.key_file), got %d:\n%v", len(errs), errs)
	}
	if got := errs[0].Error(); !strings.Contains(got, "sip.tls.key_file: cannot read "+filepath.Join(dir, "missing.pem")) ||
		!strings.Contains(got, "a relative path starts from the config file's folder") {
		t.Errorf("error: %s", got)
	}
}

// The example's data goes to the repository's data/ (ignored by git),
// where `go run ./cmd/clubline` has always put it.
func TestExampleDataInTheRepositorysDataFolder(t *testing.T) {
	c, err := config.Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.DataDir != filepath.Join("..", "data") || c.Voicemail.Dir != filepath.Join("..", "data", "voicemail") {
		t.Errorf("data_dir %q, voicemail.dir %q: want ../data and ../data/voicemail", c.Store.DataDir, c.Voicemail.Dir)
	}
}
