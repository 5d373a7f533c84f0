package provider_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/interop/provider"
)

// TestTLS: with TLS, the trunk registers over TLS (the Go client trusts
// only the certificate the helper made, checked for 127.0.0.1) and gets
// its calls on that connection, as over TCP.
func TestTLS(t *testing.T) {
	p := provider.Start(t, provider.Options{TLS: true})
	t.Parallel()
	c := dialSIPTLS(t, p.TLSAddr(), p.Options().CertFile)
	if code := c.register(t, c.challenge(t), account, password); code != 200 {
		t.Fatalf("REGISTER over TLS: %d, want 200", code)
	}
	waitLine(t, p, "PROVIDER REGISTER user=clubline", c.conn.LocalAddr().String()+"/tls", "result=200")

	caller := startSIPp(t, "pstn_unavailable.xml", freeUDPPort(t), p.Addr(), "-s", did)
	inv := c.read(t, 5*time.Second)
	if want := "INVITE " + c.contact(account) + " SIP/2.0"; inv.first != want {
		t.Errorf("on the trunk's TLS connection: %q, want %q", inv.first, want)
	}
	c.answer(t, inv, 480, "Temporarily Unavailable")
	if ack := c.read(t, 5*time.Second); !strings.HasPrefix(ack.first, "ACK ") {
		t.Errorf("after the 480: %q, want the provider's ACK", ack.first)
	}
	caller.succeed()
	waitLine(t, p, "PROVIDER INBOUND INVITE", "ruri="+c.contact(account), "result=relayed")
}

// TestTLSBaresip: baresip, a softphone nobody here wrote, is the trunk:
// it registers over TLS, answers a call from the PSTN (answermode=auto) on
// that connection, and takes the caller's BYE through the provider.
// baresip 1.0 does not check the server's certificate (given another
// provider's certificate as its only CA, it registers all the same): the
// check of the certificate is TestTLS's.
func TestTLSBaresip(t *testing.T) {
	p := provider.Start(t, provider.Options{TLS: true})
	modules := requireBaresip(t)
	t.Parallel()
	startBaresip(t, modules, p)
	p.WaitLog(t, "/tls result=200", 10*time.Second)

	runSIPp(t, "pstn_call.xml", p.Addr(), "-s", did, "-d", "500")
	waitLine(t, p, "PROVIDER INBOUND INVITE", ";transport=tls", "result=relayed")
	waitLine(t, p, "PROVIDER DIALOG BYE", ";transport=tls")
}

// requireBaresip returns baresip's module directory, failing the test
// without baresip or the modules it needs.
func requireBaresip(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatalf("CLUBLINE_TEST_INTEROP=1 but baresip is not on the PATH: install it with `apt-get install baresip-core`")
	}
	dirs, _ := filepath.Glob("/usr/lib/*/baresip/modules")
	dirs = append([]string{"/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"}, dirs...)
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "aufile.so")); err == nil {
			return dir
		}
	}
	t.Fatalf("no baresip module directory with aufile.so (looked in %s): install baresip-core", strings.Join(dirs, ", "))
	return ""
}

// baresipConfig: SIP on loopback with the provider's certificate as a CA
// (for a baresip that checks), one call at a time, a silent WAV file as
// the microphone (8 kHz: aufile does not resample for PCMU; ausine is
// 48 kHz only), no player.
const baresipConfig = `sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
sip_cafile		%s
call_max_calls		1
audio_source		aufile,%s
module_path		%s
module			g711.so
module			aufile.so
module_app		account.so
`

// baresipAccount registers the trunk account over TLS and answers every
// call at once.
const baresipAccount = `<sip:%s@%s;transport=tls>;auth_pass=%s;answermode=auto;regint=600;mwi=no;audio_codecs=PCMU
`

// startBaresip runs baresip as the trunk of the provider; it is killed at
// the end of the test, and its log printed if the test failed.
func startBaresip(t *testing.T, modules string, p *provider.Provider) {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "silence.wav")
	// When aufile reaches the end of its file, baresip hangs up: 10 s
	// outlast any call here.
	writeSilence(t, wav, 10*time.Second)
	files := map[string]string{
		"config":   fmt.Sprintf(baresipConfig, freeUDPPort(t), p.Options().CertFile, wav, modules),
		"accounts": fmt.Sprintf(baresipAccount, account, p.TLSAddr(), password),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, "baresip.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// -v: debug log; -s: SIP trace. Both only show when the test fails.
	cmd := exec.Command("baresip", "-f", dir, "-v", "-s")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("baresip: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("baresip log (%s):\n%s", logPath, b)
		}
	})
}

// writeSilence writes a WAV file of silence: 8 kHz, 16-bit, mono.
func writeSilence(t *testing.T, path string, d time.Duration) {
	t.Helper()
	samples := int(d.Seconds() * 8000)
	b := make([]byte, 44+2*samples) // the header, then zeros
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+2*samples))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)    // the fmt chunk's size
	le.PutUint16(b[20:], 1)     // PCM
	le.PutUint16(b[22:], 1)     // mono
	le.PutUint32(b[24:], 8000)  // samples per second
	le.PutUint32(b[28:], 16000) // bytes per second
	le.PutUint16(b[32:], 2)     // bytes per frame
	le.PutUint16(b[34:], 16)    // bits per sample
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(2*samples))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
