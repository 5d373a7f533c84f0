// Package deploy_test checks what deploy/ and the repository's Dockerfile
// and docker-compose.yml ship, on a machine with no container engine: the
// Dockerfile's build step run natively, the systemd unit through
// systemd-analyze, the compose file through docker-compose.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	built     string // the binary deploy/build.sh made
	buildErr  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// buildLikeTheDockerfile runs the build stage's step, deploy/build.sh,
// with the build arguments the Dockerfile passes.
func buildLikeTheDockerfile(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds clubline")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clubline-deploy")
		if err != nil {
			buildErr = err.Error()
			return
		}
		built = filepath.Join(dir, "clubline")
		cmd := exec.Command("./deploy/build.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "OUT="+built, "VERSION=9.9.9-test", "COMMIT=0123456789abcdef0123456789abcdef01234567")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err.Error() + "\n" + string(out)
		}
	})
	if buildErr != "" {
		t.Fatalf("deploy/build.sh: %s", buildErr)
	}
	return built
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The Dockerfile builds with deploy/build.sh on the Go that go.mod names
// and copies the binary it made; that step, run here, makes a static
// binary that says its version and commit.
func TestDockerfileBuild(t *testing.T) {
	df := read(t, "../Dockerfile")
	gomod := read(t, "../go.mod")
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	if goLine == nil || !strings.Contains(df, "ARG GO_VERSION="+goLine[1]+"\n") {
		t.Errorf("the Dockerfile's GO_VERSION is not go.mod's go %v", goLine)
	}
	for _, want := range []string{
		"FROM golang:${GO_VERSION}-bookworm AS build",
		`RUN OUT=/out/clubline VERSION="$VERSION" COMMIT="$COMMIT" ./deploy/build.sh`,
		"COPY --from=build /out/clubline /usr/local/bin/clubline",
		"USER clubline",
		"VOLUME /var/lib/clubline",
		`CMD ["serve", "--config", "/etc/clubline/clubline.yaml"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if sh := read(t, "build.sh"); !strings.Contains(sh, "CGO_ENABLED=0 go build -trimpath") || !strings.Contains(sh, "-X main.version=$version -X main.commit=$commit") {
		t.Error("deploy/build.sh no longer builds static with the version in -ldflags")
	}

	bin := buildLikeTheDockerfile(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%s): it would not run on the runtime image without libc's loader", p.Type)
		}
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if got := string(out); err != nil || !strings.HasPrefix(got, "clubline 9.9.9-test, commit 0123456789ab (go") {
		t.Errorf("clubline --version: %v\n%s", err, got)
	}
}

// The image's own config is valid and keeps its data in the volume.
func TestImageConfig(t *testing.T) {
	bin := buildLikeTheDockerfile(t)
	cmd := exec.Command(bin, "check", "--config", "clubline/clubline.yaml")
	cmd.Env = append(os.Environ(), "CLUBLINE_PW_MARIE=x", "CLUBLINE_PW_LUC=y")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("clubline check deploy/clubline/clubline.yaml: %v\n%s", err, out)
	}
	y := read(t, "clubline/clubline.yaml")
	for _, want := range []string{"dir: /var/lib/clubline/voicemail", "data_dir: /var/lib/clubline", "redis_url: redis://127.0.0.1:6379/0"} {
		if !strings.Contains(y, want) {
			t.Errorf("deploy/clubline/clubline.yaml lacks %q", want)
		}
	}
}

// systemd-analyze verify finds nothing to say of the unit (an unknown
// key is only a warning to it: any output fails the test).
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze (apt-get install systemd)")
	}
	bin := buildLikeTheDockerfile(t)
	unit := strings.ReplaceAll(read(t, "systemd/clubline.service"), "/usr/local/bin/clubline", bin)
	path := filepath.Join(t.TempDir(), "clubline.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("systemd-analyze", "verify", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out.String())
	}
	for _, want := range []string{"User=clubline", "StateDirectory=clubline", "ConfigurationDirectory=clubline", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile="} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if strings.Contains(unit, "CAP_NET_BIND_SERVICE\n") || regexp.MustCompile(`(?m)^AmbientCapabilities=.+`).MatchString(unit) {
		t.Error("the unit grants a capability: 5060 needs none")
	}
}

// Debian's docker-compose accepts the compose file with the shipped
// .env.example as its .env.
func TestComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("no docker-compose (apt-get install docker-compose)")
	}
	dir := t.TempDir()
	for src, dst := range map[string]string{"../docker-compose.yml": "docker-compose.yml", "../.env.example": ".env"} {
		if err := os.WriteFile(filepath.Join(dir, dst), []byte(read(t, src)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("docker-compose", "config")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"network_mode: host", "--appendonly", "clubline-data:/var/lib/clubline", "redis-data:/data",
		"deploy/prometheus:/etc/prometheus:ro", "deploy/grafana/provisioning:/etc/grafana/provisioning:ro", "SMTP_PASSWORD: change-me-smtp"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("docker-compose config lacks %q:\n%s", want, out)
		}
	}
}

// Kamailio accepts the front proxy's config as shipped (the defaults of
// its defines) and with the overrides the tests use; the shipped
// dispatcher list reads as one set of instances. interop/cluster runs it.
func TestKamailioConfigChecks(t *testing.T) {
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/kamailio"); serr != nil {
			t.Skip("no kamailio (apt-get install kamailio)")
		}
		bin = "/usr/sbin/kamailio"
	}
	list, err := filepath.Abs("kamailio/dispatcher.list")
	if err != nil {
		t.Fatal(err)
	}
	for name, defines := range map[string][]string{
		"shipped": nil,
		"overridden": {"-A", "LISTEN_IP=127.0.0.1", "-A", "SIP_PORT=5999", "-A", `DISPATCHER_LIST="` + list + `"`,
			"-A", "DS_PING_INTERVAL=1", "-A", "FR_TIMER=1000", "-A", "ADVERTISE_IP=192.0.2.1",
			"-A", "WITH_CTL", "-A", `CTL_SOCKET="unix:` + filepath.Join(t.TempDir(), "ctl") + `"`, "-A", "WITH_DEBUG"},
	} {
		out, err := exec.Command(bin, append([]string{"-c", "-f", "kamailio/kamailio.cfg"}, defines...)...).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("ERROR")) {
			t.Errorf("%s: kamailio -c: %v\n%s", name, err, out)
		}
	}
	entries := 0
	for _, line := range strings.Split(read(t, "kamailio/dispatcher.list"), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) != 3 || f[0] != "1" || !strings.HasPrefix(f[1], "sip:") {
			t.Errorf("dispatcher.list: %q, want `1 sip:host:port flags`", line)
		}
		entries++
	}
	if entries < 2 {
		t.Errorf("dispatcher.list names %d instances, want two", entries)
	}
}
