package sip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Fuzz targets for the headers and bodies clubline reads itself (sipgo
// parses the rest). Each checks what the parser promises, not only that
// it does not panic. Seeds: f.Add below and testdata/fuzz/<target>/.

func FuzzSessionExpires(f *testing.F) {
	for _, s := range []string{"1800", "1800;refresher=uac", "90;refresher=UAS", " 3600 ; refresher = uac ",
		"0", "-1", "99999999999", "1800;refresher=both", "1800;;;", "x=1;1800", "4294967295", "4294967296"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, refresher, err := parseSessionExpires(v)
		if err != nil {
			return
		}
		if d < time.Second || d > 4294967295*time.Second {
			t.Fatalf("parseSessionExpires(%q) = %s: outside 1 s – 2^32-1 s", v, d)
		}
		if refresher != "" && refresher != refresherUAC && refresher != refresherUAS {
			t.Fatalf("parseSessionExpires(%q) refresher %q", v, refresher)
		}
	})
}

func FuzzReferTo(f *testing.F) {
	for _, s := range []string{"<sip:203@club.example>", "sip:office@10.0.0.1", "<tel:+15145550101>",
		"<sip:203@club.example?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>", "<sips:sophie@club.example;transport=tls>",
		"<http://example.com>", "<sip:@>", "\"Marie\" <sip:201@x>;tag=1", "<", "<sip:%00@x>", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req := sipmsg.NewRequest(sipmsg.REFER, sipmsg.Uri{Scheme: "sip", User: "club", Host: "127.0.0.1"})
		req.AppendHeader(sipmsg.NewHeader("Refer-To", v))
		to, rej := referTarget(req)
		if rej != nil {
			if rej.code != 400 && rej.code != 501 {
				t.Fatalf("referTarget(%q) refused with %d, want 400 or 501", v, rej.code)
			}
			if !utf8.ValidString(rej.trace()) && utf8.ValidString(v) {
				t.Fatalf("referTarget(%q): the trace %q is not valid text", v, rej.trace())
			}
			return
		}
		if to == "" {
			t.Fatalf("referTarget(%q) accepted an empty target", v)
		}
		if strings.Contains(strings.ToLower(v), "replaces=") && strings.Contains(v, "?") {
			// An attended transfer must never pass as a blind one.
			var u sipmsg.Uri
			params := sipmsg.NewParams()
			if _, err := sipmsg.ParseAddressValue(v, &u, &params); err == nil {
				for _, k := range u.Headers.Keys() {
					if strings.EqualFold(k, "replaces") {
						t.Fatalf("referTarget(%q) accepted a Replaces", v)
					}
				}
			}
		}
	})
}

func FuzzDTMFInfo(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{typeDTMFRelay, "Signal=5\r\nDuration=160\r\n"}, {typeDTMFRelay, "signal = #\nduration=100"},
		{typeDTMFRelay, "Signal=11"}, {typeDTMFRelay, "Duration=160"}, {typeDTMF, "5"}, {typeDTMF, "15"},
		{typeDTMF, "16"}, {typeDTMFRelay, "Signal=\x00"}, {"text/plain", "5"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, err := parseDTMFInfo(ct, body)
		if err != nil {
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("parseDTMFInfo(%q, %q) = %q: not a key", ct, body, d)
		}
	})
}

// FuzzRequest: a whole message from the network, as sipgo parses it, then
// through everything clubline reads of a request before any handler:
// the validation (edge.Validate) and its answer, and the headers a handler
// reads first. Seeds: the RFC 4475 torture messages (testdata/torture).
// The datagram's own check, before sipgo parses it, is edge's FuzzDatagram.
func FuzzRequest(f *testing.F) {
	files, err := filepath.Glob("testdata/torture/*.sip")
	if err != nil || len(files) == 0 {
		f.Fatalf("no torture messages to seed with: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	parser := sipmsg.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := parser.ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			return
		}
		if p := edge.Validate(req); p != nil {
			r := rejectProblem(p)
			switch r.code {
			case 400, 406, 416, 420, 505:
			default:
				t.Fatalf("malformed refused with %d: %s", r.code, r.why)
			}
			_ = r.response(req).String()
			return
		}
		_ = sipx.MissingHeader(req)
		_ = sipx.Tokens(req, "Supported")
		_ = sipx.MediaType(req)
		if req.Method == sipmsg.REFER {
			_, _ = referTarget(req)
		}
		if req.IsInvite() {
			_, _ = negotiateTimer(req, sessionTimer{}, MinSessionExpires)
		}
		if req.Method == sipmsg.INFO {
			_, _ = parseDTMFInfo(sipx.MediaType(req), req.Body())
		}
	})
}
