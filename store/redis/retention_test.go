package redis_test

import (
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/clubline/clubline"
)

// TestRetentionLayout checks what a purge leaves in Redis: nothing of the
// records it deleted, in the hashes or in any index.
func TestRetentionLayout(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			url, prefix := b.setup(t)
			if prefix == "" {
				prefix = "clubline:"
			}
			ctx := t.Context()
			s := newStore(t, url, prefix)
			defer s.Close()
			rdb := rawClient(t, url)

			cut := time.Date(2025, 6, 24, 13, 0, 0, 0, time.UTC)
			for _, c := range []*clubline.Call{{ID: "c-old", StartedAt: cut.Add(-time.Hour)}, {ID: "c-new", StartedAt: cut}} {
				if err := s.SaveCall(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range []*clubline.Voicemail{
				{ID: "v-old", RecordedAt: cut.Add(-time.Hour), FollowUpDue: cut.Add(time.Hour), Status: clubline.VoicemailNew},
				{ID: "v-new", RecordedAt: cut, FollowUpDue: cut.Add(2 * time.Hour), Status: clubline.VoicemailNew},
			} {
				if err := s.SaveVoicemail(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.DeleteCallsBefore(ctx, cut); err != nil || n != 1 {
				t.Fatalf("DeleteCallsBefore = %d, %v; want 1", n, err)
			}
			if vs, err := s.DeleteVoicemailsBefore(ctx, cut); err != nil || len(vs) != 1 {
				t.Fatalf("DeleteVoicemailsBefore = %v, %v; want v-old", vs, err)
			}
			keys := rdb.Keys(ctx, prefix+"*").Val()
			want := []string{prefix + "call:c-new", prefix + "calls", prefix + "voicemail:v-new", prefix + "voicemails", prefix + "followups"}
			if !sameSet(keys, want) {
				t.Errorf("keys under %q after the purge = %q, want %q", prefix, keys, want)
			}
			for _, idx := range []string{"calls", "voicemails", "followups"} {
				members := rdb.ZRange(ctx, prefix+idx, 0, -1).Val()
				if slices.ContainsFunc(members, func(m string) bool { return m == "c-old" || m == "v-old" }) {
					t.Errorf("%s%s still names a deleted record: %q", prefix, idx, members)
				}
			}
		})
	}
}

// TestRetentionOlderMessages: messages saved by a clubline that had no
// voicemails index are found and purged all the same.
func TestRetentionOlderMessages(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			url, prefix := b.setup(t)
			if prefix == "" {
				prefix = "clubline:"
			}
			ctx := t.Context()
			rdb := rawClient(t, url)
			// As the earlier version wrote them: a hash, and the follow-up.
			rdb.HSet(ctx, prefix+"voicemail:v-old", "id", "v-old", "recorded_at", "2025-03-01T13:00:00.000Z",
				"path", "/var/lib/clubline/voicemail/v-old.wav", "follow_up_due", "2025-03-03T13:00:00.000Z", "status", "new")
			rdb.ZAdd(ctx, prefix+"followups", goredis.Z{Score: float64(time.Date(2025, 3, 3, 13, 0, 0, 0, time.UTC).UnixMilli()), Member: "v-old"})
			rdb.HSet(ctx, prefix+"voicemail:v-recent", "id", "v-recent", "recorded_at", "2025-06-20T13:00:00.000Z", "status", "done")
			rdb.HSet(ctx, prefix+"voicemail:v-undated", "id", "v-undated", "status", "done")

			s := newStore(t, url, prefix)
			defer s.Close()
			vs, err := s.DeleteVoicemailsBefore(ctx, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, v := range vs {
				ids = append(ids, v.ID)
				if v.ID == "v-old" && v.Path != "/var/lib/clubline/voicemail/v-old.wav" {
					t.Errorf("v-old returned with path %q", v.Path)
				}
			}
			slices.Sort(ids)
			// A message without a recording time counts as old.
			if !slices.Equal(ids, []string{"v-old", "v-undated"}) {
				t.Errorf("deleted %q, want v-old and v-undated", ids)
			}
			if n := rdb.ZCard(ctx, prefix+"followups").Val(); n != 0 {
				t.Errorf("followups holds %d ids, want 0", n)
			}
			if _, err := s.Voicemail(ctx, "v-recent"); err != nil {
				t.Errorf("v-recent: %v", err)
			}
			wantScore(t, rdb, prefix+"voicemails", "v-recent", time.Date(2025, 6, 20, 13, 0, 0, 0, time.UTC).UnixMilli())
		})
	}
}

// TestVoicemailsOlderMessages: the list of messages holds those saved by a
// clubline that had no voicemails index, and their hashes without the
// follow-up's fields read as messages nobody has taken.
func TestVoicemailsOlderMessages(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			url, prefix := b.setup(t)
			if prefix == "" {
				prefix = "clubline:"
			}
			ctx := t.Context()
			rdb := rawClient(t, url)
			rdb.HSet(ctx, prefix+"voicemail:v-old", "id", "v-old", "call_id", "c-old", "urgent", "1",
				"recorded_at", "2025-03-01T13:00:00.000Z", "duration_ms", "42512",
				"follow_up_due", "2025-03-03T13:00:00.000Z", "status", "new")

			s := newStore(t, url, prefix)
			defer s.Close()
			v := &clubline.Voicemail{ID: "v-new", RecordedAt: time.Date(2025, 6, 20, 13, 0, 0, 0, time.UTC), Status: clubline.VoicemailDone}
			if err := s.SaveVoicemail(ctx, v); err != nil {
				t.Fatal(err)
			}
			vs, err := s.Voicemails(ctx, time.Time{}, time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 2 || vs[0].ID != "v-old" || vs[1].ID != "v-new" {
				t.Fatalf("Voicemails = %v, want v-old then v-new", vs)
			}
			old := vs[0]
			if !old.Urgent || old.Duration != 42512*time.Millisecond || old.Group != "" || old.AssignedTo != "" ||
				old.Notes != nil || !old.DoneAt.IsZero() || !old.RemindedAt.IsZero() || !old.EscalatedAt.IsZero() {
				t.Errorf("v-old read back as %+v", old)
			}
		})
	}
}
