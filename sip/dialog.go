package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/clubline/clubline/sip/internal/edge"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// dialog is one side's state of a SIP dialog (RFC 3261 §12): its
// identifiers, the remote target and route set, and both sequence numbers.
// It builds and sends requests within the dialog and checks the ones that
// arrive. An answered call builds it from the INVITE (newUASDialog); an
// outbound leg to a staff phone will build it from the 2xx it receives,
// with the same fields, and reuse the rest.
type dialog struct {
	client    *sipgo.Client
	callID    string
	local     sipmsg.Uri // our address of record (To of the INVITE we answered)
	localName string
	localTag  string
	remote    sipmsg.Uri // the peer's (From of that INVITE)
	remName   string
	remoteTag string
	transport string          // "UDP" or "TCP"
	contact   sipmsg.Uri      // our Contact
	viaHost   string          // sent-by of our requests
	viaPort   int             //
	laddr     *net.UDPAddr    // UDP: send from this listener so replies and NATs match
	routes    []sipmsg.Header // route set, in the order requests carry it
	placed    bool            // clubline placed it (a staff leg): its requests may open connections (edge.go)
	src       string          // a caller's dialog: where its INVITE came from (edge.go)

	mu        sync.Mutex
	target    sipmsg.Uri // remote target: the peer's Contact
	dest      string     // when set, send here instead of resolving the target
	localSeq  uint32
	remoteSeq uint32
}

// dialogKey identifies a dialog from our side: Call-ID and both tags.
func dialogKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

func (d *dialog) key() string { return dialogKey(d.callID, d.localTag, d.remoteTag) }

// dialogEnd is where our requests leave from: the listener of the
// transport and the address we advertise.
type dialogEnd struct {
	client  *sipgo.Client
	host    string // advertised host (Via, Contact)
	port    int    // listener port
	laddr   *net.UDPAddr
	contact sipmsg.Uri
}

// newUASDialog makes the dialog an INVITE creates for the side that answers
// it (RFC 3261 §12.1.1). req must carry From, To, Call-ID, CSeq and Contact.
func newUASDialog(req *sipmsg.Request, localTag string, end dialogEnd) *dialog {
	from, to := req.From(), req.To()
	remoteTag, _ := from.Params.Get("tag")
	d := &dialog{
		client:    end.client,
		callID:    req.CallID().Value(),
		local:     *to.Address.Clone(),
		localName: to.DisplayName,
		localTag:  localTag,
		remote:    *from.Address.Clone(),
		remName:   from.DisplayName,
		remoteTag: remoteTag,
		transport: req.Transport(),
		contact:   end.contact,
		viaHost:   end.host,
		viaPort:   end.port,
		laddr:     end.laddr,
		target:    *req.Contact().Address.Clone(),
		remoteSeq: req.CSeq().SeqNo,
		localSeq:  randomSeq(),
		src:       req.Source(),
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		d.routes = append(d.routes, sipmsg.NewHeader("Route", rr.Value()))
	}
	d.dest = pickDestination(req, len(d.routes) > 0)
	return d
}

// pickDestination decides where requests of a dialog go. Over TCP they
// reuse the caller's connection, route set or not (reach.go). Over UDP with
// an empty route set they go to the Contact, unless it is a private address
// behind a public source (a phone behind NAT), then to the source, as RFC
// 3581 does for responses.
func pickDestination(req *sipmsg.Request, routed bool) string {
	src := req.Source()
	if sipmsg.IsReliable(req.Transport()) {
		return src
	}
	if routed {
		return ""
	}
	srcAP, err := netip.ParseAddrPort(src)
	if err != nil {
		return ""
	}
	contact, err := netip.ParseAddr(req.Contact().Address.Host)
	if err != nil || contact.Unmap() == srcAP.Addr().Unmap() {
		return ""
	}
	if contact.IsPrivate() && !srcAP.Addr().IsPrivate() && !srcAP.Addr().IsLoopback() {
		return src
	}
	return ""
}

func randomSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])%0x7fff_0000 + 1
}

// checkRemote applies RFC 3261 §12.2.2 to a request received in the dialog:
// a CSeq lower than the last one is out of order. ACK and CANCEL carry the
// CSeq of the request they belong to and are not counted.
func (d *dialog) checkRemote(req *sipmsg.Request) error {
	if req.IsAck() || req.IsCancel() {
		return nil
	}
	seq := req.CSeq().SeqNo
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq < d.remoteSeq {
		return fmt.Errorf("CSeq %d is lower than %d: out of order", seq, d.remoteSeq)
	}
	d.remoteSeq = seq
	return nil
}

// refreshTarget follows a new Contact in a target refresh request
// (re-INVITE, UPDATE: RFC 3261 §12.2.2).
func (d *dialog) refreshTarget(req *sipmsg.Request) {
	if c := req.Contact(); c != nil {
		d.mu.Lock()
		d.target = *c.Address.Clone()
		d.mu.Unlock()
	}
}

// request builds a request within the dialog with the next local CSeq
// (RFC 3261 §12.2.1.1). ACK reuses the CSeq of the INVITE it acknowledges:
// pass it as ackSeq, 0 otherwise.
func (d *dialog) request(method sipmsg.RequestMethod, ackSeq uint32) *sipmsg.Request {
	d.mu.Lock()
	target, dest := *d.target.Clone(), d.dest
	seq := ackSeq
	if method != sipmsg.ACK {
		d.localSeq++
		seq = d.localSeq
	}
	d.mu.Unlock()
	if dest == "" {
		dest = d.sourceFor(target)
	}

	req := sipmsg.NewRequest(method, target)
	via := &sipmsg.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: d.transport,
		Host: d.viaHost, Port: d.viaPort, Params: sipmsg.NewParams(),
	}
	via.Params.Add("branch", sipmsg.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	from := &sipmsg.FromHeader{DisplayName: d.localName, Address: d.local, Params: sipmsg.NewParams()}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	to := &sipmsg.ToHeader{DisplayName: d.remName, Address: d.remote, Params: sipmsg.NewParams()}
	to.Params.Add("tag", d.remoteTag)
	req.AppendHeader(to)
	callID := sipmsg.CallIDHeader(d.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, r := range d.routes {
		req.AppendHeader(sipmsg.HeaderClone(r))
	}
	if method == sipmsg.INVITE || method == sipmsg.UPDATE || method == sipmsg.NOTIFY { // target refresh requests
		req.AppendHeader(&sipmsg.ContactHeader{Address: d.contact})
	}
	req.AppendHeader(sipmsg.NewHeader("User-Agent", userAgent))
	req.SetTransport(d.transport)
	if dest != "" {
		req.SetDestination(dest)
	}
	if d.laddr != nil {
		req.Laddr = sipmsg.Addr{IP: d.laddr.IP, Port: d.laddr.Port}
	}
	req.SetBody(nil)
	return req
}

// asIs tells sipgo's client to send a request as built, adding nothing;
// only a request too big for UDP may move to TCP (edge.FitTransport).
func asIs(c *sipgo.Client, req *sipmsg.Request) error { return edge.FitTransport(c, req) }

// do sends a request within the dialog and returns its final response.
func (d *dialog) do(ctx context.Context, req *sipmsg.Request) (*sipmsg.Response, error) {
	tx, err := d.client.TransactionRequest(d.dialCtx(ctx), req, asIs)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", req.Method, err)
	}
	return finalResponse(ctx, req, tx)
}

// finalResponse waits for the final response of a client transaction (a
// request other than INVITE), skipping provisional ones, and terminates
// it.
func finalResponse(ctx context.Context, req *sipmsg.Request, tx sipmsg.ClientTransaction) (*sipmsg.Response, error) {
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", req.Method, err)
			}
			return nil, fmt.Errorf("%s: transaction ended without a response", req.Method)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", req.Method, ctx.Err())
		}
	}
}

// ack sends the ACK for a 2xx to our INVITE of CSeq seq (RFC 3261
// §13.2.2.4); it goes straight to the transport, outside any transaction.
func (d *dialog) ack(seq uint32, body []byte) error {
	req := d.request(sipmsg.ACK, seq)
	if body != nil {
		req.SetBody(body)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
	}
	return d.write(req)
}

// bye ends the dialog from our side and waits for the answer. Any final
// answer ends the dialog (RFC 3261 §15.1.1), so only a failure to get one
// is an error.
func (d *dialog) bye(ctx context.Context) error {
	res, err := d.do(ctx, d.request(sipmsg.BYE, 0))
	if err != nil {
		return err
	}
	if !res.IsSuccess() && res.StatusCode != sipmsg.StatusCallTransactionDoesNotExists {
		return fmt.Errorf("BYE answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// invite sends an INVITE within the dialog (a re-INVITE) with an offer,
// and ACKs its 2xx, again for every retransmission of it. It returns the
// final response; the caller takes the answer from its body.
func (d *dialog) invite(ctx context.Context, offer []byte, extra ...sipmsg.Header) (*sipmsg.Response, error) {
	req := d.request(sipmsg.INVITE, 0)
	for _, h := range extra {
		req.AppendHeader(h)
	}
	if offer != nil {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentTypeSDP))
		req.SetBody(offer)
	}
	seq := req.CSeq().SeqNo
	tx, err := d.client.TransactionRequest(d.dialCtx(ctx), req, asIs)
	if err != nil {
		return nil, fmt.Errorf("send INVITE: %w", err)
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				tx.Terminate() // sipgo ACKs a non-2xx itself
				return res, nil
			}
			// The transaction stays up for Timer M to catch 2xx retransmissions.
			tx.OnRetransmission(func(r *sipmsg.Response) {
				if r.IsSuccess() {
					_ = d.ack(seq, nil)
				}
			})
			return res, d.ack(seq, nil)
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("INVITE: %w", err)
			}
			return nil, errors.New("INVITE: transaction ended without a response")
		case <-ctx.Done():
			tx.Terminate()
			return nil, fmt.Errorf("INVITE: %w", ctx.Err())
		}
	}
}
