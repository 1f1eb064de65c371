package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
)

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
		fmt.Fprintf(w, "deliveries: %s\n", countsLine(e.Counts))
		fb, err := a.subs.EditionFeedback(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "came back: %d bounced later (%d hard, %d soft), %d complaints (%.2f%% of %d delivered), %d unsubscribed\n",
			fb.Bounces(), fb.Hard, fb.Soft, fb.Complaints, 100*fb.ComplaintRate(e.Counts[pipeline.StateSent]), e.Counts[pipeline.StateSent], fb.Unsubscribes)
		if fb.TooManyComplaints(e.Counts[pipeline.StateSent]) {
			fmt.Fprintf(w, "WARNING: the complaint rate is over %.1f%%: look at what this edition carried and whom it went to (Gmail and Yahoo block senders over 0.3%%)\n", 100*subscribers.ComplaintWarnRate)
		}
		fmt.Fprintln(w, "articles:")
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
		n, err := a.editions().Control(ctx, id, sub)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, controlDone(id, sub, n))
	default:
		return usagef("editions: unknown subcommand %q", sub)
	}
	return nil
}

// controlDone says what an edition control did.
func controlDone(id int64, action string, n int64) string {
	switch action {
	case "pause":
		return fmt.Sprintf("edition %d paused: a running send stops after its current batch; 'editions resume %d' continues it", id, id)
	case "resume":
		return fmt.Sprintf("edition %d resumed: the next run or send continues it, mailing nobody twice", id)
	case "cancel":
		return fmt.Sprintf("edition %d cancelled: %d deliveries will not be sent", id, n)
	}
	return fmt.Sprintf("edition %d: %d deliveries of unknown outcome queued again (some of them may have arrived already); the next run sends them", id, n)
}
