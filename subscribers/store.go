// Package subscribers keeps the people an edition goes to.
//
// Addresses flow in from the public forms (double opt-in), CSV imports, the
// CLI and relay bounce reports; they are validated and normalised, and
// stored with their status and consent record. The pipeline reads the
// active ones page by page when it sends and reports bounces back; signed
// tokens in every message let a subscriber confirm or unsubscribe. The
// package holds no HTTP handler: package web serves the forms and links
// and calls the store; Audience is the store as the pipeline's subscriber
// source.
package subscribers

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Subscriber statuses.
const (
	Active       = "active"
	Unsubscribed = "unsubscribed"
	Bounced      = "bounced"    // the relay said the mailbox does not exist (or kept refusing it)
	Complained   = "complained" // the recipient reported a message as spam
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotFound     = errors.New("subscriber not found")
	ErrExists       = errors.New("subscriber already exists")
	ErrInvalidEmail = errors.New("invalid e-mail address")
)

// Subscriber is one person on the list.
type Subscriber struct {
	ID             int64
	Email          string
	Name           string
	Status         string
	Consent        string
	Via            string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	UnsubscribedAt time.Time
	Attributes     string    // JSON object of extra import columns, "{}" when none
	ConsentAt      time.Time // when they agreed (confirmed, for double opt-in)
	ConsentIP      string
	ConsentUA      string
	Bounces        int       // soft bounces counted
	BouncedAt      time.Time // when the status became bounced
	LastBounce     string    // code and text of the last bounce
}

// Store keeps subscribers in SQLite. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time

	keyMu  sync.Mutex
	supKey []byte // the suppression hashes' key, once loaded
}

// Open applies the package's migrations to db and returns a Store; now may
// be nil for the wall clock.
func Open(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "subscribers", migrations, "migrations"); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}, nil
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Add stores a new active subscriber. It returns ErrInvalidEmail (wrapped,
// with the reason) for a bad address and ErrExists when the address, in any
// letter case, is already on the list.
func (s *Store) Add(ctx context.Context, email, name, consent, via string) (Subscriber, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return Subscriber{}, err
	}
	name, err = CleanName(name)
	if err != nil {
		return Subscriber{}, err
	}
	if sup, err := s.suppressed(ctx, s.db, addr); err != nil {
		return Subscriber{}, err
	} else if sup {
		return Subscriber{}, fmt.Errorf("add %s: %w", addr, ErrSuppressed)
	}
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, consent, via, consent_at, created_at, updated_at)
		VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?) ON CONFLICT(email_key) DO NOTHING`,
		addr, strings.ToLower(addr), name, consent, via, now, now, now)
	if err != nil {
		return Subscriber{}, fmt.Errorf("add subscriber: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Subscriber{}, fmt.Errorf("add %s: %w", addr, ErrExists)
	}
	id, _ := res.LastInsertId()
	return Subscriber{ID: id, Email: addr, Name: name, Status: Active, Consent: consent, Via: via,
		CreatedAt: fromMS(now), UpdatedAt: fromMS(now)}, nil
}

const columns = `id, email, name, status, consent, via, created_at, updated_at, unsubscribed_at, bounces, bounced_at, last_bounce,
	consent_at, consent_ip, consent_ua, attributes`

func scan(row interface{ Scan(...any) error }) (Subscriber, error) {
	var sub Subscriber
	var c, u, un, b, ca int64
	err := row.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Status, &sub.Consent, &sub.Via, &c, &u, &un,
		&sub.Bounces, &b, &sub.LastBounce, &ca, &sub.ConsentIP, &sub.ConsentUA, &sub.Attributes)
	sub.CreatedAt, sub.UpdatedAt, sub.UnsubscribedAt, sub.BouncedAt = fromMS(c), fromMS(u), fromMS(un), fromMS(b)
	sub.ConsentAt = fromMS(ca)
	return sub, err
}

// Get returns a subscriber by ID, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Subscriber, error) {
	sub, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM subscribers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("subscriber %d: %w", id, ErrNotFound)
	}
	return sub, err
}

// GetByEmail returns a subscriber by address (any letter case), or ErrNotFound.
func (s *Store) GetByEmail(ctx context.Context, email string) (Subscriber, error) {
	key := strings.ToLower(strings.TrimSpace(email))
	sub, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM subscribers WHERE email_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("subscriber %s: %w", email, ErrNotFound)
	}
	return sub, err
}

// List returns subscribers with an ID greater than afterID, in ID order, at
// most limit; status "" means any status.
func (s *Store) List(ctx context.Context, status string, afterID int64, limit int) ([]Subscriber, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM subscribers
		WHERE id > ? AND (? = '' OR status = ?) ORDER BY id LIMIT ?`, afterID, status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	defer rows.Close()
	var out []Subscriber
	for rows.Next() {
		sub, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscribers: %w", err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// activeRecipients is List of the active subscribers for a send: only
// the three columns a message needs, not the whole record.
func (s *Store) activeRecipients(ctx context.Context, afterID int64, limit int) ([]brief.Recipient, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, email, name FROM subscribers
		WHERE id > ? AND status = 'active' ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list active subscribers: %w", err)
	}
	defer rows.Close()
	out := make([]brief.Recipient, 0, limit)
	for rows.Next() {
		var r brief.Recipient
		if err := rows.Scan(&r.ID, &r.Email, &r.Name); err != nil {
			return nil, fmt.Errorf("list active subscribers: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Statuses lists every subscriber status.
var Statuses = []string{Pending, Active, Unsubscribed, Bounced, Complained}

// Each calls fn for every subscriber with the given status ("" for any), in
// ID order, reading pages of 1,000 so memory stays flat; it stops at fn's
// first error and returns it.
func (s *Store) Each(ctx context.Context, status string, fn func(Subscriber) error) error {
	var after int64
	for {
		page, err := s.List(ctx, status, after, 1000)
		if err != nil {
			return err
		}
		for _, sub := range page {
			if err := fn(sub); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// Inactive reports which of ids are not active subscribers (unsubscribed or
// removed).
func (s *Store) Inactive(ctx context.Context, ids []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
		out[id] = true
	}
	q := `SELECT id FROM subscribers WHERE status = 'active' AND id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("check subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		delete(out, id)
	}
	return out, rows.Err()
}

// Unsubscribe marks a subscriber unsubscribed. Unsubscribing twice is not an
// error. It returns ErrNotFound for an unknown ID.
func (s *Store) Unsubscribe(ctx context.Context, id int64) error {
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET
		unsubscribed_at = CASE WHEN status = 'unsubscribed' THEN unsubscribed_at ELSE ? END,
		status = 'unsubscribed', updated_at = ? WHERE id = ?`, now, now, id)
	if err != nil {
		return fmt.Errorf("unsubscribe %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("unsubscribe %d: %w", id, ErrNotFound)
	}
	return nil
}

// Remove deletes a subscriber by address. It returns ErrNotFound when the
// address is not on the list.
func (s *Store) Remove(ctx context.Context, email string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM subscribers WHERE email_key = ?`, strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return fmt.Errorf("remove %s: %w", email, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove %s: %w", email, ErrNotFound)
	}
	return nil
}

// RecordBounce records a permanent delivery failure of a subscriber's
// message. A hard bounce (the mailbox does not exist) marks the address
// bounced at once; a soft one counts, and the address is marked bounced
// when softLimit soft bounces have been counted (0 never). A bounced address
// is never mailed and is not re-activated by an import. It returns whether
// the address is now bounced, and ErrNotFound for an unknown ID.
func (s *Store) RecordBounce(ctx context.Context, id int64, detail string, hard bool, softLimit int) (bool, error) {
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, bounceSQL, hard, truncate(detail, 500), now, softLimit, id)
	if err != nil {
		return false, fmt.Errorf("record bounce of %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, fmt.Errorf("record bounce of %d: %w", id, ErrNotFound)
	}
	var st string
	if err := s.db.QueryRowContext(ctx, `SELECT status FROM subscribers WHERE id = ?`, id).Scan(&st); err != nil {
		return false, fmt.Errorf("record bounce of %d: %w", id, err)
	}
	return st == Bounced, nil
}

// bounceSQL counts a bounce of subscriber ?5 (hard ?1, detail ?2, time
// ?3, soft limit ?4): a hard one bounces an active address at once, a
// soft one when it is the ?4th.
const bounceSQL = `UPDATE subscribers SET
	bounces = bounces + CASE WHEN ?1 THEN 0 ELSE 1 END,
	last_bounce = ?2, updated_at = ?3,
	status = CASE WHEN status = 'active' AND (?1 OR (?4 > 0 AND bounces + 1 >= ?4)) THEN 'bounced' ELSE status END,
	bounced_at = CASE WHEN status = 'active' AND (?1 OR (?4 > 0 AND bounces + 1 >= ?4)) THEN ?3 ELSE bounced_at END
	WHERE id = ?5`

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Count returns how many subscribers have status, from the counts kept
// by the table's triggers (one row read, whatever the list's size).
func (s *Store) Count(ctx context.Context, status string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT n FROM subscriber_counts WHERE status = ?`, status).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count subscribers: %w", err)
	}
	return n, nil
}

// Search lists subscribers a page at a time, reading through an index
// whatever the list's size: with q, first those whose address starts with
// q (any letter case) in address order, then those whose name starts with
// q (ASCII letter case) in name order; without q, in ID order; status ""
// for any. after is the cursor of the previous page ("" for the first);
// it returns the page and the cursor of the next one ("" at the end).
func (s *Store) Search(ctx context.Context, q, status, after string, limit int) ([]Subscriber, string, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q = strings.TrimSpace(q)
	if q == "" {
		var id int64
		if after != "" {
			var err error
			if id, err = strconv.ParseInt(after, 10, 64); err != nil {
				return nil, "", fmt.Errorf("%w: cursor %q", ErrBadCursor, after)
			}
		}
		query, args := `SELECT `+columns+`, '' FROM subscribers WHERE id > ?`, []any{id}
		return s.searchPage(ctx, query, args, status, ` ORDER BY id`, limit, func(sub Subscriber, _ string) string {
			return strconv.FormatInt(sub.ID, 10)
		})
	}
	addr := strings.ToLower(q)
	if !strings.HasPrefix(after, nameCursor) {
		// the addresses that start with q
		query := `SELECT ` + columns + `, email_key FROM subscribers WHERE email_key >= ? AND email_key < ? AND email_key > ?`
		page, next, err := s.searchPage(ctx, query, []any{addr, addr + "\xff", after}, status, ` ORDER BY email_key`, limit,
			func(_ Subscriber, key string) string { return key })
		if err != nil || next != "" || len(page) == limit {
			if next == "" && len(page) == limit {
				next = nameCursor // the names may follow
			}
			return page, next, err
		}
		more, next, err := s.searchNames(ctx, q, addr, status, nameCursor, limit-len(page))
		return append(page, more...), next, err
	}
	return s.searchNames(ctx, q, addr, status, after, limit)
}

// nameCursor starts the cursors of Search's second part, the names (no
// address can start with it: a colon is not allowed unquoted).
const nameCursor = "name:"

// searchNames is Search's second part: the subscribers whose name starts
// with q and whose address does not (those came first), keyed on (name, ID).
func (s *Store) searchNames(ctx context.Context, q, addr, status, after string, limit int) ([]Subscriber, string, error) {
	var afterName string
	var afterID int64
	if rest := strings.TrimPrefix(after, nameCursor); rest != "" {
		id, name, ok := strings.Cut(rest, ":")
		var err error
		if afterID, err = strconv.ParseInt(id, 10, 64); !ok || err != nil {
			return nil, "", fmt.Errorf("%w: cursor %q", ErrBadCursor, after)
		}
		afterName = name
	}
	name := asciiLower(q)
	query := `SELECT ` + columns + `, lower(name) FROM subscribers WHERE name != '' AND lower(name) >= ? AND lower(name) < ?
		AND (lower(name), id) > (?, ?) AND NOT (email_key >= ? AND email_key < ?)`
	args := []any{name, name + "\xff", afterName, afterID, addr, addr + "\xff"}
	return s.searchPage(ctx, query, args, status, ` ORDER BY lower(name), id`, limit, func(sub Subscriber, key string) string {
		return nameCursor + strconv.FormatInt(sub.ID, 10) + ":" + key
	})
}

// asciiLower folds ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// searchPage runs one of Search's queries (its last column the key that
// cursor makes the next page's cursor of) with the status filter and the
// order, and returns at most limit rows and the next cursor ("" when no
// row follows).
func (s *Store) searchPage(ctx context.Context, query string, args []any, status, order string, limit int,
	cursor func(Subscriber, string) string) ([]Subscriber, string, error) {
	if status != "" {
		query += ` AND status = ?`
		args = append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, query+order+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("search subscribers: %w", err)
	}
	defer rows.Close()
	var out []Subscriber
	var keys []string
	for rows.Next() {
		var sub Subscriber
		var c, u, un, b, ca int64
		var key string
		if err := rows.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Status, &sub.Consent, &sub.Via, &c, &u, &un,
			&sub.Bounces, &b, &sub.LastBounce, &ca, &sub.ConsentIP, &sub.ConsentUA, &sub.Attributes, &key); err != nil {
			return nil, "", fmt.Errorf("search subscribers: %w", err)
		}
		sub.CreatedAt, sub.UpdatedAt, sub.UnsubscribedAt, sub.BouncedAt = fromMS(c), fromMS(u), fromMS(un), fromMS(b)
		sub.ConsentAt = fromMS(ca)
		out, keys = append(out, sub), append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search subscribers: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	return out[:limit], cursor(out[limit-1], keys[limit-1]), nil
}

// ErrBadCursor is returned by Search for a cursor it did not make.
var ErrBadCursor = errors.New("bad page cursor")

// SetName changes a subscriber's name (cleaned like every name; "" clears
// it). ErrNotFound for an unknown ID.
func (s *Store) SetName(ctx context.Context, id int64, name string) error {
	name, err := CleanName(name)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?`, name, s.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("rename subscriber: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("subscriber %d: %w", id, ErrNotFound)
	}
	return nil
}
