package media

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxSDPSize bounds what we agree to parse; real offers are under 2 KB.
const maxSDPSize = 64 << 10

// mline is an offered m= line as written, so that a stream we reject can be
// echoed with port 0 even when pion/sdp cannot represent it (m=image udptl).
type mline struct {
	media   string
	port    int
	proto   string
	formats []string
}

// pion/sdp accepts only these media and transport tokens on an m= line.
var (
	pionMedia  = []string{"audio", "video", "text", "application", "message"}
	pionProtos = []string{"UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP",
		"AVPF", "TCP", "MSRP", "BFCP", "UDT", "IX", "MRCPv2", "FEC"}
)

// normalizeSDP turns what real user agents send into what pion/sdp parses:
// LF, CRLF or bare CR line ends (a CR left inside a line would reach
// pion's values; found by FuzzNormalizeSDP, issue 7), stray blanks, blank lines, lines out of the RFC 4566
// order and lines clubline never reads (b=, i=, k=, z=, ...) are all
// tolerated. It returns CRLF text and the m= lines as offered.
func normalizeSDP(raw []byte) (string, []mline, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "", nil, fmt.Errorf("%w: empty body", ErrBadSDP)
	}
	if len(raw) > maxSDPSize {
		return "", nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadSDP, len(raw), maxSDPSize)
	}
	type line struct {
		rank int
		text string
	}
	var (
		session []line
		media   [][]line
		mlines  []mline
	)
	lf := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\r", "\n")
	for i, l := range strings.Split(lf, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' {
			return "", nil, fmt.Errorf("%w: line %d %q is not type=value", ErrBadSDP, i+1, clip(l))
		}
		if len(session) == 0 && l[0] != 'v' {
			return "", nil, fmt.Errorf("%w: first line %q is not v=0", ErrBadSDP, clip(l))
		}
		// Trim blanks after '=' too ("a= sendonly" happens).
		l = l[:2] + strings.TrimSpace(l[2:])
		if l[0] == 'm' {
			ml, text, err := parseMLine(l)
			if err != nil {
				return "", nil, fmt.Errorf("%w: line %d: %v", ErrBadSDP, i+1, err)
			}
			mlines = append(mlines, ml)
			media = append(media, []line{{0, text}})
			continue
		}
		if len(media) == 0 {
			rank := strings.IndexByte("vosct", l[0]) // the session lines we keep, in order
			if l[0] == 'a' {
				rank = 5
			}
			if rank >= 0 {
				session = append(session, line{rank, l})
			}
			continue
		}
		switch l[0] {
		case 'c':
			media[len(media)-1] = append(media[len(media)-1], line{1, l})
		case 'a':
			media[len(media)-1] = append(media[len(media)-1], line{2, l})
		}
	}
	byRank := func(a, b line) int { return a.rank - b.rank }
	slices.SortStableFunc(session, byRank)
	has := func(t byte) bool {
		return slices.ContainsFunc(session, func(l line) bool { return l.text[0] == t })
	}
	if !has('o') {
		return "", nil, fmt.Errorf("%w: no o= line", ErrBadSDP)
	}
	// A missing s= or t= goes after every line that comes before it in
	// RFC 4566's order (a fixed index put s= before o= when the input had
	// two v= lines; found by FuzzNormalizeSDP, issue 7).
	insert := func(l line) {
		i := slices.IndexFunc(session, func(m line) bool { return m.rank > l.rank })
		if i < 0 {
			i = len(session)
		}
		session = slices.Insert(session, i, l)
	}
	if !has('s') {
		insert(line{2, "s=-"})
	}
	if !has('t') {
		insert(line{4, "t=0 0"})
	}
	var b strings.Builder
	for _, l := range session {
		b.WriteString(l.text)
		b.WriteString("\r\n")
	}
	for _, m := range media {
		slices.SortStableFunc(m, byRank)
		for _, l := range m {
			b.WriteString(l.text)
			b.WriteString("\r\n")
		}
	}
	return b.String(), mlines, nil
}

// parseMLine reads "m=<media> <port>[/<n>] <proto> <fmt> ..." and returns
// it with the line pion/sdp should see: unknown media or transports become
// a placeholder application line, which is never accepted.
func parseMLine(l string) (mline, string, error) {
	f := strings.Fields(l[2:])
	if len(f) < 3 {
		return mline{}, "", fmt.Errorf("m= line %q has fewer than 3 fields", clip(l))
	}
	portText, _, _ := strings.Cut(f[1], "/")
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return mline{}, "", fmt.Errorf("m= line %q: bad port %q", clip(l), f[1])
	}
	ml := mline{media: f[0], port: port, proto: f[2], formats: f[3:]}
	known := slices.Contains(pionMedia, f[0])
	for p := range strings.SplitSeq(f[2], "/") {
		known = known && slices.Contains(pionProtos, p)
	}
	if !known {
		return ml, "m=application 0 UDP 0", nil
	}
	return ml, "m=" + strings.Join(f, " "), nil
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
