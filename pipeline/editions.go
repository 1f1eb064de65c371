package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/newsbrief/newsbrief/pipeline/deliver"
)

// Edition states.
const (
	EditionSending   = "sending"   // deliveries still pending or deferred
	EditionSent      = "sent"      // every delivery reached a final state
	EditionCancelled = "cancelled" // stopped by an operator
)

// Delivery states, one per ledger row (the engine's, package deliver).
const (
	StatePending  = deliver.StatePending
	StateSending  = deliver.StateSending
	StateSent     = deliver.StateSent
	StateDeferred = deliver.StateDeferred
	StateFailed   = deliver.StateFailed
	StateSkipped  = deliver.StateSkipped
	StateUnknown  = deliver.StateUnknown
)

// States lists every delivery state in display order.
var States = []string{StatePending, StateSending, StateSent, StateDeferred, StateFailed, StateSkipped, StateUnknown}

// Edition is one brief: its articles in order and, once stored, its
// delivery counts by state.
type Edition struct {
	ID         int64
	Subject    string
	Status     string
	CreatedAt  time.Time
	FinishedAt time.Time
	Slot       time.Time // the scheduled time it was made for; zero for none
	Note       string    // the editor's note shown at its top, "" for none
	Articles   []Article
	Counts     map[string]int // delivery state → rows
}

// Failure is a delivery that failed or was deferred, with the server's
// answer; EditionReport is what one send did to one edition. Both are the
// delivery engine's.
type (
	Failure       = deliver.Failure
	EditionReport = deliver.Report
)

// NextArticles returns up to max candidates of the next edition (without
// their bodies): not excluded, in no edition that was sent or is sending,
// and collected since the previous edition was made (pinned articles
// whenever they were collected); those an editor placed first, in their
// order, then pinned, then by source priority, then newest. The placed
// ones come from a small index, the rest from the waiting index in this
// order, walked only as far as max; only Title, Origin, SourceID,
// SourceName, Pinned, Rank, Priority and the times are read of those:
// Fill reads the rest for the ones chosen.
func (s *Store) NextArticles(ctx context.Context, max int) ([]Article, error) {
	var since int64
	if err := s.db.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(created_at), 0) FROM editions WHERE status != 'cancelled'`).Scan(&since); err != nil {
		return nil, fmt.Errorf("next articles: %w", err)
	}
	out, err := s.queryArticles(ctx, `SELECT `+storyColumns+` FROM articles a
		WHERE a.rank IS NOT NULL AND a.waiting = 1 AND a.excluded = 0 ORDER BY a.rank, a.id LIMIT ?`, max)
	if err != nil {
		return nil, fmt.Errorf("next articles: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, COALESCE(source_id, 0), origin, source_name, title, pinned, priority,
		published_at, collected_at FROM articles INDEXED BY articles_next
		WHERE waiting = 1 AND excluded = 0 AND rank IS NULL AND (pinned = 1 OR collected_at > ?)
		ORDER BY pinned DESC, priority DESC, published_at DESC, id DESC LIMIT ?`, since, max-len(out))
	if err != nil {
		return nil, fmt.Errorf("next articles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Article
		var pinned int
		var pub, col int64
		if err := rows.Scan(&a.ID, &a.SourceID, &a.Origin, &a.SourceName, &a.Title, &pinned, &a.Priority, &pub, &col); err != nil {
			return nil, fmt.Errorf("next articles: %w", err)
		}
		a.Pinned, a.PublishedAt, a.CollectedAt = pinned == 1, fromMS(pub), fromMS(col)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("next articles: %w", err)
	}
	return out, nil
}

// fill reads the story columns (not the bodies) of arts and of the
// articles grouped under them, in place.
func (s *Store) fill(ctx context.Context, arts []Article) error {
	var ids []byte
	add := func(id int64) {
		if ids == nil {
			ids = append(ids, '[')
		} else {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, id, 10)
	}
	for _, a := range arts {
		add(a.ID)
		for _, o := range a.Also {
			add(o.ID)
		}
	}
	if ids == nil {
		return nil
	}
	full, err := s.queryArticles(ctx, `SELECT `+storyColumns+` FROM articles a WHERE a.id IN (SELECT value FROM json_each(?))`,
		string(append(ids, ']')))
	if err != nil {
		return fmt.Errorf("read articles: %w", err)
	}
	byID := make(map[int64]Article, len(full))
	for _, a := range full {
		byID[a.ID] = a
	}
	for i := range arts {
		also := arts[i].Also
		if f, ok := byID[arts[i].ID]; ok {
			arts[i] = f
		}
		for j := range also {
			if f, ok := byID[also[j].ID]; ok {
				also[j] = f
			}
		}
		arts[i].Also = also
	}
	return nil
}

// firstEdition reports whether no edition has been made yet (cancelled
// ones do not count).
func (s *Store) firstEdition(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM editions WHERE status != 'cancelled'`).Scan(&n); err != nil {
		return false, fmt.Errorf("editions: %w", err)
	}
	return n == 0, nil
}

// createEdition stores a new edition with its articles, in sending state,
// for slot (zero for none; ErrSlotTaken when the slot has its edition).
// render is called inside the transaction with the edition (its ID set)
// and returns its subject, so an edition is rendered once, with its own
// archive link; an error from render stores nothing.
func (s *Store) createEdition(ctx context.Context, arts []Article, slot time.Time, render func(Edition) (string, error)) (Edition, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	defer tx.Rollback()
	now := s.nowMS()
	var slotMS any
	if !slot.IsZero() {
		slotMS = slot.UnixMilli()
	}
	var note string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM next_edition WHERE key = 'note'`).Scan(&note); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO editions (subject, status, created_at, slot, note) VALUES ('', 'sending', ?, ?, ?)
		ON CONFLICT DO NOTHING`, now, slotMS, note)
	if err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Edition{}, fmt.Errorf("create edition: %w", ErrSlotTaken)
	}
	id, _ := res.LastInsertId()
	for i, a := range arts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO edition_articles (edition_id, article_id, position) VALUES (?, ?, ?)`, id, a.ID, i); err != nil {
			return Edition{}, fmt.Errorf("create edition: %w", err)
		}
		for _, also := range a.Also {
			if _, err := tx.ExecContext(ctx, `INSERT INTO edition_articles (edition_id, article_id, position, also_of) VALUES (?, ?, ?, ?)`,
				id, also.ID, i, a.ID); err != nil {
				return Edition{}, fmt.Errorf("create edition: %w", err)
			}
		}
	}
	ed := Edition{ID: id, Status: EditionSending, CreatedAt: fromMS(now), Slot: slot, Note: note, Articles: arts}
	if ed.Subject, err = render(ed); err != nil {
		return Edition{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE editions SET subject = ? WHERE id = ?`, ed.Subject, id); err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	// placed articles and the subject are set once: the next edition starts afresh
	if _, err := tx.ExecContext(ctx, `DELETE FROM next_edition`); err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE articles SET rank = NULL, waiting = 0
		WHERE id IN (SELECT article_id FROM edition_articles WHERE edition_id = ?)`, id); err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM apart WHERE article_id IN (SELECT article_id FROM edition_articles WHERE edition_id = ?)`, id); err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Edition{}, fmt.Errorf("create edition: %w", err)
	}
	return ed, nil
}

// waitingArticles lists waiting articles (in no edition, cancelled ones
// aside) that were collected after since or are excluded, newest first, at
// most limit, walking the waiting articles' index from the newest.
func (s *Store) waitingArticles(ctx context.Context, since time.Time, limit int) ([]Article, error) {
	out, err := s.queryArticles(ctx, `SELECT `+storyColumns+` FROM articles a INDEXED BY articles_waiting_recent
		WHERE a.waiting = 1 AND (a.excluded = 1 OR a.collected_at > ?)
		ORDER BY a.collected_at DESC LIMIT ?`, since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("waiting articles: %w", err)
	}
	return out, nil
}

// anyArticle reports whether any article was ever collected.
func (s *Store) anyArticle(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM articles)`).Scan(&n); err != nil {
		return false, fmt.Errorf("articles: %w", err)
	}
	return n == 1, nil
}

// Editions lists editions, newest first, with their delivery counts.
func (s *Store) Editions(ctx context.Context, limit int) ([]Edition, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, subject, status, created_at, finished_at, COALESCE(slot, 0) FROM editions ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list editions: %w", err)
	}
	var out []Edition
	for rows.Next() {
		var e Edition
		var c, f, slot int64
		if err := rows.Scan(&e.ID, &e.Subject, &e.Status, &c, &f, &slot); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list editions: %w", err)
		}
		e.CreatedAt, e.FinishedAt = fromMS(c), fromMS(f)
		if slot != 0 {
			e.Slot = fromMS(slot)
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list editions: %w", err)
	}
	for i := range out {
		if out[i].Counts, err = s.DeliveryCounts(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SentEditions lists sent editions newest first, older than before (0 for
// the newest), at most limit, without articles or counts: one range of the
// (status, id) index, whatever the number of editions.
func (s *Store) SentEditions(ctx context.Context, before int64, limit int) ([]Edition, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, subject, status, created_at, finished_at, COALESCE(slot, 0) FROM editions
		WHERE status = 'sent' AND id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("sent editions: %w", err)
	}
	defer rows.Close()
	var out []Edition
	for rows.Next() {
		var e Edition
		var c, f, slot int64
		if err := rows.Scan(&e.ID, &e.Subject, &e.Status, &c, &f, &slot); err != nil {
			return nil, fmt.Errorf("sent editions: %w", err)
		}
		e.CreatedAt, e.FinishedAt = fromMS(c), fromMS(f)
		if slot != 0 {
			e.Slot = fromMS(slot)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Edition returns one edition with its articles and delivery counts, or
// ErrNotFound.
func (s *Store) Edition(ctx context.Context, id int64) (Edition, error) {
	var e Edition
	var c, f, slot int64
	err := s.db.QueryRowContext(ctx, `SELECT id, subject, status, created_at, finished_at, COALESCE(slot, 0), note FROM editions WHERE id = ?`, id).
		Scan(&e.ID, &e.Subject, &e.Status, &c, &f, &slot, &e.Note)
	if slot != 0 {
		e.Slot = fromMS(slot)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("edition %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("edition %d: %w", id, err)
	}
	e.CreatedAt, e.FinishedAt = fromMS(c), fromMS(f)
	e.Articles, err = s.queryArticles(ctx, `SELECT `+storyColumns+` FROM articles a
		JOIN edition_articles ea ON ea.article_id = a.id WHERE ea.edition_id = ? AND ea.also_of IS NULL ORDER BY ea.position`, id)
	if err != nil {
		return e, fmt.Errorf("edition %d articles: %w", id, err)
	}
	also, err := s.queryArticles(ctx, `SELECT `+storyColumns+` FROM articles a
		JOIN edition_articles ea ON ea.article_id = a.id WHERE ea.edition_id = ? AND ea.also_of IS NOT NULL ORDER BY a.id`, id)
	if err != nil {
		return e, fmt.Errorf("edition %d articles: %w", id, err)
	}
	if len(also) > 0 {
		rows, err := s.db.QueryContext(ctx, `SELECT article_id, also_of FROM edition_articles WHERE edition_id = ? AND also_of IS NOT NULL`, id)
		if err != nil {
			return e, fmt.Errorf("edition %d articles: %w", id, err)
		}
		of := map[int64]int64{}
		for rows.Next() {
			var a, o int64
			if err := rows.Scan(&a, &o); err != nil {
				rows.Close()
				return e, fmt.Errorf("edition %d articles: %w", id, err)
			}
			of[a] = o
		}
		rows.Close()
		for _, a := range also {
			for i := range e.Articles {
				if e.Articles[i].ID == of[a.ID] {
					e.Articles[i].Also = append(e.Articles[i].Also, a)
				}
			}
		}
	}
	e.Counts, err = s.DeliveryCounts(ctx, id)
	return e, err
}

// DeliveryCounts reads an edition's kept delivery counts by state.
func (s *Store) DeliveryCounts(ctx context.Context, id int64) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, SUM(n) FROM delivery_counts WHERE edition_id = ? GROUP BY state HAVING SUM(n) != 0`, id)
	if err != nil {
		return nil, fmt.Errorf("delivery counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("delivery counts: %w", err)
		}
		counts[st] = n
	}
	return counts, rows.Err()
}

// Failures lists the failed and deferred deliveries of an edition, grouped
// by code (lowest first), at most limit (0 for all).
func (s *Store) Failures(ctx context.Context, editionID int64, limit int) ([]Failure, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT email, state, code, detail FROM deliveries
		WHERE edition_id = ? AND state IN ('failed', 'deferred', 'unknown') ORDER BY code, state, email LIMIT ?`, editionID, limit)
	if err != nil {
		return nil, fmt.Errorf("failures of edition %d: %w", editionID, err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.Email, &f.State, &f.Code, &f.Detail); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeliveryState returns the ledger state of one (edition, address), or
// ErrNotFound when the address has no row in that edition.
func (s *Store) DeliveryState(ctx context.Context, editionID int64, email string) (Failure, error) {
	var f Failure
	// a pending row inside the claim window is in flight: sending
	err := s.db.QueryRowContext(ctx, `SELECT d.email, CASE WHEN d.state = 'pending' AND d.subscriber_id > e.claimed_from
			AND d.subscriber_id <= e.claimed_upto THEN 'sending' ELSE d.state END, d.code, d.detail
		FROM deliveries d JOIN editions e ON e.id = d.edition_id WHERE d.edition_id = ? AND d.email = ?`,
		editionID, email).Scan(&f.Email, &f.State, &f.Code, &f.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("delivery of edition %d to %s: %w", editionID, email, ErrNotFound)
	}
	return f, err
}

// Stats is a snapshot of the store for monitoring.
type Stats struct {
	Articles        int            // articles stored
	Sources         int            // feeds configured
	SourcesFailing  int            // feeds whose last fetch failed
	Editions        map[string]int // editions by status
	Deliveries      map[string]int // ledger rows by state, all editions
	LastSentID      int64          // the last edition that finished sending (0 none)
	LastSentAt      time.Time      // when the last edition finished sending
	LastSendSeconds float64        // how long the last finished edition took, creation to finish
	// Problems counts deferred and failed rows by state and by the class of
	// the server's answer: "4xx", "5xx" or "network" (no SMTP code).
	Problems map[[2]string]int
}

// Stats returns counts for monitoring; it reads aggregates only.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Editions: map[string]int{}, Deliveries: map[string]int{}}
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM sources),
		(SELECT COUNT(*) FROM sources WHERE last_status = 'error')`).Scan(&st.Articles, &st.Sources, &st.SourcesFailing); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, q := range []struct {
		sql string
		m   map[string]int
	}{
		{`SELECT status, COUNT(*) FROM editions GROUP BY status`, st.Editions},
		{`SELECT state, SUM(n) FROM delivery_counts GROUP BY state HAVING SUM(n) != 0`, st.Deliveries},
	} {
		rows, err := s.db.QueryContext(ctx, q.sql)
		if err != nil {
			return st, fmt.Errorf("stats: %w", err)
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return st, fmt.Errorf("stats: %w", err)
			}
			q.m[k] = n
		}
		rows.Close()
	}
	var created, finished int64
	err := s.db.QueryRowContext(ctx, `SELECT id, created_at, finished_at FROM editions WHERE status = 'sent'
		ORDER BY finished_at DESC LIMIT 1`).Scan(&st.LastSentID, &created, &finished)
	if err == nil {
		st.LastSentAt = fromMS(finished)
		st.LastSendSeconds = float64(finished-created) / 1000
	} else if !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("stats: %w", err)
	}
	st.Problems = map[[2]string]int{}
	rows, err := s.db.QueryContext(ctx, `SELECT state, class, SUM(n) FROM delivery_counts
		WHERE state IN ('deferred', 'failed') GROUP BY 1, 2 HAVING SUM(n) != 0`)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, class string
		var n int
		if err := rows.Scan(&state, &class, &n); err != nil {
			return st, fmt.Errorf("stats: %w", err)
		}
		st.Problems[[2]string{state, class}] = n
	}
	return st, rows.Err()
}

// EditionForSlot returns the ID of the edition made for a scheduled slot,
// or 0 when there is none.
func (s *Store) EditionForSlot(ctx context.Context, slot time.Time) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM editions WHERE slot = ?`, slot.UnixMilli()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("edition for slot: %w", err)
	}
	return id, nil
}

// Heartbeat records that the daemon is up at t.
func (s *Store) Heartbeat(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO daemon_state (key, value) VALUES ('heartbeat', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, t.UnixMilli())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// LastHeartbeat is the daemon's last recorded sign of life; zero when it
// never ran on this database.
func (s *Store) LastHeartbeat(ctx context.Context) (time.Time, error) {
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM daemon_state WHERE key = 'heartbeat'`).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("heartbeat: %w", err)
	}
	return fromMS(ms), nil
}

// maxSubject is the longest subject an editor may set, in bytes.
const maxSubject = 300

// SetNextSubject sets the subject of the next edition; "" goes back to the
// template's. Line breaks are refused: a subject becomes a header.
func (s *Store) SetNextSubject(ctx context.Context, subject string) error {
	subject = strings.TrimSpace(subject)
	if strings.ContainsAny(subject, "\r\n") || len(subject) > maxSubject || !utf8.ValidString(subject) {
		return fmt.Errorf("%w: a subject is one line of at most %d bytes of text", ErrBadInput, maxSubject)
	}
	return s.setNext(ctx, "subject", subject)
}

// setNext keeps value under key in next_edition ("" removes it) until the
// next edition is made.
func (s *Store) setNext(ctx context.Context, key, value string) error {
	var err error
	if value == "" {
		_, err = s.db.ExecContext(ctx, `DELETE FROM next_edition WHERE key = ?`, key)
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO next_edition (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	}
	if err != nil {
		return fmt.Errorf("set next %s: %w", key, err)
	}
	return nil
}

// next reads key of next_edition, "" when unset.
func (s *Store) next(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM next_edition WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("next %s: %w", key, err)
	}
	return v, nil
}

// MaxNote is the longest editor's note, in characters.
const MaxNote = 2000

// SetNextNote sets the editor's note of the next edition ("" for none):
// plain text, paragraphs separated by blank lines, at most MaxNote
// characters, no control characters but line breaks and tabs.
func (s *Store) SetNextNote(ctx context.Context, note string) error {
	note = strings.TrimSpace(strings.ReplaceAll(note, "\r\n", "\n"))
	bad := strings.ContainsFunc(note, func(r rune) bool { return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) })
	if bad || utf8.RuneCountInString(note) > MaxNote || !utf8.ValidString(note) {
		return fmt.Errorf("%w: a note is plain text of at most %d characters", ErrBadInput, MaxNote)
	}
	return s.setNext(ctx, "note", note)
}

// NextNote is the editor's note of the next edition, or "".
func (s *Store) NextNote(ctx context.Context) (string, error) { return s.next(ctx, "note") }

// NextSubject is the subject an editor set for the next edition, or "".
func (s *Store) NextSubject(ctx context.Context) (string, error) { return s.next(ctx, "subject") }

// SkipSlot marks a scheduled slot skipped: no edition is made for it.
func (s *Store) SkipSlot(ctx context.Context, slot time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO skipped_slots (slot, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		slot.UnixMilli(), s.nowMS()); err != nil {
		return fmt.Errorf("skip slot: %w", err)
	}
	return nil
}

// UnskipSlot undoes SkipSlot; ErrNotFound when the slot was not skipped.
func (s *Store) UnskipSlot(ctx context.Context, slot time.Time) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM skipped_slots WHERE slot = ?`, slot.UnixMilli())
	if err != nil {
		return fmt.Errorf("unskip slot: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("slot %s is not skipped: %w", slot.Format(time.RFC3339), ErrNotFound)
	}
	return nil
}

// SlotSkipped reports whether an editor skipped slot.
func (s *Store) SlotSkipped(ctx context.Context, slot time.Time) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM skipped_slots WHERE slot = ?)`, slot.UnixMilli()).Scan(&n); err != nil {
		return false, fmt.Errorf("skipped slot: %w", err)
	}
	return n == 1, nil
}

// Received is one edition as one subscriber got it: its ledger row.
type Received struct {
	EditionID int64
	Subject   string
	CreatedAt time.Time
	State     string // the delivery's state: sent, failed, skipped, …
	Code      int    // the server's last answer, 0 for none
	Detail    string
	UpdatedAt time.Time
}

// SentTo returns the newest editions (at most limit) that were for the
// subscriber with id, newest first. It walks the editions and looks each
// one's ledger row up by its key, so it reads about limit rows per
// hundred editions whatever the list's size.
func (s *Store) SentTo(ctx context.Context, subscriberID int64, limit int) ([]Received, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.id, e.subject, e.created_at, d.state, d.code, d.detail, d.updated_at
		FROM editions e CROSS JOIN deliveries d ON d.edition_id = e.id AND d.subscriber_id = ?
		ORDER BY e.id DESC LIMIT ?`, subscriberID, limit)
	if err != nil {
		return nil, fmt.Errorf("editions sent to %d: %w", subscriberID, err)
	}
	defer rows.Close()
	var out []Received
	for rows.Next() {
		var r Received
		var c, u int64
		if err := rows.Scan(&r.EditionID, &r.Subject, &c, &r.State, &r.Code, &r.Detail, &u); err != nil {
			return nil, fmt.Errorf("editions sent to %d: %w", subscriberID, err)
		}
		r.CreatedAt, r.UpdatedAt = fromMS(c), fromMS(u)
		out = append(out, r)
	}
	return out, rows.Err()
}

// apart returns the articles split out of groups (see Editions.Split).
func (s *Store) apart(ctx context.Context) (map[int64]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT article_id FROM apart`)
	if err != nil {
		return nil, fmt.Errorf("split articles: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("split articles: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// setApart marks articles never to be grouped.
func (s *Store) setApart(ctx context.Context, ids []int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO apart (article_id) VALUES (?) ON CONFLICT DO NOTHING`, id); err != nil {
				return fmt.Errorf("split group: %w", err)
			}
		}
		return nil
	})
}
