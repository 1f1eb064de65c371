package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// EditionPaused is the state of an edition an operator paused: nothing more
// is sent until it is resumed.
const EditionPaused = "paused"

// ErrEditionState is returned when an edition is not in a state the
// requested change applies to (resuming an edition that is not paused, say).
var ErrEditionState = errors.New("edition is not in a state that allows this")

// setEditionStatus moves an edition from one of the from states to to, in
// tx, and returns the state it was in.
func setEditionStatus(ctx context.Context, tx *sql.Tx, id int64, to string, from ...string) (string, error) {
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT status FROM editions WHERE id = ?`, id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("edition %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("edition %d: %w", id, err)
	}
	ok := false
	for _, f := range from {
		ok = ok || cur == f
	}
	if !ok {
		return cur, fmt.Errorf("edition %d is %s: %w (want %v)", id, cur, ErrEditionState, from)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE editions SET status = ? WHERE id = ?`, to, id); err != nil {
		return cur, fmt.Errorf("edition %d: %w", id, err)
	}
	return cur, nil
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Pause stops a sending edition: a running send stops claiming messages
// after its current batch (messages already handed to the relay finish),
// and no run sends it until Resume. It returns ErrEditionState unless the
// edition is sending, and ErrNotFound for an unknown ID.
func (s *Store) Pause(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := setEditionStatus(ctx, tx, id, EditionPaused, EditionSending)
		return err
	})
}

// Resume lets a paused edition be sent again by the next run; nobody who
// already has it is mailed again.
func (s *Store) Resume(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := setEditionStatus(ctx, tx, id, EditionSending, EditionPaused)
		return err
	})
}

// Cancel stops an edition for good: its pending and deferred deliveries
// become skipped. Messages already sent stay sent. It returns the number of
// deliveries skipped.
func (s *Store) Cancel(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := setEditionStatus(ctx, tx, id, EditionCancelled, EditionSending, EditionPaused); err != nil {
			return err
		}
		// its articles wait again for the next edition, unless another
		// edition carries them
		if _, err := tx.ExecContext(ctx, `UPDATE articles SET waiting = 1 WHERE id IN (
			SELECT article_id FROM edition_articles WHERE edition_id = ?1) AND NOT EXISTS (
			SELECT 1 FROM edition_articles ea JOIN editions e ON e.id = ea.edition_id
			WHERE ea.article_id = articles.id AND ea.edition_id != ?1 AND e.status != 'cancelled')`, id); err != nil {
			return fmt.Errorf("cancel edition %d: %w", id, err)
		}
		// pending rows are counted by state, deferred ones (few) by the
		// code their class comes from; the pending rows of a running
		// send's claim window are in flight and left out: their outcomes
		// are recorded, and what is left of them is skipped when the
		// window closes
		rows, err := tx.QueryContext(ctx, `SELECT 'pending', 0, COUNT(*) FROM deliveries WHERE edition_id = ?1 AND state = 'pending'
			AND NOT (subscriber_id > (SELECT claimed_from FROM editions WHERE id = ?1) AND subscriber_id <= (SELECT claimed_upto FROM editions WHERE id = ?1))
			UNION ALL SELECT 'deferred', code, COUNT(*) FROM deliveries WHERE edition_id = ?1 AND state = 'deferred' GROUP BY code`, id)
		if err != nil {
			return fmt.Errorf("cancel edition %d: %w", id, err)
		}
		delta := countDelta{}
		for rows.Next() {
			var st string
			var code int
			var k int64
			if err := rows.Scan(&st, &code, &k); err != nil {
				rows.Close()
				return fmt.Errorf("cancel edition %d: %w", id, err)
			}
			delta.add(st, code, -k)
			delta.add(StateSkipped, code, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("cancel edition %d: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'skipped', detail = 'edition cancelled', updated_at = ?1
			WHERE edition_id = ?2 AND state IN ('pending', 'deferred')
			AND NOT (state = 'pending' AND subscriber_id > (SELECT claimed_from FROM editions WHERE id = ?2)
				AND subscriber_id <= (SELECT claimed_upto FROM editions WHERE id = ?2))`, s.nowMS(), id)
		if err != nil {
			return fmt.Errorf("cancel edition %d: %w", id, err)
		}
		if err := delta.apply(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE editions SET finished_at = ? WHERE id = ?`, s.nowMS(), id); err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// ResendUnknown queues again the deliveries of an edition whose outcome is
// unknown (they were in flight when a process was killed, and may or may
// not have arrived): the operator accepts that some may get it twice. A
// sent edition goes back to sending. It returns how many were queued.
func (s *Store) ResendUnknown(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM editions WHERE id = ?`, id).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("edition %d: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if cur == EditionCancelled {
			return fmt.Errorf("edition %d is cancelled: %w", id, ErrEditionState)
		}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'pending', next_attempt_at = 0,
			detail = 'queued again by resend-unknown', updated_at = ? WHERE edition_id = ? AND state = 'unknown'`, s.nowMS(), id)
		if err != nil {
			return fmt.Errorf("resend unknown of edition %d: %w", id, err)
		}
		n, _ = res.RowsAffected()
		if err := (countDelta{{StateUnknown, ""}: -n, {StatePending, ""}: n}).apply(ctx, tx, id); err != nil {
			return err
		}
		if n > 0 && cur == EditionSent {
			_, err = tx.ExecContext(ctx, `UPDATE editions SET status = 'sending', finished_at = 0 WHERE id = ?`, id)
		}
		return err
	})
	return n, err
}

// EditionStatus returns an edition's current status.
func (s *Store) EditionStatus(ctx context.Context, id int64) (status string, sending bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT status FROM editions WHERE id = ?`, id).Scan(&status)
	if err != nil {
		return "", false, fmt.Errorf("edition %d status: %w", id, err)
	}
	return status, status == EditionSending, nil
}

// SentSince counts the messages handed to the relay since t (sent, or in
// flight), for the hourly quota.
func (s *Store) SentSince(ctx context.Context, since time.Time) (int, error) {
	sinceMS := since.UnixMilli()
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE state IN ('sent', 'sending') AND updated_at >= ?`, sinceMS).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent sends: %w", err)
	}
	return n, nil
}
