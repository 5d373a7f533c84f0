package notify_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clubline/clubline/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// caller is the number of the messages' caller.
const caller = "+15145550199"

// montreal is the club's time zone.
func montreal(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Toronto")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	return loc
}

// voicemail is a message as the wiring builds it.
func voicemail(t testing.TB, id string) notify.Message {
	t.Helper()
	loc := montreal(t)
	return notify.Message{
		Kind: notify.KindNew, ID: id, From: caller, Category: "registrations", CategoryLabel: "Inscriptions",
		Group: "office", CallerLanguage: "en",
		RecordedAt: time.Date(2025, 6, 3, 14, 5, 0, 0, loc), Duration: 42 * time.Second,
		Due: time.Date(2025, 6, 5, 14, 5, 0, 0, loc),
		To:  []string{"marie@club.example"}, Language: "fr",
		Link: "https://ligne.club.example/messages/" + id,
	}
}
