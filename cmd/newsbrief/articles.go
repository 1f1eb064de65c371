package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

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
		return usagef("articles: want add FILE, list, pin ID, unpin ID, exclude ID, include ID, move ID POSITION, groups or split ID")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, "Usage: newsbrief articles add FILE | list [--limit N] | pin ID | unpin ID | exclude ID | include ID | move ID POSITION | groups | split ID\n"+
			"move puts an article at POSITION (1 first) of the next edition; 0 clears it.\n"+
			"groups lists the next edition's \"also reported by\" groups; split ID makes the articles of the group led by ID stand on their own.\n"+
			"Run a subcommand with --help for its flags.")
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
	case "groups":
		if _, err := parse(newFlags("articles groups", "articles groups", stderr), rest, 0, 0); err != nil {
			return err
		}
		groups, err := a.editions().Groups(ctx)
		if err != nil {
			return err
		}
		if len(groups) == 0 {
			fmt.Fprintln(a.stdout, "no story of the next edition is reported by more than one source")
			return nil
		}
		for _, g := range groups {
			fmt.Fprintf(a.stdout, "group %d: %s (%s)\n", g.ID, g.Title, g.SourceName)
			for _, o := range g.Also {
				fmt.Fprintf(a.stdout, "  also %d: %s (%s)\n", o.ID, o.Title, o.SourceName)
			}
		}
	case "split":
		pos, err := parse(newFlags("articles split", "articles split ID", stderr), rest, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseID(pos[0])
		if err != nil {
			return err
		}
		if err := a.editions().Split(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "group %d split: each of its articles stands on its own\n", id)
	default:
		return usagef("articles: unknown subcommand %q", sub)
	}
	return nil
}
