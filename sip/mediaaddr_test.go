package sip_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/media"
	"github.com/clubline/clubline/softphone"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Offers whose media address clubline must not send RTP to (issue 7,
// finding 11), over real SIP and RTP on loopback.

// sdpAt is a PCMU offer with c= set to conn ("IN IP4 224.0.0.1") and the
// audio on port.
func sdpAt(conn string, port int, dir media.Direction) []byte {
	return []byte("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=" + conn + "\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0\r\na=" + string(dir) + "\r\n")
}

// rawInvite is an INVITE from the raw client to the club number with sdp.
func rawInvite(t *testing.T, h *harness, r *rawClient, sdp []byte) *sipmsg.Request {
	t.Helper()
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(h.udpURI, &target); err != nil {
		t.Fatal(err)
	}
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.port}})
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
	return req
}

// rtpSink is a UDP socket where the test watches for RTP.
type rtpSink struct{ conn *net.UDPConn }

func listenSink(t *testing.T, addr string) *rtpSink {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rtpSink{conn: conn}
}

func (s *rtpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// packet waits up to d for a datagram and returns its source.
func (s *rtpSink) packet(d time.Duration) (netip.AddrPort, bool) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1500)
	n, from, err := s.conn.ReadFromUDPAddrPort(buf)
	return from, err == nil && n >= 12
}

func TestUnusableMediaAddress488(t *testing.T) {
	tests := []struct {
		name, conn string
		warning    string // the Warning's code
		sink       string // where RTP sent to conn would arrive on Linux; "" for none
	}{
		{"multicast", "IN IP4 224.0.0.1", "330", "0.0.0.0:0"},
		{"broadcast", "IN IP4 255.255.255.255", "399", "0.0.0.0:0"},
		{"IPv6", "IN IP6 ::1", "301", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, noCall(t))
			r := newRawClient(t)
			port := 40010
			var sink *rtpSink
			if tt.sink != "" {
				sink = listenSink(t, tt.sink)
				port = sink.port()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := r.client.Do(ctx, rawInvite(t, h, r, sdpAt(tt.conn, port, media.DirSendRecv)))
			if err != nil {
				t.Fatal(err)
			}
			// Looked at first: the old code answered 200 and sent silence
			// to the group, which the kernel loops back to this socket.
			if sink != nil {
				if from, ok := sink.packet(300 * time.Millisecond); ok {
					t.Errorf("RTP from %v reached %s", from, tt.conn)
				}
			}
			if w := headerValue(res, "Warning"); res.StatusCode != 488 || !strings.HasPrefix(w, tt.warning+" ") {
				t.Fatalf("%d with Warning %q, want 488 with a %s warning", res.StatusCode, w, tt.warning)
			}
			checkRecord(t, h.nextRejected(), clubline.OutcomeRejected, "rejected: 488 media address refused")
			h.waitIdle()
		})
	}
}

// An old phone's hold (c=0.0.0.0, RFC 3264 §8.4) is answered, nothing is
// sent until a re-INVITE gives an address, and then audio flows there.
func TestOldStyleHoldOffer(t *testing.T) {
	s := newScript(nil) // the session sends silence from the answer on
	h := newHarness(t, s.handle)
	r := newRawClient(t)
	// Linux delivers a datagram sent to 0.0.0.0 to the local host, so RTP
	// wrongly sent to 0.0.0.0:port would show up on this socket.
	sink := listenSink(t, "127.0.0.1:0")

	invite := rawInvite(t, h, r, sdpAt("IN IP4 0.0.0.0", sink.port(), media.DirSendRecv))
	ok := inviteOK(t, r, invite)
	if body := string(ok.Body()); !strings.Contains(body, "c=IN IP4 127.0.0.1\r\n") ||
		!strings.Contains(body, "a=recvonly\r\n") || strings.Contains(body, "m=audio 0 ") {
		t.Errorf("answer to the held offer: want our address, our port and recvonly:\n%s", body)
	}
	ackOK(t, r, invite, ok)
	s.nextCall(t)
	if from, got := sink.packet(500 * time.Millisecond); got {
		t.Fatalf("RTP from %v sent to 0.0.0.0 while the caller holds", from)
	}

	// The caller takes the call off hold with its real address.
	reinvite := inDialogInvite(invite, ok, sdpAt("IN IP4 127.0.0.1", sink.port(), media.DirSendRecv))
	ok2 := inviteOK(t, r, reinvite)
	if !strings.Contains(string(ok2.Body()), "a=sendrecv\r\n") {
		t.Errorf("answer to the resume: want sendrecv:\n%s", ok2.Body())
	}
	ackOK(t, r, reinvite, ok2)
	if _, got := sink.packet(2 * time.Second); !got {
		t.Error("no RTP at the caller's address after the resume")
	}
	h.srv.HangupAll() // while the raw client is there to answer the BYE
	h.waitIdle()
}

// inviteOK sends an INVITE and waits for its 200 OK.
func inviteOK(t *testing.T, r *rawClient, invite *sipmsg.Request) *sipmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.client.Do(ctx, invite)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d %s, want 200", res.StatusCode, res.Reason)
	}
	return res
}

func ackOK(t *testing.T, r *rawClient, invite *sipmsg.Request, ok *sipmsg.Response) {
	t.Helper()
	ack := sipmsg.NewRequest(sipmsg.ACK, ok.Contact().Address)
	ack.AppendHeader(sipmsg.HeaderClone(invite.From()))
	ack.AppendHeader(sipmsg.HeaderClone(ok.To()))
	ack.AppendHeader(sipmsg.HeaderClone(invite.CallID()))
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sipmsg.ACK})
	if err := r.client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
}

// inDialogInvite is a re-INVITE in the dialog that ok established.
func inDialogInvite(invite *sipmsg.Request, ok *sipmsg.Response, sdp []byte) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.INVITE, ok.Contact().Address)
	req.AppendHeader(sipmsg.HeaderClone(invite.From()))
	req.AppendHeader(sipmsg.HeaderClone(ok.To()))
	req.AppendHeader(sipmsg.HeaderClone(invite.CallID()))
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: invite.CSeq().SeqNo + 1, MethodName: sipmsg.INVITE})
	req.AppendHeader(sipmsg.HeaderClone(invite.Contact()))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
	return req
}

// A re-INVITE is held to the same rules, and a refused one leaves the
// call as it was (RFC 3261 §14.2).
func TestReinviteUnusableAddress488(t *testing.T) {
	s := newScript(nil)
	h := newHarness(t, s.handle)
	c := h.dial(softphone.Options{})
	s.nextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tt := range []struct{ conn, warning string }{
		{"IN IP4 224.0.0.1", "330"},
		{"IN IP4 255.255.255.255", "399"},
		{"IN IP6 2001:db8::1", "301"},
	} {
		_, err := c.ReinviteSDP(ctx, sdpAt(tt.conn, 40020, media.DirSendRecv))
		var se *softphone.StatusError
		if !errors.As(err, &se) || se.Code != 488 || !strings.HasPrefix(se.Header("Warning"), tt.warning+" ") {
			t.Errorf("re-INVITE to %s: %v, want 488 with a %s warning", tt.conn, err, tt.warning)
		}
	}
	before := c.HeardFrames()
	time.Sleep(300 * time.Millisecond)
	if got := c.HeardFrames() - before; got < 5 {
		t.Errorf("the phone heard %d frames in 300 ms after the refused re-INVITEs", got)
	}
	if _, err := c.Reinvite(ctx, media.DirSendRecv); err != nil {
		t.Errorf("a good re-INVITE after the refused ones: %v", err)
	}
	select {
	case <-c.Done():
		t.Fatalf("call ended: %s", c.EndedBy())
	default:
	}
}

// A staff phone that holds the old way (c=0.0.0.0) is on hold for the
// script, as one that writes sendonly is.
func TestStaffHoldWithZeroAddress(t *testing.T) {
	leg, staff, ctx := staffLegUp(t)
	res, err := staff.ReinviteSDP(ctx, sdpAt("IN IP4 0.0.0.0", 40030, media.DirSendRecv))
	if err != nil {
		t.Fatalf("hold with c=0.0.0.0: %v", err)
	}
	if !strings.Contains(string(res.Body()), "a=recvonly\r\n") {
		t.Errorf("clubline's answer to the hold: want recvonly:\n%s", res.Body())
	}
	if ev := nextEvent(t, leg); ev.Kind != ivr.StaffHold {
		t.Errorf("event %v, want StaffHold", ev.Kind)
	}
	if _, err := staff.Reinvite(ctx, media.DirSendRecv); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if ev := nextEvent(t, leg); ev.Kind != ivr.StaffResume {
		t.Errorf("event %v, want StaffResume", ev.Kind)
	}
}
