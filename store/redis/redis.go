// Package redis is the clubline.Store on Redis (go-redis v9). The key layout
// is part of clubline's interface to admins and is documented, field by
// field, in docs/data.md:
//
//	<prefix>call:<id>       hash: the call record
//	<prefix>calls           sorted set: call ids scored by start (unix ms)
//	<prefix>voicemail:<id>  hash: the voicemail
//	<prefix>voicemails      sorted set: voicemail ids scored by recording time (unix ms)
//	<prefix>followups       sorted set: open voicemail ids scored by due time (unix ms)
//	<prefix>reg:<staff>     hash: contact URI → registration JSON (registrations.go)
//	<prefix>reg:<staff>:exp sorted set: the staff member's contacts scored by expiry (unix ms)
//	<prefix>regs            set: staff ids that may have registrations
//	<prefix>state:<key>     string: one value of the line's own state (state.go)
//
// Times are RFC 3339 in UTC with milliseconds. A field whose value is the
// empty string or the zero time is left out of the hash; numbers and flags
// are always written, except a call's wait_ms, left out when 0. Each write
// replaces the whole hash and updates its index in one MULTI/EXEC
// (registrations: one Lua script).
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/store/internal/record"
)

// DefaultKeyPrefix is put before every key when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "clubline:"

// Options configure a Store.
type Options struct {
	// URL of the Redis server, e.g. "redis://:password@127.0.0.1:6379/0"
	// or "rediss://…" for TLS (the go-redis URL syntax).
	URL string
	// KeyPrefix is put before every key (default "clubline:"), so several
	// clubline instances, or tests, can share one database.
	KeyPrefix string
	// Logger receives warnings about inconsistent data (default slog.Default()).
	Logger *slog.Logger
}

// Store is a clubline.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    *goredis.Client
	prefix string
	log    *slog.Logger

	indexMu sync.Mutex // held while the voicemails index is completed
	indexed bool       // the index holds the messages saved before it existed
}

var _ clubline.Store = (*Store)(nil)

// New returns a Store for the server at opts.URL. It does not connect: a
// Redis that is down when clubline starts is reported by Ping and by the
// writes, not by New, so the spool in front of the store can take over.
func New(opts Options) (*Store, error) {
	if opts.URL == "" {
		return nil, errors.New("redis store: no URL (want e.g. redis://127.0.0.1:6379/0)")
	}
	o, err := goredis.ParseURL(opts.URL)
	if err != nil {
		// The parse error may quote the URL, password included.
		msg := strings.ReplaceAll(err.Error(), opts.URL, redactURL(opts.URL))
		return nil, fmt.Errorf("redis store: URL %q: %s", redactURL(opts.URL), msg)
	}
	// One Redis next to clubline: no cluster maintenance notifications.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	s := &Store{
		rdb:    goredis.NewClient(o),
		prefix: opts.KeyPrefix,
		log:    opts.Logger,
	}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("store", "redis")
	return s, nil
}

// Key names. Exported for tools and tests that read the raw layout.

// CallKey is the hash of one call record.
func (s *Store) CallKey(id string) string { return s.prefix + "call:" + id }

// CallsKey is the sorted set of call ids by start time.
func (s *Store) CallsKey() string { return s.prefix + "calls" }

// VoicemailKey is the hash of one voicemail.
func (s *Store) VoicemailKey(id string) string { return s.prefix + "voicemail:" + id }

// VoicemailsKey is the sorted set of every voicemail id by recording time.
func (s *Store) VoicemailsKey() string { return s.prefix + "voicemails" }

// FollowUpsKey is the sorted set of open voicemail ids by due time.
func (s *Store) FollowUpsKey() string { return s.prefix + "followups" }

// SaveCall replaces the call's hash and its entry in the calls index, in
// one transaction.
func (s *Store) SaveCall(ctx context.Context, c *clubline.Call) error {
	if err := record.CheckCall(c); err != nil {
		return err
	}
	key := s.CallKey(c.ID)
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, callFields(c)...)
		p.ZAdd(ctx, s.CallsKey(), goredis.Z{Score: float64(record.Millis(c.StartedAt)), Member: c.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: save call %s: %w", c.ID, err)
	}
	return nil
}

// Call returns the call record with that id, or clubline.ErrNotFound.
func (s *Store) Call(ctx context.Context, id string) (*clubline.Call, error) {
	h, err := s.rdb.HGetAll(ctx, s.CallKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: read call %s: %w", id, err)
	}
	if len(h) == 0 {
		return nil, clubline.ErrNotFound
	}
	c, err := parseCall(h)
	if err != nil {
		return nil, fmt.Errorf("redis store: %s: %w", s.CallKey(id), err)
	}
	return c, nil
}

// Calls returns the calls started in [from, to), oldest first (by id when
// two start in the same millisecond), at most limit (<= 0: all).
func (s *Store) Calls(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Call, error) {
	lo, hi := record.Millis(from), record.Millis(to)
	if lo >= hi {
		return nil, nil
	}
	by := &goredis.ZRangeBy{Min: strconv.FormatInt(lo, 10), Max: "(" + strconv.FormatInt(hi, 10)}
	if limit > 0 {
		by.Count = int64(limit)
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.CallsKey(), by).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list calls: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.CallKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis store: list calls: %w", err)
	}
	out := make([]*clubline.Call, 0, len(ids))
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			// The index names a call whose hash is gone (deleted by hand,
			// or expired): skip it rather than fail the whole list.
			s.log.Warn("calls index names a missing call record", "key", s.CallKey(ids[i]))
			continue
		}
		c, err := parseCall(h)
		if err != nil {
			return nil, fmt.Errorf("redis store: %s: %w", s.CallKey(ids[i]), err)
		}
		out = append(out, c)
	}
	return out, nil
}

// SaveVoicemail replaces the message's hash, moves its entry in the
// voicemails index, and adds it to (status new) or removes it from (any
// other status) the follow-ups, in one transaction.
func (s *Store) SaveVoicemail(ctx context.Context, v *clubline.Voicemail) error {
	if err := record.CheckVoicemail(v); err != nil {
		return err
	}
	f, err := voicemailFields(v)
	if err != nil {
		return fmt.Errorf("redis store: encode voicemail %s: %w", v.ID, err)
	}
	key := s.VoicemailKey(v.ID)
	_, err = s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, f...)
		p.ZAdd(ctx, s.VoicemailsKey(), goredis.Z{Score: float64(record.Millis(v.RecordedAt)), Member: v.ID})
		if record.Open(v) {
			p.ZAdd(ctx, s.FollowUpsKey(), goredis.Z{Score: float64(record.Millis(v.FollowUpDue)), Member: v.ID})
		} else {
			p.ZRem(ctx, s.FollowUpsKey(), v.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: save voicemail %s: %w", v.ID, err)
	}
	return nil
}

// Voicemail returns the message with that id, or clubline.ErrNotFound.
func (s *Store) Voicemail(ctx context.Context, id string) (*clubline.Voicemail, error) {
	h, err := s.rdb.HGetAll(ctx, s.VoicemailKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: read voicemail %s: %w", id, err)
	}
	if len(h) == 0 {
		return nil, clubline.ErrNotFound
	}
	v, err := parseVoicemail(h)
	if err != nil {
		return nil, fmt.Errorf("redis store: %s: %w", s.VoicemailKey(id), err)
	}
	return v, nil
}

// Voicemails returns the messages recorded in [from, to), whatever their
// status, oldest first (by id when two are recorded in the same
// millisecond), at most limit (<= 0: all). The first call on a Store
// completes the voicemails index with the messages an older clubline saved
// (completeIndex), as the first purge does.
func (s *Store) Voicemails(ctx context.Context, from, to time.Time, limit int) ([]*clubline.Voicemail, error) {
	lo, hi := record.Millis(from), record.Millis(to)
	if lo >= hi {
		return nil, nil
	}
	if err := s.completeIndex(ctx); err != nil {
		return nil, err
	}
	by := &goredis.ZRangeBy{Min: strconv.FormatInt(lo, 10), Max: "(" + strconv.FormatInt(hi, 10)}
	if limit > 0 {
		by.Count = int64(limit)
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.VoicemailsKey(), by).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list voicemails: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.VoicemailKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis store: list voicemails: %w", err)
	}
	out := make([]*clubline.Voicemail, 0, len(ids))
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			// Deleted by hand without its index entry: skip it, as Calls does.
			s.log.Warn("voicemails index names a missing voicemail", "key", s.VoicemailKey(ids[i]))
			continue
		}
		v, err := parseVoicemail(h)
		if err != nil {
			return nil, fmt.Errorf("redis store: %s: %w", s.VoicemailKey(ids[i]), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// FollowUps returns the open follow-ups due before the given time (zero:
// all), most overdue first.
func (s *Store) FollowUps(ctx context.Context, before time.Time) ([]clubline.FollowUp, error) {
	by := &goredis.ZRangeBy{Min: "-inf", Max: "+inf"}
	if !before.IsZero() {
		by.Max = "(" + strconv.FormatInt(record.Millis(before), 10)
	}
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.FollowUpsKey(), by).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list follow-ups: %w", err)
	}
	out := make([]clubline.FollowUp, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		out = append(out, clubline.FollowUp{VoicemailID: id, Due: record.FromMillis(int64(z.Score))})
	}
	return out, nil
}

// Ping sends PING.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis store: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.rdb.Close() }

// fields collects the field/value pairs of one hash, leaving out empty values.
type fields []any

func (f *fields) str(name, v string) {
	if v != "" {
		*f = append(*f, name, v)
	}
}

func (f *fields) time(name string, t time.Time) { f.str(name, record.FormatTime(t)) }

func (f *fields) int(name string, n int64) { *f = append(*f, name, strconv.FormatInt(n, 10)) }

func callFields(c *clubline.Call) []any {
	f := make(fields, 0, 32)
	f = append(f, "id", c.ID)
	f.str("from", c.From)
	f.str("to", c.To)
	f.time("started_at", c.StartedAt)
	f.str("hours", string(c.Hours))
	f.str("hours_reason", c.HoursReason)
	f.str("language", c.Language)
	f.str("choice", c.Choice)
	f.str("category", c.Category)
	f.str("route", c.Route)
	f.str("group", c.Group)
	f.time("queued_at", c.QueuedAt)
	f.time("answered_at", c.AnsweredAt)
	f.str("answered_by", c.AnsweredBy)
	if ms := c.Wait.Milliseconds(); ms != 0 {
		f.int("wait_ms", ms) // unlike duration_ms, left out when 0, as in the JSON form
	}
	f.str("transferred_to", c.TransferredTo)
	if c.Survey != 0 {
		f.int("survey", int64(c.Survey)) // left out when none, as in the JSON form
	}
	f.str("trunk", c.Trunk)
	f.str("outcome", string(c.Outcome))
	f.str("stage", string(c.Stage))
	f.str("voicemail_id", c.VoicemailID)
	f.time("ended_at", c.EndedAt)
	f.int("duration_ms", c.Duration.Milliseconds())
	if c.Probe {
		f.str("probe", "1") // left out for a caller's call, as in the JSON form
	}
	if len(c.Trace) > 0 {
		lines := make([]string, len(c.Trace))
		for i, step := range c.Trace {
			lines[i] = record.TraceLine(step)
		}
		f = append(f, "trace", strings.Join(lines, "\n"))
	}
	return f
}

func voicemailFields(v *clubline.Voicemail) ([]any, error) {
	f := make(fields, 0, 38)
	f = append(f, "id", v.ID)
	f.str("call_id", v.CallID)
	f.str("from", v.From)
	f.str("category", v.Category)
	urgent := int64(0)
	if v.Urgent {
		urgent = 1
	}
	f.int("urgent", urgent)
	f.time("recorded_at", v.RecordedAt)
	f.int("duration_ms", v.Duration.Milliseconds())
	f.str("path", v.Path)
	f.time("follow_up_due", v.FollowUpDue)
	f.str("status", string(v.Status))
	f.str("group", v.Group)
	f.str("language", v.Language)
	f.str("assigned_to", v.AssignedTo)
	if notes := record.FromNotes(v.Notes); len(notes) > 0 {
		// One field, the JSON array of the embedded store and the journal:
		// a note is free text, line breaks included.
		b, err := json.Marshal(notes)
		if err != nil {
			return nil, fmt.Errorf("encode the notes: %w", err)
		}
		f = append(f, "notes", string(b))
	}
	f.time("done_at", v.DoneAt)
	f.str("done_by", v.DoneBy)
	f.str("done_how", v.DoneHow)
	f.time("reminded_at", v.RemindedAt)
	f.time("escalated_at", v.EscalatedAt)
	return f, nil
}

func parseCall(h map[string]string) (*clubline.Call, error) {
	ms, err := parseInt(h, "duration_ms")
	if err != nil {
		return nil, err
	}
	wait, err := parseInt(h, "wait_ms")
	if err != nil {
		return nil, err
	}
	survey, err := parseInt(h, "survey")
	if err != nil {
		return nil, err
	}
	r := record.Call{
		Survey:        int(survey),
		ID:            h["id"],
		From:          h["from"],
		To:            h["to"],
		StartedAt:     h["started_at"],
		Hours:         h["hours"],
		HoursReason:   h["hours_reason"],
		Language:      h["language"],
		Choice:        h["choice"],
		Category:      h["category"],
		Route:         h["route"],
		Group:         h["group"],
		QueuedAt:      h["queued_at"],
		AnsweredAt:    h["answered_at"],
		AnsweredBy:    h["answered_by"],
		WaitMS:        wait,
		TransferredTo: h["transferred_to"],
		Trunk:         h["trunk"],
		Outcome:       h["outcome"],
		Stage:         h["stage"],
		VoicemailID:   h["voicemail_id"],
		EndedAt:       h["ended_at"],
		DurationMS:    ms,
		Probe:         h["probe"] == "1",
	}
	if t := h["trace"]; t != "" {
		r.Trace = strings.Split(t, "\n")
	}
	return r.Domain()
}

func parseVoicemail(h map[string]string) (*clubline.Voicemail, error) {
	ms, err := parseInt(h, "duration_ms")
	if err != nil {
		return nil, err
	}
	var urgent bool
	switch u := h["urgent"]; u {
	case "", "0":
	case "1":
		urgent = true
	default:
		return nil, fmt.Errorf("field urgent = %q, want 0 or 1", u)
	}
	r := record.Voicemail{
		ID:          h["id"],
		CallID:      h["call_id"],
		From:        h["from"],
		Category:    h["category"],
		Urgent:      urgent,
		RecordedAt:  h["recorded_at"],
		DurationMS:  ms,
		Path:        h["path"],
		FollowUpDue: h["follow_up_due"],
		Status:      h["status"],
		Group:       h["group"],
		Language:    h["language"],
		AssignedTo:  h["assigned_to"],
		DoneAt:      h["done_at"],
		DoneBy:      h["done_by"],
		DoneHow:     h["done_how"],
		RemindedAt:  h["reminded_at"],
		EscalatedAt: h["escalated_at"],
	}
	if n := h["notes"]; n != "" {
		if err := json.Unmarshal([]byte(n), &r.Notes); err != nil {
			return nil, fmt.Errorf("field notes: want a JSON array of notes: %w", err)
		}
	}
	return r.Domain()
}

func parseInt(h map[string]string, field string) (int64, error) {
	v := h[field]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %s = %q, want an integer", field, v)
	}
	return n, nil
}

// redactURL hides the password of a Redis URL for error messages.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	return u[:scheme+3] + "xxxxx" + u[at:]
}

// RouteLibraryLogs sends go-redis's own log lines (failed dials while Redis
// is down, pool trouble) to l at warning level instead of the standard
// library logger. go-redis keeps one logger for the whole process, so this
// is for main to call once, before the first Store is used.
func RouteLibraryLogs(l *slog.Logger) {
	if l == nil {
		return
	}
	goredis.SetLogger(libraryLogger{l.With("component", "go-redis")})
}

type libraryLogger struct{ l *slog.Logger }

func (g libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
