package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// usageError is bad usage: the binary exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// exitCode maps run's error to the process exit code, printing it: 0
// success, 1 runtime failure, 2 bad usage or configuration.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "newsbrief:", err)
	var ue *usageError
	var ce *configError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "Run 'newsbrief help' for the commands.")
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "Run 'newsbrief config' to see every variable and its value.")
		return 2
	}
	return 1
}

const usageText = `newsbrief: a daily e-mail news brief.

Usage: newsbrief COMMAND [ARGS]

Commands:
  serve                        the daemon: send and collect schedules, and HTTP (health, unsubscribe, archive)
  run                          one full cycle now: collect, select, render, send; then exit
  collect                      fetch sources and read the articles folder into the article store
  preview [--to FILE]          render the next edition (FILE and FILE with .txt) without sending
  send [--dry-run] [--test ADDRESS]
                               send the next edition now (resuming any unfinished one first)
  sources add URL (a feed, or a page that links one) | list | remove ID|URL | pause ID|URL | resume ID|URL | priority ID|URL N
          | rule add ID|URL (--regex RE | --selector CSS) | rule list [ID|URL] | rule remove RULE-ID
  articles add FILE | list [--limit N] | pin ID | unpin ID | exclude ID | include ID | move ID POSITION | groups | split ID
  subscribers add EMAIL [--name NAME] | list [--status S] | remove EMAIL | forget EMAIL
              | import [--dry-run] [--consent TEXT] FILE.csv|- | export
  editions list | show ID | pause ID | resume ID | cancel ID | resend-unknown ID
  bounces process FILE|- [--rcpt ADDRESS] | poll
                               apply one returned mail (a DSN, a complaint, a mailto unsubscribe; from an
                               MTA's pipe transport), or read NEWSBRIEF_BOUNCE_MAILBOX once
  config                       effective configuration, secrets masked, and every variable's doc
  health                       exit 0 when the local serve answers /readyz, 1 otherwise (container HEALTHCHECK)
  version                      print the version

Settings come from NEWSBRIEF_* environment variables (see 'newsbrief config').
Exit codes: 0 success, 1 runtime failure (including sources that failed to
collect), 2 bad usage or bad configuration.
Run 'newsbrief COMMAND --help' for a command's flags.
`

// run is the whole binary: it parses args, loads the configuration from the
// environment and runs one command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "newsbrief", version())
		return nil
	}
	unknown := unknownVars()
	handler, ok := command(cmd)
	if !ok {
		return usagef("unknown command %q", cmd)
	}
	cfg, err := loadConfig()
	if cmd == "config" {
		// show the configuration even when some of it is invalid
		printConfig(stdout, cfg)
		for _, u := range unknown {
			fmt.Fprintf(stdout, "# unknown: %s\n", u)
		}
		return err
	}
	for _, u := range unknown {
		fmt.Fprintf(stderr, "warning: %s\n", u)
	}
	if cmd == "health" {
		// before the database is opened: cheap enough for every 30 s
		return cmdHealth(ctx, cfg, rest, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if _, set := os.LookupEnv("NEWSBRIEF_LOG_LEVEL"); !set && cmd != "serve" {
		// the commands print their results; their info logs would say
		// each one twice
		cfg.LogLevel = "warn"
	}
	log := newLogger(cfg, stderr)
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	a, err := openApp(ctx, cfg, log, stdin, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	return handler(ctx, a, rest, stderr)
}

// startCPUProfile writes a CPU profile to file until the returned stop is
// called, and then the allocations the command made (sampled) to
// file.allocs.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if a, err := os.Create(file + ".allocs"); err == nil {
			pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}, nil
}

// commandFunc runs one command with its arguments after the command name.
type commandFunc func(ctx context.Context, a *app, args []string, stderr io.Writer) error

// command returns the handler of a command name ("config" and "health"
// have none: run handles them before the app is opened).
func command(name string) (commandFunc, bool) {
	switch name {
	case "config", "health":
		return nil, true
	case "serve":
		return cmdServe, true
	case "run":
		return cmdRun, true
	case "collect":
		return cmdCollect, true
	case "preview":
		return cmdPreview, true
	case "send":
		return cmdSend, true
	case "sources":
		return cmdSources, true
	case "articles":
		return cmdArticles, true
	case "subscribers":
		return cmdSubscribers, true
	case "editions":
		return cmdEditions, true
	case "bounces":
		return cmdBounces, true
	}
	return nil, false
}

// newFlags returns a flag set that reports errors as usage errors.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: newsbrief %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags (which may come before or after the positional
// arguments) and checks the count of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
		fs.Usage()
		return nil, usagef("%s: wrong number of arguments", fs.Name())
	}
	return pos, nil
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not an ID (a positive number)", s)
	}
	return id, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
