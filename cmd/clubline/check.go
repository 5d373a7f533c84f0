package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/sip"
)

// checkNow is the clock of `clubline check` without --at.
var checkNow = time.Now

const (
	checkWeekDays     = 7
	checkUpcomingDays = 60
	atLayout          = "2006-01-02 15:04"
)

// runCheck is `clubline check`: it validates the config file and the
// prompts it names, then shows the hours of the week ahead and what is
// coming up (holidays, closures, seasons). With --at it says whether the
// line is open at that moment, and why. It returns the exit code: 0 valid,
// 1 invalid, 2 bad usage.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/example.yaml", "the config `file` to check")
	at := fs.String("at", "", "a `moment` to ask about, \"2027-06-24 10:00\", in the club's time zone (default: now)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: clubline check [--config FILE] [--at \"YYYY-MM-DD HH:MM\"]")
		fmt.Fprintln(stderr, "Checks the config file, then shows the week ahead and upcoming holidays and closures.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "clubline check: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	c, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "%s: not valid (%s): the running clubline keeps its config until this is fixed\n", *path, countProblems(err))
		return 1
	}
	if errs := append(checkPrompts(*path, c), c.CheckFiles()...); len(errs) > 0 {
		fmt.Fprintln(stderr, errs)
		fmt.Fprintf(stderr, "%s: not valid (%s)\n", *path, countProblems(errs))
		return 1
	}

	loc := c.Club.Location
	now := checkNow().In(loc)
	if *at != "" {
		t, err := parseAt(*at, loc)
		if err != nil {
			fmt.Fprintf(stderr, "clubline check: --at %q: %v\n", *at, err)
			return 2
		}
		now = t
	}

	sched := c.Schedule()
	if o, ok := readMirror(c); ok && o.Mode != "auto" {
		cp := *sched
		cp.Override = routing.Override(o.Mode)
		sched = &cp
	}
	fmt.Fprintf(stdout, "%s: valid — %s, %s, languages %s\n", *path, c.Club.Name, c.Club.Timezone, strings.Join(c.Club.Languages, ", "))
	// Calls to any other number get 404.
	fmt.Fprintf(stdout, "answers calls to %s\n", strings.Join(c.AnsweredNumbers(), ", "))
	if o := c.Hours.Override; o != routing.OverrideAuto && o != "" {
		fmt.Fprintf(stdout, "note: hours.override is %s: the line answers as %s whatever the hours say\n", o, o)
	}
	if line := overrideLine(c); line != "" {
		fmt.Fprintln(stdout, "note: "+line)
	}
	if c.Retention.Calls == 0 {
		fmt.Fprintln(stdout, "note: retention.calls is off: call records are kept with no limit; under Law 25 the club must delete them itself")
	}
	if c.Retention.Voicemail == 0 {
		fmt.Fprintln(stdout, "note: retention.voicemail is off: messages are kept with no limit; under Law 25 the club must delete them itself")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, statusLine(now, sched.At(now), loc))
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "Week from %s:\n", longDate(now))
	for _, d := range sched.Agenda(now, checkWeekDays) {
		fmt.Fprintf(stdout, "  %s  %s\n", shortDate(d.Date), describeDay(d))
	}
	fmt.Fprintln(stdout)
	upcoming := comingUp(c, routing.DateOf(now), checkUpcomingDays)
	if len(upcoming) == 0 {
		fmt.Fprintf(stdout, "No holiday, closure or season in the next %d days.\n", checkUpcomingDays)
	} else {
		fmt.Fprintf(stdout, "Holidays, closures and seasons in the next %d days:\n", checkUpcomingDays)
		for _, e := range upcoming {
			fmt.Fprintf(stdout, "  %-32s  %s\n", e.when(), e.what)
		}
	}
	printCommitments(stdout, c, now) // commitments.go
	fmt.Fprintln(stdout)
	printPeople(stdout, *path, c, now)
	fmt.Fprintln(stdout)
	printTrunks(stdout, c) // trunks.go
	fmt.Fprintln(stdout)
	printPrompts(stdout, c) // recordings.go
	return 0
}

func countProblems(err error) string {
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) != 1 {
		return fmt.Sprintf("%d problems", len(errs))
	}
	return "1 problem"
}

// checkPrompts looks up, in every language of the club, the prompts the
// file names and those of the holidays it closes for.
func checkPrompts(path string, c *config.Config) config.Errors {
	set, err := prompts.Load(c.Prompts.Dir)
	if err != nil {
		return config.Errors{{File: path, Key: "prompts.dir", Msg: err.Error(), Fix: "fix the recordings listed, or empty prompts.dir"}}
	}
	refs := c.PromptRefs()
	for _, k := range c.Hours.Holidays.Keys() {
		refs = append(refs, config.PromptRef{Name: "holiday_" + k, Key: "hours.holidays"})
	}
	var errs config.Errors
	for _, r := range refs {
		for _, lang := range c.Club.Languages {
			if set.Has(lang, r.Name) {
				continue
			}
			where := "put " + r.Name + ".wav in <prompts.dir>/" + lang + "/"
			if c.Prompts.Dir != "" {
				where = "put " + strings.TrimSuffix(c.Prompts.Dir, "/") + "/" + lang + "/" + r.Name + ".wav there"
			}
			errs = append(errs, &config.Error{File: path, Line: r.Line, Key: r.Key,
				Msg: fmt.Sprintf("no recording %q in %s", r.Name, lang), Fix: where + " (8 kHz mono WAV)"})
		}
	}
	return errs
}

// parseAt reads "2027-06-24 10:00" or "2027-06-24" in the club's zone.
func parseAt(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(atLayout, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("write \"YYYY-MM-DD HH:MM\", e.g. \"2027-06-24 10:00\"")
}

// statusLine: "2027-06-24 10:00 (Thursday): closed — holiday Fête
// nationale; reopens Friday 2027-06-25 08:30".
func statusLine(t time.Time, st routing.Status, loc *time.Location) string {
	why := string(st.Reason)
	if st.Name != "" {
		why += " " + st.Name
	}
	if !st.Open && st.Reason == routing.ReasonWeekly && st.Name == "" {
		why = "no weekly hours on " + t.Weekday().String()
	}
	line := fmt.Sprintf("%s (%s): ", t.Format(atLayout), t.Weekday())
	if st.Open {
		return line + "open — " + why
	}
	line += "closed — " + why
	switch {
	case !st.NextOpen.IsZero():
		n := st.NextOpen.In(loc)
		return line + "; reopens " + n.Weekday().String() + " " + n.Format(atLayout)
	case st.Reason == routing.ReasonOverride:
		return line + "; stays closed until hours.override is back to auto"
	default:
		return line + "; does not reopen within a year"
	}
}

func shortDate(d routing.Date) string {
	return d.Weekday().String()[:3] + " " + d.String()
}

func longDate(t time.Time) string {
	return t.Weekday().String() + " " + routing.DateOf(t).String()
}

// describeDay: "08:30-16:30", "closed — Fête nationale (holiday)",
// "08:30-20:00 (season Inscriptions hiver)".
func describeDay(d routing.Day) string {
	var s string
	switch {
	case d.Reason == routing.ReasonOverride && d.Open():
		s = "open all day (override)"
	case d.Reason == routing.ReasonOverride:
		s = "closed (override)"
	case d.Reason == routing.ReasonHoliday || d.Reason == routing.ReasonClosure:
		s = fmt.Sprintf("closed — %s (%s)", d.Name, d.Reason)
	case d.Open():
		parts := make([]string, len(d.Ranges))
		for i, r := range d.Ranges {
			parts[i] = r.String()
		}
		s = strings.Join(parts, ", ")
	default:
		s = "closed"
	}
	if d.Season != "" {
		s += " (season " + d.Season + ")"
	}
	return s
}

// event is a holiday, a closure or a season within the days ahead.
type event struct {
	from, to routing.Date
	what     string
}

func (e event) when() string {
	if e.from == e.to {
		return shortDate(e.from)
	}
	return shortDate(e.from) + " to " + shortDate(e.to)
}

// comingUp lists the holidays, closures and seasons that touch the days
// [from, from+days), by start date.
func comingUp(c *config.Config, from routing.Date, days int) []event {
	last := from.AddDays(days - 1)
	overlaps := func(a, b routing.Date) bool { return !b.Before(from) && !a.After(last) }
	var out []event
	for _, cl := range c.Hours.Closures {
		if overlaps(cl.From, cl.To) {
			out = append(out, event{cl.From, cl.To, cl.Name + " (closure)"})
		}
	}
	for _, s := range c.Hours.Seasons {
		if overlaps(s.From, s.To) {
			out = append(out, event{s.From, s.To, s.Name + " (season)"})
		}
	}
	for y := from.Year; y <= last.Year; y++ {
		for _, h := range c.Hours.Holidays.Year(y) {
			if !overlaps(h.Date, h.Date) {
				continue
			}
			what := h.Name + " (holiday)"
			if h.Observed() {
				what = fmt.Sprintf("%s (holiday, in place of %s)", h.Name, shortDate(h.Actual))
			}
			out = append(out, event{h.Date, h.Date, what})
		}
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.from.Compare(b.from) })
	return out
}

// shiftLayout is how check writes the ends of an on-call shift.
const shiftLayout = "Mon 2006-01-02 15:04"

// printPeople shows the groups and their members, who is on call for the
// next four weeks, and the warnings: what is valid but likely a mistake.
func printPeople(w io.Writer, path string, c *config.Config, now time.Time) {
	fmt.Fprintln(w, "Groups:")
	for _, g := range c.Groups {
		if len(g.Members) == 0 {
			fmt.Fprintf(w, "  %s (%s): no members — calls go to voicemail\n", g.ID, g.Strategy)
			continue
		}
		names := make([]string, len(g.Members))
		for i, id := range g.Members {
			names[i] = staffName(c, id, true)
		}
		fmt.Fprintf(w, "  %s (%s): %s\n", g.ID, g.Strategy, strings.Join(names, ", "))
	}
	fmt.Fprintln(w)

	loc := c.Club.Location
	until := now.Add(config.WarningHorizon)
	fmt.Fprintf(w, "On call for urgent calls, %s to %s:\n", now.Format(shiftLayout), until.In(loc).Format(shiftLayout))
	type line struct {
		from time.Time
		text string
	}
	var lines []line
	r := c.Roster()
	for _, s := range r.Agenda(now, until) {
		kind := "rotation"
		if s.Override {
			kind = "override"
		}
		lines = append(lines, line{s.From, fmt.Sprintf("  %s → %s  %s (%s)", s.From.In(loc).Format(shiftLayout), s.To.In(loc).Format(shiftLayout), staffName(c, s.Staff, false), kind)})
	}
	for _, g := range r.Gaps(now, until) {
		lines = append(lines, line{g.From, fmt.Sprintf("  %s → %s  nobody", g.From.In(loc).Format(shiftLayout), g.To.In(loc).Format(shiftLayout))})
	}
	slices.SortFunc(lines, func(a, b line) int { return a.from.Compare(b.from) })
	for _, l := range lines {
		fmt.Fprintln(w, l.text)
	}
	switch t := c.Urgency.Target; {
	case t != clubline.UrgencyOnCall:
		fmt.Fprintf(w, "  (the urgency key rings group %s, not the person on call)\n", t)
	case c.Urgency.Fallback != "":
		fmt.Fprintf(w, "  then %s, then voicemail flagged urgent\n", c.Urgency.Fallback)
	default:
		fmt.Fprintln(w, "  then voicemail flagged urgent")
	}

	warnings := c.Warnings(now)
	for i, s := range c.Staff {
		if s.PasswordEnv == "" {
			continue
		}
		if _, set := os.LookupEnv(s.PasswordEnv); !set {
			warnings = append(warnings, &config.Error{File: path, Line: s.Line, Key: fmt.Sprintf("staff[%d].password_env", i+1),
				Msg: s.PasswordEnv + " is not set here: " + s.Name + "'s phone cannot register where it is unset",
				Fix: "set it where clubline runs, e.g. in its systemd unit"})
		}
	}
	unset := func(env, key string, line int, what string) {
		if env == "" {
			return
		}
		if v, set := os.LookupEnv(env); !set || v == "" {
			warnings = append(warnings, &config.Error{File: path, Line: line, Key: key,
				Msg: env + " is not set here: " + what, Fix: "set it where clubline runs, e.g. in its systemd unit"})
		}
	}
	for i, s := range c.Staff {
		unset(s.WebPasswordEnv, fmt.Sprintf("staff[%d].web_password_env", i+1), s.Line, s.Name+" cannot sign in to the web page where it is unset")
	}
	unset(c.Notify.SMTP.PasswordEnv, "notify.smtp.password_env", c.Notify.Line, "no e-mail can be sent where it is unset (clubline starts without e-mail)")
	unset(c.Notify.Webhook.SecretEnv, "notify.webhook.secret_env", c.Notify.Line, "the web hook is off where it is unset (clubline starts without it)")
	if w := fallbackWarning(path, c); w != nil {
		warnings = append(warnings, w)
	}
	if len(warnings) == 0 {
		return
	}
	slices.SortStableFunc(warnings, func(a, b *config.Error) int { return a.Line - b.Line })
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Warnings (%d): the file is valid, but check these:\n", len(warnings))
	for _, e := range warnings {
		fmt.Fprintln(w, "  "+e.Error())
	}
}

// fallbackLookUp bounds check's look-up of a SIP fallback's host.
const fallbackLookUp = 2 * time.Second

// fallbackWarning looks up the host of a SIP urgency fallback as the
// dialer does when an urgent call rings it (SRV, then the addresses): a
// name that cannot be found fails only then, with the caller waiting. A
// warning, not an error: check may run where the network is down.
func fallbackWarning(path string, c *config.Config) *config.Error {
	f := c.Urgency.Fallback
	if !strings.HasPrefix(f, "sip:") && !strings.HasPrefix(f, "sips:") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), fallbackLookUp)
	defer cancel()
	_, _, err := sip.LookUp(ctx, nil, f)
	if err == nil {
		return nil
	}
	why := err.Error()
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			why = "no such host " + dnsErr.Name
		case dnsErr.IsTimeout:
			why = "no answer from DNS within " + fallbackLookUp.String()
		default:
			why = dnsErr.Err + " looking up " + dnsErr.Name
		}
	}
	return &config.Error{File: path, Line: c.Urgency.FallbackLine, Key: "urgency.fallback",
		Msg: f + " cannot be found here (" + why + "): an urgent call would not ring it, and would go on to the urgent message",
		Fix: "check the host name; or write a number, or \"\" for voicemail. If this machine is offline, check again where clubline runs"}
}

// staffName is "Luc Gagnon", with ext "Luc Gagnon (202)"; the id when
// unknown.
func staffName(c *config.Config, id string, ext bool) string {
	s, ok := c.StaffByID(id)
	switch {
	case !ok:
		return id
	case ext:
		return s.Name + " (" + s.Extension + ")"
	}
	return s.Name
}
