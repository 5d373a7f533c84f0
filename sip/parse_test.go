package sip

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestParseDTMFInfo(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{typeDTMFRelay, "Signal=5\r\nDuration=160\r\n", '5', true},
		{typeDTMFRelay, "Signal= *\nDuration=100", '*', true},
		{typeDTMFRelay, "signal=#\r\n", '#', true},
		{typeDTMFRelay, "Signal=11\r\nDuration=160", '#', true},
		{typeDTMFRelay, "Signal=a", 'A', true},
		{typeDTMFRelay, "Duration=160", 0, false},
		{typeDTMFRelay, "Signal=Z", 0, false},
		{typeDTMFRelay, "Signal=16", 0, false},
		{typeDTMF, "7", '7', true},
		{typeDTMF, " 0\r\n", '0', true},
		{typeDTMF, "77", 0, false},
		{"text/plain", "5", 0, false},
	} {
		got, err := parseDTMFInfo(tc.ct, []byte(tc.body))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDTMFInfo(%s, %q) = %q, %v; want %q ok=%v", tc.ct, tc.body, got, err, tc.want, tc.ok)
		}
	}
}

// request parses a SIP request written with \n line ends.
func request(t *testing.T, text string) *sipmsg.Request {
	t.Helper()
	text = strings.ReplaceAll(strings.TrimLeft(text, "\n"), "\n", "\r\n")
	msg, err := sipmsg.ParseMessage([]byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.(*sipmsg.Request)
}

const inviteHead = `
INVITE sip:+15145550100@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1
From: <sip:+15145550101@127.0.0.1>;tag=a
To: <sip:+15145550100@127.0.0.1>
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:+15145550101@127.0.0.1:5070>
`

func TestNegotiateTimer(t *testing.T) {
	const minSE = 90 * time.Second
	for _, tc := range []struct {
		name    string
		headers string
		prev    sessionTimer
		want    sessionTimer
		status  int
	}{
		{"none", "", sessionTimer{}, sessionTimer{}, 0},
		{"uac supports", "Supported: timer\nSession-Expires: 1800\n", sessionTimer{}, sessionTimer{1800 * time.Second, "uac"}, 0},
		{"compact forms", "k: timer\nx: 1800\n", sessionTimer{}, sessionTimer{1800 * time.Second, "uac"}, 0},
		{"uas asked", "Supported: timer\nSession-Expires: 600;refresher=uas\n", sessionTimer{}, sessionTimer{600 * time.Second, "uas"}, 0},
		{"too small", "Supported: timer\nSession-Expires: 60\nMin-SE: 30\n", sessionTimer{}, sessionTimer{}, 422},
		{"too small, no support: raised", "Session-Expires: 60\n", sessionTimer{}, sessionTimer{90 * time.Second, "uas"}, 0},
		{"garbled", "Supported: timer\nSession-Expires: soon\n", sessionTimer{}, sessionTimer{}, 400},
		{"bad refresher", "Supported: timer\nSession-Expires: 100;refresher=me\n", sessionTimer{}, sessionTimer{}, 400},
		{"refresh without header keeps timer", "Supported: timer\n", sessionTimer{300 * time.Second, "uac"}, sessionTimer{300 * time.Second, "uac"}, 0},
		{"refresh without support turns it off", "", sessionTimer{300 * time.Second, "uac"}, sessionTimer{}, 0},
	} {
		req := request(t, inviteHead+tc.headers+"Content-Length: 0\n\n")
		got, rej := negotiateTimer(req, tc.prev, minSE)
		status := 0
		if rej != nil {
			status = rej.code
		}
		if got != tc.want || status != tc.status {
			t.Errorf("%s: got %+v status %d, want %+v status %d", tc.name, got, status, tc.want, tc.status)
		}
	}
	st := sessionTimer{interval: 90 * time.Second, refresher: "uac"}
	if got := st.expiryIn(); got != 60*time.Second {
		t.Errorf("expiryIn(90s) = %s, want 60s", got)
	}
	if got := (sessionTimer{interval: 1800 * time.Second}).expiryIn(); got != 1768*time.Second {
		t.Errorf("expiryIn(1800s) = %s, want 1768s", got)
	}
}

// The answer to clubline's own refresh decides who refreshes next; in
// that transaction clubline is the uac.
func TestAnsweredRefresh(t *testing.T) {
	sent := sessionTimer{interval: 600 * time.Second, refresher: refresherUAS}
	for _, tc := range []struct {
		name, header string // "" for no Session-Expires
		want         sessionTimer
	}{
		{"kept", "600;refresher=uac", sent},
		{"no refresher said", "600", sent},
		{"shorter, kept", "300;refresher=uac", sessionTimer{300 * time.Second, refresherUAS}},
		{"the peer takes over", "600;refresher=uas", sessionTimer{600 * time.Second, refresherUAC}},
		{"no timer in the answer", "", sessionTimer{}},
		{"garbled", "soon;refresher=uac", sent},
	} {
		res := sipmsg.NewResponse(sipmsg.StatusOK, "OK")
		if tc.header != "" {
			res.AppendHeader(sipmsg.NewHeader("Session-Expires", tc.header))
		}
		if got := answeredRefresh(res, sent); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := sent.refreshHeader().Value(); got != "600;refresher=uac" {
		t.Errorf("refresh header = %q", got)
	}
}

func TestSDPBodyMultipart(t *testing.T) {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	body := "--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\nxx\r\n--b1--\r\n"
	head := strings.ReplaceAll(strings.TrimLeft(inviteHead, "\n"), "\n", "\r\n")
	msg, err := sipmsg.ParseMessage([]byte(head + "Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	if err != nil {
		t.Fatal(err)
	}
	got, rej := sdpBody(msg.(*sipmsg.Request))
	if rej != nil || string(got) != sdp {
		t.Fatalf("sdpBody = %q, %v; want the SDP part", got, rej)
	}
	req := request(t, inviteHead+"Content-Type: text/plain\nContent-Length: 2\n\nhi")
	if _, rej := sdpBody(req); rej == nil || rej.code != 415 {
		t.Errorf("text/plain body: %v, want 415", rej)
	}
	req = request(t, inviteHead+"Content-Length: 0\n\n")
	if got, rej := sdpBody(req); got != nil || rej != nil {
		t.Errorf("no body: %q %v, want a delayed offer", got, rej)
	}
}

func TestNumberSet(t *testing.T) {
	s := newNumberSet([]string{"+1 (514) 555-0100", "office"})
	for user, want := range map[string]bool{
		"+15145550100": true, "15145550100": true, "5145550100": true, "514-555-0100": true,
		"5145550199": false, "office": true, "OFFICE": true, "sales": false, "": false, "0100": false,
	} {
		if got := s.accepts(user); got != want {
			t.Errorf("accepts(%q) = %v, want %v", user, got, want)
		}
	}
	if !newNumberSet(nil).accepts("anything") {
		t.Error("an empty set must accept every number")
	}
}

func TestRedactedLogger(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := redactedLogger(base)
	l.Error("failed to parse", "data", "INVITE sip:+15145550100@x SIP/2.0")
	l.Info("tx", "req", "INVITE sip:+15145550100@x SIP/2.0", "error", errTest("to +15145550101 failed"))
	l.With("callid", "5145550101").Warn("x")
	// What sipgo's transports log of a peer (transport_udp.go, transport_tcp.go).
	l.Error("Read filter error", "laddr", "0.0.0.0:5060", "raddr", "198.51.100.23:5062", "error", errTest("refused"))
	l.Warn("TCP ref went negative", "ip", "0.0.0.0:5060", "dst", "[2001:db8::23]:5060", "ref", -1)
	l.Error("Client tx failed to handle response", "error", errTest("write udp 0.0.0.0:5060->203.0.113.23:5060: sendto: no route to host"))
	out := buf.String()
	for _, leak := range []string{"5145550100", "5145550101", "198.51.100.23", "2001:db8::23", "203.0.113.23"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %s:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "level=DEBUG msg=\"failed to parse\"") {
		t.Errorf("parse failures should log at debug:\n%s", out)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
