package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/notify"
	"github.com/clubline/clubline/privacy"
	"github.com/clubline/clubline/web"
)

// runPrivacy is `clubline privacy export|erase --number N`: a caller's
// Law 25 requests, from the terminal. It opens the stores itself, so with
// the embedded store it needs clubline stopped (the web page's Privacy
// page does the same while it runs); with Redis it works either way.
func runPrivacy(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: clubline privacy export --number +15145550101 [--out FILE.zip] [--config FILE]")
		fmt.Fprintln(stderr, "       clubline privacy erase  --number +15145550101 [--yes] [--config FILE]")
		fmt.Fprintln(stderr, "Exports, or erases, everything the line holds about a caller's number (Quebec's Law 25).")
	}
	if len(args) == 0 || (args[0] != "export" && args[0] != "erase") {
		usage()
		return 2
	}
	what := args[0]
	fs := flag.NewFlagSet("privacy "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/example.yaml", "the config `file` of the line")
	number := fs.String("number", "", "the caller's `number`, e.g. +15145550101")
	out := fs.String("out", "", "export: the zip `file` to write (default clubline-export-<date>.zip)")
	yes := fs.Bool("yes", false, "erase: do not ask for confirmation")
	fs.Usage = usage
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(clubline.Digits(*number)) < 4 {
		fmt.Fprintln(stderr, "clubline privacy: --number: write the caller's number, e.g. --number +15145550101")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := &Main{ConfigPath: *path, Logger: logger}
	st, err := m.openStore(cfg) // the spool too: its pending records are the caller's as well
	if err != nil {
		fmt.Fprintln(stderr, err)
		if strings.Contains(err.Error(), "locked") {
			fmt.Fprintln(stderr, "clubline is running with the embedded store: use the Privacy page of the web page (as an admin), or stop clubline and run this again")
		}
		return 1
	}
	defer st.Close()
	opts := privacy.Options{Store: st, VoicemailDir: cfg.Voicemail.Dir, Logger: logger}
	if al, err := audit.Open(filepath.Join(cfg.Store.DataDir, "audit.jsonl")); err == nil {
		defer al.Close()
		opts.Audit = al
	}
	ob := filepath.Join(cfg.Store.DataDir, "outbox")
	opts.Pending = append(opts.Pending, func(n string) (int, error) { return notify.PurgeDir(ob, n) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if what == "export" {
		name := *out
		if name == "" {
			name = "clubline-export-" + time.Now().Format("2006-01-02") + ".zip"
		}
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "clubline privacy export: %v\n", err)
			return 1
		}
		if err := privacy.Export(ctx, opts, *number, f); err != nil {
			f.Close()
			os.Remove(name)
			fmt.Fprintf(stderr, "clubline privacy export: %v\n", err)
			return 1
		}
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "clubline privacy export: %v\n", err)
			return 1
		}
		if opts.Audit != nil {
			_ = opts.Audit.Add(audit.Entry{Action: audit.ActionPrivacyExport, Detail: "from the terminal"})
		}
		fmt.Fprintf(stdout, "wrote %s: give it to the caller; it holds their calls, messages (with audio) and who accessed them\n", name)
		return 0
	}
	if !*yes {
		fmt.Fprintf(stdout, "Erase everything the line holds about %s (calls, messages, recordings)? This cannot be undone. Type yes: ", *number)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(stdout, "nothing erased")
			return 1
		}
	}
	erased, err := privacy.Erase(ctx, opts, *number)
	if opts.Audit != nil {
		_ = opts.Audit.Add(audit.Entry{Action: audit.ActionPrivacyErase, Detail: "from the terminal: " + erased.String()})
	}
	if err != nil {
		fmt.Fprintf(stderr, "clubline privacy erase: not complete: %v\nerased so far: %s; run it again once the cause is fixed\n", err, erased)
		return 1
	}
	fmt.Fprintf(stdout, "erased %s\n", erased)
	return 0
}

// runPasswd reads a password on stdin and prints its argon2id hash, the
// value of a staff member's web_password_hash.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: clubline passwd < password.txt   (or type it, then Enter)")
		fmt.Fprintln(stderr, "Prints the argon2id hash to write as web_password_hash under the staff member.")
		if args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		fmt.Fprintln(stderr, "clubline passwd: a web password needs at least 8 characters")
		return 1
	}
	h, err := web.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
