package mwi

import "fmt"

// Summary is what a staff member's light shows: how many messages wait
// (New), of them how many are urgent (NewUrgent), and the old ones
// (RFC 3842's "saved" messages, which clubline has none of).
type Summary struct {
	New, Old, NewUrgent, OldUrgent int
}

// Waiting reports whether the light is on: a new message waits.
func (s Summary) Waiting() bool { return s.New > 0 }

// Body is the application/simple-message-summary body (RFC 3842 §5.2)
// for the mailbox account ("sip:201@clubline.example"):
//
//	Messages-Waiting: yes
//	Message-Account: sip:201@clubline.example
//	Voice-Message: 2/0 (1/0)
//
// Negative counts are written as 0.
func (s Summary) Body(account string) []byte {
	waiting := "no"
	if s.Waiting() {
		waiting = "yes"
	}
	b := fmt.Appendf(nil, "Messages-Waiting: %s\r\n", waiting)
	if account != "" {
		b = fmt.Appendf(b, "Message-Account: %s\r\n", account)
	}
	return fmt.Appendf(b, "Voice-Message: %d/%d (%d/%d)\r\n",
		max(s.New, 0), max(s.Old, 0), max(s.NewUrgent, 0), max(s.OldUrgent, 0))
}
