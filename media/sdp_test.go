package media_test

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/clubline/clubline/media"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var ourLocal = media.Local{
	Addr:      netip.MustParseAddrPort("192.0.2.1:20000"),
	SessionID: 42, Version: 7,
}

const asteriskOffer = `v=0
o=- 1999127946 1999127946 IN IP4 192.0.2.10
s=Asterisk
c=IN IP4 192.0.2.10
t=0 0
m=audio 17142 RTP/AVP 0 8 3 111 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:3 GSM/8000
a=rtpmap:111 G726-32/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
`

const freeswitchOffer = `v=0
o=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7
s=FreeSWITCH
c=IN IP4 198.51.100.7
t=0 0
m=audio 24568 RTP/AVP 8 0 9 101 13
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtpmap:13 CN/8000
a=ptime:20
a=sendrecv
a=rtcp:24569 IN IP4 198.51.100.7
`

const trunkOffer = `v=0
o=Sonus_UAC 25674 1523 IN IP4 203.0.113.5
s=SIP Media Capabilities
c=IN IP4 203.0.113.5
b=AS:84
t=0 0
m=audio 36000 RTP/AVP 18 0 8 100
b=TIAS:64000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:100 telephone-event/8000
a=fmtp:100 0-15
a=sendrecv
a=maxptime:20
`

// An old gateway: static payload type without rtpmap, no telephone-event.
const gatewayOffer = `v=0
o=CiscoSystemsSIP-GW-UserAgent 4245 1234 IN IP4 192.0.2.20
s=SIP Call
c=IN IP4 192.0.2.20
t=0 0
m=audio 16384 RTP/AVP 8
`

func TestAnswer(t *testing.T) {
	pcmaOnly := ourLocal
	pcmaOnly.Codecs = []media.Codec{media.PCMA}
	holding := ourLocal
	holding.Direction = media.DirSendOnly
	onIPv6 := ourLocal
	onIPv6.Addr = ap("[2001:db8::2]:20000")

	tests := []struct {
		name     string
		offer    string
		local    *media.Local
		want     media.Negotiated
		rejected []int // m= lines answered with port 0
	}{
		{
			name: "asterisk", offer: crlf(asteriskOffer),
			want: media.Negotiated{Remote: ap("192.0.2.10:17142"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "freeswitch prefers PCMA", offer: crlf(freeswitchOffer),
			want: media.Negotiated{Remote: ap("198.51.100.7:24568"), Codec: media.PCMA,
				DTMFPayloadType: 101, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "trunk with G.729 first and bandwidth lines", offer: crlf(trunkOffer),
			want: media.Negotiated{Remote: ap("203.0.113.5:36000"), Codec: media.PCMU,
				DTMFPayloadType: 100, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "no rtpmap, no telephone-event, LF only", offer: gatewayOffer,
			want: media.Negotiated{Remote: ap("192.0.2.20:16384"), Codec: media.PCMA,
				Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "our codec list decides", offer: asteriskOffer, local: &pcmaOnly,
			want: media.Negotiated{Remote: ap("192.0.2.10:17142"), Codec: media.PCMA,
				DTMFPayloadType: 101, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name:  "hold with sendonly",
			offer: strings.Replace(asteriskOffer, "a=sendrecv", "a=sendonly", 1),
			want: media.Negotiated{Remote: ap("192.0.2.10:17142"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirRecvOnly, RemoteDirection: media.DirSendOnly},
		},
		{
			name:  "hold with inactive",
			offer: strings.Replace(asteriskOffer, "a=sendrecv", "a=inactive", 1),
			want: media.Negotiated{Remote: ap("192.0.2.10:17142"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirInactive, RemoteDirection: media.DirInactive},
		},
		{
			name:  "recvonly offer",
			offer: strings.Replace(freeswitchOffer, "a=sendrecv", "a=recvonly", 1),
			want: media.Negotiated{Remote: ap("198.51.100.7:24568"), Codec: media.PCMA,
				DTMFPayloadType: 101, Direction: media.DirSendOnly, RemoteDirection: media.DirRecvOnly},
		},
		{
			name: "old hold with c=0.0.0.0",
			offer: `v=0
o=user 53655765 2353687638 IN IP4 192.0.2.30
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 3456 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
`,
			want: media.Negotiated{Remote: ap("0.0.0.0:3456"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirRecvOnly, RemoteDirection: media.DirSendOnly},
		},
		{
			name: "session-level sendonly",
			offer: `v=0
o=- 1 2 IN IP4 192.0.2.40
s=-
c=IN IP4 192.0.2.40
t=0 0
a=sendonly
m=audio 5000 RTP/AVP 0
`,
			want: media.Negotiated{Remote: ap("192.0.2.40:5000"), Codec: media.PCMU,
				Direction: media.DirRecvOnly, RemoteDirection: media.DirSendOnly},
		},
		{
			name: "media-level c= wins over session-level",
			offer: `v=0
o=- 1 2 IN IP4 192.0.2.40
s=-
c=IN IP4 192.0.2.40
t=0 0
m=audio 5000 RTP/AVP 0
c=IN IP4 192.0.2.41
`,
			want: media.Negotiated{Remote: ap("192.0.2.41:5000"), Codec: media.PCMU,
				Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "IPv6 at both ends, c= at media level only", local: &onIPv6,
			offer: `v=0
o=- 1 2 IN IP6 2001:db8::1
s=-
t=0 0
m=audio 6000 RTP/AVP 0 8 101
c=IN IP6 2001:db8::1
a=rtpmap:101 telephone-event/8000
`,
			want: media.Negotiated{Remote: ap("[2001:db8::1]:6000"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "odd whitespace, blank lines, lines out of order, mixed line ends",
			offer: "\r\n  v=0  \r\no=- 1 2 IN IP4 192.0.2.50\n" +
				"s=\r\nt=0 0\r\nc=IN IP4 192.0.2.50\t\r\n\r\n" +
				"m=audio  7000  RTP/AVP  0  101 \n" +
				"a=rtpmap:101  telephone-event/8000\r\n" +
				"a= sendonly \n" +
				"i=a media title after the attributes\r\n",
			want: media.Negotiated{Remote: ap("192.0.2.50:7000"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirRecvOnly, RemoteDirection: media.DirSendOnly},
		},
		{
			name:  "bare CR line ends",
			offer: strings.ReplaceAll(gatewayOffer, "\n", "\r"),
			want: media.Negotiated{Remote: ap("192.0.2.20:16384"), Codec: media.PCMA,
				Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "video and T.38 offered too",
			offer: `v=0
o=- 1 2 IN IP4 192.0.2.60
s=-
c=IN IP4 192.0.2.60
t=0 0
m=video 9000 RTP/AVP 96
a=rtpmap:96 H264/90000
m=audio 8000 RTP/AVP 0
m=image 8002 udptl t38
a=T38FaxVersion:0
`,
			want: media.Negotiated{Remote: ap("192.0.2.60:8000"), Codec: media.PCMU,
				Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
			rejected: []int{0, 2},
		},
		{
			name: "first audio stream disabled, second accepted",
			offer: `v=0
o=- 1 2 IN IP4 192.0.2.70
s=-
c=IN IP4 192.0.2.70
t=0 0
m=audio 0 RTP/AVP 0
m=audio 8000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
m=audio 8010 RTP/AVP 0
`,
			want: media.Negotiated{Remote: ap("192.0.2.70:8010"), Codec: media.PCMU,
				Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
			rejected: []int{0, 1},
		},
		{
			name: "PCMU under a dynamic payload type, telephone-event at two rates",
			offer: `v=0
o=- 1 2 IN IP4 192.0.2.80
s=-
c=IN IP4 192.0.2.80
t=0 0
m=audio 4000 RTP/AVP 111 96 110 101
a=rtpmap:111 opus/48000/2
a=rtpmap:96 pcmu/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:101 telephone-event/8000
`,
			want: media.Negotiated{Remote: ap("192.0.2.80:4000"), Codec: media.Codec{Name: "PCMU", PayloadType: 96},
				DTMFPayloadType: 101, Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv},
		},
		{
			name: "we hold: local sendonly", offer: asteriskOffer, local: &holding,
			want: media.Negotiated{Remote: ap("192.0.2.10:17142"), Codec: media.PCMU,
				DTMFPayloadType: 101, Direction: media.DirSendOnly, RemoteDirection: media.DirSendRecv},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := ourLocal
			if tt.local != nil {
				local = *tt.local
			}
			answer, got, err := media.Answer([]byte(tt.offer), local)
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			if got != tt.want {
				t.Errorf("negotiated\n got %+v\nwant %+v", got, tt.want)
			}
			checkAnswer(t, answer, tt.offer, local, got, tt.rejected)
		})
	}
}

// checkAnswer parses the answer with pion/sdp directly and checks it
// against RFC 3264: one m= line per offered one, rejected ones on port 0,
// the accepted one with our address, codec, telephone-event and direction.
func checkAnswer(t *testing.T, answer []byte, offer string, local media.Local, n media.Negotiated, rejected []int) {
	t.Helper()
	if !strings.HasSuffix(string(answer), "\r\n") || strings.Contains(strings.ReplaceAll(string(answer), "\r\n", ""), "\n") {
		t.Errorf("answer lines must end in CRLF:\n%s", answer)
	}
	// pion/sdp knows no m=image (T.38); a rejected one is echoed as offered.
	text := strings.ReplaceAll(string(answer), "\r\nm=image 0 udptl t38\r\n", "\r\nm=application 0 UDP t38\r\n")
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(text); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, answer)
	}
	if desc.Origin.SessionID != local.SessionID || desc.Origin.SessionVersion != local.Version {
		t.Errorf("o= %d %d, want %d %d", desc.Origin.SessionID, desc.Origin.SessionVersion, local.SessionID, local.Version)
	}
	if got := desc.ConnectionInformation.Address.Address; got != local.Addr.Addr().String() {
		t.Errorf("c= %s, want %s", got, local.Addr.Addr())
	}
	if want := strings.Count("\n"+strings.ReplaceAll(offer, "\r", "\n"), "\nm="); len(desc.MediaDescriptions) != want {
		t.Fatalf("answer has %d m= lines, offer %d:\n%s", len(desc.MediaDescriptions), want, answer)
	}
	for i, md := range desc.MediaDescriptions {
		if slices.Contains(rejected, i) {
			if md.MediaName.Port.Value != 0 || len(md.MediaName.Formats) == 0 {
				t.Errorf("m= line %d should be rejected with port 0 and a format: %s", i, md.MediaName)
			}
			continue
		}
		if md.MediaName.Port.Value != int(local.Addr.Port()) {
			t.Errorf("m= line %d: port %d, want %d", i, md.MediaName.Port.Value, local.Addr.Port())
		}
		formats := []string{itoa(n.Codec.PayloadType)}
		if strings.Contains(offer, "a=rtpmap:13 CN/8000") { // comfort noise, answered when offered
			formats = append(formats, "13")
		}
		if n.DTMFPayloadType != 0 {
			formats = append(formats, itoa(n.DTMFPayloadType))
		}
		if !slices.Equal(md.MediaName.Formats, formats) {
			t.Errorf("m= line %d: formats %v, want %v", i, md.MediaName.Formats, formats)
		}
		if _, ok := md.Attribute(string(n.Direction)); !ok {
			t.Errorf("m= line %d: no a=%s:\n%s", i, n.Direction, answer)
		}
		if n.DTMFPayloadType != 0 {
			want := itoa(n.DTMFPayloadType) + " telephone-event/8000"
			if !slices.ContainsFunc(md.Attributes, func(a sdp.Attribute) bool { return a.Key == "rtpmap" && a.Value == want }) {
				t.Errorf("m= line %d: no a=rtpmap:%s", i, want)
			}
		}
	}
}

func TestAnswerErrors(t *testing.T) {
	pcmaOnly := ourLocal
	pcmaOnly.Codecs = []media.Codec{media.PCMA}
	tests := []struct {
		name  string
		offer string
		local *media.Local
		want  error
	}{
		{"empty", "", nil, media.ErrBadSDP},
		{"blank", " \r\n\r\n", nil, media.ErrBadSDP},
		{"not SDP", "hello world, this is not SDP", nil, media.ErrBadSDP},
		{"HTML", "<html><body>502 Bad Gateway</body></html>", nil, media.ErrBadSDP},
		{"binary", "\x00\x01\x02v=0\xff", nil, media.ErrBadSDP},
		{"version only", "v=0\r\n", nil, media.ErrBadSDP},
		{"does not start with v=", "o=- 1 2 IN IP4 192.0.2.1\r\nv=0\r\n", nil, media.ErrBadSDP},
		{"bad origin", strings.Replace(asteriskOffer, "IN IP4 192.0.2.10\ns=", "XX IP4 192.0.2.10\ns=", 1), nil, media.ErrBadSDP},
		{"bad port", strings.Replace(asteriskOffer, "17142", "http", 1), nil, media.ErrBadSDP},
		{"no c= line", strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10\n", "", 1), nil, media.ErrBadSDP},
		{"host name in c=", strings.Replace(asteriskOffer, "c=IN IP4 192.0.2.10", "c=IN IP4 pbx.example.com", 1), nil, media.ErrBadSDP},
		{"only G.729 and G.722", strings.Replace(trunkOffer, "RTP/AVP 18 0 8 100", "RTP/AVP 18 9 100", 1), nil, media.ErrNoCommonCodec},
		{"PCMU offered, we take PCMA only", strings.Replace(asteriskOffer, "RTP/AVP 0 8 3", "RTP/AVP 0 3", 1), &pcmaOnly, media.ErrNoCommonCodec},
		{"audio disabled", strings.Replace(asteriskOffer, "m=audio 17142", "m=audio 0", 1), nil, media.ErrNoCommonCodec},
		{"SRTP only", strings.Replace(asteriskOffer, "RTP/AVP", "RTP/SAVP", 1), nil, media.ErrNoCommonCodec},
		{"video only", "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 9000 RTP/AVP 96\r\n", nil, media.ErrNoCommonCodec},
		{"no m= line", "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n", nil, media.ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := ourLocal
			if tt.local != nil {
				local = *tt.local
			}
			answer, _, err := media.Answer([]byte(tt.offer), local)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if answer != nil {
				t.Errorf("an answer came with the error: %s", answer)
			}
		})
	}
}

func TestOfferAnswerRoundTrip(t *testing.T) {
	caller := media.Local{Addr: ap("[2001:db8::5]:30000"), SessionID: 9, Version: 1}
	callee := media.Local{Addr: ap("[2001:db8::6]:40000"), Codecs: []media.Codec{media.PCMA}}

	offer := media.Offer(caller)
	if !strings.Contains(string(offer), "c=IN IP6 2001:db8::5\r\n") ||
		!strings.Contains(string(offer), "m=audio 30000 RTP/AVP 0 8 13 101\r\n") ||
		!strings.Contains(string(offer), "a=rtpmap:101 telephone-event/8000\r\n") ||
		!strings.Contains(string(offer), "a=sendrecv\r\n") {
		t.Fatalf("unexpected offer:\n%s", offer)
	}
	answer, atCallee, err := media.Answer(offer, callee)
	if err != nil {
		t.Fatal(err)
	}
	want := media.Negotiated{Remote: caller.Addr, Codec: media.PCMA, DTMFPayloadType: 101,
		Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv}
	if atCallee != want {
		t.Errorf("callee negotiated %+v, want %+v", atCallee, want)
	}
	atCaller, err := media.ParseAnswer(answer, caller)
	if err != nil {
		t.Fatal(err)
	}
	want.Remote = callee.Addr
	if atCaller != want {
		t.Errorf("caller negotiated %+v, want %+v", atCaller, want)
	}
}

func TestParseAnswer(t *testing.T) {
	local := media.Local{Addr: ap("192.0.2.1:20000"), DTMFPayloadType: 96}
	base := `v=0
o=phone 5 6 IN IP4 192.0.2.9
s=-
c=IN IP4 192.0.2.9
t=0 0
m=audio 5004 RTP/AVP 8 96
a=rtpmap:96 telephone-event/8000
a=sendrecv
`
	got, err := media.ParseAnswer([]byte(base), local)
	if err != nil {
		t.Fatal(err)
	}
	want := media.Negotiated{Remote: ap("192.0.2.9:5004"), Codec: media.PCMA, DTMFPayloadType: 96,
		Direction: media.DirSendRecv, RemoteDirection: media.DirSendRecv}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	got, err = media.ParseAnswer([]byte(strings.Replace(base, "a=sendrecv", "a=recvonly", 1)), local)
	if err != nil || got.Direction != media.DirSendOnly || got.RemoteDirection != media.DirRecvOnly {
		t.Errorf("recvonly answer: %+v, %v", got, err)
	}
	got, err = media.ParseAnswer([]byte(strings.Replace(base, " 8 96", " 0", 1)), local)
	if err != nil || got.Codec != media.PCMU || got.DTMFPayloadType != 0 {
		t.Errorf("answer without telephone-event: %+v, %v", got, err)
	}
	if _, err := media.ParseAnswer([]byte(strings.Replace(base, "5004", "0", 1)), local); !errors.Is(err, media.ErrNoCommonCodec) {
		t.Errorf("rejected stream: err = %v", err)
	}
	if _, err := media.ParseAnswer([]byte(strings.Replace(base, " 8 96", " 18 96", 1)), local); !errors.Is(err, media.ErrNoCommonCodec) {
		t.Errorf("G.729 answer: err = %v", err)
	}
	// An answer in another transport is not plain RTP, whatever its formats
	// say (found by FuzzParseAnswer, issue 7).
	for _, proto := range []string{"RTP/SAVP", "udptl", "0"} {
		if n, err := media.ParseAnswer([]byte(strings.Replace(base, "RTP/AVP", proto, 1)), local); !errors.Is(err, media.ErrNoCommonCodec) {
			t.Errorf("answer over %s: %+v, %v; want ErrNoCommonCodec", proto, n, err)
		}
	}
	if _, err := media.ParseAnswer([]byte("SIP/2.0 200 OK"), local); !errors.Is(err, media.ErrBadSDP) {
		t.Errorf("garbage answer: err = %v", err)
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func itoa(pt uint8) string { return strconv.Itoa(int(pt)) }
