package sip

import (
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// The ACK of a 2xx to an INVITE is a transaction of its own (RFC 3261
// §13.3.1.4, RFC 6026): sipgo hands it to onAck, which passes it to the
// goroutine waiting for it through a channel keyed by the INVITE's CSeq.

// ackChan registers the channel the ACK for the INVITE of CSeq seq is
// delivered on.
func (d *dialogLeg) ackChan(seq uint32) chan *sipmsg.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.ackWait[seq]
	if !ok {
		ch = make(chan *sipmsg.Request, 1)
		d.ackWait[seq] = ch
	}
	return ch
}

func (d *dialogLeg) forgetAck(seq uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ackWait, seq)
}

// deliverAck hands an ACK to whoever waits for it; a retransmitted ACK
// finds the channel full, and one nobody waits for is dropped.
func (d *dialogLeg) deliverAck(ack *sipmsg.Request) {
	seq := ack.CSeq().SeqNo
	d.mu.Lock()
	ch := d.ackWait[seq]
	d.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ack:
		default:
		}
	}
}

// awaitACK waits for the ACK of a 2xx to an INVITE, retransmitting the
// 2xx over UDP from T1, doubling up to T2 (RFC 3261 §13.3.1.4), for at
// most timeout (64*T1 unless the options say otherwise). It returns nil if
// none came or stop closed first. A peer that reuses the INVITE's branch
// for its ACK is served too, but only if the ACK carries our To tag
// (localTag): whoever chose the branch can forge that ACK without ever
// seeing our answer, and it is the ACK that confirms the dialog (call.go).
func awaitACK(tx sipmsg.ServerTransaction, res *sipmsg.Response, transport string,
	acks <-chan *sipmsg.Request, stop <-chan struct{}, timeout time.Duration, localTag string) *sipmsg.Request {
	var retransmit <-chan time.Time
	interval := sipmsg.T1
	rt := time.NewTimer(interval)
	defer rt.Stop()
	if !sipmsg.IsReliable(transport) {
		retransmit = rt.C
	}
	giveUp := time.NewTimer(timeout)
	defer giveUp.Stop()
	txAcks := tx.Acks()
	for {
		select {
		case ack := <-acks:
			return ack
		case ack := <-txAcks:
			if ack != nil && sipx.ToTag(ack) == localTag {
				return ack
			}
		case <-retransmit:
			_ = tx.Respond(res) // a failure shows as a missing ACK
			interval = min(2*interval, sipmsg.T2)
			rt.Reset(interval)
		case <-giveUp.C:
			return nil
		case <-stop:
			return nil
		}
	}
}
