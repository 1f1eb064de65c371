package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	if err := a.cfg.readyToSend(); err != nil {
		return err
	}
	collectErr := runCollect(ctx, a)
	if collectErr != nil && !errors.Is(collectErr, collect.ErrSourcesFailed) {
		return collectErr
	}
	// what came back since the last run, before anyone is mailed: a
	// mailbox that cannot be read is reported, and the brief still goes
	if p := a.poller(); p != nil {
		rep, err := p.Poll(ctx)
		fmt.Fprintf(a.stdout, "bounce mailbox: read %d, applied %d, kept for later %d\n", rep.Read, rep.Applied, rep.Kept)
		if err != nil {
			collectErr = errors.Join(collectErr, fmt.Errorf("bounce mailbox: %w", err))
		}
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
	if errors.Is(err, collect.ErrSourcesFailed) {
		// each failure is on its FAILED line above: the exit code says the rest
		return fmt.Errorf("%w (%d of %d, listed above)", collect.ErrSourcesFailed, len(report.Failed()), len(report.Results))
	}
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
	if err := a.cfg.readyToSend(); err != nil {
		return err
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
