package edge

import (
	"log/slog"
	"sync"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
)

// What a refused INVITE leaves behind.
//
// Decisions
//
//   - A refusal (404 unknown number, 488, 503 over capacity, 400, 415, 420,
//     422, 500) is counted, by status, by whoever receives
//     sip.Options.OnRejected (clubline_sip_rejected_total), and keeps no
//     call record: the script counts it and stores only the records of
//     callers who cancelled (487), see docs/data.md. Refusals are what
//     scanners and floods produce, thousands a minute from any address;
//     2,000 of them wrote 2 MB of records, each kept 365 days, and 4,000
//     log lines (issue 7, finding 3).
//   - Its log line is sampled per source IP address (RefusalLog): the
//     first refusal from an address in a minute is logged in full (status,
//     why, masked numbers); the others from it that minute are only
//     counted. The first refusal after the minute, or Close, writes one
//     line with the number not logged, how many addresses sent them and
//     the busiest of them. So a flood writes a line per source and a line
//     per minute, and the log still says who and how much.
//   - At most refusalSources addresses are logged in full per minute: past
//     them (a flood from forged addresses), every refusal is only counted.
//   - An INVITE is logged as "incoming call" only once it is taken (number
//     known, media agreed): a refused one has its one sampled line.

const (
	refusalWindow  = time.Minute
	refusalSources = 64
)

// A RefusalLog samples the log lines of refused INVITEs; its zero value is
// ready to use, and it is safe for concurrent use.
type RefusalLog struct {
	mu     sync.Mutex
	log    *slog.Logger   // of the last refusal, for the summary
	start  time.Time      // of the current window
	quiet  map[string]int // source logged this window → its refusals not logged since
	others int            // refusals from sources past refusalSources, none logged
}

// Refused logs a refusal from source ip to log unless one was logged
// from that source in this window; attrs describe it.
func (l *RefusalLog) Refused(log *slog.Logger, now time.Time, ip string, attrs ...any) {
	l.mu.Lock()
	if l.quiet == nil {
		l.quiet = make(map[string]int)
	}
	l.log = log
	if now.Sub(l.start) >= refusalWindow {
		l.flushLocked()
		l.start = now
	}
	first := false
	switch n, seen := l.quiet[ip]; {
	case seen:
		l.quiet[ip] = n + 1
	case len(l.quiet) < refusalSources:
		l.quiet[ip] = 0
		first = true
	default:
		l.others++
	}
	l.mu.Unlock()
	if first {
		log.Info("call refused", append(attrs, "source", sipx.MaskAddr(ip))...)
	}
}

// Flush writes the count of the refusals not logged, if any (at Close).
func (l *RefusalLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *RefusalLog) flushLocked() {
	total, sources, top, topN := l.others, 0, "", 0
	for ip, n := range l.quiet {
		if n == 0 {
			continue
		}
		total += n
		sources++
		if n > topN {
			top, topN = ip, n
		}
	}
	if total > 0 && l.log != nil {
		attrs := []any{"not_logged", total, "sources", sources, "since", l.start.Format(time.TimeOnly)}
		if top != "" {
			attrs = append(attrs, "busiest_source", sipx.MaskAddr(top), "busiest_count", topN)
		}
		if l.others > 0 {
			attrs = append(attrs, "from_other_sources", l.others)
		}
		l.log.Warn("calls refused and not logged one by one", attrs...)
	}
	clear(l.quiet)
	l.others = 0
}
