package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsbrief/newsbrief/brief"
)

// The leaf types the pipeline shares with templates, mailer and
// subscribers, named here for its own signatures.
type (
	// Recipient is one address an edition goes to.
	Recipient = brief.Recipient
	// Rendered is one edition rendered once.
	Rendered = brief.Rendered
	// Message is one e-mail of an edition to one recipient.
	Message = brief.Message
	// Conn is one connection to the mail relay (or the outbox).
	Conn = brief.Conn
)

// SubscriberSource yields the audience of an edition; subscribers.Audience
// satisfies it.
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
	// CountActive returns how many subscribers an edition would go to now.
	CountActive(ctx context.Context) (int, error)
	// Forget erases a subscriber (keeping a keyed hash of the address so
	// it stays suppressed) and returns its ID.
	Forget(ctx context.Context, email string) (int64, error)
	// Bounce reports a permanent failure (5xx) of a message to a
	// subscriber; hard says the mailbox does not exist.
	Bounce(ctx context.Context, subscriberID int64, detail string, hard bool) error
}

// Renderer renders an issue (an edition's stories); templates.Renderer
// satisfies it.
type Renderer interface {
	// Render renders an issue's subject and bodies, once per edition.
	Render(ctx context.Context, is brief.Issue) (Rendered, error)
	// Subject renders the subject alone (cheap: the desk shows it).
	Subject(ctx context.Context, is brief.Issue) (string, error)
}

// Sender opens connections to the mail relay, one per worker.
type Sender interface {
	Open(ctx context.Context) (Conn, error)
}

// Deliverer is the delivery engine: it sends a rendered, stored edition to
// its audience over a pool of connections and keeps the ledger (claims,
// workers, batched outcomes, retry classification, the send lease). It
// does not choose or render editions: the Editions service does.
type Deliverer struct {
	Store       *Store
	Subscribers SubscriberSource
	Sender      Sender
	Concurrency int           // workers, each with one connection
	Rate        float64       // messages per second across workers; 0 for no limit
	RetryFor    time.Duration // how long deferred deliveries are retried
	RetryBase   time.Duration // first retry delay, doubled each attempt up to 4h; 0 for 5 minutes
	HourlyQuota int           // most messages handed to the relay in any hour; 0 for no quota
	Holder      string        // this process's name in the send lease
	// HolderAlive, if set, tells whether the process named by a lease
	// holder still runs, so that a lease left by a killed process is taken
	// over at once instead of after it expires.
	HolderAlive func(holder string) bool
	Log         *slog.Logger
}

// SendReport tells what one Editions.Send did: the editions it resumed
// and the one it made, in order.
type SendReport struct {
	Editions []EditionReport
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

// Begin takes the send lease for this process (ErrBusy when another
// process holds it) and marks deliveries left in flight by a killed
// process unknown. The caller must call release when its sends are done.
func (d *Deliverer) Begin(ctx context.Context) (release func(), err error) {
	release, err = d.Store.acquireLease(ctx, "send", d.Holder, leaseTTL, d.HolderAlive)
	if err != nil {
		return nil, err
	}
	if n, err := d.Store.markInFlightUnknown(ctx); err != nil {
		release()
		return nil, err
	} else if n > 0 {
		d.log().Warn("deliveries were in flight when newsbrief last stopped; marked unknown, not resent", "count", n)
	}
	return release, nil
}

// message is one recipient's message of an edition: the shared pieces and
// the recipient's values.
func message(src SubscriberSource, editionID int64, rcpt Recipient, shared *brief.Edition) *Message {
	return brief.NewMessage(shared, editionID, rcpt, src.UnsubscribeURL(rcpt.ID))
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

// Deliver sends a stored edition, rendered as r, to every recipient whose
// ledger row is not final yet, under the lease Begin took: the audience is
// written to the ledger first, rows are claimed in small batches before
// their messages go out, and outcomes are recorded in batches.
func (d *Deliverer) Deliver(ctx context.Context, ed Edition, r Rendered, resumed bool) (EditionReport, error) {
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
	bodies := brief.NewEdition(r)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker(ctx, ed.ID, bodies, limiter, jobs, results, stop, abort)
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
func (d *Deliverer) worker(ctx context.Context, editionID int64, bodies *brief.Edition, limiter *rate.Limiter,
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
			m := message(d.Subscribers, editionID, j.rcpt, bodies)
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
