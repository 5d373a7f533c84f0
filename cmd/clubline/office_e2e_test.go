package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/smtpsink"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
	"github.com/clubline/clubline/web"
	"golang.org/x/crypto/bcrypt"
)

// officeStaff is the staff of the office tests: marie (admin, her web
// password from the environment) and luc (a bcrypt hash of the lowest
// cost: argon2id's 64 MiB a sign-in would slow the tests running beside
// these, whose audio is timed; the web package tests argon2id).
func officeStaff(t *testing.T) (yaml string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("luc-pw-123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", ha1: "` + marieHA1 + `", email: marie@club.example,
      web_password_env: CLUBLINE_TEST_WEB_MARIE, roles: [admin] }
  - { id: luc, name: Luc Gagnon, extension: "202", ha1: "0123456789abcdef0123456789abcdef", email: luc@club.example,
      web_password_hash: "` + string(h) + `" }
groups:
  - { id: office, members: [marie, luc], notify: [marie, luc] }
`
}

// marie's web password is in the environment for the whole run: the
// office tests run in parallel, which t.Setenv forbids.
func init() { os.Setenv("CLUBLINE_TEST_WEB_MARIE", "marie-pw-1") }

// startOffice starts a line whose messages are e-mailed through sink.
func startOffice(t *testing.T, at time.Time, sink *smtpsink.Sink, logs io.Writer) *line {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "groups:\n  - { id: office }\n", officeStaff(t), 1)
	text = strings.Replace(text, "  urgent_follow_up_within: 2h\n", "  urgent_follow_up_within: 2h\n  notify: [marie, luc]\n", 1)
	text += "notify:\n  smtp: { host: 127.0.0.1, port: " + sink.Port() + `, from: "Ligne du club <ligne@club.example>", tls: none }` + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return startLineIn(t, dir, path, at, func(m *Main) {
		if logs != nil {
			m.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
}

// browserless is a client of the office's API: a cookie jar and the CSRF
// token, as a script would use it.
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (l *line) api(user, pw string) *apiClient {
	l.t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &apiClient{t: l.t, base: "http://" + l.m.Admin.Addr(), c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if code := a.call("POST", "/api/login", map[string]string{"user": user, "password": pw}, &out); code != 200 {
		l.t.Fatalf("login %s: %d", user, code)
	}
	a.csrf = out.CSRF
	return a
}

func (a *apiClient) call(method, path string, body, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if raw, ok := out.(*[]byte); ok {
			*raw = b
		} else if res.StatusCode < 300 {
			if err := json.Unmarshal(b, out); err != nil {
				a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
			}
		}
	}
	return res.StatusCode
}

// A message left on the line reaches the office by e-mail, with the
// recording attached (the caller's tone in it); marie signs in, plays it,
// marks it done: it leaves the open follow-ups, and the count falls.
func TestOfficeMessageByEmailThenDone(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	_ = c.Hangup(context.Background())
	l.awaitMetric("clubline_followups_open", 1)

	toMarie := sink.Await(t, 30*time.Second, func(m smtpsink.Mail) bool { return strings.Contains(strings.Join(m.To, ","), "marie@club.example") })
	if !strings.Contains(toMarie.Text, "+1 514") && !strings.Contains(toMarie.Text, "5145550101") {
		t.Errorf("marie (admin) does not read the caller's number:\n%s", toMarie.Text)
	}
	var wav []byte
	for name, b := range toMarie.Attached {
		if strings.HasSuffix(name, ".wav") {
			wav = b
		}
	}
	if wav == nil {
		t.Fatalf("no WAV attached; attachments %v", keys(toMarie.Attached))
	}
	frames, err := media.DecodeWAV(bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	if samples := media.Flatten(frames); !media.DetectTone(samples[len(samples)/4:len(samples)/2], 440) {
		t.Errorf("the attached recording does not hold the caller's 440 Hz tone (%d samples)", len(samples))
	}
	toLuc := sink.Await(t, 10*time.Second, func(m smtpsink.Mail) bool { return strings.Contains(strings.Join(m.To, ","), "luc@club.example") })
	if strings.Contains(toLuc.Text, "5550101") && !strings.Contains(toLuc.Text, "***") {
		t.Errorf("luc (not an admin) reads the caller's full number:\n%s", toLuc.Text)
	}

	marie := l.api("marie", "marie-pw-1")
	var list struct{ Messages []web.Message }
	if code := marie.call("GET", "/api/messages?status=open", nil, &list); code != 200 || len(list.Messages) != 1 {
		t.Fatalf("open messages: %d %+v", code, list)
	}
	msg := list.Messages[0]
	if !strings.Contains(toMarie.Text, msg.ID) && !strings.Contains(toMarie.Text, "/messages") {
		t.Errorf("the e-mail has no link to the message:\n%s", toMarie.Text)
	}
	var audio []byte
	if code := marie.call("GET", msg.Audio, nil, &audio); code != 200 || !bytes.Equal(audio, wav) {
		t.Errorf("audio: %d, %d bytes (the e-mail's: %d)", code, len(audio), len(wav))
	}
	if code := marie.call("POST", "/api/messages/"+msg.ID+"/done", map[string]string{"note": "rappelé"}, nil); code != 200 {
		t.Fatalf("done: %d", code)
	}
	l.awaitMetric("clubline_followups_open", 0)
	l.awaitMetric(`clubline_followups_closed_total{how="web"}`, 1)
	fus, err := l.m.Store.FollowUps(context.Background(), time.Time{})
	if err != nil || len(fus) != 0 {
		t.Errorf("follow-ups after done: %v %v", fus, err)
	}
	list.Messages = nil
	marie.call("GET", "/api/messages?status=open", nil, &list)
	if len(list.Messages) != 0 {
		t.Errorf("the message is still listed open: %+v", list.Messages)
	}
	var rep []byte
	if code := marie.call("GET", "/api/report?from=2026-11-24&to=2026-11-24", nil, &rep); code != 200 ||
		!strings.Contains(string(rep), "Messages: 1; followed up 1, 1 of them in time (100% of the messages)") {
		t.Errorf("the week's report: %d\n%s", code, rep)
	}
	if l.metric(`clubline_notifications_total{channel="email",result="sent"}`) < 2 {
		t.Errorf("notifications sent: %v", l.metric(`clubline_notifications_total{channel="email",result="sent"}`))
	}
}

// A mail server that refuses for a while loses nothing: the e-mail is
// sent once it takes mail again.
func TestOfficeMailServerDownLosesNothing(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.Refuse(true)
	l := startOffice(t, openTuesday, sink, nil)
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	_ = c.Hangup(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for sink.Tries() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if sink.Tries() == 0 {
		t.Fatal("clubline never offered the e-mail")
	}
	l.awaitMetricWithin(`clubline_notifications_total{channel="email",result="retry"}`, 2, 10*time.Second)
	entries, _ := os.ReadDir(filepath.Join(l.dir, "data", "outbox"))
	if len(entries) == 0 {
		t.Error("nothing is kept in data/outbox while the server refuses")
	}
	sink.Refuse(false)
	sink.Await(t, 90*time.Second, func(m smtpsink.Mail) bool { return strings.Contains(strings.Join(m.To, ","), "marie@club.example") })
}

// The override switch: an admin closes the line on the web page, and the
// next caller hears that the office is closed; luc may not.
func TestOfficeOverrideSwitch(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	luc := l.api("luc", "luc-pw-123")
	if code := luc.call("POST", "/api/override", map[string]string{"mode": "closed"}, nil); code != http.StatusForbidden {
		t.Errorf("luc switching the line: %d, want 403", code)
	}
	marie := l.api("marie", "marie-pw-1")
	var st web.Status
	if code := marie.call("POST", "/api/override", map[string]string{"mode": "closed"}, &st); code != 200 || st.Open || st.Override.By != "marie" {
		t.Fatalf("override: %d %+v", code, st)
	}
	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 10*time.Second)
	_ = c.Hangup(context.Background())
	if data, err := os.ReadFile(filepath.Join(l.dir, "data", "override.json")); err != nil || !strings.Contains(string(data), `"closed"`) {
		t.Errorf("override mirror for check: %s %v", data, err)
	}
	var out bytes.Buffer
	if code := runCheck([]string{"--config", l.config}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "Override from the web page: CLOSED (by marie") {
		t.Errorf("check does not show the switch (%d):\n%s", code, out.String())
	}
	if code := marie.call("POST", "/api/override", map[string]string{"mode": "auto"}, &st); code != 200 || !st.Open {
		t.Errorf("back to auto: %d %+v", code, st)
	}
}

// Law 25: a caller's data is exported, then erased from the store, the
// voicemail folder and the logs' reach; the other caller's stay.
func TestOfficePrivacyExportErase(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	var logs syncBuffer
	l := startOffice(t, openTuesday, sink, &logs)
	for _, from := range []string{"+15145550101", "+14505550177"} {
		c := l.dial(softphone.Options{From: from})
		l.leaveMessage(c, 2*time.Second)
		_ = c.Hangup(context.Background())
	}
	l.awaitMetric("clubline_followups_open", 2)
	sink.Await(t, 30*time.Second, func(smtpsink.Mail) bool { return len(sink.Mails()) >= 4 })
	marie := l.api("marie", "marie-pw-1")
	var zipped []byte
	if code := marie.call("POST", "/api/privacy/export", map[string]string{"number": "514-555-0101"}, &zipped); code != 200 {
		t.Fatalf("export: %d %s", code, zipped)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	if !strings.Contains(files["calls.json"], "+15145550101") || strings.Contains(files["calls.json"], "+14505550177") {
		t.Errorf("calls.json: %s", files["calls.json"])
	}
	audio := 0
	for name := range files {
		if strings.HasPrefix(name, "audio/") {
			audio++
		}
	}
	if audio != 1 {
		t.Errorf("%d recordings in the export, want 1: %v", audio, keys(files))
	}
	var erased map[string]string
	if code := marie.call("POST", "/api/privacy/erase", map[string]string{"number": "+15145550101"}, &erased); code != 200 {
		t.Fatalf("erase: %d", code)
	}
	ctx := context.Background()
	calls, _ := l.m.Store.Calls(ctx, time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	vms, _ := l.m.Store.Voicemails(ctx, time.Time{}, time.Now().AddDate(3, 0, 0), 0)
	for _, c := range calls {
		if clubline.SameNumber(c.From, "+15145550101") {
			t.Errorf("a call record of the erased number remains: %s", c.ID)
		}
	}
	if len(calls) != 1 || len(vms) != 1 || vms[0].From != "+14505550177" {
		t.Errorf("the other caller's data: %d calls, %d messages", len(calls), len(vms))
	}
	_ = filepath.WalkDir(l.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("5145550101")) {
			t.Errorf("%s still holds the erased number", p)
		}
		return nil
	})
	if strings.Contains(logs.String(), "5145550101") {
		t.Errorf("the log holds the full number")
	}
	l.awaitMetric("clubline_followups_open", 1)
}

// marieHA1 is the digest hash of marie's phone password "marie-sip" in
// the realm clubline.
var marieHA1 = fmt.Sprintf("%x", md5.Sum([]byte("201:clubline:marie-sip")))

// The message light: marie's phone, registered and subscribed to her
// mailbox, is told "yes" when a caller leaves a message for her group,
// and "no" once luc marks it done on the web page.
func TestOfficeMessageLight(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phone, err := softphone.Listen(ctx, softphone.AnswerOptions{User: "201", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = phone.Close() })
	server := "sip:" + l.m.sipAddr("udp")
	if _, err := phone.Register(ctx, server, softphone.RegisterOptions{User: "201", Password: "marie-sip", Expires: time.Hour}); err != nil {
		t.Fatalf("marie's phone registers: %v", err)
	}
	if _, err := phone.Subscribe(ctx, server, softphone.SubscribeOptions{User: "201", Password: "marie-sip", Expires: 10 * time.Minute}); err != nil {
		t.Fatalf("marie's phone subscribes: %v", err)
	}
	if s, err := phone.WaitSummary(ctx, nil); err != nil || s.Waiting {
		t.Fatalf("the light at first: %+v %v, want off", s, err)
	}
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second) // a message of no group: every staff member's light
	_ = c.Hangup(ctx)
	on, err := phone.WaitSummary(ctx, func(s softphone.MessageSummary) bool { return s.Waiting })
	if err != nil || on.New != 1 {
		t.Fatalf("the light after a message: %+v %v, want on with 1 new", on, err)
	}
	luc := l.api("luc", "luc-pw-123")
	var list struct{ Messages []web.Message }
	luc.call("GET", "/api/messages", nil, &list)
	if len(list.Messages) != 1 {
		t.Fatalf("messages: %+v", list.Messages)
	}
	if code := luc.call("POST", "/api/messages/"+list.Messages[0].ID+"/done", nil, nil); code != 200 {
		t.Fatalf("done: %d", code)
	}
	if off, err := phone.WaitSummary(ctx, func(s softphone.MessageSummary) bool { return !s.Waiting }); err != nil || off.New != 0 {
		t.Fatalf("the light after done: %+v %v, want off", off, err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// raw posts body as is (an upload).
func (a *apiClient) raw(method, path string, body []byte) int {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-CSRF-Token", a.csrf)
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// stereoTone is a 16-bit stereo WAV at rate of a tone at hz.
func stereoTone(t *testing.T, rate int, hz float64, d time.Duration) []byte {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	var data bytes.Buffer
	for i := range n {
		v := int16(12000 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
		_ = binary.Write(&data, binary.LittleEndian, [2]int16{v, v})
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(2), uint32(rate), uint32(rate * 4), uint16(4), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}
