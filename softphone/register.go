package softphone

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// RegisterOptions describe one REGISTER of a test staff phone.
type RegisterOptions struct {
	// User is the digest user name (the extension); AOR is the To user
	// (default User).
	User, Password, AOR string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Expires goes in the Expires header; NoExpires leaves the header out
	// (the registrar's default then applies). Zero with NoExpires false
	// un-registers.
	Expires   time.Duration
	NoExpires bool
	// Contacts are Contact header values as written ("<sip:201@10.0.0.5>",
	// "<sip:201@10.0.0.6>;expires=120", "*"). Default: the phone's own
	// socket. NoContact sends none (a query of the bindings).
	Contacts  []string
	NoContact bool
	// Algorithm, when set ("MD5", "SHA-256"), answers only a challenge of
	// that algorithm; default: the first challenge the phone can answer.
	Algorithm string
	// CallID and CSeq, when set, are those of the first request (to refresh
	// with the Call-ID of an earlier REGISTER, or to send one out of order).
	CallID string
	CSeq   uint32
	// LocalIP is the address of the phone's socket (default: the one that
	// routes to the registrar).
	LocalIP netip.Addr
	Logger  *slog.Logger
}

// Binding is one contact the registrar lists in its 200.
type Binding struct {
	Contact string
	Expires time.Duration
}

// Registration is the registrar's answer to a successful REGISTER.
type Registration struct {
	Bindings []Binding
	CallID   string
	CSeq     uint32 // of the request that got the 200
	Response *sipmsg.Response
}

// Register sends a REGISTER to registrar ("sip:127.0.0.1:5060") and answers
// the digest challenge (qop=auth, MD5 or SHA-256), once more if the nonce
// was stale. A final non-2xx answer is a *StatusError (Method REGISTER).
func Register(ctx context.Context, registrar string, o RegisterOptions) (*Registration, error) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(registrar, &target); err != nil {
		return nil, fmt.Errorf("phone: bad registrar URI %q: %w", registrar, err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AOR == "" {
		o.AOR = o.User
	}
	o.Transport = strings.ToLower(o.Transport)
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.Transport != "udp" && o.Transport != "tcp" {
		return nil, fmt.Errorf("phone: transport %q: use udp or tcp", o.Transport)
	}
	if !o.LocalIP.IsValid() {
		ip, err := routeTo(ctx, &target)
		if err != nil {
			return nil, err
		}
		o.LocalIP = ip
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("clubline-phone"),
		sipgo.WithUserAgentHostname(o.LocalIP.String()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(o.Logger),
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(*sipmsg.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(o.Logger)),
	)
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	var conn *net.UDPConn
	serving := make(chan struct{})
	defer func() {
		if conn != nil {
			_ = conn.Close()
			<-serving
		}
		_ = ua.Close()
		tp := ua.TransportLayer()
		for range 10 {
			time.Sleep(5 * time.Millisecond)
			if tp.Pool("udp").Size() > 0 || tp.Pool("tcp").Size() > 0 {
				_ = tp.Close()
			}
		}
	}()
	clientOpts := []sipgo.ClientOption{sipgo.WithClientHostname(o.LocalIP.String()), sipgo.WithClientLogger(o.Logger)}
	self := sipmsg.Uri{Scheme: "sip", User: o.User, Host: hostOf(o.LocalIP)}
	if o.Transport == "udp" {
		srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(o.Logger))
		if err != nil {
			close(serving)
			return nil, fmt.Errorf("phone: %w", err)
		}
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.LocalIP, 0)))
		if err != nil {
			close(serving)
			return nil, fmt.Errorf("phone: SIP socket: %w", err)
		}
		self.Port = conn.LocalAddr().(*net.UDPAddr).Port
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
		go func() {
			defer close(serving)
			_ = srv.ServeUDP(conn)
		}()
		if err := waitServing(ua); err != nil {
			return nil, err
		}
	} else {
		close(serving)
		target.UriParams = sipmsg.NewParams()
		target.UriParams.Add("transport", "tcp")
		self.UriParams = sipmsg.NewParams()
		self.UriParams.Add("transport", "tcp")
	}
	client, err := sipgo.NewClient(ua, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	return register(ctx, client, target, self, o)
}

// Register sends a REGISTER from the answerer's own socket, so that the
// registrar sees the phone where it takes calls (Received); the Contact
// defaults to the answerer's. UDP only, as the answerer.
func (a *Answerer) Register(ctx context.Context, registrar string, o RegisterOptions) (*Registration, error) {
	var target sipmsg.Uri
	if err := sipmsg.ParseUri(registrar, &target); err != nil {
		return nil, fmt.Errorf("phone: bad registrar URI %q: %w", registrar, err)
	}
	if o.Transport != "" && !strings.EqualFold(o.Transport, "udp") {
		return nil, fmt.Errorf("phone: answerer registers over udp only, not %q", o.Transport)
	}
	if o.AOR == "" {
		o.AOR = o.User
	}
	self := a.contact
	self.User = o.User
	return register(ctx, a.client, target, self, o)
}

// register sends the REGISTER through client, with self as the default
// Contact, and answers the digest challenge.
func register(ctx context.Context, client *sipgo.Client, target, self sipmsg.Uri, o RegisterOptions) (*Registration, error) {
	req := sipmsg.NewRequest(sipmsg.REGISTER, target)
	aor := sipmsg.Uri{Scheme: "sip", User: o.AOR, Host: target.Host}
	req.AppendHeader(&sipmsg.ToHeader{Address: aor, Params: sipmsg.NewParams()})
	from := &sipmsg.FromHeader{Address: aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", randomHex(8))
	req.AppendHeader(from)
	callID := o.CallID
	if callID == "" {
		callID = randomHex(16)
	}
	cid := sipmsg.CallIDHeader(callID)
	req.AppendHeader(&cid)
	cseq := o.CSeq
	if cseq == 0 {
		cseq = 1
	}
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: cseq, MethodName: sipmsg.REGISTER})
	switch {
	case o.NoContact:
	case len(o.Contacts) == 0:
		req.AppendHeader(sipmsg.NewHeader("Contact", "<"+self.String()+">"))
	default:
		for _, c := range o.Contacts {
			req.AppendHeader(sipmsg.NewHeader("Contact", c))
		}
	}
	if !o.NoExpires {
		req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(int(o.Expires/time.Second))))
	}

	res, err := client.Do(ctx, req)
	for tries := 0; err == nil && res.StatusCode == sipmsg.StatusUnauthorized && tries < 2; tries++ {
		if tries == 1 && !staleChallenge(res) {
			break
		}
		authz, aerr := answerChallenge(res, credentials{o.User, o.Password, o.Algorithm}, "REGISTER", target.String())
		if aerr != nil {
			return nil, aerr
		}
		req.RemoveHeader("Authorization")
		req.AppendHeader(sipmsg.NewHeader("Authorization", authz))
		req.CSeq().SeqNo++
		req.RemoveHeader("Via")
		res, err = client.Do(ctx, req, sipgo.ClientRequestAddVia)
	}
	if err != nil {
		return nil, fmt.Errorf("phone: REGISTER: %w", err)
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason, Method: "REGISTER", Response: res}
	}
	reg := &Registration{CallID: callID, CSeq: req.CSeq().SeqNo, Response: res}
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sipmsg.ContactHeader)
		if !ok {
			continue
		}
		b := Binding{Contact: c.Address.String()}
		if v, ok := c.Params.Get("expires"); ok {
			n, _ := strconv.Atoi(v)
			b.Expires = time.Duration(n) * time.Second
		}
		reg.Bindings = append(reg.Bindings, b)
	}
	return reg, nil
}

func staleChallenge(res *sipmsg.Response) bool {
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(h.Value()), "stale=true") {
			return true
		}
	}
	return false
}

// credentials answer a registrar's digest challenge: the user name (the
// extension), the password, and the only algorithm to answer ("" for the
// first the phone can).
type credentials struct{ user, password, algorithm string }

// answerChallenge picks a challenge of the 401 to a request of method
// and computes the Authorization value (RFC 2617 qop=auth, RFC 8760).
func answerChallenge(res *sipmsg.Response, o credentials, method, uri string) (string, error) {
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h.Value()), " ")
		if !strings.EqualFold(scheme, "Digest") {
			continue
		}
		p := challengeParams(rest)
		alg := p["algorithm"]
		if alg == "" {
			alg = "MD5"
		}
		if o.algorithm != "" && !strings.EqualFold(alg, o.algorithm) {
			continue
		}
		h := hashOf(alg)
		if h == nil {
			continue
		}
		hx := func(s string) string {
			h.Reset()
			h.Write([]byte(s))
			return hex.EncodeToString(h.Sum(nil))
		}
		ha1 := hx(o.user + ":" + p["realm"] + ":" + o.password)
		ha2 := hx(method + ":" + uri)
		cnonce, nc := randomHex(8), "00000001"
		var resp, qop string
		if strings.Contains(p["qop"], "auth") {
			qop = "auth"
			resp = hx(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		} else {
			resp = hx(ha1 + ":" + p["nonce"] + ":" + ha2)
		}
		out := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
			o.user, p["realm"], p["nonce"], uri, resp, alg)
		if qop != "" {
			out += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s"`, nc, cnonce)
		}
		return out, nil
	}
	return "", &StatusError{Code: res.StatusCode, Reason: res.Reason + " (no challenge the phone can answer)",
		Method: method, Response: res}
}

func hashOf(alg string) hash.Hash {
	switch strings.ToUpper(alg) {
	case "MD5":
		return md5.New()
	case "SHA-256":
		return sha256.New()
	}
	return nil
}

// challengeParams reads name=value and name="value" pairs; enough for the
// challenges of a test registrar.
func challengeParams(s string) map[string]string {
	p := make(map[string]string)
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			val, s = rest[1:1+end], rest[2+end:]
		} else {
			val, s, _ = strings.Cut(rest, ",")
			val = strings.TrimSpace(val)
		}
		p[name] = val
	}
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
