package sip_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline/sip"
	sipmsg "github.com/emiago/sipgo/sip"
)

// tortureCase is one message of testdata/torture and what a peer sending
// it sees, over UDP and over TCP: the final statuses in order ("400",
// "405,400"), "-" for no answer at all, "a|b" when either is right, ""
// when the message means nothing over that transport.
type tortureCase struct {
	name, section string
	udp, tcp      string
	why           string
	sipgo400      bool // the 400 is sipgo's own, without clubline's Warning
}

// The expected outcomes are RFC 4475's (section given), where it names
// one; otherwise what validate.go decided, and why. Messages from §3.1.2
// that sipgo cannot parse are dropped ("-"): nothing can be answered to a
// message that does not parse into a transaction, and over TCP sipgo then
// closes the connection (no message boundary is left to resync on).
var tortureCases = []tortureCase{
	// §3.1.1: valid messages, however tortuous: a sensible answer.
	{"wsinv", "3.1.1.1", "400", "400", "valid, but sipgo reads \"tag = 98asjd8\" as a parameter \"tag \" and cannot key the RFC 2543 transaction", true},
	{"intmeth", "3.1.1.2", "501", "501", "unknown method", false},
	{"esc01", "3.1.1.3", "404", "404", "the user part is sips:user@example.com, no number of the club", false},
	{"escnull", "3.1.1.4", "405", "405", "REGISTER without the registrar", false},
	{"esc02", "3.1.1.5", "501", "501", "RE%47IST%45R is not REGISTER: escapes do not apply to methods", false},
	{"lwsdisp", "3.1.1.6", "200", "200", "", false},
	{"longreq", "3.1.1.7", "200", "200", "the answer is over 2 kB: sent over UDP too", false},
	{"dblreq", "3.1.1.8", "405", "", "what follows the REGISTER's body in the datagram is discarded; the RFC describes one datagram", false},
	{"semiuri", "3.1.1.9", "200", "200", "", false},
	{"transports", "3.1.1.10", "200", "200", "", false},
	{"mpart01", "3.1.1.11", "405", "405", "MESSAGE is not served", false},
	{"unreason", "3.1.1.12", "-", "-", "a response: nothing to answer", false},
	{"noreason", "3.1.1.13", "-", "-", "a response: nothing to answer", false},

	// §3.1.2: invalid messages.
	{"badinv01", "3.1.2.1", "-", "-", "sipgo cannot parse the Via", false},
	{"clerr", "3.1.2.2", "400", "-", "UDP: the datagram ends before the body; TCP: the server waits for the rest", false},
	{"ncl", "3.1.2.3", "400", "-", "UDP: read filter; TCP: no framing, connection closed", false},
	{"scalar02", "3.1.2.4", "-", "-", "sipgo cannot parse a CSeq beyond 2**32", false},
	{"scalarlg", "3.1.2.5", "-", "-", "a response", false},
	{"quotbal", "3.1.2.6", "-", "-", "sipgo cannot parse the To", false},
	{"ltgtruri", "3.1.2.7", "-", "-", "sipgo cannot parse the Request-URI", false},
	{"lwsruri", "3.1.2.8", "-", "-", "sipgo cannot parse the request line", false},
	{"lwsstart", "3.1.2.9", "-", "-", "sipgo cannot parse the request line", false},
	{"trws", "3.1.2.10", "-", "-", "sipgo cannot parse the request line", false},
	{"escruri", "3.1.2.11", "400", "400", "headers in the Request-URI", false},
	{"baddate", "3.1.2.12", "200", "200", "the RFC allows either: clubline never reads Date", false},
	{"regbadct", "3.1.2.13", "405", "405", "REGISTER without the registrar; sipgo reads the Contact as if in <>", false},
	{"badaspec", "3.1.2.14", "-", "-", "sipgo cannot parse the To", false},
	{"baddn", "3.1.2.15", "200", "200", "sipgo quotes the display name itself; left alone", false},
	{"badvers", "3.1.2.16", "505", "505", "SIP/7.0", false},
	{"mismatch01", "3.1.2.17", "400", "400", "CSeq method is not the request's", false},
	{"mismatch02", "3.1.2.18", "501", "501", "an unknown method: RFC 4475 prefers 501 to 400", false},
	{"bigcode", "3.1.2.19", "-", "-", "a response", false},

	// §3.2–3.4: transaction and application layer.
	{"badbranch", "3.2.1", "200", "200", "the RFC allows either: sipgo matches on the bare cookie", false},
	{"insuf", "3.3.1", "400", "400", "no From, To, Call-ID", false},
	{"unkscm", "3.3.2", "416", "416", "", false},
	{"novelsc", "3.3.3", "-", "-", "sipgo cannot parse the scheme", false},
	{"unksm2", "3.3.4", "405", "405", "REGISTER without the registrar", false},
	{"bext01", "3.3.5", "420", "420", "", false},
	{"invut", "3.3.6", "415", "415", "", false},
	{"regaut01", "3.3.7", "405", "405", "REGISTER without the registrar", false},
	{"multi01", "3.3.8", "400", "400", "", false},
	{"mcl01", "3.3.9", "400", "400|-", "TCP: the rest of the body is read as the next message: garbage, so sipgo closes the connection, often before the 400 is out", false},
	{"bcast", "3.3.10", "-", "-", "a response", false},
	{"zeromf", "3.3.11", "200", "200", "a UAS answers; 483 is for proxies", false},
	{"cparam01", "3.3.12", "405", "405", "REGISTER without the registrar", false},
	{"cparam02", "3.3.13", "405", "405", "REGISTER without the registrar", false},
	{"regescrt", "3.3.14", "405", "405", "REGISTER without the registrar", false},
	{"sdp01", "3.3.15", "406", "406", "the answer would be SDP", false},
	{"inv2543", "3.4.1", "400", "", "no branch and no From tag: sipgo cannot key the transaction; a datagram: no Content-Length", true},

	// Finding 10 of issue 7, beyond RFC 4475.
	{"club-dupcl", "", "400", "400", "two Content-Length", false},
	{"club-maxfwd", "", "400", "400", "Max-Forwards 300", false},
	{"club-expires", "", "400", "400", "Expires beyond 2**32", false},
	{"club-cseq", "", "-", "-", "sipgo cannot parse a CSeq beyond 2**31", false},
}

// TestTorture sends each message to a server of its own over UDP and over
// TCP, checks the answer against the table, hangs up the calls it set up,
// and checks the server still answers.
func TestTorture(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tortureCases {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				t.Parallel() // a server each: most of the time is spent waiting for silence
				want := tc.udp
				if network == "tcp" {
					want = tc.tcp
				}
				if want == "" {
					t.Skipf("%s over %s: %s", tc.name, network, tc.why)
				}
				msg := tortureMessage(t, tc.name)
				h := newHarness(t, newScript(nil).handle, func(o *sip.Options) {
					o.Numbers = []string{"user", "vivekg"} // the Request-URI users of the RFC's INVITEs
				})
				bind := ""
				if network == "udp" {
					bind = loopbackAlias() + ":" + strconv.Itoa(viaPort(msg))
				}
				p := newRawPeer(t, h, network, bind)
				p.send(msg)
				res := p.finals(strings.Count(want, ",")+1, 2*time.Second)
				got := statuses(res)
				t.Logf("RFC 4475 §%s %s over %s: got %s, want %s (%s)", tc.section, tc.name, network, got, want, reasons(res))
				if !slices.Contains(strings.Split(want, "|"), got) {
					t.Errorf("%s over %s: got %s, want %s (%s)", tc.name, network, got, want, tc.why)
				}
				for _, r := range res {
					if !tc.sipgo400 {
						checkRefusal(t, r)
					}
					if r.IsSuccess() && bytes.HasPrefix(msg, []byte("INVITE ")) {
						if code := p.ackAndBye(r); code != 200 {
							t.Errorf("BYE after the 200 OK: %d, want 200", code)
						}
					}
				}
				if code := newRawPeer(t, h, network, "").options(); code != 200 {
					t.Errorf("OPTIONS after %s: %d, want 200: the server stopped answering", tc.name, code)
				}
			})
		}
	}
}

// tortureMessage reads a message of testdata/torture. The RFC's messages
// use TEST-NET-1 addresses (192.0.2.0/24), which some machines sit on: a
// test must not send RTP there, so they become 127.0.0.x, the same
// number of characters, so every Content-Length stays true.
func tortureMessage(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "torture", name+".sip"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("192.0.2."), []byte("127.0.0."))
}

// viaPort is the port of the message's top Via, where a UDP answer goes.
func viaPort(msg []byte) int {
	m, _ := sipmsg.ParseMessage(msg) // a message that fails to parse may still carry its Via
	if m != nil {
		if v := m.Via(); v != nil && v.Port > 0 {
			return v.Port
		}
	}
	return 5060
}

func statuses(rs []*sipmsg.Response) string {
	if len(rs) == 0 {
		return "-"
	}
	var s []string
	for _, r := range rs {
		s = append(s, strconv.Itoa(r.StatusCode))
	}
	return strings.Join(s, ",")
}

// reasons are the status lines and Warnings, for the log of the test.
func reasons(rs []*sipmsg.Response) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%d %s %s", r.StatusCode, r.Reason, headerValue(r, "Warning")))
	}
	return strings.Join(s, "; ")
}

// checkRefusal checks that a refusal says why, the way a peer's log shows
// it: a 400 names the problem in a Warning, a 505 is a SIP/2.0 answer, a
// 420 lists what is unsupported.
func checkRefusal(t *testing.T, r *sipmsg.Response) {
	t.Helper()
	switch r.StatusCode {
	case 400, 406:
		if w := headerValue(r, "Warning"); !strings.HasPrefix(w, "399 clubline ") {
			t.Errorf("%d without a Warning naming the problem: %q", r.StatusCode, w)
		}
	case 505:
		if r.SipVersion != "SIP/2.0" {
			t.Errorf("505 sent as %s, want SIP/2.0", r.SipVersion)
		}
	case 420:
		if headerValue(r, "Unsupported") == "" {
			t.Error("420 without Unsupported")
		}
	}
}

func TestTortureTableCoversTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "torture", "*.sip"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range tortureCases {
		names = append(names, c.name)
	}
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".sip"); !slices.Contains(names, n) {
			t.Errorf("%s has no row in tortureCases", n)
		}
	}
	if len(files) != len(tortureCases) {
		t.Errorf("%d files, %d cases", len(files), len(tortureCases))
	}
}
