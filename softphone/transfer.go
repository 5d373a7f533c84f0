package softphone

import (
	"context"
	"fmt"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Transfer, as a staff phone asks for it: REFER in the call's dialog
// (RFC 3515), then the NOTIFYs that report how it goes, each with a
// message/sipfrag status line ("SIP/2.0 100 Trying", "SIP/2.0 200 OK").

// Refer asks the far end to transfer the call to target (a blind
// transfer) and returns the status of its answer: 202 when accepted. The
// target goes into Refer-To as is, between < and > unless it has them
// already ("sip:203@127.0.0.1", or "<sip:203@h?Replaces=…>"); an empty
// target sends a REFER without Refer-To, to test the refusal. Follow the
// transfer with Notifies or WaitNotify.
func (c *Call) Refer(ctx context.Context, target string) (int, error) {
	req := c.inDialog(sipmsg.REFER)
	if target != "" {
		if !strings.Contains(target, "<") {
			target = "<" + target + ">"
		}
		req.AppendHeader(sipmsg.NewHeader("Refer-To", target))
	}
	res, err := c.dialog.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("phone: REFER: %w", err)
	}
	return res.StatusCode, nil
}

// onNotify answers a NOTIFY in the call's dialog (200) and keeps the
// status line of its sipfrag body.
func (c *Call) onNotify(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	dialog, _, _ := c.state()
	if dialog == nil || !sameCall(dialog, req) {
		respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock() // before the answer: the next NOTIFY may follow it at once
	c.notifies = append(c.notifies, req)
	if c.notified != nil {
		close(c.notified)
		c.notified = nil
	}
	c.mu.Unlock()
	respond(tx, req, sipmsg.StatusOK, "OK")
}

// Notifies returns the status lines of the NOTIFYs received in the call
// ("SIP/2.0 100 Trying", "SIP/2.0 200 OK"), in the order they arrived.
func (c *Call) Notifies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := make([]string, len(c.notifies))
	for i, req := range c.notifies {
		lines[i] = statusLine(req)
	}
	return lines
}

// NotifyRequests returns the NOTIFYs received in the call, in the order
// they arrived, for their headers (Event, Subscription-State…).
func (c *Call) NotifyRequests() []*sipmsg.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sipmsg.Request(nil), c.notifies...)
}

// statusLine is the first line of a NOTIFY's message/sipfrag body.
func statusLine(req *sipmsg.Request) string {
	line, _, _ := strings.Cut(string(req.Body()), "\n")
	return strings.TrimSpace(line)
}

// WaitNotify waits until a NOTIFY whose status line starts with prefix
// ("SIP/2.0 200") has arrived, before the call or during the wait. It
// returns ctx's error when ctx ends first, and an error when the call ends
// without one.
func (c *Call) WaitNotify(ctx context.Context, prefix string) error {
	for {
		found, wait := c.notifyWith(prefix)
		if found {
			return nil
		}
		select {
		case <-wait:
		case <-c.ended:
			if found, _ := c.notifyWith(prefix); found {
				return nil
			}
			return fmt.Errorf("phone: call ended before a NOTIFY %s (got %q)", prefix, c.Notifies())
		case <-ctx.Done():
			return fmt.Errorf("phone: no NOTIFY %s (got %q): %w", prefix, c.Notifies(), ctx.Err())
		}
	}
}

// notifyWith reports whether a NOTIFY starting with prefix has arrived;
// if not, it returns a channel closed when the next one arrives.
func (c *Call) notifyWith(prefix string) (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, req := range c.notifies {
		if strings.HasPrefix(statusLine(req), prefix) {
			return true, nil
		}
	}
	if c.notified == nil {
		c.notified = make(chan struct{})
	}
	return false, c.notified
}
