package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
	redisstore "github.com/clubline/clubline/store/redis"
	"github.com/clubline/clubline/store/storetest"
)

// envURL names a real Redis to run the tests against as well, e.g.
// redis://127.0.0.1:6379/15. Only keys under a fresh test prefix are
// written and deleted; the database is never flushed.
const envURL = "CLUBLINE_TEST_REDIS_URL"

// backend is a Redis the tests can use: a fresh URL and key prefix per test.
type backend struct {
	name  string
	setup func(t *testing.T) (url, prefix string)
}

func backends(t *testing.T) []backend {
	bs := []backend{{"miniredis", func(t *testing.T) (string, string) {
		return "redis://" + miniredis.RunT(t).Addr(), ""
	}}}
	if url := os.Getenv(envURL); url != "" {
		bs = append(bs, backend{"redis", func(t *testing.T) (string, string) {
			prefix := "clubline-test:" + randomHex(t) + ":"
			t.Cleanup(func() { deleteKeys(t, url, prefix) })
			return url, prefix
		}})
	} else {
		t.Logf("%s not set: testing against miniredis only", envURL)
	}
	return bs
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// deleteKeys removes the keys under prefix, and only those.
func deleteKeys(t *testing.T, url, prefix string) {
	rdb := rawClient(t, url)
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan test keys: %v", err)
		return
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
	}
}

func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(o)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func newStore(t *testing.T, url, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunDurable(t, func(t *testing.T) (clubline.Store, func() clubline.Store) {
				url, prefix := b.setup(t)
				return newStore(t, url, prefix), func() clubline.Store { return newStore(t, url, prefix) }
			})
		})
	}
}

// TestLayout checks the keys and fields an admin reads with redis-cli, as
// docs/data.md describes them.
func TestLayout(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			url, prefix := b.setup(t)
			if prefix == "" {
				prefix = "clubline:"
			}
			testLayout(t, url, prefix)
		})
	}
}

func testLayout(t *testing.T, url, prefix string) {
	ctx := t.Context()
	s := newStore(t, url, prefix)
	defer s.Close()
	rdb := rawClient(t, url)

	edt := time.FixedZone("EDT", -4*3600)
	start := time.Date(2025, 6, 24, 9, 5, 0, 123_000_000, edt)
	live := &clubline.Call{
		ID: "c-1", From: "+15145550123", To: "+15145550000", StartedAt: start,
		Hours: clubline.HoursClosed, HoursReason: "holiday Fête nationale", Language: "fr",
		Stage: clubline.StageGreeting,
		Trace: []string{"closed: holiday Fête nationale", "two\nlines"},
	}
	if err := s.SaveCall(ctx, live); err != nil {
		t.Fatal(err)
	}
	wantHash(t, rdb, prefix+"call:c-1", map[string]string{
		"id": "c-1", "from": "+15145550123", "to": "+15145550000",
		"started_at": "2025-06-24T13:05:00.123Z", "hours": "closed",
		"hours_reason": "holiday Fête nationale", "language": "fr", "stage": "greeting",
		"duration_ms": "0", "trace": "closed: holiday Fête nationale\ntwo lines",
	})

	ended := *live
	ended.Choice, ended.Category, ended.Route = "1", "registrations", "voicemail"
	ended.Outcome, ended.Stage, ended.VoicemailID = clubline.OutcomeVoicemail, clubline.StageVoicemail, "v-1"
	ended.EndedAt = start.Add(95*time.Second + 457*time.Millisecond)
	ended.Duration = 95*time.Second + 457*time.Millisecond
	ended.Trace = []string{"menu: 1 registrations → voicemail"}
	if err := s.SaveCall(ctx, &ended); err != nil {
		t.Fatal(err)
	}
	wantHash(t, rdb, prefix+"call:c-1", map[string]string{
		"id": "c-1", "from": "+15145550123", "to": "+15145550000",
		"started_at": "2025-06-24T13:05:00.123Z", "hours": "closed",
		"hours_reason": "holiday Fête nationale", "language": "fr",
		"choice": "1", "category": "registrations", "route": "voicemail",
		"outcome": "voicemail", "stage": "voicemail", "voicemail_id": "v-1",
		"ended_at": "2025-06-24T13:06:35.580Z", "duration_ms": "95457",
		"trace": "menu: 1 registrations → voicemail",
	})
	wantScore(t, rdb, prefix+"calls", "c-1", start.UnixMilli())

	// A call answered from a queue, then transferred.
	queued := start.Add(12345 * time.Millisecond)
	answered := &clubline.Call{
		ID: "c-2", StartedAt: start, Hours: clubline.HoursOpen, Route: "office",
		Group: "office", QueuedAt: queued, AnsweredAt: queued.Add(20111 * time.Millisecond),
		AnsweredBy: "marie", Wait: 20111 * time.Millisecond, TransferredTo: "coaches", Survey: 5,
		Outcome: clubline.OutcomeAnswered, Stage: clubline.StageBridged,
		EndedAt: start.Add(180007 * time.Millisecond), Duration: 180007 * time.Millisecond,
	}
	if err := s.SaveCall(ctx, answered); err != nil {
		t.Fatal(err)
	}
	wantHash(t, rdb, prefix+"call:c-2", map[string]string{
		"id": "c-2", "started_at": "2025-06-24T13:05:00.123Z", "hours": "open", "route": "office",
		"group": "office", "queued_at": "2025-06-24T13:05:12.468Z",
		"answered_at": "2025-06-24T13:05:32.579Z", "answered_by": "marie", "wait_ms": "20111",
		"transferred_to": "coaches", "survey": "5", "outcome": "answered", "stage": "bridged",
		"ended_at": "2025-06-24T13:08:00.130Z", "duration_ms": "180007",
	})

	due := time.Date(2025, 6, 25, 9, 0, 0, 0, edt)
	v := &clubline.Voicemail{
		ID: "v-1", CallID: "c-1", From: "+15145550123", Category: "registrations",
		Urgent: true, RecordedAt: start.Add(30 * time.Second), Duration: 42512 * time.Millisecond,
		Path: "/var/lib/clubline/voicemail/v-1.wav", FollowUpDue: due, Status: clubline.VoicemailNew,
	}
	if err := s.SaveVoicemail(ctx, v); err != nil {
		t.Fatal(err)
	}
	wantHash(t, rdb, prefix+"voicemail:v-1", map[string]string{
		"id": "v-1", "call_id": "c-1", "from": "+15145550123", "category": "registrations",
		"urgent": "1", "recorded_at": "2025-06-24T13:05:30.123Z", "duration_ms": "42512",
		"path": "/var/lib/clubline/voicemail/v-1.wav", "follow_up_due": "2025-06-25T13:00:00.000Z",
		"status": "new",
	})
	wantScore(t, rdb, prefix+"followups", "v-1", due.UnixMilli())
	wantScore(t, rdb, prefix+"voicemails", "v-1", v.RecordedAt.UnixMilli())

	v.Status, v.Urgent = clubline.VoicemailDone, false
	if err := s.SaveVoicemail(ctx, v); err != nil {
		t.Fatal(err)
	}
	if got := rdb.HGet(ctx, prefix+"voicemail:v-1", "urgent").Val(); got != "0" {
		t.Errorf("urgent = %q, want 0", got)
	}
	if n := rdb.ZCard(ctx, prefix+"followups").Val(); n != 0 {
		t.Errorf("followups holds %d ids after done, want 0", n)
	}

	// The follow-up's fields; the notes are one field, a JSON array.
	closed := &clubline.Voicemail{
		ID: "v-2", CallID: "c-2", RecordedAt: start.Add(time.Minute), FollowUpDue: due,
		Status: clubline.VoicemailDone, Group: "office", Language: "en", AssignedTo: "marie",
		Notes: []clubline.Note{
			{By: "marie", At: start.Add(time.Hour), Text: "rappelé,\nlaissé un message"},
			{By: "luc", At: start.Add(2 * time.Hour), Text: "joint"},
		},
		DoneAt: start.Add(2 * time.Hour), DoneBy: "luc", DoneHow: clubline.FollowUpClosedWeb,
		RemindedAt: due.Add(-time.Hour), EscalatedAt: due.Add(time.Hour),
	}
	if err := s.SaveVoicemail(ctx, closed); err != nil {
		t.Fatal(err)
	}
	wantHash(t, rdb, prefix+"voicemail:v-2", map[string]string{
		"id": "v-2", "call_id": "c-2", "urgent": "0", "recorded_at": "2025-06-24T13:06:00.123Z",
		"duration_ms": "0", "follow_up_due": "2025-06-25T13:00:00.000Z", "status": "done",
		"group": "office", "language": "en", "assigned_to": "marie",
		"notes": `[{"by":"marie","at":"2025-06-24T14:05:00.123Z","text":"rappelé,\nlaissé un message"},` +
			`{"by":"luc","at":"2025-06-24T15:05:00.123Z","text":"joint"}]`,
		"done_at": "2025-06-24T15:05:00.123Z", "done_by": "luc", "done_how": "web",
		"reminded_at": "2025-06-25T12:00:00.000Z", "escalated_at": "2025-06-25T14:00:00.000Z",
	})

	// The line's state: one string per key.
	if err := s.SetState(ctx, "override", "closed"); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, prefix+"state:override").Result(); err != nil || got != "closed" {
		t.Errorf("GET %sstate:override = %q, %v; want closed", prefix, got, err)
	}
	if err := s.SetState(ctx, "notice", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, "notice", ""); err != nil {
		t.Fatal(err)
	}

	// An erasure takes the record out of its indexes too.
	if err := s.DeleteCall(ctx, "c-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVoicemail(ctx, "v-2"); err != nil {
		t.Fatal(err)
	}
	for key, member := range map[string]string{prefix + "calls": "c-2", prefix + "voicemails": "v-2", prefix + "followups": "v-2"} {
		if err := rdb.ZScore(ctx, key, member).Err(); !errors.Is(err, goredis.Nil) {
			t.Errorf("ZSCORE %s %s after the deletion: %v, want nil", key, member, err)
		}
	}

	keys := rdb.Keys(ctx, prefix+"*").Val()
	want := []string{prefix + "call:c-1", prefix + "calls", prefix + "voicemail:v-1", prefix + "voicemails", prefix + "state:override"}
	if !sameSet(keys, want) {
		t.Errorf("keys under %q = %q, want %q", prefix, keys, want)
	}
}

func wantHash(t *testing.T, rdb *goredis.Client, key string, want map[string]string) {
	t.Helper()
	got, err := rdb.HGetAll(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	for f, w := range want {
		if g, ok := got[f]; !ok || g != w {
			t.Errorf("HGET %s %s = %q (present: %t), want %q", key, f, g, ok, w)
		}
	}
	for f, g := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("HGET %s %s = %q, want no such field", key, f, g)
		}
	}
}

func wantScore(t *testing.T, rdb *goredis.Client, key, member string, want int64) {
	t.Helper()
	got, err := rdb.ZScore(t.Context(), key, member).Result()
	if err != nil {
		t.Fatalf("ZSCORE %s %s: %v", key, member, err)
	}
	if int64(got) != want {
		t.Errorf("ZSCORE %s %s = %.0f, want %d", key, member, got, want)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

func TestDefaultPrefixAndBadURL(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, "redis://"+mr.Addr(), "")
	defer s.Close()
	if got := s.CallKey("x"); got != "clubline:call:x" {
		t.Errorf("CallKey with the default prefix = %q", got)
	}
	if _, err := redisstore.New(redisstore.Options{}); err == nil {
		t.Error("New without a URL succeeded")
	}
	_, err := redisstore.New(redisstore.Options{URL: "http://user:s3cret@host:6379/%zz"})
	if err == nil {
		t.Fatal("New with a bad URL succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, "redis://"+mr.Addr(), "")
	defer s.Close()
	mr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping with Redis down succeeded")
	}
	if err := s.SaveCall(ctx, &clubline.Call{ID: "c"}); err == nil {
		t.Error("SaveCall with Redis down succeeded")
	}
}

func TestDanglingIndexEntry(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, "redis://"+mr.Addr(), "")
	defer s.Close()
	start := time.Date(2025, 6, 24, 13, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b"} {
		if err := s.SaveCall(t.Context(), &clubline.Call{ID: id, StartedAt: start}); err != nil {
			t.Fatal(err)
		}
	}
	mr.Del("clubline:call:a") // an admin deleted a record by hand
	cs, err := s.Calls(t.Context(), start, start.Add(time.Second), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != "b" {
		t.Errorf("Calls with a dangling index entry = %v, want only b", cs)
	}
}

// TestBadNotes: a notes field that is not a JSON array of notes is an
// error that names the key and the field, not an empty list.
func TestBadNotes(t *testing.T) {
	mr := miniredis.RunT(t)
	s := newStore(t, "redis://"+mr.Addr(), "")
	defer s.Close()
	mr.HSet("clubline:voicemail:v1", "id", "v1", "status", "new", "notes", "rappelé")
	_, err := s.Voicemail(t.Context(), "v1")
	if err == nil || !strings.Contains(err.Error(), "clubline:voicemail:v1") || !strings.Contains(err.Error(), "notes") {
		t.Errorf("Voicemail with bad notes: err = %v, want one naming the key and the field", err)
	}
}
