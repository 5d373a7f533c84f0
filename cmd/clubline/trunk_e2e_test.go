package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/interop/provider"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/sip/trunk"
	"github.com/clubline/clubline/softphone"
)

// End to end through a SIP provider: Kamailio from Debian plays the club's
// provider (interop/provider), clubline registers to it as its trunk, a
// caller on the "PSTN" dials the club's number at the provider, and the
// on-call volunteer's mobile is rung through it. The caller and the mobile
// are Go phones; what a provider does is Kamailio's.

const trunkPassword = "trunk-secret-e2e"

func init() { os.Setenv("CLUBLINE_TEST_TRUNK_PW", trunkPassword) }

// trunkPeople: luc is on call tonight and has only his mobile; marie is in
// office. The trunk is the provider's; calls are taken only from it (the
// test's strangers come from other loopback addresses).
const trunkPeople = `staff:
  - { id: marie, name: Marie Tremblay, extension: "201", password_env: CLUBLINE_TEST_PW_QUEUE }
  - { id: luc, name: Luc Gagnon, extension: "202", password_env: CLUBLINE_TEST_PW_QUEUE, phone: "+15145550199" }
groups:
  - { id: office, members: [marie], ring_timeout: 4s, max_wait: 3m, announce_every: 20s }
on_call:
  rotation: { every: week, starts: 2026-11-16T16:30, members: [luc] }
urgency:
  target: on-call
  fallback: "%s"
trunks:
  - name: provider
    registrar: "sip:%s"
    username: clubline
    password_env: CLUBLINE_TEST_TRUNK_PW
    numbers: ["+14505550100"]
    keepalive: 10s
`

type trunkLine struct {
	*line
	p *provider.Provider
}

// startTrunkLine starts the provider (its PSTN side at pstn, "" for none)
// and a line registered to it; fallback is urgency.fallback.
func startTrunkLine(t *testing.T, at time.Time, po provider.Options, fallback string, tune ...func(*Main)) *trunkLine {
	t.Helper()
	return startTrunkLineWith(t, at, po, fallback, nil, tune...)
}

// startTrunkLineWith is startTrunkLine with the config edited by edit
// once the provider runs.
func startTrunkLineWith(t *testing.T, at time.Time, po provider.Options, fallback string,
	edit func(config string, p *provider.Provider) string, tune ...func(*Main)) *trunkLine {
	t.Helper()
	provider.Require(t)
	po.Username, po.Password = "clubline", trunkPassword
	p := provider.Start(t, po)
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{at: at})
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	people := fmt.Sprintf(trunkPeople, fallback, p.Addr())
	text := strings.Replace(string(body), "groups:\n  - { id: office }\n", people, 1)
	// Only the trunk may call: loopback is not in allow_from here.
	text = strings.Replace(text, "  drain_timeout: 5s\n", "  drain_timeout: 5s\n  allow_from: [\"192.0.2.1\"]\n", 1)
	if edit != nil {
		text = edit(text, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "clubline.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tune = append(tune, func(m *Main) {
		m.TrunkTiming = trunk.Timing{RetryMin: 500 * time.Millisecond, RetryMax: 2 * time.Second, RequestTimeout: 2 * time.Second}
	})
	l := &trunkLine{line: startLineIn(t, dir, path, at, tune...), p: p}
	l.awaitMetric(`clubline_trunk_registered{trunk="provider"}`, 1)
	return l
}

// callClub dials the club's number at the provider, as a caller on the
// PSTN does.
func (l *trunkLine) callClub(from string) *softphone.Call {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := softphone.Dial(ctx, "sip:+14505550100@"+l.p.Addr(), softphone.Options{From: from, Logger: testLogger(l.t)})
	if err != nil {
		l.t.Fatalf("calling the club through the provider: %v\n%s", err, strings.Join(l.p.Log(), "\n"))
	}
	l.t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Hangup(context.Background())
		}
	})
	return c
}

// mobile is a phone on the PSTN side: the provider relays calls out to it.
func mobile(t *testing.T, o softphone.AnswerOptions) (*softphone.Answerer, string) {
	t.Helper()
	o.User = "mobile"
	a, err := softphone.Listen(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	contact := a.Contact()
	hostport := contact[strings.Index(contact, "@")+1:]
	if i := strings.IndexByte(hostport, ';'); i >= 0 {
		hostport = hostport[:i]
	}
	if _, err := netip.ParseAddrPort(hostport); err != nil {
		t.Fatalf("mobile contact %q: %v", contact, err)
	}
	return a, hostport
}

// urgentCall takes caller c, who hears the closed message, to the urgent
// line with key 9, and returns the mobile's call once it rang.
func (l *trunkLine) urgentCall(c *softphone.Call, mob *softphone.Answerer) *softphone.Call {
	l.t.Helper()
	l.awaitHeard(c, "fr", "closed", 15*time.Second)
	if err := c.SendDigit(context.Background(), '9'); err != nil {
		l.t.Fatal(err)
	}
	return answered(l.t, mob, 20*time.Second)
}

// confirmAndTalk has the mobile m hear the call-confirm, press 1, and
// then checks that m and the caller c hear each other (440 Hz from the
// caller, 1000 Hz from the mobile); the mobile hangs up.
func (l *trunkLine) confirmAndTalk(c, m *softphone.Call) {
	l.t.Helper()
	l.awaitHeard(m, "fr", "call_confirm", 8*time.Second)
	if err := m.SendDigit(context.Background(), '1'); err != nil {
		l.t.Fatal(err)
	}
	go func() { _ = c.Play(context.Background(), media.Tone(440, 20*time.Second, 8000)) }()
	go func() { _ = m.Play(context.Background(), media.Tone(1000, 20*time.Second, 8000)) }()
	awaitTone(l.t, "the caller", c.Heard, 1000, 10*time.Second)
	awaitTone(l.t, "the volunteer", m.Heard, 440, 10*time.Second)
	_ = m.Hangup(context.Background())
	awaitEnd(l.t, c, 5*time.Second)
}

// Each way a provider says which number was dialled reaches the greeting,
// and the record keeps the trunk and the club's number.
func TestTrunkCallReachesGreeting(t *testing.T) {
	for _, delivery := range []string{"to", "pcpid", "diversion", "ruri"} {
		t.Run(delivery, func(t *testing.T) {
			t.Parallel()
			l := startTrunkLine(t, openTuesday, provider.Options{Delivery: delivery}, "")
			if got := l.get("/readyz"); !strings.Contains(got, "trunk provider registered") {
				t.Errorf("/readyz:\n%s\nwant it to say the trunk is registered", got)
			}
			c := l.callClub("+15145550101")
			l.awaitHeard(c, "fr", "greeting", 8*time.Second)
			_ = c.Hangup(context.Background())
			awaitEnd(t, c, 5*time.Second)
			rec := l.lastCall()
			if rec.Trunk != "provider" || rec.To != "+14505550100" || rec.From != "+15145550101" {
				t.Errorf("record from %q to %q trunk %q; want +15145550101 to +14505550100 through provider", rec.From, rec.To, rec.Trunk)
			}
		})
	}
}

// Out of hours, the urgent key rings the on-call volunteer's mobile through
// the provider. The mobile hears who calls and why, presses 1, and then
// the caller and the volunteer hear each other. The provider saw clubline
// authenticate and present the club's number.
func TestTrunkUrgencyRingsOnCallMobile(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 500 * time.Millisecond})
	l := startTrunkLine(t, tuesdayEve, provider.Options{PSTN: addr}, "")
	c := l.callClub("+15145550101")
	m := l.urgentCall(c, mob)
	if got := m.Invite().From().Address.User; got != "+14505550100" {
		t.Errorf("the mobile sees the call from %q, want the club's number +14505550100", got)
	}
	l.confirmAndTalk(c, m)
	if l.heard(c, "fr", "call_confirm") {
		t.Error("the caller heard the call-confirm prompt meant for the volunteer")
	}

	relayed := strings.Join(l.p.Relayed(), "\n")
	if !strings.Contains(relayed, "+15145550199") {
		t.Errorf("the provider relayed:\n%s\nwant the call to +15145550199", relayed)
	}
	rec := l.lastCall()
	if rec.Route != "urgency" || rec.AnsweredBy != "luc" || rec.Outcome != clubline.OutcomeAnswered {
		t.Errorf("record %+v; want urgency answered by luc", rec)
	}
}

// A mobile whose own voicemail answers (nobody presses 1) never takes the
// caller: clubline hangs it up and tries the fallback, then the urgent
// message.
func TestTrunkMobileVoicemailIsNotBridged(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	l := startTrunkLine(t, tuesdayEve, provider.Options{PSTN: addr}, "+15145550188")
	c := l.callClub("+15145550101")
	// The "voicemail" answers both calls (luc's, then the fallback) and
	// says nothing back.
	first := l.urgentCall(c, mob)
	awaitEnd(t, first, 30*time.Second)
	second := answered(t, mob, 20*time.Second)
	if got := second.Invite().Recipient.User; !strings.Contains(got, "5145550188") {
		t.Errorf("second call to %q, want the fallback +15145550188", got)
	}
	awaitEnd(t, second, 30*time.Second)
	l.awaitHeard(c, "fr", "voicemail", 30*time.Second)
	_ = c.Hangup(context.Background())
	awaitEnd(t, c, 5*time.Second)
	rec := l.lastCall()
	if rec.AnsweredBy != "" {
		t.Errorf("answered by %q: a mobile's voicemail must not take the caller", rec.AnsweredBy)
	}
	if tr := strings.Join(rec.Trace, "|"); !strings.Contains(tr, "not confirmed") {
		t.Errorf("trace %q: want the unconfirmed answers", tr)
	}
}

// strangerInvite sends one INVITE from ip to clubline, to ruri, with the
// extra header lines, and returns the status of the final answer.
func strangerInvite(t *testing.T, ip, server, ruri string, extra ...string) int {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	me := conn.LocalAddr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	id := fmt.Sprintf("fraud-%d@%s", time.Now().UnixNano(), ip)
	msg := "INVITE " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";branch=z9hG4bK" + id[6:16] + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:scanner@" + ip + ">;tag=x1\r\nTo: <" + ruri + ">\r\nCall-ID: " + id + "\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:scanner@" + me + ">\r\n"
	for _, h := range extra {
		msg += h + "\r\n"
	}
	msg += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	if _, err := conn.WriteToUDP([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no final answer to the INVITE to %s: %v", ruri, err)
		}
		var code int
		if _, err := fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code
		}
	}
}

// Toll fraud: requests from an address that is not the provider's — to a
// number, to an extension, with a Route through the provider — get 403
// and never make clubline place a call; nor does a REFER from a caller
// who came through the provider. The provider's own log is the witness.
func TestTrunkTollFraud(t *testing.T) {
	t.Parallel()
	_, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter})
	l := startTrunkLine(t, openTuesday, provider.Options{PSTN: addr}, "")
	srv := l.m.sipAddr("udp")
	for _, tc := range []struct {
		what  string
		ruri  string
		extra []string
	}{
		{"a premium number", "sip:+19005550199@" + srv, nil},
		{"an international number", "sip:011441234567890@" + srv, nil},
		{"an extension", "sip:201@" + srv, nil},
		{"the club's number, routed through the provider", "sip:+14505550100@" + srv,
			[]string{"Route: <sip:+33123456789@" + l.p.Addr() + ";lr>"}},
	} {
		if code := strangerInvite(t, "127.0.0.77", srv, tc.ruri, tc.extra...); code != 403 {
			t.Errorf("%s from a stranger: %d, want 403", tc.what, code)
		}
	}
	l.awaitMetric(`clubline_sip_rejected_total{code="403"}`, 4)

	// A caller through the provider asks to be transferred out.
	c := l.callClub("+15145550101")
	l.awaitHeard(c, "fr", "greeting", 8*time.Second)
	code, err := c.Refer(context.Background(), "sip:+33123456789@"+l.p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if code != 403 {
		t.Errorf("REFER from a caller: %d, want 403", code)
	}
	// The caller presses keys that are no menu option, as a scanner would.
	for _, k := range "*#011" {
		_ = c.SendDigit(context.Background(), k)
	}
	time.Sleep(time.Second)
	if relayed := l.p.Relayed(); len(relayed) != 0 {
		t.Errorf("the provider relayed calls from clubline:\n%s", strings.Join(relayed, "\n"))
	}
	if used := l.metric(`clubline_trunk_outbound_seconds_last_hour{trunk="provider"}`); used != 0 {
		t.Errorf("outbound seconds %v, want 0", used)
	}
}

// The provider down: the trunk is not registered, retried with backoff
// (never a storm), /readyz says so but stays 200; the provider back: the
// trunk registers again by itself.
func TestTrunkProviderDownAndBack(t *testing.T) {
	t.Parallel()
	l := startTrunkLine(t, openTuesday, provider.Options{}, "")
	l.p.Stop()
	// The keep-alive (10 s) notices; the registration is refreshed at 80%
	// of 5 min, so without the keep-alive this would take minutes.
	l.awaitMetricWithin(`clubline_trunk_registered{trunk="provider"}`, 0, 40*time.Second)
	body, status := l.getStatus("/readyz")
	if status != 200 || !strings.Contains(body, "trunk provider not registered") {
		t.Errorf("/readyz %d:\n%s\nwant 200 saying the trunk is not registered", status, body)
	}
	time.Sleep(3 * time.Second) // retries meanwhile: 0.5 s, 1 s, 2 s, 2 s…
	l.p.Restart(t)
	l.awaitMetricWithin(`clubline_trunk_registered{trunk="provider"}`, 1, 30*time.Second)
	regs := 0
	for _, line := range l.p.Log() {
		if strings.Contains(line, "PROVIDER REGISTER") {
			regs++
		}
	}
	if regs > 4 {
		t.Errorf("%d REGISTERs reached the provider after its restart; want the one registration (and its challenge)", regs)
	}
	c := l.callClub("+15145550101")
	l.awaitHeard(c, "fr", "greeting", 8*time.Second)
}

// A caller waiting in the queue asks to be called back: they hear the
// number, confirm with 1 and hang up; when marie is free, clubline rings
// her first, then calls the caller back through the provider; they talk.
func TestTrunkQueuedCallback(t *testing.T) {
	t.Parallel()
	home, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	l := startTrunkLine(t, openTuesday, provider.Options{PSTN: addr}, "")
	busy := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.NeverAnswer})
	l.awaitMetric("clubline_staff_registered", 1)

	c := l.callClub("+15145550101")
	l.chooseOffice(c)
	l.awaitHeard(c, "fr", "callback_offer", 15*time.Second)
	if err := c.SendDigit(context.Background(), '2'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "callback_number", 10*time.Second)
	time.Sleep(4 * time.Second) // the number, digit by digit, then "press 1"
	if err := c.SendDigit(context.Background(), '1'); err != nil {
		t.Fatal(err)
	}
	l.awaitHeard(c, "fr", "callback_noted", 10*time.Second)
	awaitEnd(t, c, 15*time.Second)
	l.awaitMetric(`clubline_queue_calls_total{group="office",result="callback"}`, 1)

	// marie is free now: her phone answers.
	_ = busy.Close()
	marie := l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	staff := answered(t, marie, 30*time.Second)
	if got := staff.Invite().GetHeader("X-Clubline-Callback"); got == nil {
		t.Error("marie's phone was not told it is a callback (X-Clubline-Callback)")
	}
	back := answered(t, home, 20*time.Second)
	if got := back.Invite().Recipient.User; !strings.Contains(got, "5145550101") {
		t.Errorf("called back %q, want the caller's number", got)
	}
	l.awaitHeard(back, "fr", "callback_hello", 10*time.Second)
	go func() { _ = back.Play(context.Background(), media.Tone(440, 20*time.Second, 8000)) }()
	go func() { _ = staff.Play(context.Background(), media.Tone(1000, 20*time.Second, 8000)) }()
	awaitTone(t, "the caller called back", back.Heard, 1000, 10*time.Second)
	awaitTone(t, "marie", staff.Heard, 440, 10*time.Second)
	_ = staff.Hangup(context.Background())
	awaitEnd(t, back, 5*time.Second)
	l.awaitMetric(`clubline_callbacks_total{group="office",result="answered"}`, 1)
	rec := l.lastCall()
	if rec.AnsweredBy != "marie" || rec.Outcome != clubline.OutcomeAnswered {
		t.Errorf("record %+v; want answered by marie", rec)
	}
	if tr := strings.Join(rec.Trace, "|"); !strings.Contains(tr, "callback asked") || !strings.Contains(tr, "bridged") {
		t.Errorf("trace %q", tr)
	}
}

// overTLS edits a trunk line's config: a tls:// listener (with the
// provider's own certificate, made for 127.0.0.1), and the trunk over TLS
// to the provider's TLS port, its certificate checked against itself;
// srtp, if set, is the trunk's srtp.
func overTLS(srtp string) func(string, *provider.Provider) string {
	return func(text string, p *provider.Provider) string {
		o := p.Options()
		text = strings.Replace(text, "listen: [udp://127.0.0.1:0, tcp://127.0.0.1:0]",
			fmt.Sprintf("listen: [udp://127.0.0.1:0, tcp://127.0.0.1:0, tls://127.0.0.1:0]\n  tls: { cert_file: %s, key_file: %s }", o.CertFile, o.KeyFile), 1)
		trunk := `    registrar: "sip:` + p.TLSAddr() + `"` + "\n    transport: tls\n    ca_file: " + o.CertFile
		if srtp != "" {
			trunk += "\n    srtp: " + srtp
		}
		return strings.Replace(text, `    registrar: "sip:`+p.Addr()+`"`, trunk, 1)
	}
}

// The trunk over TLS: clubline registers over TLS (the provider's
// certificate checked against ca_file), the provider delivers a caller's
// call on that connection, and clubline's call out to the on-call mobile
// goes over it too.
func TestTrunkOverTLS(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	l := startTrunkLineWith(t, tuesdayEve, provider.Options{PSTN: addr, TLS: true}, "", overTLS(""))
	if reg := l.p.WaitLog(t, "PROVIDER REGISTER", 5*time.Second); !strings.Contains(reg, "tls") {
		t.Errorf("the registration reached the provider as %q: want it over TLS", reg)
	}
	c := l.callClub("+15145550101")
	l.confirmAndTalk(c, l.urgentCall(c, mob))
	// One contact at the provider: a second (the connection's port) would
	// fork the call, and the fork's answer would wait for an ACK.
	if n := l.metric("clubline_calls_awaiting_ack"); n != 0 {
		t.Errorf("%v calls awaiting their ACK after the call: the provider forked it", n)
	}
	for _, line := range l.p.Log() {
		if strings.Contains(line, "RELAY INVITE") && !strings.Contains(line, "/tls") {
			t.Errorf("the call out reached the provider as %q: want it over TLS", line)
		}
	}
}

// SRTP through the trunk (srtp: required, over TLS): the caller's
// encrypted offer is answered encrypted, the call out to the mobile is
// offered encrypted only, and both hear each other through clubline's
// bridge. A caller offering plain audio is refused with 488.
func TestTrunkSRTP(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond, SRTP: media.SRTPOptional})
	l := startTrunkLineWith(t, tuesdayEve, provider.Options{PSTN: addr, TLS: true}, "", overTLS("required"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := softphone.Dial(ctx, "sip:+14505550100@"+l.p.Addr(), softphone.Options{From: "+15145550102", Logger: testLogger(t)}); err == nil {
		t.Error("a caller offering plain audio was answered; the trunk requires SRTP")
	} else if se, ok := err.(*softphone.StatusError); !ok || se.Code != 488 {
		t.Errorf("plain audio: %v, want 488", err)
	}

	c, err := softphone.Dial(ctx, "sip:+14505550100@"+l.p.Addr(), softphone.Options{From: "+15145550101", SRTP: media.SRTPRequired, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("an SRTP caller: %v", err)
	}
	t.Cleanup(func() { _ = c.Hangup(context.Background()) })
	if k := c.Negotiated().SRTP; k == nil {
		t.Fatal("the caller's call is not encrypted")
	}
	m := l.urgentCall(c, mob)
	if !strings.Contains(string(m.Invite().Body()), "RTP/SAVP") {
		t.Errorf("the call out offered:\n%s\nwant RTP/SAVP only (srtp: required)", m.Invite().Body())
	}
	if m.Negotiated().SRTP == nil {
		t.Fatal("the mobile's call is not encrypted")
	}
	l.confirmAndTalk(c, m)
}

// With a trunk, a staff softphone may still call the line from where it
// registered, by answering a digest challenge with its SIP password; the
// same phone without its password, or anyone at another address, is
// refused.
func TestTrunkStaffPhoneAuthenticatesItsCalls(t *testing.T) {
	t.Parallel()
	l := startTrunkLine(t, openTuesday, provider.Options{}, "")
	here := netip.MustParseAddr("127.0.0.55")
	l.staffPhone("201", softphone.AnswerOptions{Mode: softphone.NeverAnswer, LocalIP: here})
	l.awaitMetric("clubline_staff_registered", 1)

	dial := func(from netip.Addr, user, password string) (*softphone.Call, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return softphone.Dial(ctx, l.sipURI, softphone.Options{From: "201", LocalIP: from,
			AuthUser: user, AuthPassword: password, Logger: testLogger(t)})
	}
	if _, err := dial(here, "", ""); err == nil {
		t.Error("a call from marie's address without credentials was answered")
	} else if se, ok := err.(*softphone.StatusError); !ok || se.Code != 401 {
		t.Errorf("without credentials: %v, want a 401 challenge", err)
	}
	if _, err := dial(here, "201", "wrong"); err == nil {
		t.Error("a call with a wrong password was answered")
	}
	if _, err := dial(netip.MustParseAddr("127.0.0.56"), "201", staffPassword); err == nil {
		t.Error("a call from an address no phone registered from was answered")
	} else if se, ok := err.(*softphone.StatusError); !ok || se.Code != 403 {
		t.Errorf("from elsewhere: %v, want 403", err)
	}
	c, err := dial(here, "201", staffPassword)
	if err != nil {
		t.Fatalf("marie's phone with its password: %v", err)
	}
	t.Cleanup(func() { _ = c.Hangup(context.Background()) })
	l.awaitHeard(c, "fr", "greeting", 8*time.Second)
}

// The trunk's password never shows: not in the debug log (which holds
// every SIP message, the provider's challenges and clubline's answers),
// nor in /metrics, /readyz, the call records or `clubline check`.
func TestTrunkPasswordNeverShown(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	l := startTrunkLine(t, tuesdayEve, provider.Options{PSTN: addr}, "", func(m *Main) {
		m.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// A call out, so that the provider's 407 is answered too.
	c := l.callClub("+15145550101")
	m := l.urgentCall(c, mob)
	_ = m.Hangup(context.Background())
	_ = c.Hangup(context.Background())
	awaitEnd(t, c, 5*time.Second)

	var out, errOut bytes.Buffer
	runCheck([]string{"--config", l.config}, &out, &errOut)
	rec := l.lastCall()
	for what, text := range map[string]string{
		"the log": logs.String(), "/metrics": l.get("/metrics"), "/readyz": l.get("/readyz"),
		"clubline check": out.String() + errOut.String(), "the record": fmt.Sprintf("%+v", *rec),
	} {
		if strings.Contains(text, trunkPassword) {
			t.Errorf("the trunk password shows in %s", what)
		}
	}
	// The password was used: the provider registered the trunk and
	// relayed the call out only with credentials computed from it.
	if len(l.p.Relayed()) != 1 || !strings.Contains(logs.String(), "trunk registered") {
		t.Errorf("the provider relayed %d calls, the log says registered: %v; the check above proved nothing",
			len(l.p.Relayed()), strings.Contains(logs.String(), "trunk registered"))
	}
}

// In office hours, a group member with only a mobile is rung on it when a
// caller picks the group: the mobile hears the category, presses 1, and
// the call is theirs.
func TestTrunkGroupMemberOnMobile(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 300 * time.Millisecond})
	l := startTrunkLineWith(t, openTuesday, provider.Options{PSTN: addr}, "", func(text string, _ *provider.Provider) string {
		// luc, with only his mobile, is office's member.
		return strings.Replace(text, "members: [marie]", "members: [luc]", 1)
	})
	c := l.callClub("+15145550101")
	l.chooseOffice(c)
	m := answered(t, mob, 20*time.Second)
	if got := m.Invite().Recipient.User; !strings.Contains(got, "5145550199") {
		t.Errorf("rang %q, want luc's mobile +15145550199", got)
	}
	l.awaitHeard(m, "fr", "call_confirm", 8*time.Second)
	l.awaitHeard(m, "fr", "category_registrations", 8*time.Second)
	if err := m.SendDigit(context.Background(), '1'); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Play(context.Background(), media.Tone(440, 20*time.Second, 8000)) }()
	awaitTone(t, "luc", m.Heard, 440, 10*time.Second)
	_ = c.Hangup(context.Background())
	awaitEnd(t, m, 5*time.Second)
	rec := l.lastCall()
	if rec.AnsweredBy != "luc" || rec.Group != "office" || rec.Outcome != clubline.OutcomeAnswered {
		t.Errorf("record %+v; want answered by luc in office", rec)
	}
}

// A provider that challenges with SHA-256 (RFC 8760): clubline registers
// and its calls out are relayed, both answered with SHA-256.
func TestTrunkSHA256(t *testing.T) {
	t.Parallel()
	mob, addr := mobile(t, softphone.AnswerOptions{Mode: softphone.AnswerAfter, Delay: 200 * time.Millisecond})
	l := startTrunkLine(t, tuesdayEve, provider.Options{PSTN: addr, SHA256: true}, "")
	c := l.callClub("+15145550101")
	m := l.urgentCall(c, mob)
	_ = m.Hangup(context.Background())
	if relayed := l.p.Relayed(); len(relayed) != 1 {
		t.Errorf("relayed %q; want the call to the on-call mobile, authenticated with SHA-256", relayed)
	}
}
