package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/newsbrief/newsbrief/subscribers"
)

func cmdSubscribers(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("subscribers: want add, list, remove, forget, import or export")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, "Usage: newsbrief subscribers add EMAIL [--name NAME] | list [--status S] | remove EMAIL | forget EMAIL | import [--dry-run] [--consent TEXT] FILE.csv | export\nRun a subcommand with --help for its flags.")
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		fs := newFlags("subscribers add", "subscribers add EMAIL [--name NAME] [--consent TEXT]", stderr)
		name := fs.String("name", "", "display name")
		consent := fs.String("consent", "added by an operator", "where the consent came from")
		pos, err := parse(fs, rest, 1, 1)
		if err != nil {
			return err
		}
		s, err := a.subs.Add(ctx, pos[0], *name, *consent, "cli")
		if errors.Is(err, subscribers.ErrInvalidEmail) {
			return usagef("subscribers add: %v", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "subscriber %d added: %s\n", s.ID, s.Email)
	case "list":
		fs := newFlags("subscribers list", "subscribers list [--status pending|active|unsubscribed|bounced|complained]", stderr)
		status := fs.String("status", "", "only subscribers with this status")
		if _, err := parse(fs, rest, 0, 0); err != nil {
			return err
		}
		if *status != "" && !slices.Contains(subscribers.Statuses, *status) {
			return usagef("subscribers list: --status %q is not one of %s", *status, strings.Join(subscribers.Statuses, ", "))
		}
		// streamed a row at a time in fixed columns (a tabwriter would
		// hold the whole list to align it): the first rows come at once and
		// memory stays flat at a million subscribers
		w := bufio.NewWriter(a.stdout)
		fmt.Fprintf(w, "%-8s  %-36s  %-24s  %-12s  %s\n", "ID", "EMAIL", "NAME", "STATUS", "SINCE")
		err := a.subs.Each(ctx, *status, func(s subscribers.Subscriber) error {
			_, err := fmt.Fprintf(w, "%-8d  %-36s  %-24s  %-12s  %s\n", s.ID, s.Email, s.Name, s.Status, fmtTime(s.CreatedAt))
			if w.Buffered() > 32<<10 {
				err = w.Flush()
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	case "remove":
		pos, err := parse(newFlags("subscribers remove", "subscribers remove EMAIL", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		if err := a.subs.Remove(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "subscriber %s removed\n", pos[0])
	case "forget":
		pos, err := parse(newFlags("subscribers forget", "subscribers forget EMAIL", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		err = a.editions().Erase(ctx, pos[0])
		switch {
		case errors.Is(err, subscribers.ErrNotFound):
			fmt.Fprintf(a.stdout, "%s was not on the list; it is now suppressed all the same\n", pos[0])
			return nil
		case err != nil:
			return err
		}
		fmt.Fprintf(a.stdout, "subscriber %s erased: only a keyed hash is kept, so the address can't be added or imported again\n", pos[0])
	case "import":
		fs := newFlags("subscribers import", "subscribers import [--dry-run] [--consent TEXT] FILE.csv", stderr)
		dry := fs.Bool("dry-run", false, "check every row and report; store nothing")
		consent := fs.String("consent", "", "where these subscribers' consent came from (recorded with each); without it new subscribers are pending and get a confirmation mail")
		pos, err := parse(fs, rest, 1, 1)
		if err != nil {
			return err
		}
		var f io.Reader = a.stdin
		if pos[0] != "-" { // "-" reads standard input: docker exec -i … import - < list.csv
			file, err := os.Open(pos[0])
			if err != nil {
				return fmt.Errorf("subscribers import: %w", err)
			}
			defer file.Close()
			f = file
		}
		opts := subscribers.ImportOptions{DryRun: *dry, Consent: *consent}
		if *consent == "" && !*dry {
			// no recorded consent: each new subscriber is pending and gets a confirmation mail
			opts.Pending = func(id int64, email, name string) error {
				return a.SendConfirmation(ctx, email, name, a.confirmURL(id))
			}
		}
		rep, err := a.subs.Import(ctx, f, opts)
		for _, b := range rep.Bad {
			fmt.Fprintf(a.stdout, "%s:%d: %s\n", pos[0], b.Line, b.Reason)
		}
		if errors.Is(err, subscribers.ErrBadHeader) {
			return usagef("subscribers import %s: %v", pos[0], err)
		}
		var long *subscribers.LineTooLongError
		if errors.As(err, &long) {
			return fmt.Errorf("%s:%d: longer than 1 MiB: the import stopped there; the %d rows before it were imported",
				pos[0], long.Line, rep.Added+rep.Updated+rep.Unchanged)
		}
		if err != nil {
			return err
		}
		prefix := ""
		if *dry {
			prefix = "dry run, nothing stored: "
		}
		fmt.Fprintf(a.stdout, "%s%d added, %d updated, %d unchanged, %d bad rows\n", prefix, rep.Added, rep.Updated, rep.Unchanged, len(rep.Bad))
		if rep.Pending > 0 {
			fmt.Fprintf(a.stdout, "%d of the added are pending: without --consent each gets a confirmation mail and receives editions only once confirmed\n", rep.Pending)
		}
	case "export":
		if _, err := parse(newFlags("subscribers export", "subscribers export", stderr), rest, 0, 0); err != nil {
			return err
		}
		return a.subs.Export(ctx, a.stdout)
	default:
		return usagef("subscribers: unknown subcommand %q", sub)
	}
	return nil
}
