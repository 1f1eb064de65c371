// Package deliver is the delivery engine: it sends one rendered edition
// to its audience over a pool of relay connections and keeps the ledger
// current, so that a crash, a restart or a second trigger never mails
// anyone twice and never skips anyone.
//
// A send flows through it as: the send lease (one sender per database),
// the audience written as pending ledger rows, small claims recorded
// before any of their messages leaves, workers that each hold one
// connection, and outcomes recorded in batches, each classified (sent,
// deferred with backoff, failed) from the relay's answer. It owns none of
// the tables: the Ledger it declares is the pipeline's store; it only
// imports the shared leaf types of package brief.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsbrief/newsbrief/brief"
)

// Delivery states, one per ledger row.
const (
	StatePending  = "pending"  // not yet tried
	StateSending  = "sending"  // handed to the SMTP server; outcome not yet recorded
	StateSent     = "sent"     // accepted by the server
	StateDeferred = "deferred" // temporary failure; retried after its next attempt time
	StateFailed   = "failed"   // permanent failure, or retries ran out
	StateSkipped  = "skipped"  // no longer subscribed when its turn came
	StateUnknown  = "unknown"  // in flight when a previous run stopped; not resent
)

// Job is one claimed ledger row: a recipient and how many attempts its
// delivery has had, this one included.
type Job struct {
	Recipient brief.Recipient
	Attempts  int
}

// Result is the outcome of one job, for the ledger to record.
type Result struct {
	SubscriberID int64
	State        string
	Code         int
	Detail       string
	Next         time.Time // a deferred delivery's next attempt
	Release      bool      // never attempted: back to pending (or deferred), attempt not counted
}

// PlainSent says r is a success with nothing more to record.
func (r Result) PlainSent() bool {
	return !r.Release && r.State == StateSent && r.Code == 0 && r.Detail == "" && r.Next.IsZero()
}

// Failure is a delivery that failed or was deferred, with the server's answer.
type Failure struct {
	Email  string
	State  string
	Code   int
	Detail string
}

// Ledger is the delivery ledger the engine keeps: the pipeline's store
// satisfies it. Every method takes the edition it acts on.
type Ledger interface {
	// AcquireLease takes the named lease for holder for ttl, renewing it
	// until release is called; ErrBusy while another live holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, alive func(string) bool) (release func(), err error)
	// InFlight lists the rows left in flight: claimed by a process that
	// stopped before it recorded their outcomes.
	InFlight(ctx context.Context) ([]Key, error)
	// SettleInFlight settles the rows of keys by how far each got: Accepted
	// ones are sent, EndWritten ones unknown (they may have arrived; not
	// resent), NotSent ones go back to be sent (pending, or deferred when
	// they had earlier attempts), in one transaction; it returns how many
	// of each.
	SettleInFlight(ctx context.Context, keys []Key, progress map[Key]Progress) (sent, unknown, requeued int64, err error)
	// AudienceState tells whether every recipient has a row, and the
	// highest subscriber ID that has one.
	AudienceState(ctx context.Context, editionID int64) (done bool, after int64, err error)
	// AddAudience adds pending rows for a page of recipients; last marks
	// the audience complete.
	AddAudience(ctx context.Context, editionID int64, page []brief.Recipient, last bool) error
	// ExpireDeferred fails the deferred rows first tried longer than
	// retryFor ago and returns how many.
	ExpireDeferred(ctx context.Context, editionID int64, retryFor time.Duration) (int64, error)
	// EditionStatus is the edition's status and whether it is sending.
	EditionStatus(ctx context.Context, editionID int64) (status string, sending bool, err error)
	// SentSince counts the messages handed to the relay since t.
	SentSince(ctx context.Context, t time.Time) (int, error)
	// Claim claims up to n pending or due deferred rows, in one
	// transaction, and returns them: from then on they are in flight
	// (InFlight lists them) until their results are recorded.
	Claim(ctx context.Context, editionID int64, n int) ([]Job, error)
	// RecordResults writes the outcomes arriving on results in batches
	// until results is closed, when every claimed row has one.
	RecordResults(ctx context.Context, editionID int64, results <-chan []Result) error
	// FinishIfDone marks the edition sent when no row is left to try.
	FinishIfDone(ctx context.Context, editionID int64) (bool, error)
	// DeliveryCounts are the edition's rows by state.
	DeliveryCounts(ctx context.Context, editionID int64) (map[string]int, error)
	// Failures lists the edition's failed, deferred and unknown rows, at
	// most limit (0 for all).
	Failures(ctx context.Context, editionID int64, limit int) ([]Failure, error)
	// Now is the ledger's clock.
	Now() time.Time
}

// Audience is who an edition goes to; subscribers.Audience satisfies it.
type Audience interface {
	// ActiveAfter returns up to limit active subscribers with an ID greater
	// than afterID, in ID order (keyset pagination).
	ActiveAfter(ctx context.Context, afterID int64, limit int) ([]brief.Recipient, error)
	// Inactive returns which of ids are no longer active.
	Inactive(ctx context.Context, ids []int64) (map[int64]bool, error)
	// Links are a subscriber's one-click unsubscribe link, envelope
	// sender and List-Unsubscribe mailto in their message of an edition
	// ("" for the sender's defaults).
	Links(editionID, subscriberID int64) (unsubscribeURL, sender, mailto string)
	// Bounce reports a permanent failure; hard says the mailbox does not exist.
	Bounce(ctx context.Context, subscriberID int64, detail string, hard bool) error
}

// Sender opens connections to the mail relay (or the outbox), one per
// worker; mailer's SMTP and Outbox satisfy it.
type Sender interface {
	Open(ctx context.Context) (brief.Conn, error)
}

// Engine sends rendered, stored editions and keeps the ledger.
type Engine struct {
	Ledger      Ledger
	Audience    Audience
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
	// Journal is the send journal's file (next to the database): with it a
	// restart after kill -9 resends exactly the messages that certainly did
	// not reach the relay. Empty: every row left sending becomes unknown.
	Journal string
	Log     *slog.Logger

	jrnl atomic.Pointer[journal] // the open journal while a send holds the lease
}

// Report is what one Deliver did to one edition.
type Report struct {
	ID       int64
	Subject  string
	Resumed  bool           // the edition was begun by an earlier run
	Done     bool           // nothing is left pending or deferred
	Stopped  string         // why claiming stopped early: "paused", "cancelled", "hourly quota", or ""
	Counts   map[string]int // ledger rows by state, after this run
	Failures []Failure      // this edition's failed, deferred and unknown rows
}

// ErrBusy is returned when another process holds the send lease.
var ErrBusy = errors.New("another newsbrief process is sending from this database")

const (
	recordBatch  = 128
	maxChunk     = 8 // most messages a worker is handed at once
	recordEvery  = 50 * time.Millisecond
	audiencePage = 1000
	leaseTTL     = 60 * time.Second
)

func (d *Engine) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Begin takes the send lease for this process (ErrBusy when another
// process holds it) and marks deliveries left in flight by a killed
// process unknown. The caller must call release when its sends are done.
func (d *Engine) Begin(ctx context.Context) (func(), error) {
	release, err := d.Ledger.AcquireLease(ctx, "send", d.Holder, leaseTTL, d.HolderAlive)
	if err != nil {
		return nil, err
	}
	var j *journal
	if d.Journal != "" {
		if j, err = openJournal(d.Journal); err != nil {
			release()
			return nil, err
		}
	}
	fail := func(err error) (func(), error) {
		if j != nil {
			j.close()
		}
		release()
		return nil, err
	}
	inflight, err := d.Ledger.InFlight(ctx)
	if err != nil {
		return fail(err)
	}
	var progress map[Key]Progress
	trusted := false
	if j != nil {
		if progress, trusted, err = j.progress(inflight); err != nil {
			return fail(err)
		}
	}
	if !trusted {
		// no journal that speaks for them (none kept, or the machine
		// restarted since): any of them may have arrived
		progress = make(map[Key]Progress, len(inflight))
		for _, k := range inflight {
			progress[k] = EndWritten
		}
	}
	if len(inflight) > 0 {
		sent, unknown, requeued, err := d.Ledger.SettleInFlight(ctx, inflight, progress)
		if err != nil {
			return fail(err)
		}
		d.log().Warn("deliveries were in flight when newsbrief last stopped", "sent", sent, "unknown", unknown,
			"sent_again", requeued, "journal", trusted)
	}
	if j != nil {
		if err := j.reset(); err != nil {
			return fail(err)
		}
		d.jrnl.Store(j)
	}
	return func() {
		if j != nil {
			d.jrnl.CompareAndSwap(j, nil)
			// emptied only when the ledger holds every outcome it spoke of
			if left, err := d.Ledger.InFlight(context.WithoutCancel(ctx)); err == nil && len(left) == 0 {
				j.reset()
			}
			j.close()
		}
		release()
	}, nil
}

// message is one recipient's message of an edition: the shared pieces and
// the recipient's values.
func message(src Audience, editionID int64, rcpt brief.Recipient, shared *brief.Edition, jw *journalWriter) *brief.Message {
	u, sender, mailto := src.Links(editionID, rcpt.ID)
	m := brief.NewMessage(shared, editionID, rcpt, u)
	m.ReturnPath, m.UnsubscribeMailto = sender, mailto
	if jw != nil {
		m.Journal = jw
	}
	return m
}

// Deliver sends a stored edition, rendered as r, to every recipient whose
// ledger row is not final yet, under the lease Begin took: the audience is
// written to the ledger first, rows are claimed in small batches before
// their messages go out, and outcomes are recorded in batches.
func (d *Engine) Deliver(ctx context.Context, editionID int64, r brief.Rendered, resumed bool) (Report, error) {
	er := Report{ID: editionID, Subject: r.Subject, Resumed: resumed}
	log := d.log().With("edition", editionID)
	if err := d.ensureAudience(ctx, editionID); err != nil {
		return er, err
	}
	if n, err := d.Ledger.ExpireDeferred(ctx, editionID, d.RetryFor); err != nil {
		return er, err
	} else if n > 0 {
		log.Warn("deferred deliveries ran out of retries", "count", n, "retry_for", d.RetryFor)
	}

	var limiter *rate.Limiter
	if d.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(d.Rate), 1)
	}
	workers := max(d.Concurrency, 1)
	// claims of a few hundred rows: a process killed mid-send leaves its
	// claim in sending, and the send journal tells which of those reached
	// the relay (sent), which may have (unknown) and which are sent again
	batchSize := max(256, 32*workers)
	// jobs and results travel in chunks: one channel handoff (and
	// goroutine wake-up) per chunk rather than per message
	jobs := make(chan []Job)
	results := make(chan []Result, 2*workers)
	recErr := make(chan error, 1)
	go func() { recErr <- d.Ledger.RecordResults(context.WithoutCancel(ctx), editionID, results) }()

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
			d.worker(ctx, editionID, bodies, limiter, jobs, results, stop, abort)
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
		if st, sending, err := d.Ledger.EditionStatus(ctx, editionID); err != nil {
			claimErr = err
			break
		} else if !sending {
			er.Stopped = st
			log.Info("edition no longer sending; stopping", "status", st)
			break
		}
		n := batchSize
		if d.Rate > 0 {
			// a rate-limited send claims about two seconds of messages at
			// a time, so a pause takes hold within seconds
			n = min(n, max(1, int(2*d.Rate)))
		}
		if d.HourlyQuota > 0 {
			if quotaChecked.IsZero() || time.Since(quotaChecked) > time.Minute {
				used, err := d.Ledger.SentSince(ctx, d.Ledger.Now().Add(-time.Hour))
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
		batch, err := d.Ledger.Claim(ctx, editionID, n)
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
			ids[i] = j.Recipient.ID
		}
		inactive, err := d.Audience.Inactive(ctx, ids)
		if err != nil {
			claimErr = fmt.Errorf("check subscribers: %w", err)
			results <- released(batch)
			break
		}
		active := batch[:0]
		var skipped []Result
		for _, j := range batch {
			if inactive[j.Recipient.ID] {
				skipped = append(skipped, Result{SubscriberID: j.Recipient.ID, State: StateSkipped, Detail: "no longer subscribed"})
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
	done, err := d.Ledger.FinishIfDone(ctx, editionID)
	if err != nil {
		return er, err
	}
	er.Done = done
	if er.Counts, err = d.Ledger.DeliveryCounts(ctx, editionID); err != nil {
		return er, err
	}
	if er.Failures, err = d.Ledger.Failures(ctx, editionID, 0); err != nil {
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
func (d *Engine) worker(ctx context.Context, editionID int64, bodies *brief.Edition, limiter *rate.Limiter,
	jobs <-chan []Job, results chan<- []Result, stop <-chan struct{}, abort func(error)) {
	var conn brief.Conn
	var jw *journalWriter // this connection's view of the send journal
	if j := d.jrnl.Load(); j != nil {
		jw = j.writer()
		defer jw.flush()
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var ahead *brief.Message // the message whose envelope went out ahead
	for chunk := range jobs {
		out := make([]Result, 0, len(chunk))
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
			m := ahead
			if m == nil || m.Recipient.ID != j.Recipient.ID {
				m = message(d.Audience, editionID, j.Recipient, bodies, jw)
			}
			ahead = nil
			// the message is not interrupted by ctx once its DATA may be on
			// the wire; without a rate to keep, the next message's
			// envelope goes out behind this one's end of data
			var err error
			if pl, ok := conn.(brief.Pipeliner); ok && limiter == nil && i+1 < len(chunk) {
				ahead = message(d.Audience, editionID, chunk[i+1].Recipient, bodies, jw)
				err = pl.SendAhead(context.WithoutCancel(ctx), m, ahead)
			} else {
				err = conn.Send(context.WithoutCancel(ctx), m)
			}
			res := classify(j, err, d.Ledger.Now(), d.RetryBase)
			if res.State == StateFailed {
				var um unknownMailbox
				hard := errors.As(err, &um) && um.UnknownMailbox()
				if berr := d.Audience.Bounce(context.WithoutCancel(ctx), j.Recipient.ID, res.Detail, hard); berr != nil {
					d.log().Error("recording a bounce failed", "subscriber", j.Recipient.ID, slog.Any("error", berr))
				}
			}
			out = append(out, res)
		}
		results <- out
	}
}

// stopped says the send is being stopped: by abort or by ctx.
func (d *Engine) stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return ctx.Err() != nil
	}
}

// released are the results for jobs never attempted: back to pending.
func released(jobs []Job) []Result {
	out := make([]Result, len(jobs))
	for i, j := range jobs {
		out[i] = Result{SubscriberID: j.Recipient.ID, Release: true}
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
func classify(j Job, err error, now time.Time, base time.Duration) Result {
	res := Result{SubscriberID: j.Recipient.ID, State: StateSent}
	if err == nil {
		return res
	}
	res.Detail = err.Error()
	var sc statusCode
	if errors.As(err, &sc) {
		res.Code = sc.StatusCode()
	}
	var p permanent
	if errors.As(err, &p) && p.Permanent() {
		res.State = StateFailed
		return res
	}
	res.State = StateDeferred
	res.Next = now.Add(Backoff(base, j.Attempts))
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
func (d *Engine) ensureAudience(ctx context.Context, editionID int64) error {
	done, after, err := d.Ledger.AudienceState(ctx, editionID)
	if err != nil || done {
		return err
	}
	for {
		page, err := d.Audience.ActiveAfter(ctx, after, audiencePage)
		if err != nil {
			return fmt.Errorf("list subscribers: %w", err)
		}
		if err := d.Ledger.AddAudience(ctx, editionID, page, len(page) < audiencePage); err != nil {
			return err
		}
		if len(page) < audiencePage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
