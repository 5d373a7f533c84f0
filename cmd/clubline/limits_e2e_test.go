package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/softphone"
)

// sip.limits in the file reach the SIP server: a flood of INVITEs from
// one address is cut off and counted in clubline_sip_blocked_total, and a
// caller from another address is answered and hears the greeting.
func TestSIPLimitsFromTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, lineOpts{})
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	limited := strings.Replace(string(body), "  drain_timeout: 5s\n",
		"  drain_timeout: 5s\n  limits:\n    invites: 3\n    trusted: [127.0.0.1]\n", 1)
	if err := os.WriteFile(path, []byte(limited), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLineIn(t, dir, path, openTuesday)

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp", l.m.sipAddr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	la := conn.LocalAddr().(*net.UDPAddr)
	for i := range 20 {
		msg := fmt.Sprintf("OPTIONS sip:club@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-o%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:x@%s>;tag=%d\r\nTo: <sip:club@%s>\r\nCall-ID: o%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			to, la, i, la.IP, i, to, i)
		msg = strings.Replace(msg, "OPTIONS sip:club@", "INVITE sip:nobody@", 1) // refused (404): nothing left to hang up
		msg = strings.Replace(msg, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE\r\nContact: <sip:x@"+la.String()+">", 1)
		if _, err := conn.WriteToUDP([]byte(msg), to); err != nil {
			t.Fatal(err)
		}
	}
	l.awaitMetric(`clubline_sip_blocked_total{reason="invite_rate"}`, 1)

	c := l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "greeting", 5*time.Second)
	_ = c.Hangup(context.Background())
	if n := l.metric(`clubline_sip_blocked_total{reason="blocked"}`); n < 10 {
		t.Errorf("requests dropped while blocked: %.0f, want the rest of the flood", n)
	}
}
