package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/newsbrief/newsbrief/brief"
)

// Feedback applies what comes back about messages (later bounces,
// complaints, unsubscribes by mail or by a provider's report) to the
// subscribers, each report once, and records it per edition. Every way
// feedback arrives (inbound SMTP, the mailbox poller, POST /api/bounces,
// provider webhooks, the unsubscribe link) goes through Apply.
type Feedback struct {
	Store     *Store
	SoftLimit int // soft bounces after which an address is bounced; 0 never
}

// Apply records f and changes its subscriber's state: a hard bounce
// bounces an active address at once; a soft one counts, bouncing it at
// SoftLimit; a complaint marks it complained for good (whatever it was);
// an unsubscribe unsubscribes an active or pending one. Each kind counts
// once per subscriber and edition (two reports of one bounce are one
// bounce); without an edition, a report with the Key of one applied
// before changes nothing. It returns ErrNotFound for a
// subscriber who is not (or no longer) on the list.
func (fb Feedback) Apply(ctx context.Context, f brief.Feedback) (brief.Applied, error) {
	switch f.Kind {
	case brief.FeedbackHard, brief.FeedbackSoft, brief.FeedbackComplaint, brief.FeedbackUnsubscribe:
	default:
		return brief.Applied{}, fmt.Errorf("apply feedback: unknown kind %q", f.Kind)
	}
	s := fb.Store
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	defer tx.Rollback()
	var out brief.Applied
	var before string
	if f.SubscriberID != 0 {
		err = tx.QueryRowContext(ctx, `SELECT id, email, status FROM subscribers WHERE id = ?`, f.SubscriberID).Scan(&out.SubscriberID, &out.Email, &before)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT id, email, status FROM subscribers WHERE email_key = ?`,
			strings.ToLower(strings.TrimSpace(f.Email))).Scan(&out.SubscriberID, &out.Email, &before)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", ErrNotFound)
	}
	if err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	now := s.now().UnixMilli()
	// a subscriber's message of an edition bounces, is complained about
	// or unsubscribes from once, however many reports say so; without an
	// edition, a report counts once by its own key
	var key any
	switch {
	case f.EditionID > 0:
		key = fmt.Sprintf("edition:%d:%s", f.EditionID, f.Kind)
	case f.Key != "":
		key = f.Key
	}
	detail := truncate(strings.Join(strings.Fields(f.Detail), " "), 500)
	res, err := tx.ExecContext(ctx, `INSERT INTO feedback (at, edition_id, subscriber_id, kind, source, detail, key)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, now, f.EditionID, out.SubscriberID, f.Kind, f.Source, detail, key)
	if err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		out.Status, out.Duplicate = before, true
		return out, nil
	}
	what := f.Source + ": " + detail
	switch f.Kind {
	case brief.FeedbackHard, brief.FeedbackSoft:
		hard := f.Kind == brief.FeedbackHard
		_, err = tx.ExecContext(ctx, bounceSQL, hard, truncate(what, 500), now, fb.SoftLimit, out.SubscriberID)
	case brief.FeedbackComplaint:
		_, err = tx.ExecContext(ctx, `UPDATE subscribers SET status = 'complained', last_bounce = ?, updated_at = ? WHERE id = ?`,
			truncate("complaint: "+what, 500), now, out.SubscriberID)
	case brief.FeedbackUnsubscribe:
		_, err = tx.ExecContext(ctx, `UPDATE subscribers SET
			unsubscribed_at = CASE WHEN status IN ('active', 'pending') THEN ?1 ELSE unsubscribed_at END,
			status = CASE WHEN status IN ('active', 'pending') THEN 'unsubscribed' ELSE status END,
			updated_at = ?1 WHERE id = ?2`, now, out.SubscriberID)
	}
	if err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT status FROM subscribers WHERE id = ?`, out.SubscriberID).Scan(&out.Status); err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return brief.Applied{}, fmt.Errorf("apply feedback: %w", err)
	}
	out.Changed = out.Status != before
	return out, nil
}

// FeedbackCounts are what came back about one edition, by kind.
type FeedbackCounts struct {
	Hard, Soft, Complaints, Unsubscribes int
}

// Bounces is hard and soft bounces together.
func (c FeedbackCounts) Bounces() int { return c.Hard + c.Soft }

// EditionFeedback returns what came back about an edition (a few rows of
// the counts the feedback table's trigger keeps).
func (s *Store) EditionFeedback(ctx context.Context, editionID int64) (FeedbackCounts, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, n FROM feedback_counts WHERE edition_id = ?`, editionID)
	if err != nil {
		return FeedbackCounts{}, fmt.Errorf("edition feedback: %w", err)
	}
	defer rows.Close()
	var c FeedbackCounts
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return FeedbackCounts{}, fmt.Errorf("edition feedback: %w", err)
		}
		switch kind {
		case brief.FeedbackHard:
			c.Hard = n
		case brief.FeedbackSoft:
			c.Soft = n
		case brief.FeedbackComplaint:
			c.Complaints = n
		case brief.FeedbackUnsubscribe:
			c.Unsubscribes = n
		}
	}
	return c, rows.Err()
}

// FeedbackTotals returns what came back about all editions, by kind (one
// row a kind and edition of the kept counts).
func (s *Store) FeedbackTotals(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, SUM(n) FROM feedback_counts GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("feedback totals: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, rows.Err()
}

// ComplaintWarnRate is the share of an edition's delivered messages
// reported as spam above which newsbrief warns (in the log and on the
// desk): a third of the 0.3 % that Gmail and Yahoo require senders to stay
// under.
const ComplaintWarnRate = 0.001

// ComplaintRate is complaints over delivered messages (0 when none were).
func (c FeedbackCounts) ComplaintRate(delivered int) float64 {
	if delivered <= 0 {
		return 0
	}
	return float64(c.Complaints) / float64(delivered)
}

// TooManyComplaints says whether the complaint rate passes
// ComplaintWarnRate.
func (c FeedbackCounts) TooManyComplaints(delivered int) bool {
	return c.ComplaintRate(delivered) > ComplaintWarnRate
}
