// Package report is the club's service report for a period: how the
// line kept the club's promises (calls answered, waits, messages called
// back within their due time, urgent calls that reached someone, office
// hours offered), computed from the records of the store, so that it
// covers every instance of the line. `clubline report` prints it as
// text or CSV; the web page serves it too.
package report

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline"
)

// Options say what the report covers and what it compares with.
type Options struct {
	From, To time.Time // [From, To)
	// ServiceLevel is each group's service level (an answer within it
	// counts); a group not named has DefaultServiceLevel.
	ServiceLevel        map[string]time.Duration
	DefaultServiceLevel time.Duration
	// Now is when the report is made: messages still open past their due
	// time at Now count as overdue.
	Now time.Time
}

// Report is the figures of one period.
type Report struct {
	From, To time.Time

	Calls int
	// Probes are the line's own mystery calls (probe:), left out of
	// every other figure: they are no callers.
	Probes     int
	OpenHours  int // calls that arrived while the office was open
	ByOutcome  map[clubline.Outcome]int
	ByCategory map[string]map[clubline.Outcome]int

	Queued       int // callers who asked for a person (entered a queue)
	Answered     int // of them, answered by a person
	WithinSL     int // of them, answered within their group's service level
	WaitP50      time.Duration
	WaitP90      time.Duration
	Abandoned    int // of the queued, hung up before an answer
	ToVoicemail  int // of the queued, left for voicemail
	Urgent       int // calls on the urgent line
	UrgentPerson int // of them, reached a person

	SurveyAnswers int // callers who answered the post-call survey
	SurveySum     int // the sum of their scores (1 to 5)

	Messages     int // recorded in the period
	Done         int // of them, followed up
	DoneInTime   int // of those, before their due time
	Late         int // followed up after their due time
	StillOpen    int
	OpenOverdue  int // still open and past their due time at Now
	ClosedByCall int // closed because the caller reached a person later
}

// Build reads the store and computes the report.
func Build(ctx context.Context, st clubline.Store, o Options) (*Report, error) {
	calls, err := st.Calls(ctx, o.From, o.To, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the call records: %w", err)
	}
	vms, err := st.Voicemails(ctx, o.From, o.To, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the messages: %w", err)
	}
	r := &Report{From: o.From, To: o.To, ByOutcome: map[clubline.Outcome]int{}, ByCategory: map[string]map[clubline.Outcome]int{}}
	var waits []time.Duration
	for _, c := range calls {
		if c.Probe {
			r.Probes++
			continue
		}
		r.Calls++
		if c.Hours == clubline.HoursOpen {
			r.OpenHours++
		}
		r.ByOutcome[c.Outcome]++
		if c.Survey > 0 {
			r.SurveyAnswers++
			r.SurveySum += c.Survey
		}
		cat := cmp.Or(c.Category, "(none)")
		if r.ByCategory[cat] == nil {
			r.ByCategory[cat] = map[clubline.Outcome]int{}
		}
		r.ByCategory[cat][c.Outcome]++
		if c.Route == clubline.RouteUrgency {
			r.Urgent++
			if !c.AnsweredAt.IsZero() {
				r.UrgentPerson++
			}
		}
		if c.QueuedAt.IsZero() {
			continue
		}
		r.Queued++
		waits = append(waits, c.Wait)
		switch {
		case !c.AnsweredAt.IsZero():
			r.Answered++
			sl, ok := o.ServiceLevel[c.Group]
			if !ok {
				sl = o.DefaultServiceLevel
			}
			if c.Wait <= sl {
				r.WithinSL++
			}
		case c.Outcome == clubline.OutcomeVoicemail:
			r.ToVoicemail++
		case c.Outcome == clubline.OutcomeAbandoned:
			r.Abandoned++
		}
	}
	slices.Sort(waits)
	r.WaitP50, r.WaitP90 = percentile(waits, 50), percentile(waits, 90)
	for _, v := range vms {
		r.Messages++
		switch v.Status {
		case clubline.VoicemailDone:
			r.Done++
			if v.DoneHow == clubline.FollowUpClosedCallback {
				r.ClosedByCall++
			}
			if v.FollowUpDue.IsZero() || v.DoneAt.IsZero() || !v.DoneAt.After(v.FollowUpDue) {
				r.DoneInTime++
			} else {
				r.Late++
			}
		default:
			r.StillOpen++
			if !v.FollowUpDue.IsZero() && o.Now.After(v.FollowUpDue) {
				r.OpenOverdue++
			}
		}
	}
	return r, nil
}

// percentile is the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func pct(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%d%%", (n*100+of/2)/of)
}

// Outcomes in the order the report lists them.
var outcomes = []clubline.Outcome{clubline.OutcomeAnswered, clubline.OutcomeVoicemail, clubline.OutcomeAbandoned, clubline.OutcomeRejected, clubline.OutcomeFailed}

// Text writes the report for people.
func (r *Report) Text(w io.Writer, loc *time.Location) {
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	fmt.Fprintf(w, "Service report, %s to %s\n\n", day(r.From), day(r.To.Add(-time.Nanosecond)))
	fmt.Fprintf(w, "Calls: %d (%d while open, %d while closed)\n", r.Calls, r.OpenHours, r.Calls-r.OpenHours)
	var parts []string
	for _, o := range outcomes {
		parts = append(parts, fmt.Sprintf("%s %d", o, r.ByOutcome[o]))
	}
	fmt.Fprintf(w, "  by outcome: %s\n", strings.Join(parts, ", "))
	cats := make([]string, 0, len(r.ByCategory))
	for c := range r.ByCategory {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		parts = parts[:0]
		total := 0
		for _, o := range outcomes {
			if n := r.ByCategory[c][o]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", o, n))
				total += n
			}
		}
		fmt.Fprintf(w, "  %-16s %3d: %s\n", c, total, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nAsked for a person: %d; answered %d (%s), within the service level %d (%s); hung up %d, left a message %d\n",
		r.Queued, r.Answered, pct(r.Answered, r.Queued), r.WithinSL, pct(r.WithinSL, r.Queued), r.Abandoned, r.ToVoicemail)
	fmt.Fprintf(w, "  waits: median %s, 90th percentile %s\n", r.WaitP50.Round(time.Second), r.WaitP90.Round(time.Second))
	fmt.Fprintf(w, "Urgent calls: %d; a person was reached for %d (%s)\n", r.Urgent, r.UrgentPerson, pct(r.UrgentPerson, r.Urgent))
	if r.SurveyAnswers > 0 {
		fmt.Fprintf(w, "Survey: %d answers, %.1f out of 5 on average\n", r.SurveyAnswers, float64(r.SurveySum)/float64(r.SurveyAnswers))
	}
	fmt.Fprintf(w, "\nMessages: %d; followed up %d, %d of them in time (%s of the messages), %d late; %d still open, %d of them overdue\n",
		r.Messages, r.Done, r.DoneInTime, pct(r.DoneInTime, r.Messages), r.Late, r.StillOpen, r.OpenOverdue)
	if r.ClosedByCall > 0 {
		fmt.Fprintf(w, "  %d closed because the caller reached a person on a later call\n", r.ClosedByCall)
	}
}

// CSV writes the report as rows of figure, dimension, value.
func (r *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(fig, dim string, v any) {
		_ = cw.Write([]string{fig, dim, fmt.Sprint(v)})
	}
	_ = cw.Write([]string{"figure", "dimension", "value"})
	row("from", "", r.From.UTC().Format(time.RFC3339))
	row("to", "", r.To.UTC().Format(time.RFC3339))
	row("calls", "", r.Calls)
	row("calls", "open_hours", r.OpenHours)
	for _, o := range outcomes {
		row("calls_by_outcome", string(o), r.ByOutcome[o])
	}
	cats := make([]string, 0, len(r.ByCategory))
	for c := range r.ByCategory {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		for _, o := range outcomes {
			row("calls_by_category", c+"/"+string(o), r.ByCategory[c][o])
		}
	}
	row("queued", "", r.Queued)
	row("answered", "", r.Answered)
	row("answered_within_service_level", "", r.WithinSL)
	row("abandoned_in_queue", "", r.Abandoned)
	row("queue_to_voicemail", "", r.ToVoicemail)
	row("wait_p50_seconds", "", strconv.FormatFloat(r.WaitP50.Seconds(), 'f', 1, 64))
	row("wait_p90_seconds", "", strconv.FormatFloat(r.WaitP90.Seconds(), 'f', 1, 64))
	row("urgent_calls", "", r.Urgent)
	row("urgent_reached_a_person", "", r.UrgentPerson)
	row("survey_answers", "", r.SurveyAnswers)
	row("survey_score_sum", "", r.SurveySum)
	row("messages", "", r.Messages)
	row("messages_done", "", r.Done)
	row("messages_done_in_time", "", r.DoneInTime)
	row("messages_late", "", r.Late)
	row("messages_open", "", r.StillOpen)
	row("messages_open_overdue", "", r.OpenOverdue)
	row("messages_closed_by_a_later_call", "", r.ClosedByCall)
	cw.Flush()
	return cw.Error()
}
