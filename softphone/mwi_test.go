package softphone

import "testing"

func TestParseSummary(t *testing.T) {
	for _, c := range []struct {
		body string
		want MessageSummary
	}{
		{"Messages-Waiting: yes\r\nMessage-Account: sip:201@club.example\r\nVoice-Message: 2/8 (1/2)\r\n",
			MessageSummary{Body: true, Waiting: true, Account: "sip:201@club.example", New: 2, Old: 8, NewUrgent: 1, OldUrgent: 2}},
		{"messages-waiting: no\nvoice-message: 0/3\n", MessageSummary{Body: true, Old: 3}},
		{"", MessageSummary{}},
	} {
		if got := parseSummary([]byte(c.body)); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.body, got, c.want)
		}
	}
}
