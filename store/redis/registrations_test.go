package redis_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clubline/clubline"
)

// TestRegistrationLayout checks the keys of docs/data.md: a hash of
// contacts and a sorted set of expiries per staff member, the set of
// registered staff, a TTL on the staff keys, and the cleanup of all three.
func TestRegistrationLayout(t *testing.T) {
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

			at := time.Date(2025, 6, 24, 13, 5, 0, 123_000_000, time.UTC)
			r := &clubline.Registration{
				StaffID: "marie", Contact: "sip:marie@192.168.1.20:5060", Received: "udp:203.0.113.5:5062",
				UserAgent: "Zoiper 5", Expires: at.Add(time.Hour), CallID: "abc@10.0.0.7", CSeq: 7, RegisteredAt: at,
			}
			if err := s.SaveRegistration(ctx, r); err != nil {
				t.Fatal(err)
			}
			hash, exp, staff := prefix+"reg:marie", prefix+"reg:marie:exp", prefix+"regs"
			if s.RegistrationsKey("marie") != hash || s.RegistrationExpiryKey("marie") != exp || s.RegisteredStaffKey() != staff {
				t.Errorf("key names = %s %s %s, want %s %s %s",
					s.RegistrationsKey("marie"), s.RegistrationExpiryKey("marie"), s.RegisteredStaffKey(), hash, exp, staff)
			}
			v, err := rdb.HGet(ctx, hash, r.Contact).Result()
			if err != nil {
				t.Fatalf("HGET %s: %v", hash, err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(v), &got); err != nil {
				t.Fatalf("value %q is not JSON: %v", v, err)
			}
			want := map[string]any{
				"staff_id": "marie", "contact": r.Contact, "received": "udp:203.0.113.5:5062",
				"user_agent": "Zoiper 5", "expires": "2025-06-24T14:05:00.123Z", "call_id": "abc@10.0.0.7",
				"cseq": float64(7), "registered_at": "2025-06-24T13:05:00.123Z",
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s %s: %s = %v, want %v", hash, r.Contact, k, got[k], w)
				}
			}
			score, err := rdb.ZScore(ctx, exp, r.Contact).Result()
			if err != nil || int64(score) != r.Expires.UnixMilli() {
				t.Errorf("ZSCORE %s = %v, %v; want %d", exp, score, err, r.Expires.UnixMilli())
			}
			if ok, _ := rdb.SIsMember(ctx, staff, "marie").Result(); !ok {
				t.Errorf("marie is not in %s", staff)
			}
			// TTL: the contact's hour, plus the margin.
			for _, k := range []string{hash, exp} {
				ttl, err := rdb.PTTL(ctx, k).Result()
				if err != nil || ttl < time.Hour || ttl > 2*time.Hour+time.Minute {
					t.Errorf("PTTL %s = %s, %v; want about 2h", k, ttl, err)
				}
			}
			if n, _ := rdb.Exists(ctx, staff).Result(); n != 1 {
				t.Errorf("%s missing", staff)
			}

			// Read after expiry: everything goes.
			rs, err := s.Registrations(ctx, "", r.Expires)
			if err != nil || len(rs) != 0 {
				t.Fatalf("Registrations after expiry = %d, %v; want none", len(rs), err)
			}
			if n, _ := rdb.Exists(ctx, hash, exp, staff).Result(); n != 0 {
				t.Errorf("%d of %s %s %s left after the last contact expired, want none", n, hash, exp, staff)
			}
		})
	}
}
