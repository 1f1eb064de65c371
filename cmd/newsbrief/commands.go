package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
	"github.com/newsbrief/newsbrief/subscribers"
)

// cmdRun is one full cycle: collect, then send. Sources that fail do not
// stop the send; they make the exit code 1 once the send is done.
func cmdRun(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	fs := newFlags("run", "run", stderr)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	collectErr := runCollect(ctx, a)
	if collectErr != nil && !errors.Is(collectErr, collect.ErrSourcesFailed) {
		return collectErr
	}
	if err := send(ctx, a, time.Time{}); err != nil {
		return errors.Join(err, collectErr)
	}
	return collectErr
}

func cmdCollect(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	fs := newFlags("collect", "collect", stderr)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	return runCollect(ctx, a)
}

// runCollect runs the collector and prints one line per source.
func runCollect(ctx context.Context, a *app) error {
	report, err := a.collector().Collect(ctx)
	w := a.stdout
	for _, r := range report.Results {
		if r.Skipped {
			fmt.Fprintf(w, "wait    %s: its server asked not to be fetched again yet (Retry-After)\n", r.Source)
			continue
		}
		if r.Err != nil {
			fmt.Fprintf(w, "FAILED  %s: %v\n", r.Source, r.Err)
			continue
		}
		fmt.Fprintf(w, "ok      %s: %d new of %d\n", r.Source, r.New, r.Seen)
	}
	fmt.Fprintf(w, "collected %d new articles from %d sources\n", report.New(), len(report.Results))
	return err
}

func cmdPreview(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	fs := newFlags("preview", "preview [--to FILE]", stderr)
	to := fs.String("to", filepath.Join("preview", "next-edition.html"), "HTML file to write; the text body goes next to it with .txt")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	sample := pipeline.Recipient{Email: "reader@example.com", Name: "Reader"}
	m, n, err := a.editions().Preview(ctx, sample)
	if errors.Is(err, pipeline.ErrNothingNew) {
		fmt.Fprintf(a.stdout, "Nothing to preview: %v.\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	htmlPath := *to
	textPath := strings.TrimSuffix(htmlPath, filepath.Ext(htmlPath)) + ".txt"
	if dir := filepath.Dir(htmlPath); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("preview: %w", err)
		}
	}
	if err := writeFileAtomic(htmlPath, []byte(m.HTMLBody())); err != nil {
		return err
	}
	if err := writeFileAtomic(textPath, []byte(m.TextBody())); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Subject: %s\n%d articles, HTML %d bytes\n%s\n%s\n", m.Subject(), n, len(m.HTMLBody()), htmlPath, textPath)
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func cmdSend(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	fs := newFlags("send", "send [--dry-run] [--test ADDRESS]", stderr)
	dry := fs.Bool("dry-run", false, "select, count and render the next edition; send and store nothing")
	test := fs.String("test", "", "send the next edition to this address only, marked [TEST]; mark nothing sent")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *dry && *test != "" {
		return usagef("send: --dry-run and --test exclude each other")
	}
	switch {
	case *test != "":
		addr, err := subscribers.NormalizeEmail(*test)
		if err != nil {
			return usagef("send --test: %v", err)
		}
		err = a.editions().Test(ctx, addr)
		if errors.Is(err, pipeline.ErrNothingNew) {
			return fmt.Errorf("test send: %w", err)
		}
		if err == nil {
			fmt.Fprintf(a.stdout, "test message to %s %s\n", addr, a.where())
		}
		return err
	case *dry:
		return dryRun(ctx, a)
	}
	return send(ctx, a, time.Time{})
}

// dryRun prints what a send would do now.
func dryRun(ctx context.Context, a *app) error {
	rep, err := a.editions().DryRun(ctx)
	w := a.stdout
	for _, er := range rep.Unfinished {
		printEditionReport(w, er, true)
	}
	if errors.Is(err, pipeline.ErrNothingNew) {
		fmt.Fprintf(w, "no new edition: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "dry run: the next edition would go to %d subscribers with %d articles\nSubject: %s\n",
		rep.Recipients, len(rep.Articles), rep.Subject)
	return nil
}

// send resumes unfinished editions and sends the next one for slot (zero
// for none), printing what happened.
func send(ctx context.Context, a *app, slot time.Time) error {
	report, err := a.editions().Send(ctx, slot)
	w := a.stdout
	for _, er := range report.Editions {
		printEditionReport(w, er, false)
	}
	if errors.Is(err, pipeline.ErrNothingNew) {
		fmt.Fprintf(w, "no new edition: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	if len(report.Editions) > 0 {
		fmt.Fprintf(w, "messages %s\n", a.where())
	}
	return nil
}

// where says where messages go: the outbox folder or the relay.
func (a *app) where() string {
	if a.cfg.SMTPHost == "" {
		abs, err := filepath.Abs(a.cfg.OutboxDir)
		if err != nil {
			abs = a.cfg.OutboxDir
		}
		return "written as .eml files to " + abs
	}
	return fmt.Sprintf("sent via %s:%d", a.cfg.SMTPHost, a.cfg.smtpPort())
}

func printEditionReport(w io.Writer, er pipeline.EditionReport, dry bool) {
	verb := "sent"
	if er.Resumed {
		verb = "resumed"
	}
	if dry {
		verb = "unfinished"
	}
	fmt.Fprintf(w, "edition %d %s: %q\n  %s\n", er.ID, verb, er.Subject, countsLine(er.Counts))
	for _, f := range er.Failures {
		fmt.Fprintf(w, "  %-8s %-30s %s\n", f.State, f.Email, f.Detail)
	}
	if er.Stopped != "" {
		fmt.Fprintf(w, "  stopped early: %s\n", er.Stopped)
	}
	if !dry && !er.Done && er.Counts[pipeline.StateDeferred] > 0 {
		fmt.Fprintf(w, "  %d deferred deliveries will be retried by the next run\n", er.Counts[pipeline.StateDeferred])
	}
}

func countsLine(c map[string]int) string {
	var parts []string
	total := 0
	for _, st := range pipeline.States {
		if c[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[st], st))
			total += c[st]
		}
	}
	if total == 0 {
		return "no recipients"
	}
	return fmt.Sprintf("%d recipients: %s", total, strings.Join(parts, ", "))
}

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
		src, err := a.store.AddSource(ctx, pos[0], "cli")
		if errors.Is(err, pipeline.ErrDuplicate) {
			return err
		}
		if err != nil {
			return usagef("sources add: %v", err)
		}
		fmt.Fprintf(a.stdout, "source %d added: %s\n", src.ID, src.URL)
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
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", s.ID, s.URL, s.Title, s.Priority, fmtTime(s.LastFetchedAt),
				orDash(s.LastStatus), s.LastItems, s.LastNewItems, s.LastError)
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
	case "rule":
		return cmdSourceRules(ctx, a, rest, stderr)
	default:
		return usagef("sources: unknown subcommand %q (want add, list, remove, priority or rule)", sub)
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

// pastTense says what an article action did.
func pastTense(action string) string {
	switch action {
	case "pin", "unpin":
		return action + "ned"
	}
	return action + "d"
}

func cmdArticles(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("articles: want add FILE, list, pin ID, unpin ID, exclude ID, include ID or move ID POSITION")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, "Usage: newsbrief articles add FILE | list [--limit N] | pin ID | unpin ID | exclude ID | include ID | move ID POSITION\n"+
			"move puts an article at POSITION (1 first) of the next edition; 0 clears it.\nRun a subcommand with --help for its flags.")
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		pos, err := parse(newFlags("articles add", "articles add FILE", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		art, err := a.editions().AddArticleFile(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "article %d added: %s\n", art.ID, art.Title)
	case "list":
		fs := newFlags("articles list", "articles list [--limit N]", stderr)
		limit := fs.Int("limit", 50, "most recent articles to list; 0 for all")
		if _, err := parse(fs, rest, 0, 0); err != nil {
			return err
		}
		arts, err := a.store.Articles(ctx, *limit)
		if err != nil {
			return err
		}
		next, err := a.editions().Next(ctx)
		if err != nil {
			return err
		}
		inNext, grouped := map[int64]bool{}, map[int64]bool{}
		for _, n := range next.Articles {
			inNext[n.ID] = true
			for _, o := range n.Also {
				grouped[o.ID] = true
			}
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFLAGS\tCOLLECTED\tSOURCE\tTITLE")
		for _, art := range arts {
			flags := ""
			if inNext[art.ID] {
				flags += "N"
			}
			if grouped[art.ID] {
				flags += "G"
			}
			if art.Pinned {
				flags += "P"
			}
			if art.Excluded {
				flags += "X"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", art.ID, orDash(flags), fmtTime(art.CollectedAt), art.SourceName, art.Title)
		}
		tw.Flush()
		fmt.Fprintln(a.stdout, "flags: N in the next edition, G in it under the same story from another source, P pinned, X excluded")
	case "pin", "unpin", "exclude", "include":
		pos, err := parse(newFlags("articles "+sub, "articles "+sub+" ID", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		switch sub {
		case "pin", "unpin":
			err = a.editions().Pin(ctx, id, sub == "pin")
		default:
			err = a.editions().Exclude(ctx, id, sub == "exclude")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "article %d: %s\n", id, pastTense(sub))
	case "move":
		pos, err := parse(newFlags("articles move", "articles move ID POSITION", stderr), rest, 2, 2)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(pos[1])
		if err != nil || n < 0 {
			return usagef("articles move: position %q is not 0 or more", pos[1])
		}
		if err := a.editions().Move(ctx, id, n); err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintf(a.stdout, "article %d: position cleared\n", id)
		} else {
			fmt.Fprintf(a.stdout, "article %d: position %d in the next edition\n", id, n)
		}
	default:
		return usagef("articles: unknown subcommand %q", sub)
	}
	return nil
}

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
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("subscribers import: %w", err)
		}
		defer f.Close()
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
		cw := csv.NewWriter(a.stdout)
		cw.Write([]string{"email", "name", "status", "consent", "via", "consent_at", "consent_ip", "consent_user_agent",
			"created_at", "unsubscribed_at", "bounced_at", "last_bounce", "attributes"})
		err := a.subs.Each(ctx, "", func(s subscribers.Subscriber) error {
			return cw.Write([]string{s.Email, s.Name, s.Status, s.Consent, s.Via, isoTime(s.ConsentAt), s.ConsentIP, s.ConsentUA,
				isoTime(s.CreatedAt), isoTime(s.UnsubscribedAt), isoTime(s.BouncedAt), s.LastBounce, s.Attributes})
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	default:
		return usagef("subscribers: unknown subcommand %q", sub)
	}
	return nil
}

func cmdEditions(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("editions: want list, show ID, pause ID, resume ID, cancel ID or resend-unknown ID")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, "Usage: newsbrief editions list | show ID | pause ID | resume ID | cancel ID | resend-unknown ID\nRun a subcommand with --help for its flags.")
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list":
		if _, err := parse(newFlags("editions list", "editions list", stderr), rest, 0, 0); err != nil {
			return err
		}
		eds, err := a.store.Editions(ctx, 0)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tSTATUS\tSENT\tDEFERRED\tFAILED\tSUBJECT")
		for _, e := range eds {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\n", e.ID, fmtTime(e.CreatedAt), e.Status,
				e.Counts[pipeline.StateSent], e.Counts[pipeline.StateDeferred], e.Counts[pipeline.StateFailed], e.Subject)
		}
		tw.Flush()
	case "show":
		pos, err := parse(newFlags("editions show", "editions show ID", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		e, err := a.store.Edition(ctx, id)
		if err != nil {
			return err
		}
		w := a.stdout
		fmt.Fprintf(w, "edition %d: %s\nsubject: %s\ncreated: %s\n", e.ID, e.Status, e.Subject, fmtTime(e.CreatedAt))
		if !e.FinishedAt.IsZero() {
			fmt.Fprintf(w, "finished: %s\n", fmtTime(e.FinishedAt))
		}
		fmt.Fprintf(w, "deliveries: %s\narticles:\n", countsLine(e.Counts))
		for i, art := range e.Articles {
			fmt.Fprintf(w, "  %2d. [%d] %s\n", i+1, art.ID, art.Title)
		}
		fails, err := a.store.Failures(ctx, id, 0)
		if err != nil {
			return err
		}
		if len(fails) > 0 {
			groups := map[string][]pipeline.Failure{}
			for _, f := range fails {
				k := fmt.Sprintf("%s %d", f.State, f.Code)
				groups[k] = append(groups[k], f)
			}
			keys := make([]string, 0, len(groups))
			for k := range groups {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintln(w, "problems by state and code:")
			for _, k := range keys {
				fmt.Fprintf(w, "  %s (%d):\n", k, len(groups[k]))
				for _, f := range groups[k] {
					fmt.Fprintf(w, "    %s: %s\n", f.Email, f.Detail)
				}
			}
		}
	case "pause", "resume", "cancel", "resend-unknown":
		pos, err := parse(newFlags("editions "+sub, "editions "+sub+" ID", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		w := a.stdout
		switch sub {
		case "pause":
			if err := a.store.Pause(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(w, "edition %d paused: a running send stops after its current batch; 'editions resume %d' continues it\n", id, id)
		case "resume":
			if err := a.store.Resume(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(w, "edition %d resumed: the next run or send continues it, mailing nobody twice\n", id)
		case "cancel":
			n, err := a.store.Cancel(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "edition %d cancelled: %d deliveries will not be sent\n", id, n)
		case "resend-unknown":
			n, err := a.store.ResendUnknown(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "edition %d: %d deliveries of unknown outcome queued again (some of them may have arrived already); the next run sends them\n", id, n)
		}
	default:
		return usagef("editions: unknown subcommand %q", sub)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// isoTime is t in RFC 3339 (UTC), or "" for the zero time: for exports.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "--help" || s == "-help" }
