package pipeline

import (
	"unicode/utf8"

	"github.com/newsbrief/newsbrief/pipeline/deliver"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// unfinishedEditions returns the editions still sending, oldest first,
// with their articles and counts.
func (s *Store) unfinishedEditions(ctx context.Context) ([]Edition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM editions WHERE status = 'sending' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("unfinished editions: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Edition, 0, len(ids))
	for _, id := range ids {
		ed, err := s.Edition(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ed)
	}
	return out, nil
}

// InFlight lists the rows left sending: marked so (retries), or pending
// inside an edition's claim window. Only an unfinished edition can have
// them, so it reads the ledger's index edition by edition, and the window
// by the primary key.
func (s *Store) InFlight(ctx context.Context) ([]deliver.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.edition_id, d.subscriber_id FROM editions e
		JOIN deliveries d ON d.edition_id = e.id AND d.state = 'sending' WHERE e.status != 'sent'
		UNION ALL
		SELECT d.edition_id, d.subscriber_id FROM editions e
		JOIN deliveries d ON d.edition_id = e.id AND d.subscriber_id > e.claimed_from AND d.subscriber_id <= e.claimed_upto
			AND +d.state = 'pending'
		WHERE e.claimed_from != e.claimed_upto`)
	if err != nil {
		return nil, fmt.Errorf("deliveries in flight: %w", err)
	}
	defer rows.Close()
	var out []deliver.Key
	for rows.Next() {
		var k deliver.Key
		if err := rows.Scan(&k.Edition, &k.Subscriber); err != nil {
			return nil, fmt.Errorf("deliveries in flight: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SettleInFlight settles the rows of keys by how far each got: the ones the
// relay accepted are sent, the ones whose end of data was written are
// unknown (their message may have arrived: not resent), and the others go
// back to be sent (pending, or deferred when they had earlier attempts, the
// interrupted attempt not counted), in one transaction.
func (s *Store) SettleInFlight(ctx context.Context, keys []deliver.Key, progress map[deliver.Key]deliver.Progress) (sent, unknown, requeued int64, err error) {
	now := s.nowMS()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		unk, err := tx.PrepareContext(ctx, `UPDATE deliveries SET state = 'unknown',
			detail = 'in flight when a previous run stopped, after its end of data was written; not resent (see editions resend-unknown)',
			`+attemptMade+`, updated_at = ?1 WHERE edition_id = ?2 AND subscriber_id = ?3 AND +state IN ('sending', 'pending')`)
		if err != nil {
			return err
		}
		defer unk.Close()
		back, err := tx.PrepareContext(ctx, `UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'deferred' ELSE 'pending' END,
			attempts = attempts - 1, next_attempt_at = 0, updated_at = ?
			WHERE edition_id = ? AND subscriber_id = ? AND state = 'sending' RETURNING state, code`)
		if err != nil {
			return err
		}
		defer back.Close()
		took, err := tx.PrepareContext(ctx, `UPDATE deliveries SET state = 'sent', code = 0, next_attempt_at = 0,
			detail = 'accepted by the relay just before a previous run stopped', `+attemptMade+`, updated_at = ?1
			WHERE edition_id = ?2 AND subscriber_id = ?3 AND +state IN ('sending', 'pending')`)
		if err != nil {
			return err
		}
		defer took.Close()
		deltas := map[int64]countDelta{}
		for _, k := range keys {
			d := deltas[k.Edition]
			if d == nil {
				d = countDelta{}
				deltas[k.Edition] = d
			}
			switch progress[k] {
			case deliver.Accepted:
				res, err := took.ExecContext(ctx, now, k.Edition, k.Subscriber)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				d.add(StateSending, 0, -n)
				d.add(StateSent, 0, n)
				sent += n
				continue
			case deliver.EndWritten:
				res, err := unk.ExecContext(ctx, now, k.Edition, k.Subscriber)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				d.add(StateSending, 0, -n)
				d.add(StateUnknown, 0, n)
				unknown += n
				continue
			}
			var state string
			var code int
			err := back.QueryRowContext(ctx, now, k.Edition, k.Subscriber).Scan(&state, &code)
			if errors.Is(err, sql.ErrNoRows) {
				// a pending row of the claim window: it stays as it is
				var one int
				switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE edition_id = ? AND subscriber_id = ? AND state = 'pending'`,
					k.Edition, k.Subscriber).Scan(&one); {
				case errors.Is(err, sql.ErrNoRows):
					continue
				case err != nil:
					return err
				}
				state, code = StatePending, 0
				err = nil
			}
			if err != nil {
				return err
			}
			d.add(StateSending, 0, -1)
			d.add(state, code, 1)
			requeued++
		}
		for ed, d := range deltas {
			if err := d.apply(ctx, tx, ed); err != nil {
				return err
			}
		}
		return s.closeWindows(ctx, tx, 0)
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("settle deliveries in flight: %w", err)
	}
	return sent, unknown, requeued, nil
}

// AudienceState tells whether every recipient of an edition has a row, and
// the highest subscriber ID that has one.
func (s *Store) AudienceState(ctx context.Context, editionID int64) (done bool, after int64, err error) {
	var d int
	err = s.db.QueryRowContext(ctx, `SELECT audience_done,
		(SELECT COALESCE(MAX(subscriber_id), 0) FROM deliveries WHERE edition_id = editions.id)
		FROM editions WHERE id = ?`, editionID).Scan(&d, &after)
	if err != nil {
		return false, 0, fmt.Errorf("audience of edition %d: %w", editionID, err)
	}
	return d == 1, after, nil
}

// AddAudience adds pending rows for a page of recipients; last marks the
// audience complete in the same transaction.
func (s *Store) AddAudience(ctx context.Context, editionID int64, page []Recipient, last bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add audience: %w", err)
	}
	defer tx.Rollback()
	// the whole page in one statement: a JSON array of [id, email, name]
	// rows, read by SQLite's json_each, rather than a call (and a cgo
	// round trip) a row
	rows, err := audienceRows(page).MarshalJSON()
	if err != nil {
		return fmt.Errorf("add audience: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (edition_id, subscriber_id, email, name, state, updated_at)
		SELECT ?1, value->>0, value->>1, value->>2, 'pending', ?2 FROM json_each(?3) WHERE true
		ON CONFLICT DO NOTHING`, editionID, s.nowMS(), string(rows))
	if err != nil {
		return fmt.Errorf("add audience: %w", err)
	}
	added, _ := res.RowsAffected()
	if err := addCount(ctx, tx, editionID, StatePending, added); err != nil {
		return fmt.Errorf("add audience: %w", err)
	}
	if last {
		if _, err := tx.ExecContext(ctx, `UPDATE editions SET audience_done = 1 WHERE id = ?`, editionID); err != nil {
			return fmt.Errorf("add audience: %w", err)
		}
	}
	return tx.Commit()
}

// audienceRows is a page of recipients as JSON rows [id, email, name]
// (bytes that are not UTF-8, which the subscriber store no longer takes,
// become U+FFFD).
type audienceRows []Recipient

func (a audienceRows) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64*len(a)+2)
	b = append(b, '[')
	for i, r := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, r.ID, 10)
		b = appendJSONString(append(b, ','), r.Email)
		b = appendJSONString(append(b, ','), r.Name)
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// appendJSONString appends v as a JSON string: quote, backslash and
// control characters escaped, bytes that are not UTF-8 as U+FFFD (as
// encoding/json writes them, but for <, > and &, which need no escaping
// here).
func appendJSONString(b []byte, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\\ufffd"...)
		} else {
			b = append(b, v[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// ExpireDeferred fails the deferred rows whose first attempt is older than
// retryFor.
func (s *Store) ExpireDeferred(ctx context.Context, editionID int64, retryFor time.Duration) (int64, error) {
	if retryFor <= 0 {
		return 0, nil
	}
	now := s.nowMS()
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET state = 'failed',
			detail = 'gave up after retrying for ' || ? || ': ' || detail, updated_at = ?
			WHERE edition_id = ? AND state = 'deferred' AND first_attempt_at > 0 AND first_attempt_at <= ?
			RETURNING code`, retryFor.String(), now, editionID, now-retryFor.Milliseconds())
		if err != nil {
			return err
		}
		delta := countDelta{}
		for rows.Next() {
			var code int
			if err := rows.Scan(&code); err != nil {
				rows.Close()
				return err
			}
			delta.add(StateDeferred, code, -1)
			delta.add(StateFailed, code, 1)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return delta.apply(ctx, tx, editionID)
	})
	if err != nil {
		return 0, fmt.Errorf("expire deferred deliveries: %w", err)
	}
	return n, nil
}

// Claim claims up to n pending or due deferred rows, in one transaction,
// before any of them is handed to the relay, and returns them.
//
// Pending rows are claimed by moving the edition's claim window over them
// (see migration 013): the next rows by subscriber ID above the window are
// read by the primary key, and the window's upper end is written once, so
// a claim writes nothing a row. Due deferred rows, few, are marked sending
// one by one, found by the (edition, state, next attempt) index. Either
// way a claim costs the same at the first row and at the millionth.
func (s *Store) Claim(ctx context.Context, editionID int64, n int) ([]deliver.Job, error) {
	now := s.nowMS()
	var out []deliver.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		delta := countDelta{}
		var from, upto int64
		if err := tx.QueryRowContext(ctx, `SELECT claimed_from, claimed_upto FROM editions WHERE id = ?`, editionID).
			Scan(&from, &upto); err != nil {
			return err
		}
		var err error
		if out, err = s.claimPending(ctx, tx, editionID, n, &from, &upto, out); err != nil {
			return err
		}
		delta.add(StatePending, 0, -int64(len(out)))
		delta.add(StateSending, 0, int64(len(out)))
		if len(out) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE editions SET claimed_from = ?, claimed_upto = ? WHERE id = ?`,
				from, upto, editionID); err != nil {
				return err
			}
		}
		if left := n - len(out); left > 0 {
			st, err := s.stmt(ctx, tx, `UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?3
				WHERE edition_id = ?1 AND subscriber_id IN (
					SELECT subscriber_id FROM deliveries WHERE edition_id = ?1 AND state = 'deferred' AND next_attempt_at <= ?3 LIMIT ?2)
				RETURNING subscriber_id, email, name, attempts, code`)
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(ctx, editionID, left, now)
			if err != nil {
				return err
			}
			for rows.Next() {
				var j deliver.Job
				var code int
				if err := rows.Scan(&j.Recipient.ID, &j.Recipient.Email, &j.Recipient.Name, &j.Attempts, &code); err != nil {
					rows.Close()
					return err
				}
				out = append(out, j)
				delta.add(StateDeferred, code, -1)
				delta.add(StateSending, 0, 1)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return s.applyDelta(ctx, tx, editionID, delta)
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// claimPending reads up to n pending rows above the claim window
// (*from, *upto] and widens the window over them. With no window yet it
// starts below the first pending row of the state index (the rows are
// added in subscriber order, so nearly always the lowest); once nothing is
// left above the window, pending rows below it (queued again while the send
// ran) are taken too and the window reaches down to them. Pending rows
// inside the window are in flight and never read again.
func (s *Store) claimPending(ctx context.Context, tx *sql.Tx, editionID int64, n int, from, upto *int64, out []deliver.Job) ([]deliver.Job, error) {
	// "+state": filtered, not looked up in the state index, so that the
	// rows come by the primary key, in subscriber order
	scan, err := s.stmt(ctx, tx, `SELECT subscriber_id, email, name FROM deliveries
		WHERE edition_id = ?1 AND subscriber_id > ?2 AND subscriber_id <= ?3 AND +state = 'pending'
		ORDER BY subscriber_id LIMIT ?4`)
	if err != nil {
		return out, err
	}
	read := func(after, until int64, limit int) error {
		rows, err := scan.QueryContext(ctx, editionID, after, until, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j := deliver.Job{Attempts: 1}
			if err := rows.Scan(&j.Recipient.ID, &j.Recipient.Email, &j.Recipient.Name); err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	}
	// the state index's pending rows, filtered by subscriber: few but for a
	// send's first claim, which reads only the first of them
	lowest := func(until int64) (int64, bool, error) {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT subscriber_id FROM deliveries INDEXED BY deliveries_state
			WHERE edition_id = ? AND state = 'pending' AND subscriber_id <= ? LIMIT 1`, editionID, until).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	const top = math.MaxInt64
	had := *from != *upto
	if !had {
		low, ok, err := lowest(top)
		if err != nil || !ok {
			return out, err
		}
		*from, *upto = low-1, low-1
	}
	before := len(out)
	if err := read(*upto, top, n-len(out)); err != nil {
		return out, err
	}
	if len(out) > before {
		*upto = out[len(out)-1].Recipient.ID
	}
	if had && len(out) < n {
		// below the window: read only when nothing is left above it
		low, ok, err := lowest(*from)
		if err != nil || !ok {
			return out, err
		}
		// all of them (few), so that none is left inside the window unclaimed
		if err := read(low-1, *from, -1); err != nil {
			return out, err
		}
		*from = low - 1
	}
	return out, nil
}

// The store is the delivery engine's ledger.
var _ deliver.Ledger = (*Store)(nil)

// Outcomes are written every recordBatch results or recordEvery, whichever
// comes first: one transaction for many messages.
const (
	recordBatch = 512
	recordEvery = 50 * time.Millisecond
)

// RecordResults writes outcomes from results in batches (one transaction
// per recordBatch rows or recordEvery) until results is closed.
func (s *Store) RecordResults(ctx context.Context, editionID int64, results <-chan []deliver.Result) error {
	var pending []deliver.Result
	var firstErr error
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := s.writeResults(ctx, editionID, pending); err != nil && firstErr == nil {
			firstErr = err
		}
		pending = pending[:0]
	}
	tick := time.NewTicker(recordEvery)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				if firstErr == nil {
					// every claimed row has its outcome: nothing is in flight
					firstErr = s.inTx(ctx, func(tx *sql.Tx) error { return s.closeWindows(ctx, tx, editionID) })
				}
				return firstErr
			}
			pending = append(pending, r...)
			if len(pending) >= recordBatch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// attemptMade counts the attempt of a row claimed by the window (pending
// still; one claimed as sending was counted then) and dates its first
// attempt; ?1 is the time.
const attemptMade = `attempts = attempts + (state = 'pending'),
	first_attempt_at = CASE WHEN first_attempt_at = 0 THEN ?1 ELSE first_attempt_at END`

// closeWindows empties the claim windows of editionID (0: of every
// edition) once none of their rows is in flight. A cancelled edition's rows
// left pending in it (claimed, never tried) are skipped as its others were.
func (s *Store) closeWindows(ctx context.Context, tx *sql.Tx, editionID int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, status, claimed_from, claimed_upto FROM editions
		WHERE claimed_from != claimed_upto AND (?1 = 0 OR id = ?1)`, editionID)
	if err != nil {
		return fmt.Errorf("close claim window: %w", err)
	}
	type window struct {
		id, from, upto int64
		status         string
	}
	var ws []window
	for rows.Next() {
		var w window
		if err := rows.Scan(&w.id, &w.status, &w.from, &w.upto); err != nil {
			rows.Close()
			return fmt.Errorf("close claim window: %w", err)
		}
		ws = append(ws, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("close claim window: %w", err)
	}
	for _, w := range ws {
		if w.status == EditionCancelled {
			res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'skipped', detail = 'edition cancelled', updated_at = ?
				WHERE edition_id = ? AND subscriber_id > ? AND subscriber_id <= ? AND +state = 'pending'`, s.nowMS(), w.id, w.from, w.upto)
			if err != nil {
				return fmt.Errorf("close claim window: %w", err)
			}
			n, _ := res.RowsAffected()
			if err := (countDelta{{StatePending, ""}: -n, {StateSkipped, ""}: n}).apply(ctx, tx, w.id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE editions SET claimed_from = 0, claimed_upto = 0 WHERE id = ?`, w.id); err != nil {
			return fmt.Errorf("close claim window: %w", err)
		}
	}
	return nil
}

func (s *Store) writeResults(ctx context.Context, editionID int64, rs []deliver.Result) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = s.writeResultsOnce(ctx, editionID, rs); err == nil {
			return nil
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	return fmt.Errorf("record %d delivery results: %w", len(rs), err)
}

func (s *Store) writeResultsOnce(ctx context.Context, editionID int64, rs []deliver.Result) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upd, err := s.stmt(ctx, tx, `UPDATE deliveries SET state = ?4, code = ?5, detail = ?6, next_attempt_at = ?7, `+attemptMade+`, updated_at = ?1
		WHERE edition_id = ?2 AND subscriber_id = ?3 AND +state IN ('sending', 'pending')`)
	if err != nil {
		return err
	}
	rel, err := s.stmt(ctx, tx, `UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'deferred' ELSE 'pending' END,
		attempts = attempts - 1, updated_at = ? WHERE edition_id = ? AND subscriber_id = ? AND state = 'sending'
		RETURNING state, code`)
	if err != nil {
		return err
	}
	pend, err := s.stmt(ctx, tx, `SELECT 1 FROM deliveries WHERE edition_id = ? AND subscriber_id = ? AND state = 'pending'`)
	if err != nil {
		return err
	}
	now := s.nowMS()
	// plain successes, nearly every row, go in one statement per batch
	var sent []byte
	for _, r := range rs {
		if r.PlainSent() {
			if sent == nil {
				sent = append(make([]byte, 0, 8*len(rs)), '[')
			} else {
				sent = append(sent, ',')
			}
			sent = strconv.AppendInt(sent, r.SubscriberID, 10)
		}
	}
	delta := countDelta{}
	if sent != nil {
		st, err := s.stmt(ctx, tx, `UPDATE deliveries SET state = 'sent', code = 0, detail = '', next_attempt_at = 0, `+attemptMade+`, updated_at = ?1
			WHERE edition_id = ?2 AND +state IN ('sending', 'pending') AND subscriber_id IN (SELECT value FROM json_each(?3))`)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, now, editionID, string(append(sent, ']')))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		delta.add(StateSending, 0, -n)
		delta.add(StateSent, 0, n)
	}
	for _, r := range rs {
		if r.PlainSent() {
			continue
		}
		if r.Release {
			var state string
			var code int
			err = rel.QueryRowContext(ctx, now, editionID, r.SubscriberID).Scan(&state, &code)
			if errors.Is(err, sql.ErrNoRows) {
				// claimed by the window, it is pending still: only counted
				// back (or no longer in flight at all: nothing changed)
				var one int
				if err = pend.QueryRowContext(ctx, editionID, r.SubscriberID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
					continue
				}
				state, code = StatePending, 0
			}
			if err == nil {
				delta.add(StateSending, 0, -1)
				delta.add(state, code, 1)
			}
		} else {
			var next int64
			if !r.Next.IsZero() {
				next = r.Next.UnixMilli()
			}
			var res sql.Result
			res, err = upd.ExecContext(ctx, now, editionID, r.SubscriberID, r.State, r.Code, truncate(r.Detail, 500), next)
			if err == nil {
				n, _ := res.RowsAffected()
				delta.add(StateSending, 0, -n)
				delta.add(r.State, r.Code, n)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := s.applyDelta(ctx, tx, editionID, delta); err != nil {
		return err
	}
	return tx.Commit()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// FinishIfDone marks an edition sent when none of its rows is pending,
// sending or deferred.
func (s *Store) FinishIfDone(ctx context.Context, editionID int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE editions SET status = 'sent', finished_at = ?
		WHERE id = ? AND status = 'sending' AND audience_done = 1 AND NOT EXISTS (
			SELECT 1 FROM deliveries WHERE edition_id = editions.id AND state IN ('pending', 'sending', 'deferred'))`,
		s.nowMS(), editionID)
	if err != nil {
		return false, fmt.Errorf("finish edition %d: %w", editionID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AcquireLease takes the named lease for holder for ttl, renewing it in the
// background until the returned release function is called. It returns
// ErrBusy when another holder has an unexpired lease and alive (if not nil)
// says that holder still runs.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, alive func(string) bool) (func(), error) {
	if err := s.takeLease(ctx, name, holder, ttl, alive); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = s.takeLease(context.WithoutCancel(ctx), name, holder, ttl, nil)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		s.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	}, nil
}

func (s *Store) takeLease(ctx context.Context, name, holder string, ttl time.Duration, alive func(string) bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("take %s lease: %w", name, err)
	}
	defer tx.Rollback()
	now := s.now()
	var cur string
	var exp int64
	err = tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&cur, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("take %s lease: %w", name, err)
	case leaseHeldByOther(cur, fromMS(exp), holder, now, alive):
		return fmt.Errorf("%w (%s, lease until %s)", ErrBusy, cur, fromMS(exp).Format(time.RFC3339))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
		name, holder, now.Add(ttl).UnixMilli()); err != nil {
		return fmt.Errorf("take %s lease: %w", name, err)
	}
	return tx.Commit()
}

// leaseHeldByOther says whether a lease held by cur until expires keeps
// holder out at now: another holder, not expired, and (when alive can
// tell) still running.
func leaseHeldByOther(cur string, expires time.Time, holder string, now time.Time, alive func(string) bool) bool {
	return cur != "" && cur != holder && expires.After(now) && (alive == nil || alive(cur))
}

// ForgetRecipient erases the copies of a subscriber's address and name in
// the delivery ledger (the counts and states stay).
func (s *Store) ForgetRecipient(ctx context.Context, subscriberID int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE deliveries SET email = '(erased)', name = '', detail = ''
		WHERE subscriber_id = ?`, subscriberID); err != nil {
		return fmt.Errorf("erase ledger copies of subscriber %d: %w", subscriberID, err)
	}
	return nil
}

// SendLease says who holds the send lease: the holder and when the lease
// runs out; "" when nobody holds an unexpired one.
func (s *Store) SendLease(ctx context.Context) (holder string, until time.Time, err error) {
	var exp int64
	err = s.db.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = 'send'`).Scan(&holder, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && exp <= s.now().UnixMilli()) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("send lease: %w", err)
	}
	return holder, fromMS(exp), nil
}

// countDelta is a change of an edition's kept delivery counts, by (state,
// class), made in the transaction of the statements that changed the rows
// and applied there: the ledger keeps the counts current without a trigger
// running for each row of a send.
type countDelta map[[2]string]int64

// add counts n rows more (or fewer) in state, with the class of code.
func (d countDelta) add(state string, code int, n int64) {
	if n != 0 {
		d[[2]string{state, answerClass(state, code)}] += n
	}
}

// countsUpsert adds to one of an edition's kept counts.
const countsUpsert = `INSERT INTO delivery_counts (edition_id, state, class, n) VALUES (?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET n = n + excluded.n`

// applyDelta is d.apply with the statement prepared once (the send's
// batches).
func (s *Store) applyDelta(ctx context.Context, tx *sql.Tx, editionID int64, d countDelta) error {
	st, err := s.stmt(ctx, tx, countsUpsert)
	if err != nil {
		return fmt.Errorf("delivery counts: %w", err)
	}
	for k, n := range d {
		if n == 0 {
			continue
		}
		if _, err := st.ExecContext(ctx, editionID, k[0], k[1], n); err != nil {
			return fmt.Errorf("delivery counts: %w", err)
		}
	}
	return nil
}

// apply writes d to the edition's counts inside tx.
func (d countDelta) apply(ctx context.Context, tx *sql.Tx, editionID int64) error {
	for k, n := range d {
		if n == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, countsUpsert, editionID, k[0], k[1], n); err != nil {
			return fmt.Errorf("delivery counts: %w", err)
		}
	}
	return nil
}

// answerClass is how the kept counts class a row: by the relay's answer
// ("4xx", "5xx", or "network" without an SMTP code) for deferred and failed
// rows, "" for the others. The migration's backfill classes rows the same.
func answerClass(state string, code int) string {
	switch {
	case state != StateDeferred && state != StateFailed:
		return ""
	case code >= 400 && code <= 499:
		return "4xx"
	case code >= 500:
		return "5xx"
	}
	return "network"
}

// addCount adds n rows of state (of no answer class) to an edition's kept delivery
// counts, inside the transaction that made them.
func addCount(ctx context.Context, tx *sql.Tx, editionID int64, state string, n int64) error {
	return countDelta{{state, ""}: n}.apply(ctx, tx, editionID)
}
