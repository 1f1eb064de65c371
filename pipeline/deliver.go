package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Recipient is one address an edition goes to.
type Recipient struct {
	ID    int64 // subscriber ID; 0 for a test send
	Email string
	Name  string
}

// SubscriberSource yields the audience of an edition. The subscribers
// package satisfies it (through a small adapter in cmd).
type SubscriberSource interface {
	// ActiveAfter returns up to limit active subscribers with an ID greater
	// than afterID, in ID order (keyset pagination).
	ActiveAfter(ctx context.Context, afterID int64, limit int) ([]Recipient, error)
	// Inactive returns which of ids are no longer active (unsubscribed,
	// bounced or removed since the send began).
	Inactive(ctx context.Context, ids []int64) (map[int64]bool, error)
	// UnsubscribeURL returns the one-click unsubscribe URL of a subscriber;
	// for ID 0 (a test send) a URL that unsubscribes nobody.
	UnsubscribeURL(subscriberID int64) string
	// Bounce reports a permanent failure (5xx) of a message to a
	// subscriber; hard says the mailbox does not exist.
	Bounce(ctx context.Context, subscriberID int64, detail string, hard bool) error
}

// Rendered is one edition rendered once; Personalize fills in one
// recipient's parts (greeting, unsubscribe link) cheaply. HTML, Text and
// Values give the same bodies as pieces and per-recipient values, for
// senders that encode an edition once.
type Rendered struct {
	Subject     string
	Personalize func(r Recipient, unsubscribeURL string) (html, text string)
	HTML, Text  Body
	Values      func(r Recipient, unsubscribeURL string) [4]string
}

// Body is a rendered body as static pieces with a per-recipient slot
// between each two: Static[0] Slots[0] Static[1] … Static[n]. A slot is an
// index into Message.Values; in the HTML body its value must be escaped.
type Body struct {
	Static []string
	Slots  []int
}

// Fill joins b with vals, escaping them with escape (nil for none).
func (b Body) Fill(vals *[4]string, escape func(string) string) string {
	var s strings.Builder
	for i, st := range b.Static {
		s.WriteString(st)
		if i < len(b.Slots) {
			v := vals[b.Slots[i]]
			if escape != nil {
				v = escape(v)
			}
			s.WriteString(v)
		}
	}
	return s.String()
}

// EditionBodies is what all the messages of one edition share. A Sender
// may keep its own encoding of the bodies in Prepared, set once through
// Once.
type EditionBodies struct {
	Subject    string
	HTML, Text Body
	Once       sync.Once
	Prepared   any
	Err        error
}

// Renderer renders an edition. The templates package satisfies it through
// an adapter in cmd.
type Renderer interface {
	Render(ctx context.Context, e Edition) (Rendered, error)
}

// Message is one e-mail of an edition to one recipient: either whole
// bodies (HTML, Text: previews and test sends) or the edition's shared
// pieces and this recipient's values (Edition, Values: the edition's send).
type Message struct {
	EditionID      int64
	Recipient      Recipient
	Subject        string
	HTML           string
	Text           string
	UnsubscribeURL string
	Edition        *EditionBodies
	Values         [4]string
}

// TextBody is the message's text body, joined from the pieces if need be.
func (m *Message) TextBody() string {
	if m.Edition == nil {
		return m.Text
	}
	return m.Edition.Text.Fill(&m.Values, nil)
}

// Conn is one connection to the mail relay (or the outbox), used by one
// worker for many messages in turn.
type Conn interface {
	// Send delivers one message. A returned error that has a
	// Permanent() bool method returning true fails the delivery for good;
	// any other error defers it for a retry. An error with a
	// StatusCode() int method gives the SMTP code to record.
	Send(ctx context.Context, m *Message) error
	Close() error
}

// Sender opens connections to the mail relay, one per worker.
type Sender interface {
	Open(ctx context.Context) (Conn, error)
}

// Deliverer selects, renders and sends editions and keeps the ledger.
type Deliverer struct {
	Store       *Store
	Subscribers SubscriberSource
	Renderer    Renderer
	Sender      Sender
	Concurrency int           // workers, each with one connection
	Rate        float64       // messages per second across workers; 0 for no limit
	RetryFor    time.Duration // how long deferred deliveries are retried
	RetryBase   time.Duration // first retry delay, doubled each attempt up to 4h; 0 for 5 minutes
	HourlyQuota int           // most messages handed to the relay in any hour; 0 for no quota
	MaxArticles int
	// MaxPerSource caps the articles one feed contributes (0: no cap);
	// MinArticles is the fewest new articles worth an edition; a first
	// edition takes feed articles published within FirstLookback only.
	MaxPerSource  int
	MinArticles   int
	FirstLookback time.Duration
	Holder        string // this process's name in the send lease
	// HolderAlive, if set, tells whether the process named by a lease
	// holder still runs, so that a lease left by a killed process is taken
	// over at once instead of after it expires.
	HolderAlive func(holder string) bool
	Log         *slog.Logger
}

// SendOptions change what Send does.
type SendOptions struct {
	DryRun bool   // select, count and render, but send and store nothing
	Test   string // send the next edition to this one address only; mark nothing sent
	// Slot is the scheduled time the new edition is for: at most one
	// edition is made per slot, so a scheduled send and a manual one can
	// never both make one (ErrSlotTaken). Zero for no slot.
	Slot time.Time
}

// SendReport tells what one Send did.
type SendReport struct {
	Editions   []EditionReport
	DryRun     bool
	Recipients int       // dry run: how many would receive the new edition
	Articles   int       // dry run: how many articles it would carry
	Next       []Article // dry run: those articles, in order
	Subject    string
}

// EditionReport is one edition's part of a SendReport.
type EditionReport struct {
	ID       int64
	Subject  string
	Resumed  bool           // the edition was begun by an earlier run
	Done     bool           // nothing is left pending or deferred
	Stopped  string         // why claiming stopped early: "paused", "cancelled", "hourly quota", or ""
	Counts   map[string]int // ledger rows by state, after this run
	Failures []Failure      // this edition's failed, deferred and unknown rows
}

// ErrSlotTaken is returned when the scheduled slot a send is for already
// has its edition.
var ErrSlotTaken = errors.New("this slot's edition was already made")

// ErrBusy is returned when another process holds the send lease.
var ErrBusy = errors.New("another newsbrief process is sending from this database")

const (
	recordBatch  = 128
	maxChunk     = 8 // most messages a worker is handed at once
	recordEvery  = 50 * time.Millisecond
	audiencePage = 1000
	leaseTTL     = 60 * time.Second
)

func (d *Deliverer) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Send resumes every unfinished edition (retrying deferred deliveries that
// are due) and then, if articles are waiting, makes, renders and sends a new
// edition. It returns ErrNothingNew (with a report of any resumed work) when
// no new edition was made because no article is waiting, and ErrBusy when
// another process is sending from the same database.
func (d *Deliverer) Send(ctx context.Context, opts SendOptions) (SendReport, error) {
	if opts.Test != "" {
		return SendReport{}, d.sendTest(ctx, opts.Test)
	}
	if opts.DryRun {
		return d.dryRun(ctx)
	}
	release, err := d.Store.acquireLease(ctx, "send", d.Holder, leaseTTL, d.HolderAlive)
	if err != nil {
		return SendReport{}, err
	}
	defer release()

	var report SendReport
	if n, err := d.Store.markInFlightUnknown(ctx); err != nil {
		return report, err
	} else if n > 0 {
		d.log().Warn("deliveries were in flight when newsbrief last stopped; marked unknown, not resent", "count", n)
	}
	unfinished, err := d.Store.unfinishedEditions(ctx)
	if err != nil {
		return report, err
	}
	for _, ed := range unfinished {
		er, err := d.deliver(ctx, ed, true)
		report.Editions = append(report.Editions, er)
		if err != nil {
			return report, err
		}
	}
	if !opts.Slot.IsZero() {
		if id, err := d.Store.EditionForSlot(ctx, opts.Slot); err != nil {
			return report, err
		} else if id != 0 {
			return report, fmt.Errorf("%w: edition %d is the one for %s", ErrSlotTaken, id, opts.Slot.Format(time.RFC3339))
		}
	}
	arts, err := d.nextArticles(ctx)
	if err != nil {
		return report, err
	}
	if len(arts) == 0 {
		return report, ErrNothingNew
	}
	r, err := d.renderNext(ctx, arts)
	if err != nil {
		return report, fmt.Errorf("render edition: %w", err)
	}
	ed, err := d.Store.createEdition(ctx, r.Subject, arts, opts.Slot)
	if err != nil {
		return report, err
	}
	d.log().Info("edition created", "edition", ed.ID, "articles", len(arts), "subject", ed.Subject)
	// rendered again now that the edition has an ID for its archive link
	er, err := d.deliver(ctx, ed, false)
	report.Editions = append(report.Editions, er)
	return report, err
}

// nextArticles selects the next edition's articles: the store's candidates
// (placed by the editor, pinned, by source priority, then newest), on a
// first edition without feed articles older than FirstLookback, at most
// MaxPerSource from one feed, at most MaxArticles. The same story from
// another source joins the article already chosen as "also reported by"
// instead of taking a place of its own. Fewer than MinArticles is nothing
// new, with the reason.
func (d *Deliverer) nextArticles(ctx context.Context) ([]Article, error) {
	cands, err := d.Store.NextArticles(ctx, -1)
	if err != nil {
		return nil, err
	}
	first, err := d.Store.firstEdition(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := d.Store.now().Add(-d.FirstLookback)
	perSource := map[int64]int{}
	var out []Article
	var words []map[string]bool // storyWords of out's titles
	for _, a := range cands {
		if a.Origin == "feed" && !a.Pinned && first && d.FirstLookback > 0 && a.PublishedAt.Before(cutoff) {
			continue
		}
		w := storyWords(a.Title)
		grouped := false
		for i := range out {
			if !sameSource(out[i], a) && sameStory(words[i], w) {
				out[i].Also = append(out[i].Also, a)
				grouped = true
				break
			}
		}
		if grouped || len(out) == d.MaxArticles && d.MaxArticles > 0 {
			continue
		}
		if a.Origin == "feed" && !a.Pinned && a.Rank == 0 {
			if d.MaxPerSource > 0 && perSource[a.SourceID] >= d.MaxPerSource {
				continue
			}
			perSource[a.SourceID]++
		}
		out = append(out, a)
		words = append(words, w)
	}
	if len(out) > 0 && len(out) < d.MinArticles {
		return nil, fmt.Errorf("%w: %d new articles, fewer than the minimum of %d", ErrNothingNew, len(out), d.MinArticles)
	}
	return out, nil
}

// Next returns the articles the next edition would carry now, each with
// the same story from other sources in Also.
func (d *Deliverer) Next(ctx context.Context) ([]Article, error) {
	return d.nextArticles(ctx)
}

// renderNext renders the next edition from arts, with the subject the
// editor set for it, if any.
func (d *Deliverer) renderNext(ctx context.Context, arts []Article) (Rendered, error) {
	r, err := d.Renderer.Render(ctx, Edition{Articles: arts, CreatedAt: d.Store.now()})
	if err != nil {
		return r, err
	}
	subject, err := d.Store.NextSubject(ctx)
	if err != nil {
		return r, err
	}
	if subject != "" {
		r.Subject = subject
	}
	return r, nil
}

// Preview renders the next edition as the given recipient would see it.
// It returns ErrNothingNew when no article is waiting.
func (d *Deliverer) Preview(ctx context.Context, rcpt Recipient) (*Message, int, error) {
	arts, err := d.nextArticles(ctx)
	if err != nil {
		return nil, 0, err
	}
	if len(arts) == 0 {
		return nil, 0, ErrNothingNew
	}
	r, err := d.renderNext(ctx, arts)
	if err != nil {
		return nil, 0, fmt.Errorf("render edition: %w", err)
	}
	unsub := d.Subscribers.UnsubscribeURL(rcpt.ID)
	html, text := r.Personalize(rcpt, unsub)
	return &Message{Recipient: rcpt, Subject: r.Subject, HTML: html, Text: text, UnsubscribeURL: unsub}, len(arts), nil
}

// sendTest mails the next edition to one address through the same path as
// the real send (so the editor sees the same bytes), subject marked [TEST].
func (d *Deliverer) sendTest(ctx context.Context, addr string) error {
	arts, err := d.nextArticles(ctx)
	if err != nil {
		return err
	}
	if len(arts) == 0 {
		return ErrNothingNew
	}
	r, err := d.renderNext(ctx, arts)
	if err != nil {
		return fmt.Errorf("render edition: %w", err)
	}
	r.Subject = "[TEST] " + r.Subject
	rcpt := Recipient{Email: addr}
	m := d.message(0, rcpt, r, &EditionBodies{Subject: r.Subject, HTML: r.HTML, Text: r.Text})
	conn, err := d.Sender.Open(ctx)
	if err != nil {
		return fmt.Errorf("test send: %w", err)
	}
	defer conn.Close()
	if err := conn.Send(ctx, m); err != nil {
		return fmt.Errorf("test send to %s: %w", addr, err)
	}
	return nil
}

// message is one recipient's message of a rendered edition: the shared
// pieces and the recipient's values, or whole bodies when the renderer
// gives no pieces.
func (d *Deliverer) message(editionID int64, rcpt Recipient, r Rendered, bodies *EditionBodies) *Message {
	unsub := d.Subscribers.UnsubscribeURL(rcpt.ID)
	m := &Message{EditionID: editionID, Recipient: rcpt, Subject: r.Subject, UnsubscribeURL: unsub}
	if r.Values != nil {
		m.Edition, m.Values = bodies, r.Values(rcpt, unsub)
	} else {
		m.HTML, m.Text = r.Personalize(rcpt, unsub)
	}
	return m
}

func (d *Deliverer) dryRun(ctx context.Context) (SendReport, error) {
	report := SendReport{DryRun: true}
	arts, err := d.nextArticles(ctx)
	if err != nil {
		return report, err
	}
	unfinished, err := d.Store.unfinishedEditions(ctx)
	if err != nil {
		return report, err
	}
	for _, ed := range unfinished {
		report.Editions = append(report.Editions, EditionReport{ID: ed.ID, Subject: ed.Subject, Resumed: true, Counts: ed.Counts})
	}
	if len(arts) == 0 {
		return report, ErrNothingNew
	}
	r, err := d.renderNext(ctx, arts)
	if err != nil {
		return report, fmt.Errorf("render edition: %w", err)
	}
	report.Subject, report.Articles, report.Next = r.Subject, len(arts), arts
	var after int64
	for {
		page, err := d.Subscribers.ActiveAfter(ctx, after, audiencePage)
		if err != nil {
			return report, fmt.Errorf("count subscribers: %w", err)
		}
		report.Recipients += len(page)
		if len(page) < audiencePage {
			return report, nil
		}
		after = page[len(page)-1].ID
	}
}

// deliver renders a stored edition again (resumption) and delivers it.
func (d *Deliverer) deliver(ctx context.Context, ed Edition, resumed bool) (EditionReport, error) {
	r, err := d.Renderer.Render(ctx, ed)
	if err != nil {
		return EditionReport{ID: ed.ID, Subject: ed.Subject, Resumed: resumed}, fmt.Errorf("render edition %d: %w", ed.ID, err)
	}
	r.Subject = ed.Subject // keep the subject it started with
	return d.deliverRendered(ctx, ed, r, resumed)
}

// job is one claimed ledger row.
type job struct {
	rcpt     Recipient
	attempts int
}

// result is the outcome of one job, recorded by the ledger writer.
type result struct {
	subscriberID int64
	state        string
	code         int
	detail       string
	next         time.Time
	release      bool // never attempted: back to pending, attempt not counted
}

func (d *Deliverer) deliverRendered(ctx context.Context, ed Edition, r Rendered, resumed bool) (EditionReport, error) {
	er := EditionReport{ID: ed.ID, Subject: ed.Subject, Resumed: resumed}
	log := d.log().With("edition", ed.ID)
	if err := d.ensureAudience(ctx, ed.ID); err != nil {
		return er, err
	}
	if n, err := d.Store.expireDeferred(ctx, ed.ID, d.RetryFor); err != nil {
		return er, err
	} else if n > 0 {
		log.Warn("deferred deliveries ran out of retries", "count", n, "retry_for", d.RetryFor)
	}

	var limiter *rate.Limiter
	if d.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(d.Rate), 1)
	}
	workers := max(d.Concurrency, 1)
	// small claims: a process killed mid-send leaves at most one claim plus
	// the messages in flight as unknown
	batchSize := max(64, 8*workers)
	// jobs and results travel in chunks: one channel handoff (and
	// goroutine wake-up) per chunk rather than per message
	jobs := make(chan []job)
	results := make(chan []result, 2*workers)
	recErr := make(chan error, 1)
	go func() { recErr <- d.Store.recordResults(context.WithoutCancel(ctx), ed.ID, results) }()

	// stop is closed when a worker cannot reach the relay: claiming stops.
	var (
		stopOnce sync.Once
		stop     = make(chan struct{})
		fatalErr error
	)
	abort := func(err error) {
		stopOnce.Do(func() { fatalErr = err; close(stop) })
	}
	bodies := &EditionBodies{Subject: r.Subject, HTML: r.HTML, Text: r.Text}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker(ctx, ed.ID, r, bodies, limiter, jobs, results, stop, abort)
		}()
	}

	var (
		claimErr     error
		quotaUsed    int
		quotaChecked time.Time
	)
claim:
	for {
		select {
		case <-stop:
			break claim
		case <-ctx.Done():
			break claim
		default:
		}
		if st, err := d.Store.editionStatus(ctx, ed.ID); err != nil {
			claimErr = err
			break
		} else if st != EditionSending {
			er.Stopped = st
			log.Info("edition no longer sending; stopping", "status", st)
			break
		}
		n := batchSize
		if d.HourlyQuota > 0 {
			if quotaChecked.IsZero() || time.Since(quotaChecked) > time.Minute {
				used, err := d.Store.sentSince(ctx, d.Store.now().Add(-time.Hour).UnixMilli())
				if err != nil {
					claimErr = err
					break
				}
				quotaUsed = used
				quotaChecked = time.Now()
			}
			n = min(n, d.HourlyQuota-quotaUsed)
			if n <= 0 {
				er.Stopped = "hourly quota"
				log.Warn("hourly quota reached; the rest waits for the next run", "quota", d.HourlyQuota)
				break
			}
		}
		batch, err := d.Store.claim(ctx, ed.ID, n)
		if err != nil {
			claimErr = err
			break
		}
		if len(batch) == 0 {
			break
		}
		quotaUsed += len(batch)
		ids := make([]int64, len(batch))
		for i, j := range batch {
			ids[i] = j.rcpt.ID
		}
		inactive, err := d.Subscribers.Inactive(ctx, ids)
		if err != nil {
			claimErr = fmt.Errorf("check subscribers: %w", err)
			results <- released(batch)
			break
		}
		active := batch[:0]
		var skipped []result
		for _, j := range batch {
			if inactive[j.rcpt.ID] {
				skipped = append(skipped, result{subscriberID: j.rcpt.ID, state: StateSkipped, detail: "no longer subscribed"})
				continue
			}
			active = append(active, j)
		}
		if len(skipped) > 0 {
			results <- skipped
		}
		chunk := min(max((len(active)+workers-1)/workers, 1), maxChunk)
		for len(active) > 0 {
			c := active[:min(chunk, len(active))]
			select {
			case jobs <- c:
				active = active[len(c):]
			case <-stop:
				results <- released(active)
				break claim
			case <-ctx.Done():
				results <- released(active)
				break claim
			}
		}
	}
	close(jobs)
	wg.Wait()
	close(results)
	if err := <-recErr; err != nil {
		return er, err
	}
	done, err := d.Store.finishIfDone(ctx, ed.ID)
	if err != nil {
		return er, err
	}
	er.Done = done
	if er.Counts, err = d.Store.deliveryCounts(ctx, ed.ID); err != nil {
		return er, err
	}
	if er.Failures, err = d.Store.Failures(ctx, ed.ID, 0); err != nil {
		return er, err
	}
	log.Info("edition delivered", "sent", er.Counts[StateSent], "deferred", er.Counts[StateDeferred],
		"failed", er.Counts[StateFailed], "skipped", er.Counts[StateSkipped], "unknown", er.Counts[StateUnknown], "done", done)
	switch {
	case claimErr != nil:
		return er, claimErr
	case fatalErr != nil:
		return er, fatalErr
	case ctx.Err() != nil:
		return er, ctx.Err()
	}
	return er, nil
}

// worker sends jobs over one connection, opened on first use and kept for
// the whole run.
func (d *Deliverer) worker(ctx context.Context, editionID int64, r Rendered, bodies *EditionBodies, limiter *rate.Limiter,
	jobs <-chan []job, results chan<- []result, stop <-chan struct{}, abort func(error)) {
	var conn Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for chunk := range jobs {
		out := make([]result, 0, len(chunk))
		for i, j := range chunk {
			if d.stopped(ctx, stop) {
				out = append(out, released(chunk[i:])...)
				break
			}
			if limiter != nil {
				if err := limiter.Wait(ctx); err != nil {
					out = append(out, released(chunk[i:])...)
					break
				}
			}
			if conn == nil {
				c, err := d.Sender.Open(ctx)
				if err != nil {
					out = append(out, released(chunk[i:])...)
					abort(fmt.Errorf("connect to mail relay: %w", err))
					break
				}
				conn = c
			}
			m := d.message(editionID, j.rcpt, r, bodies)
			// the message is not interrupted by ctx once its DATA may be on the wire
			err := conn.Send(context.WithoutCancel(ctx), m)
			res := classify(j, err, d.Store.now(), d.RetryBase)
			if res.state == StateFailed {
				var um unknownMailbox
				hard := errors.As(err, &um) && um.UnknownMailbox()
				if berr := d.Subscribers.Bounce(context.WithoutCancel(ctx), j.rcpt.ID, res.detail, hard); berr != nil {
					d.log().Error("recording a bounce failed", "subscriber", j.rcpt.ID, slog.Any("error", berr))
				}
			}
			out = append(out, res)
		}
		results <- out
	}
}

// stopped says the send is being stopped: by abort or by ctx.
func (d *Deliverer) stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return ctx.Err() != nil
	}
}

// released are the results for jobs never attempted: back to pending.
func released(jobs []job) []result {
	out := make([]result, len(jobs))
	for i, j := range jobs {
		out[i] = result{subscriberID: j.rcpt.ID, release: true}
	}
	return out
}

// Classification interfaces a Conn's errors may satisfy.
type (
	permanent      interface{ Permanent() bool }
	statusCode     interface{ StatusCode() int }
	unknownMailbox interface{ UnknownMailbox() bool }
)

// classify turns a send outcome into a ledger result: nil is sent; an error
// that says it is Permanent is failed; anything else (4xx, network, a
// dropped connection) is deferred with exponential backoff and jitter.
func classify(j job, err error, now time.Time, base time.Duration) result {
	res := result{subscriberID: j.rcpt.ID, state: StateSent}
	if err == nil {
		return res
	}
	res.detail = err.Error()
	var sc statusCode
	if errors.As(err, &sc) {
		res.code = sc.StatusCode()
	}
	var p permanent
	if errors.As(err, &p) && p.Permanent() {
		res.state = StateFailed
		return res
	}
	res.state = StateDeferred
	res.next = now.Add(Backoff(base, j.attempts))
	return res
}

// Backoff is the wait before retry number attempts+1: base (5 minutes when
// 0) doubled for each attempt, capped at four hours, with up to 20% jitter.
func Backoff(base time.Duration, attempts int) time.Duration {
	d := base
	if d <= 0 {
		d = 5 * time.Minute
	}
	for i := 1; i < attempts && d < 4*time.Hour; i++ {
		d *= 2
	}
	d = min(d, 4*time.Hour)
	return d + time.Duration(rand.Int64N(int64(d/5)+1))
}

// ensureAudience gives every active subscriber a pending ledger row, once
// per edition, in pages so memory stays flat.
func (d *Deliverer) ensureAudience(ctx context.Context, editionID int64) error {
	done, after, err := d.Store.audienceState(ctx, editionID)
	if err != nil || done {
		return err
	}
	for {
		page, err := d.Subscribers.ActiveAfter(ctx, after, audiencePage)
		if err != nil {
			return fmt.Errorf("list subscribers: %w", err)
		}
		if err := d.Store.addAudience(ctx, editionID, page, len(page) < audiencePage); err != nil {
			return err
		}
		if len(page) < audiencePage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
