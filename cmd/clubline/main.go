// Command clubline is the phone line of a club: `clubline serve` answers
// calls, `clubline check` validates the config file and shows the week
// ahead, `clubline call` places a test call from the terminal.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: clubline <command> [flags]

commands:
  serve   answer the club's line (default; with no --config: config/example.yaml and the embedded store)
  check   check a config file and show the week ahead, or what a call at --at would get
  call    place a call from the terminal: press keys, record what you hear
  probe   place the line's mystery call now (probe:) and say what it heard
  report  the service report of a period: calls answered, waits, messages called back in time
  privacy a caller's Law 25 requests: export or erase what the line holds about their number
  passwd  print the hash of a web page password, for web_password_hash
  version print the version and the commit clubline was built from (also --version)

Run "clubline <command> --help" for a command's flags.
`

// run dispatches to a subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return runServe(nil, stdout, stderr)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "call":
		return runCall(rest, stdout, stderr)
	case "probe":
		return runProbeCmd(rest, stdout, stderr)
	case "report":
		return runReport(rest, stdout, stderr)
	case "privacy":
		return runPrivacy(rest, os.Stdin, stdout, stderr)
	case "passwd":
		return runPasswd(rest, os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		return runVersion(stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if len(cmd) > 0 && cmd[0] == '-' { // flags only: serve
			return runServe(args, stdout, stderr)
		}
		fmt.Fprintf(stderr, "clubline: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
