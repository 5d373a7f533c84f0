package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/vmdir"
)

// purgeEvery is how often records past their retention limit are deleted.
const purgeEvery = time.Hour

// purged is what one purge deleted.
type purged struct {
	calls      int // call records
	voicemails int // messages (records)
	open       int // of them, messages still waiting for a follow-up
	files      int // WAV files removed (a message whose file was already gone has none)
	orphans    int // files of the voicemail folder no record named, removed
	failed     int // store deletes and file removals that failed
}

// purge deletes the call records and the messages older than the limits
// of r at now, and the messages' WAV files, then the files of the
// voicemail folder vmDir older than the voicemail limit that no record
// names (vmdir.PurgeOrphans), and counts the records in m. A limit of 0 is
// off. It logs each failure (the next purge tries again, except for a
// file whose record is gone: the log says to remove it by hand) and one
// summary line, with counts only: no number, no name.
func purge(ctx context.Context, st clubline.Store, now time.Time, r config.Retention, vmDir string, m *metrics.Metrics, log *slog.Logger) purged {
	var p purged
	if r.Calls > 0 {
		n, err := st.DeleteCallsBefore(ctx, now.Add(-r.Calls))
		p.calls = n
		m.RetentionPurged(metrics.RetentionCall, n)
		if err != nil && ctx.Err() == nil { // not a shutdown
			p.failed++
			log.Error("retention: could not delete the old call records; the next pass tries again", "deleted", n, "err", err)
		}
	}
	if r.Voicemail > 0 {
		vs, err := st.DeleteVoicemailsBefore(ctx, now.Add(-r.Voicemail))
		if err != nil && ctx.Err() == nil {
			p.failed++
			log.Error("retention: could not delete the old voicemails; the next pass tries again", "deleted", len(vs), "err", err)
		}
		for _, v := range vs {
			p.voicemails++
			if v.Status == clubline.VoicemailNew {
				p.open++
			}
			if v.Path == "" {
				continue
			}
			switch err := os.Remove(v.Path); {
			case err == nil:
				p.files++
			case errors.Is(err, fs.ErrNotExist):
			default:
				p.failed++
				log.Error("retention: could not delete a voicemail recording; its record is gone: delete the file by hand",
					"voicemail", v.ID, "path", v.Path, "err", err)
			}
		}
		m.RetentionPurged(metrics.RetentionVoicemail, p.voicemails)
		m.FollowUpsOpen.Sub(float64(p.open))
		o, err := vmdir.PurgeOrphans(ctx, vmDir, st, now.Add(-r.Voicemail), log)
		p.orphans, p.failed = o.Removed, p.failed+o.Failed
		if err != nil && ctx.Err() == nil {
			p.failed++
			log.Error("retention: could not look for voicemail files without a record; the next pass tries again", "err", err)
		}
	}
	level := slog.LevelDebug
	if p.calls+p.voicemails+p.orphans+p.failed > 0 {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, "retention: deleted the records past their limit",
		"calls", p.calls, "voicemails", p.voicemails, "open_followups", p.open, "recordings", p.files, "failures", p.failed,
		"orphan_files", p.orphans,
		"calls_limit", limitText(r.Calls), "voicemail_limit", limitText(r.Voicemail))
	return p
}

func limitText(d time.Duration) string {
	if d == 0 {
		return config.RetentionOff
	}
	return config.FormatDuration(d)
}

// runRetention purges at start-up, then every purgeEvery and right after a
// reload that changes the limits, until ctx ends. Each pass takes the
// limits of the config in force and the time from m.Now.
func (m *Main) runRetention(ctx context.Context) {
	tick := time.NewTicker(purgeEvery)
	defer tick.Stop()
	var last *config.Retention
	for {
		r := m.current.Load().Retention
		if last == nil || r != *last {
			m.logRetention(r)
			last = &r
		}
		purge(ctx, m.Store, m.Now(), r, m.current.Load().Voicemail.Dir, m.Metrics, m.Logger)
		if r.Calls > 0 && m.Audit != nil {
			// The audit log lives as long as the calls it traces.
			if _, err := m.Audit.DeleteBefore(m.Now().Add(-r.Calls)); err != nil {
				m.Logger.Error("retention: could not delete the old audit entries; the next pass tries again", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.retentionChanged:
		}
	}
}

// logRetention says which limits are in force, and warns of one that is off.
func (m *Main) logRetention(r config.Retention) {
	m.Logger.Info("retention: records past their limit are deleted every hour",
		"calls", limitText(r.Calls), "voicemail", limitText(r.Voicemail))
	const offMsg = "retention: %s are kept with no limit; under Law 25 the club must delete them itself"
	if r.Calls == 0 {
		m.Logger.Warn(fmt.Sprintf(offMsg, "call records"), "key", "retention.calls")
	}
	if r.Voicemail == 0 {
		m.Logger.Warn(fmt.Sprintf(offMsg, "voicemail messages"), "key", "retention.voicemail")
	}
}

// retentionApplied wakes the purge when a reload changed the limits.
func (m *Main) retentionApplied(old, cur *config.Config) {
	if old.Retention == cur.Retention {
		return
	}
	select {
	case m.retentionChanged <- struct{}{}:
	default:
	}
}
