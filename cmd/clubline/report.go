package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/report"
	"github.com/clubline/clubline/routing"
)

// reportOptions are the report's options for the config's groups.
func reportOptions(cfg *config.Config, from, to, now time.Time) report.Options {
	o := report.Options{From: from, To: to, Now: now, DefaultServiceLevel: routing.DefaultServiceLevel,
		ServiceLevel: map[string]time.Duration{}}
	for _, g := range cfg.Groups {
		o.ServiceLevel[g.ID] = g.ServiceLevel
	}
	return o
}

// parsePeriod reads --from and --to (dates in the club's time zone, --to
// included); the default is the last 7 days.
func parsePeriod(from, to string, loc *time.Location, now time.Time) (time.Time, time.Time, error) {
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	f, t := today.AddDate(0, 0, -7), today
	var err error
	if from != "" {
		if f, err = time.ParseInLocation(time.DateOnly, from, loc); err != nil {
			return f, t, fmt.Errorf("--from %q: write a date, 2026-11-01", from)
		}
	}
	if to != "" {
		if t, err = time.ParseInLocation(time.DateOnly, to, loc); err != nil {
			return f, t, fmt.Errorf("--to %q: write a date, 2026-11-30", to)
		}
		t = t.AddDate(0, 0, 1) // the day given is included
	}
	if !f.Before(t) {
		return f, t, errors.New("--from must come before --to")
	}
	return f, t, nil
}

// runReport is `clubline report`: the service report of a period, from
// the store, as text or CSV.
func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/example.yaml", "the config `file` of the line")
	from := fs.String("from", "", "the first `day` (YYYY-MM-DD, the club's time zone; default a week ago)")
	to := fs.String("to", "", "the last `day`, included (default yesterday)")
	asCSV := fs.Bool("csv", false, "CSV rows (figure, dimension, value) instead of text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: clubline report [--config FILE] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--csv]")
		fmt.Fprintln(stderr, "The service report of a period: calls, answer rate and service level, waits, messages called back in time, urgent calls.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	now := time.Now()
	f, t, err := parsePeriod(*from, *to, cfg.Club.Location, now)
	if err != nil {
		fmt.Fprintln(stderr, "clubline report:", err)
		return 2
	}
	m := &Main{ConfigPath: *path, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	st, err := m.openBackend(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if strings.Contains(err.Error(), "locked") {
			fmt.Fprintln(stderr, "clubline is running with the embedded store: read the report on the web page (GET /api/report), or stop clubline")
		}
		return 1
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := report.Build(ctx, st, reportOptions(cfg, f, t, now))
	if err != nil {
		fmt.Fprintln(stderr, "clubline report:", err)
		return 1
	}
	if *asCSV {
		if err := r.CSV(stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	r.Text(stdout, cfg.Club.Location)
	printHoursOffered(stdout, cfg, f, t)
	return 0
}

// printHoursOffered is the report's line on the office hours of the
// period against the reception standard (commitments.go).
func printHoursOffered(w io.Writer, cfg *config.Config, from, to time.Time) {
	days := int(to.Sub(from).Hours()/24 + 0.5)
	agenda := cfg.Schedule().Agenda(from, days)
	full, hours := 0, time.Duration(0)
	for _, d := range agenda {
		var open time.Duration
		for _, r := range d.Ranges {
			open += time.Duration(r.End-r.Start) * time.Minute
		}
		hours += open
		if open >= minHoursADay {
			full++
		}
	}
	weeks := float64(days) / 7
	fmt.Fprintf(w, "\nOffice hours: %.0f h over %d days; %d days of %s or more (the standard asks %d a week: %.0f for the period)\n",
		hours.Hours(), days, full, hoursText(minHoursADay), minDaysAWeek, weeks*minDaysAWeek)
}

// webReport is the web page's report.
func (m *Main) webReport(ctx context.Context, from, to, format string, w io.Writer) error {
	cfg := m.current.Load()
	now := m.Now()
	f, t, err := parsePeriod(from, to, cfg.Club.Location, now)
	if err != nil {
		return err
	}
	r, err := report.Build(ctx, m.Store, reportOptions(cfg, f, t, now))
	if err != nil {
		return err
	}
	if format == "csv" {
		return r.CSV(w)
	}
	r.Text(w, cfg.Club.Location)
	printHoursOffered(w, cfg, f, t)
	return nil
}
