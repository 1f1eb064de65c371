package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/pipeline/deliver"
)

// issue is what a renderer renders of ed: its stories in order, each with
// the same story from other sources that have a link. Only feed articles
// name their source.
func issue(ed Edition) brief.Issue {
	is := brief.Issue{ID: ed.ID, Date: ed.CreatedAt, Note: ed.Note}
	for _, a := range ed.Articles {
		st := brief.Story{ID: a.ID, Title: a.Title, URL: a.URL, Source: a.SourceName, Author: a.Author, Summary: a.Summary,
			ImageURL: a.ImageURL, ImageWidth: a.ImageWidth, Published: a.PublishedAt, Tags: a.Tags,
			Audio: brief.Audio{URL: a.AudioURL, Type: a.AudioType, Seconds: a.AudioSeconds}}
		if a.Origin != "feed" {
			st.Source = ""
		}
		for _, o := range a.Also {
			if o.URL != "" {
				st.Also = append(st.Also, brief.Link{Source: o.SourceName, URL: o.URL})
			}
		}
		is.Stories = append(is.Stories, st)
	}
	return is
}

// Editions is the editions service: the only definition of "the next
// edition" (selection, grouping, caps, first-edition lookback, minimum) and
// of every use case around it (preview, dry run, test send, send, the
// editors' curation, erasure across stores). The command line, the desk,
// the API and the scheduler all call it; nothing in it prints.
type Editions struct {
	Store       *Store
	Subscribers SubscriberSource
	Renderer    Renderer
	Engine      *deliver.Engine // sends stored editions and keeps the ledger
	Files       ArticleFiles    // reads and cleans editors' articles
	// MaxArticles caps an edition (0: no cap); MaxPerSource caps the
	// articles one feed contributes (0: no cap); MinArticles is the fewest
	// new articles worth an edition; a first edition takes feed articles
	// published within FirstLookback only.
	MaxArticles   int
	MaxPerSource  int
	MinArticles   int
	FirstLookback time.Duration
	Log           *slog.Logger
}

// maxCandidates bounds how many waiting articles one selection considers;
// a larger backlog waits for later editions.
const maxCandidates = 1000

// NextEdition is the next edition as it would go out now.
type NextEdition struct {
	Articles      []Article // in order; each with the same story from other sources in Also
	Left          []Article // recently collected or excluded, waiting, not in it
	Subject       string    // the subject it would carry
	CustomSubject bool      // an editor set the subject
	Note          string    // the editor's note at its top, "" for none
	Recipients    int       // active subscribers now
	Unfinished    []EditionReport
	// Reason, when no edition would be made, says why (it wraps
	// ErrNothingNew); nil otherwise.
	Reason error
}

func (e *Editions) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Next tells what the next edition would be now, without rendering its
// bodies: the articles, the ones left out, the subject, the recipient
// count and the editions still unfinished. It never returns ErrNothingNew:
// that is in Reason.
func (e *Editions) Next(ctx context.Context) (NextEdition, error) {
	var n NextEdition
	arts, err := e.Select(ctx)
	switch {
	case errors.Is(err, ErrNothingNew):
		n.Reason = err
	case err != nil:
		return n, err
	case len(arts) == 0:
		n.Reason, err = e.nothingNew(ctx)
		if err != nil {
			return n, err
		}
	}
	n.Articles = arts
	custom, err := e.Store.NextSubject(ctx)
	if err != nil {
		return n, err
	}
	n.CustomSubject, n.Subject = custom != "", custom
	if n.Note, err = e.Store.NextNote(ctx); err != nil {
		return n, err
	}
	if len(arts) > 0 && custom == "" {
		if n.Subject, err = e.Renderer.Subject(ctx, issue(Edition{Articles: arts, CreatedAt: e.Store.now()})); err != nil {
			return n, fmt.Errorf("render subject: %w", err)
		}
	}
	if n.Recipients, err = e.Subscribers.CountActive(ctx); err != nil {
		return n, fmt.Errorf("count subscribers: %w", err)
	}
	unfinished, err := e.Store.unfinishedEditions(ctx)
	if err != nil {
		return n, err
	}
	for _, ed := range unfinished {
		n.Unfinished = append(n.Unfinished, EditionReport{ID: ed.ID, Subject: ed.Subject, Resumed: true, Counts: ed.Counts})
	}
	in := map[int64]bool{}
	for _, a := range arts {
		in[a.ID] = true
		for _, o := range a.Also {
			in[o.ID] = true
		}
	}
	waiting, err := e.Store.waitingArticles(ctx, e.Store.now().Add(-72*time.Hour), 60)
	if err != nil {
		return n, err
	}
	for _, a := range waiting {
		if !in[a.ID] {
			n.Left = append(n.Left, a)
		}
	}
	return n, nil
}

// nothingNew is the reason no edition would be made when no article waits.
func (e *Editions) nothingNew(ctx context.Context) (error, error) {
	any, err := e.Store.anyArticle(ctx)
	if err != nil {
		return nil, err
	}
	if !any {
		return fmt.Errorf("%w yet: no articles collected (add feeds with 'newsbrief sources add URL' or files to the articles folder, then collect)", ErrNothingNew), nil
	}
	return fmt.Errorf("%w: no articles collected since the last edition", ErrNothingNew), nil
}

// Select chooses the next edition's articles from the store's
// candidates (placed by the editor, pinned, by source priority, then
// newest): on a first edition no feed article older than FirstLookback, at
// most MaxPerSource from one feed, at most MaxArticles. The same story from
// another source joins the article already chosen as "also reported by"
// instead of taking a place of its own. Fewer than MinArticles is
// ErrNothingNew with the reason; none at all is an empty list.
func (e *Editions) Select(ctx context.Context) ([]Article, error) {
	cands, err := e.Store.NextArticles(ctx, maxCandidates)
	if err != nil {
		return nil, err
	}
	first, err := e.Store.firstEdition(ctx)
	if err != nil {
		return nil, err
	}
	apart, err := e.Store.apart(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := e.Store.now().Add(-e.FirstLookback)
	var pool []Article
	for _, a := range cands {
		if a.Origin == "feed" && !a.Pinned && first && e.FirstLookback > 0 && a.PublishedAt.Before(cutoff) {
			continue
		}
		pool = append(pool, a)
	}
	// the same story from several sources is one entry, led by the first
	// in the candidates' order; split articles stand alone
	groups := groupStories(pool, func(a Article) bool { return apart[a.ID] })
	type entry struct {
		lead    Article
		sources int // distinct sources carrying the story
		order   int
	}
	entries := make([]entry, len(groups))
	for g, members := range groups {
		lead := pool[members[0]]
		seen := map[string]bool{}
		for _, m := range members {
			o := pool[m]
			seen[fmt.Sprint(o.SourceID, o.Origin)] = true
			if m != members[0] {
				lead.Also = append(lead.Also, o)
			}
		}
		entries[g] = entry{lead, len(seen), g}
	}
	// placed articles first in the editor's order, then pinned, then by
	// source priority; among equals the story more sources carry first,
	// then the candidates' order (newest first)
	tier := func(a Article) int {
		switch {
		case a.Rank > 0:
			return 0
		case a.Pinned:
			return 1
		}
		return 2
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if tier(a.lead) != tier(b.lead) {
			return tier(a.lead) < tier(b.lead)
		}
		if tier(a.lead) < 2 {
			return a.order < b.order
		}
		if a.lead.Priority != b.lead.Priority {
			return a.lead.Priority > b.lead.Priority
		}
		if a.sources != b.sources {
			return a.sources > b.sources
		}
		return a.order < b.order
	})
	perSource := map[int64]int{}
	var out []Article
	for _, en := range entries {
		if len(out) == e.MaxArticles && e.MaxArticles > 0 {
			break
		}
		a := en.lead
		if a.Origin == "feed" && !a.Pinned && a.Rank == 0 {
			if e.MaxPerSource > 0 && perSource[a.SourceID] >= e.MaxPerSource {
				continue
			}
			perSource[a.SourceID]++
		}
		out = append(out, a)
	}
	if len(out) > 0 && len(out) < e.MinArticles {
		return nil, fmt.Errorf("%w: %d new articles, fewer than the minimum of %d", ErrNothingNew, len(out), e.MinArticles)
	}
	if err := e.Store.fill(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// selectOrNothing is Select with an empty selection turned into
// ErrNothingNew and its reason.
func (e *Editions) selectOrNothing(ctx context.Context) ([]Article, error) {
	arts, err := e.Select(ctx)
	if err != nil {
		return nil, err
	}
	if len(arts) == 0 {
		reason, err := e.nothingNew(ctx)
		if err != nil {
			return nil, err
		}
		return nil, reason
	}
	return arts, nil
}

// renderNext renders the next edition of arts (not stored yet), with the
// subject the editor set for it, if any.
func (e *Editions) renderNext(ctx context.Context, arts []Article) (Rendered, error) {
	note, err := e.Store.NextNote(ctx)
	if err != nil {
		return Rendered{}, err
	}
	r, err := e.Renderer.Render(ctx, issue(Edition{Articles: arts, CreatedAt: e.Store.now(), Note: note}))
	if err != nil {
		return r, fmt.Errorf("render edition: %w", err)
	}
	subject, err := e.Store.NextSubject(ctx)
	if err != nil {
		return r, err
	}
	if subject != "" {
		r.Subject = subject
	}
	return r, nil
}

// Preview renders the next edition as rcpt would get it, and tells how many
// articles it carries. It returns ErrNothingNew (with the reason) when no
// edition would be made.
func (e *Editions) Preview(ctx context.Context, rcpt Recipient) (*Message, int, error) {
	arts, err := e.selectOrNothing(ctx)
	if err != nil {
		return nil, 0, err
	}
	r, err := e.renderNext(ctx, arts)
	if err != nil {
		return nil, 0, err
	}
	return brief.NewMessage(brief.NewEdition(r), 0, rcpt, e.Subscribers.UnsubscribeURL(rcpt.ID)), len(arts), nil
}

// DryRunReport tells what a send would do now, changing nothing.
type DryRunReport struct {
	Unfinished []EditionReport // editions a send would resume first
	Articles   []Article       // the new edition's articles, in order
	Subject    string
	Recipients int // active subscribers, counted, never paged
	HTMLBytes  int // the rendered HTML body's size without personal parts
}

// DryRun selects, counts and renders the next edition (so a template or
// size problem shows) and lists the unfinished editions, storing and
// sending nothing. It returns
// ErrNothingNew (with the report of unfinished editions) when no new
// edition would be made.
func (e *Editions) DryRun(ctx context.Context) (DryRunReport, error) {
	var rep DryRunReport
	n, err := e.Next(ctx)
	if err != nil {
		return rep, err
	}
	rep.Unfinished, rep.Articles, rep.Subject, rep.Recipients = n.Unfinished, n.Articles, n.Subject, n.Recipients
	if n.Reason != nil {
		return rep, n.Reason
	}
	r, err := e.renderNext(ctx, n.Articles)
	if err != nil {
		return rep, err
	}
	rep.HTMLBytes = r.HTMLSize
	return rep, nil
}

// Test mails the next edition to one address through the same path as the
// real send (so the editor gets the subscribers' bytes), subject marked
// [TEST]; nothing is recorded. It returns ErrNothingNew when no edition
// would be made.
func (e *Editions) Test(ctx context.Context, addr string) error {
	addr = strings.TrimSpace(addr)
	if addr == "" || strings.ContainsAny(addr, "\r\n") {
		return fmt.Errorf("%w: %q is not an e-mail address", ErrBadInput, addr)
	}
	arts, err := e.selectOrNothing(ctx)
	if err != nil {
		return err
	}
	r, err := e.renderNext(ctx, arts)
	if err != nil {
		return err
	}
	r.Subject = "[TEST] " + r.Subject
	rcpt := Recipient{Email: addr}
	m := brief.NewMessage(brief.NewEdition(r), 0, rcpt, e.Subscribers.UnsubscribeURL(rcpt.ID))
	conn, err := e.Engine.Sender.Open(ctx)
	if err != nil {
		return fmt.Errorf("test send: %w", err)
	}
	defer conn.Close()
	if err := conn.Send(ctx, m); err != nil {
		return fmt.Errorf("test send to %s: %w", addr, err)
	}
	return nil
}

// StartCheck tells whether a send for slot could start now: ErrBusy when
// another process holds the send lease, ErrSlotTaken when the slot's
// edition exists. Callers that start a send in the background use it to
// answer at once.
func (e *Editions) StartCheck(ctx context.Context, slot time.Time) error {
	holder, until, err := e.Store.SendLease(ctx)
	if err != nil {
		return err
	}
	if d := e.Engine; leaseHeldByOther(holder, until, d.Holder, e.Store.now(), d.HolderAlive) {
		return fmt.Errorf("%w (%s)", ErrBusy, holder)
	}
	if slot.IsZero() {
		return nil
	}
	if id, err := e.Store.EditionForSlot(ctx, slot); err != nil {
		return err
	} else if id != 0 {
		return fmt.Errorf("%w: edition %d is the one for %s", ErrSlotTaken, id, slot.Local().Format("Mon 2 Jan 15:04"))
	}
	return nil
}

// Send resumes every unfinished edition (retrying deferred deliveries that
// are due) and then, if articles are waiting, makes the next edition for
// slot (zero for none), renders it once and sends it. It returns
// ErrNothingNew (with a report of any resumed work) when no new edition was
// made, ErrSlotTaken when slot's edition exists, and ErrBusy when another
// process is sending from the same database.
func (e *Editions) Send(ctx context.Context, slot time.Time) (SendReport, error) {
	d := e.Engine
	release, err := d.Begin(ctx)
	if err != nil {
		return SendReport{}, err
	}
	defer release()

	var report SendReport
	if err := e.finishUnfinished(ctx, &report); err != nil {
		return report, err
	}
	if !slot.IsZero() {
		if id, err := e.Store.EditionForSlot(ctx, slot); err != nil {
			return report, err
		} else if id != 0 {
			return report, fmt.Errorf("%w: edition %d is the one for %s", ErrSlotTaken, id, slot.Format(time.RFC3339))
		}
	}
	arts, err := e.selectOrNothing(ctx)
	if err != nil {
		return report, err
	}
	custom, err := e.Store.NextSubject(ctx)
	if err != nil {
		return report, err
	}
	var r Rendered
	ed, err := e.Store.createEdition(ctx, arts, slot, func(ed Edition) (string, error) {
		// rendered once, with the edition's own ID (its archive link)
		var err error
		if r, err = e.Renderer.Render(ctx, issue(ed)); err != nil {
			return "", fmt.Errorf("render edition: %w", err)
		}
		if custom != "" {
			r.Subject = custom
		}
		return r.Subject, nil
	})
	if err != nil {
		return report, err
	}
	e.log().Info("edition created", "edition", ed.ID, "articles", len(arts), "subject", ed.Subject)
	er, err := d.Deliver(ctx, ed.ID, r, false)
	report.Editions = append(report.Editions, er)
	return report, err
}

// finishUnfinished delivers what the editions still sending have left,
// oldest first, each with the subject it started with. The caller holds
// the send lease.
func (e *Editions) finishUnfinished(ctx context.Context, report *SendReport) error {
	unfinished, err := e.Store.unfinishedEditions(ctx)
	if err != nil {
		return err
	}
	for _, ed := range unfinished {
		r, err := e.Renderer.Render(ctx, issue(ed))
		if err != nil {
			report.Editions = append(report.Editions, EditionReport{ID: ed.ID, Subject: ed.Subject, Resumed: true})
			return fmt.Errorf("render edition %d: %w", ed.ID, err)
		}
		r.Subject = ed.Subject // keep the subject it started with
		er, err := e.Engine.Deliver(ctx, ed.ID, r, true)
		report.Editions = append(report.Editions, er)
		if err != nil {
			return err
		}
	}
	return nil
}

// Continue delivers what the editions still sending have left (after a
// resume, say) and makes no new edition. ErrBusy when another process is
// sending from the same database (it continues them itself).
func (e *Editions) Continue(ctx context.Context) (SendReport, error) {
	release, err := e.Engine.Begin(ctx)
	if err != nil {
		return SendReport{}, err
	}
	defer release()
	var report SendReport
	err = e.finishUnfinished(ctx, &report)
	return report, err
}

// Pin pins or unpins an article: pinned articles lead the next edition and
// are selected whenever they were collected. ErrNotFound for an unknown ID.
func (e *Editions) Pin(ctx context.Context, id int64, pinned bool) error {
	return e.Store.SetPinned(ctx, id, pinned)
}

// Exclude excludes an article from every future edition, or takes it back.
// ErrNotFound for an unknown ID.
func (e *Editions) Exclude(ctx context.Context, id int64, excluded bool) error {
	return e.Store.SetExcluded(ctx, id, excluded)
}

// Move places an article at position (1 first) of the next edition; 0
// clears its place. ErrNotFound for an unknown ID.
func (e *Editions) Move(ctx context.Context, id int64, position int) error {
	return e.Store.MoveArticle(ctx, id, position)
}

// Step moves an article of the next edition one place up (by < 0) or down
// (by > 0). The whole order is placed in one transaction, so the move
// sticks whatever else changes. ErrBadInput when the article is not in the
// next edition.
func (e *Editions) Step(ctx context.Context, id int64, by int) error {
	arts, err := e.Select(ctx)
	if err != nil && !errors.Is(err, ErrNothingNew) {
		return err
	}
	pos := -1
	for i, a := range arts {
		if a.ID == id {
			pos = i
		}
	}
	if pos < 0 {
		return fmt.Errorf("%w: article %d is not in the next edition", ErrBadInput, id)
	}
	to := pos + by
	if to < 0 || to >= len(arts) || by == 0 {
		return nil
	}
	ids := make([]int64, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	ids[pos], ids[to] = ids[to], ids[pos]
	return e.Store.placeArticles(ctx, ids)
}

// SetNote sets the editor's note of the next edition ("" for none): it
// is shown at the top of the e-mail and of its public page. ErrBadInput
// for control characters or a note over MaxNote characters.
func (e *Editions) SetNote(ctx context.Context, note string) error {
	return e.Store.SetNextNote(ctx, note)
}

// Groups are the next edition's "also reported by" groups: each article
// with the same story from other sources under it (Also). A group is named
// by its article's ID.
func (e *Editions) Groups(ctx context.Context) ([]Article, error) {
	arts, err := e.Select(ctx)
	if errors.Is(err, ErrNothingNew) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Article
	for _, a := range arts {
		if len(a.Also) > 0 {
			out = append(out, a)
		}
	}
	return out, nil
}

// Split breaks up the next edition's group of article id: the article
// and each one grouped under it stand on their own from now on (the caps
// still apply) and are never grouped again. ErrNotFound when no group of
// the next edition is named id.
func (e *Editions) Split(ctx context.Context, id int64) error {
	groups, err := e.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.ID == id {
			ids := []int64{g.ID}
			for _, o := range g.Also {
				ids = append(ids, o.ID)
			}
			return e.Store.setApart(ctx, ids)
		}
	}
	return fmt.Errorf("group %d of the next edition: %w", id, ErrNotFound)
}

// SetSubject sets the subject of the next edition only; "" goes back to
// the template's. ErrBadInput for a line break or an over-long subject.
func (e *Editions) SetSubject(ctx context.Context, subject string) error {
	return e.Store.SetNextSubject(ctx, subject)
}

// ArticleFiles reads and cleans article files: an editor's file, or the
// text of an article written in the desk. collect.Cleaner satisfies it.
type ArticleFiles interface {
	ReadArticleFile(path string) (Article, error)
	ParseArticleFile(name string, data []byte) (Article, error)
}

func (e *Editions) files() (ArticleFiles, error) {
	if e.Files == nil {
		return nil, errors.New("editions: no article reader configured")
	}
	return e.Files, nil
}

// AddArticle adds an article an editor wrote (title, optional link, text).
// ErrBadInput for a missing or multi-line title or a bad link; ErrDuplicate
// when the same article is stored already.
func (e *Editions) AddArticle(ctx context.Context, title, link, text string) (Article, error) {
	title = strings.TrimSpace(title)
	if title == "" || strings.ContainsAny(title, "\r\n") {
		return Article{}, fmt.Errorf("%w: an article needs a title of one line", ErrBadInput)
	}
	files, err := e.files()
	if err != nil {
		return Article{}, err
	}
	a, err := files.ParseArticleFile("desk.txt", []byte(title+"\n\n"+text))
	if err != nil {
		return a, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if link = strings.TrimSpace(link); link != "" {
		u, err := ValidateFeedURL(link)
		if err != nil {
			return a, fmt.Errorf("%w: link: %v", ErrBadInput, err)
		}
		a.URL = CleanURL(u)
	}
	return e.Store.AddArticle(ctx, a)
}

// AddArticleFile adds an article file (Markdown, text or HTML) as an
// editor's article.
func (e *Editions) AddArticleFile(ctx context.Context, path string) (Article, error) {
	files, err := e.files()
	if err != nil {
		return Article{}, err
	}
	a, err := files.ReadArticleFile(path)
	if err != nil {
		return a, err
	}
	return e.Store.AddArticle(ctx, a)
}

// Erase forgets a subscriber everywhere: the subscriber store keeps only a
// keyed hash of the address (so it stays suppressed) and the ledger's
// copies of the address are removed. It returns the subscriber store's
// error (ErrNotFound-like) unchanged.
func (e *Editions) Erase(ctx context.Context, email string) error {
	id, err := e.Subscribers.Forget(ctx, email)
	if err != nil {
		return err
	}
	return e.Store.ForgetRecipient(ctx, id)
}

// Page renders a stored edition as a reader sees it on the web, with
// nobody's personal parts: the "view in browser" page. final says the
// edition is sent, so its page will not change (it may be cached).
// ErrNotFound for an unknown or cancelled edition.
func (e *Editions) Page(ctx context.Context, id int64) (html string, final bool, err error) {
	ed, err := e.Store.Edition(ctx, id)
	if err != nil {
		return "", false, err
	}
	if ed.Status == EditionCancelled {
		return "", false, fmt.Errorf("edition %d: %w", id, ErrNotFound)
	}
	is := issue(ed)
	is.Subject = ed.Subject
	if html, err = e.Renderer.Page(ctx, is); err != nil {
		return "", false, fmt.Errorf("render edition %d: %w", id, err)
	}
	return html, ed.Status == EditionSent, nil
}

// Control acts on a stored edition for an operator: "pause" (a running
// send stops claiming after its current batch), "resume", "cancel" (what
// is not yet sent is skipped) or "resend-unknown" (the deliveries in flight
// at a kill are queued again). It returns how many deliveries the action
// changed (0 for pause and resume); ErrNotFound for an unknown edition,
// ErrEditionState when the edition's state does not allow it, ErrBadInput
// for another action.
func (e *Editions) Control(ctx context.Context, id int64, action string) (int64, error) {
	switch action {
	case "pause":
		return 0, e.Store.Pause(ctx, id)
	case "resume":
		return 0, e.Store.Resume(ctx, id)
	case "cancel":
		return e.Store.Cancel(ctx, id)
	case "resend-unknown":
		return e.Store.ResendUnknown(ctx, id)
	}
	return 0, fmt.Errorf("%w: unknown action %q (pause, resume, cancel, resend-unknown)", ErrBadInput, action)
}
