package sip_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/softphone"
	sipmsg "github.com/emiago/sipgo/sip"
)

func TestOptions200(t *testing.T) {
	h := newHarness(t, noCall(t))
	res := newRawClient(t).do(t, sipmsg.OPTIONS, h.udpURI)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	for name, want := range map[string]string{"Allow": "INVITE", "Accept": "application/sdp", "Supported": "timer"} {
		if got := headerValue(res, name); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to list %s", name, got, want)
		}
	}
	h.srv.Drain()
	if res := newRawClient(t).do(t, sipmsg.OPTIONS, h.udpURI); res.StatusCode != 503 {
		t.Errorf("OPTIONS while draining: %d, want 503", res.StatusCode)
	}
}

func TestUnsupportedMethods(t *testing.T) {
	h := newHarness(t, noCall(t))
	r := newRawClient(t)
	for method, want := range map[sipmsg.RequestMethod]int{
		sipmsg.MESSAGE: 405, sipmsg.SUBSCRIBE: 405, sipmsg.PUBLISH: 405, sipmsg.NOTIFY: 405,
		sipmsg.REGISTER: 405, "FROBNICATE": 501,
	} {
		res := r.do(t, method, h.udpURI)
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", method, res.StatusCode, want)
		}
		if allow := headerValue(res, "Allow"); !strings.Contains(allow, "INVITE") || !strings.Contains(allow, "REFER") {
			t.Errorf("%s: Allow = %q, want INVITE and REFER listed", method, allow)
		}
	}
}

func TestOutOfDialogRequests481(t *testing.T) {
	h := newHarness(t, noCall(t))
	r := newRawClient(t)
	// A BYE, an INFO and a REFER for a dialog that does not exist.
	for _, m := range []sipmsg.RequestMethod{sipmsg.BYE, sipmsg.INFO, sipmsg.REFER} {
		res := r.do(t, m, h.udpURI, sipmsg.NewHeader("Content-Type", "application/dtmf"))
		if res.StatusCode != 481 {
			t.Errorf("%s outside a dialog: %d, want 481", m, res.StatusCode)
		}
	}
}

func TestInfoOtherTypes415(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		contentType string
		body        string
		want        int
	}{
		{"text/plain", "hello", 415},
		{"application/dtmf-relay", "Signal=Z\r\nDuration=160", 400},
		{"application/dtmf", "4", 200},
		{"", "", 200}, // an empty INFO probes the dialog
	} {
		code, err := c.SendInfo(ctx, tc.contentType, []byte(tc.body))
		if err != nil || code != tc.want {
			t.Errorf("INFO %s %q: %d %v, want %d", tc.contentType, tc.body, code, err, tc.want)
		}
	}
	got := collectDigits(s.digits, 1, 2*time.Second)
	time.Sleep(200 * time.Millisecond)
	if got += collectDigits(s.digits, 1, 0); got != "4" {
		t.Errorf("digits from INFO = %q, want \"4\"", got)
	}
}

// TestGarbageDoesNotKillServer throws malformed datagrams and half
// requests at the UDP and TCP listeners, then places a normal call.
func TestGarbageDoesNotKillServer(t *testing.T) {
	s := newScript(playTone)
	h := newHarness(t, s.handle)
	var udpAddr, tcpAddr string
	for _, a := range h.srv.Addrs() {
		network, hp, _ := strings.Cut(a, "://")
		if network == "udp" {
			udpAddr = hp
		} else {
			tcpAddr = hp
		}
	}
	garbage := [][]byte{
		[]byte("\x00\x01\x02 not SIP at all"),
		[]byte("INVITE sip:x@y SIP/2.0\r\nVia: garbage\r\n\r\n"),
		[]byte("INVITE sip:+15145550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\n\r\n"),
		[]byte(strings.Repeat("A", 1400)),
		[]byte("BYE sip:a@b SIP/2.0\r\nContent-Length: 99999\r\n\r\nxx"),
	}
	u, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range garbage {
		if _, err := u.Write(g); err != nil {
			t.Fatal(err)
		}
	}
	// The INVITE with Via and CSeq but no From/To/Call-ID is answered 400.
	_ = u.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, err := u.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400") {
		t.Errorf("answer to a request without From/To/Call-ID: %q %v, want 400", buf[:n], err)
	}
	u.Close()
	tc, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte("GARBAGE\r\n\r\n\x00\xff\xfe" + strings.Repeat("Z", 5000) + "\r\n\r\n"))
	tc.Close()

	c := h.dial(softphone.Options{})
	s.nextCall(t)
	if _, ok := toneHeard(waitHeard(t, c, time.Second), toneHz); !ok {
		t.Error("no tone heard after the garbage")
	}
}

func TestNewServerValidates(t *testing.T) {
	for name, o := range map[string]sip.Options{
		"no handle":    {Listen: []string{"udp://127.0.0.1:0"}},
		"no listen":    {Handle: noCall(t)},
		"bad scheme":   {Listen: []string{"ws://127.0.0.1:5061"}, Handle: noCall(t)},
		"tls no cert":  {Listen: []string{"tls://127.0.0.1:5061"}, Handle: noCall(t)},
		"no port":      {Listen: []string{"udp://127.0.0.1"}, Handle: noCall(t)},
		"bad RTP":      {Listen: []string{"udp://127.0.0.1:0"}, Handle: noCall(t), RTPPortMin: 20000, RTPPortMax: 10000},
		"neg maxcalls": {Listen: []string{"udp://127.0.0.1:0"}, Handle: noCall(t), MaxCalls: -1},
	} {
		if _, err := sip.NewServer(o); err == nil {
			t.Errorf("%s: NewServer accepted %+v", name, o)
		}
	}
}
