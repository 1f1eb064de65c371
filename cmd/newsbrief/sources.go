package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/newsbrief/newsbrief/pipeline"
)

func cmdSources(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("sources: want add URL, list, remove ID|URL, priority ID|URL N or rule add|list|remove")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, sourcesUsage)
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		pos, err := parse(newFlags("sources add", "sources add URL", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		// checked by fetching it first: a page is followed to the feed it
		// links, and nothing is stored for an address that gives no feed
		src, feedURL, err := a.collector().AddSource(ctx, pos[0], "cli")
		switch {
		case errors.Is(err, pipeline.ErrBadInput):
			return usagef("sources add: %v", err)
		case errors.Is(err, pipeline.ErrDuplicate):
			return err
		case err != nil:
			return fmt.Errorf("sources add: %w; nothing was added", err)
		}
		fmt.Fprintf(a.stdout, "source %d added: %s", src.ID, src.URL)
		if feedURL != pos[0] {
			fmt.Fprintf(a.stdout, ", the feed %s links", pos[0])
		}
		fmt.Fprintln(a.stdout)
	case "list":
		if _, err := parse(newFlags("sources list", "sources list", stderr), rest, 0, 0); err != nil {
			return err
		}
		srcs, err := a.store.Sources(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tTITLE\tPRIORITY\tLAST FETCH\tSTATUS\tITEMS\tNEW\tERROR")
		for _, s := range srcs {
			status := orDash(s.LastStatus)
			if s.Paused {
				status = "paused"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", s.ID, s.URL, s.Title, s.Priority, fmtTime(s.LastFetchedAt),
				status, s.LastItems, s.LastNewItems, s.LastError)
		}
		tw.Flush()
	case "remove":
		pos, err := parse(newFlags("sources remove", "sources remove ID|URL", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		if err := a.store.RemoveSource(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "source %s removed (its articles are kept)\n", pos[0])
	case "priority":
		pos, err := parse(newFlags("sources priority", "sources priority ID|URL N", stderr), rest, 2, 2)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(pos[1])
		if err != nil {
			return usagef("sources priority: %q is not a whole number", pos[1])
		}
		if err := a.store.SetPriority(ctx, pos[0], n); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "source %s: priority %d\n", pos[0], n)
	case "pause", "resume":
		pos, err := parse(newFlags("sources "+sub, "sources "+sub+" ID|URL", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		if err := a.store.SetPaused(ctx, pos[0], sub == "pause"); err != nil {
			return err
		}
		if sub == "pause" {
			fmt.Fprintf(a.stdout, "source %s paused: kept, not fetched until 'sources resume %s'\n", pos[0], pos[0])
		} else {
			fmt.Fprintf(a.stdout, "source %s resumed: fetched at the next collect\n", pos[0])
		}
	case "rule":
		return cmdSourceRules(ctx, a, rest, stderr)
	default:
		return usagef("sources: unknown subcommand %q (want add, list, remove, pause, resume, priority or rule)", sub)
	}
	return nil
}

const sourcesUsage = `Usage: newsbrief sources add URL | list | remove ID|URL | priority ID|URL N
       newsbrief sources rule add ID|URL (--regex RE | --selector CSS) | rule list [ID|URL] | rule remove RULE-ID

A source's priority (default 0) puts its articles before those of lower ones.
Rules remove a source's boilerplate: --selector removes the elements a CSS
selector matches in the feed's HTML as it comes; --regex removes each
paragraph or block whose text matches (Go regexp syntax). Run collect with
NEWSBRIEF_LOG_LEVEL=debug to see what each rule removed.
Run a subcommand with --help for its flags.`

func cmdSourceRules(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("sources rule: want add, list or remove")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		fs := newFlags("sources rule add", "sources rule add ID|URL (--regex RE | --selector CSS)", stderr)
		re := fs.String("regex", "", "remove blocks whose text matches this regular expression")
		sel := fs.String("selector", "", "remove the elements this CSS selector matches")
		pos, err := parse(fs, rest, 1, 1)
		if err != nil {
			return err
		}
		kind, pattern := pipeline.RuleRegex, *re
		switch {
		case (*re == "") == (*sel == ""):
			return usagef("sources rule add: give exactly one of --regex and --selector")
		case *sel != "":
			kind, pattern = pipeline.RuleSelector, *sel
		}
		r, err := a.store.AddRule(ctx, pos[0], kind, pattern)
		if errors.Is(err, pipeline.ErrBadRule) {
			return usagef("sources rule add: %v", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "rule %d added to source %d: %s %s\n", r.ID, r.SourceID, r.Kind, r.Pattern)
	case "list":
		pos, err := parse(newFlags("sources rule list", "sources rule list [ID|URL]", stderr), rest, 0, 1)
		if err != nil {
			return err
		}
		var srcID int64
		if len(pos) == 1 {
			src, err := a.store.Source(ctx, pos[0])
			if err != nil {
				return err
			}
			srcID = src.ID
		}
		rules, err := a.store.Rules(ctx, srcID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tSOURCE\tKIND\tPATTERN")
		for _, r := range rules {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", r.ID, r.SourceID, r.Kind, r.Pattern)
		}
		tw.Flush()
	case "remove":
		pos, err := parse(newFlags("sources rule remove", "sources rule remove RULE-ID", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		if err := a.store.RemoveRule(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "rule %d removed\n", id)
	default:
		return usagef("sources rule: unknown subcommand %q (want add, list or remove)", sub)
	}
	return nil
}
