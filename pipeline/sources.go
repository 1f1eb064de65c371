package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Source is a feed the collector fetches.
type Source struct {
	ID            int64
	URL           string
	Title         string
	Origin        string // "cli" (added with `sources add`) or "env" (NEWSBRIEF_FEEDS)
	ETag          string
	LastModified  string
	LastFetchedAt time.Time
	LastStatus    string // "ok", "not-modified", "error" or "" when never fetched
	LastError     string
	LastNewItems  int       // articles stored (new or updated) by the last fetch
	LastItems     int       // items in the feed at the last fetch
	RetryAfter    time.Time // not fetched again before this (the server's Retry-After)
	Priority      int       // higher first in an edition; 0 by default
	Paused        bool      // kept, but not fetched until resumed
}

// ValidateFeedURL checks that raw is an absolute http or https URL without
// whitespace or control characters.
func ValidateFeedURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if strings.ContainsAny(raw, " \t\r\n") {
		return "", fmt.Errorf("feed url %q: contains white space", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("feed url %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("feed url %q: want an absolute http:// or https:// URL", raw)
	}
	return u.String(), nil
}

// AddSource stores a feed URL. It returns ErrDuplicate if the URL is already
// a source, and a validation error if it is not an absolute http(s) URL.
func (s *Store) AddSource(ctx context.Context, rawURL, origin string) (Source, error) {
	u, err := ValidateFeedURL(rawURL)
	if err != nil {
		return Source{}, err
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO sources (url, origin, created_at) VALUES (?, ?, ?) ON CONFLICT(url) DO NOTHING`,
		u, origin, s.nowMS())
	if err != nil {
		return Source{}, fmt.Errorf("add source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Source{}, fmt.Errorf("add source %s: %w", u, ErrDuplicate)
	}
	id, _ := res.LastInsertId()
	return Source{ID: id, URL: u, Origin: origin}, nil
}

// EnsureSources adds every URL in urls that is not a source yet, with origin
// "env". Existing sources are left as they are.
func (s *Store) EnsureSources(ctx context.Context, urls []string) error {
	for _, raw := range urls {
		if _, err := s.AddSource(ctx, raw, "env"); err != nil && !errors.Is(err, ErrDuplicate) {
			return err
		}
	}
	return nil
}

// RemoveSource deletes a source by ID or URL. Articles already collected from
// it are kept. It returns ErrNotFound when nothing matched.
func (s *Store) RemoveSource(ctx context.Context, idOrURL string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sources WHERE url = ? OR CAST(id AS TEXT) = ?`, idOrURL, idOrURL)
	if err != nil {
		return fmt.Errorf("remove source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove source %q: %w", idOrURL, ErrNotFound)
	}
	return nil
}

// SetPaused pauses a source (kept, not fetched) or resumes it, by ID or
// URL; ErrNotFound when none matches.
func (s *Store) SetPaused(ctx context.Context, idOrURL string, paused bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sources SET paused = ? WHERE url = ? OR CAST(id AS TEXT) = ?`,
		boolInt(paused), idOrURL, idOrURL)
	if err != nil {
		return fmt.Errorf("pause source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("source %q: %w", idOrURL, ErrNotFound)
	}
	return nil
}

// Sources lists every source, oldest first.
func (s *Store) Sources(ctx context.Context) ([]Source, error) {
	return s.querySources(ctx, `ORDER BY id`)
}

// Source finds one source by ID or URL; ErrNotFound when none matches.
func (s *Store) Source(ctx context.Context, idOrURL string) (Source, error) {
	out, err := s.querySources(ctx, `WHERE url = ? OR CAST(id AS TEXT) = ?`, idOrURL, idOrURL)
	if err != nil {
		return Source{}, err
	}
	if len(out) == 0 {
		return Source{}, fmt.Errorf("source %q: %w", idOrURL, ErrNotFound)
	}
	return out[0], nil
}

func (s *Store) querySources(ctx context.Context, where string, args ...any) ([]Source, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, url, title, origin, etag, last_modified,
		last_fetched_at, last_status, last_error, last_new_items, last_items, retry_after_at, priority, paused FROM sources `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		var src Source
		var fetched, retry int64
		var paused int
		if err := rows.Scan(&src.ID, &src.URL, &src.Title, &src.Origin, &src.ETag, &src.LastModified,
			&fetched, &src.LastStatus, &src.LastError, &src.LastNewItems, &src.LastItems, &retry, &src.Priority, &paused); err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		src.Paused = paused == 1
		src.LastFetchedAt, src.RetryAfter = fromMS(fetched), fromMS(retry)
		out = append(out, src)
	}
	return out, rows.Err()
}

// RecordFetch stores the outcome of one fetch of a source: its status,
// error, caching validators and item counts.
func (s *Store) RecordFetch(ctx context.Context, src Source, status string, fetchErr error, items, newItems int) error {
	msg := ""
	if fetchErr != nil {
		msg = fetchErr.Error()
	}
	var retry int64
	if !src.RetryAfter.IsZero() {
		retry = src.RetryAfter.UnixMilli()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE sources SET title = ?, etag = ?, last_modified = ?,
		last_fetched_at = ?, last_status = ?, last_error = ?, last_new_items = ?, last_items = ?, retry_after_at = ? WHERE id = ?`,
		src.Title, src.ETag, src.LastModified, s.nowMS(), status, msg, newItems, items, retry, src.ID)
	if err != nil {
		return fmt.Errorf("record fetch of %s: %w", src.URL, err)
	}
	return nil
}

// Footers returns the footers learned for a source: folded key → text.
func (s *Store) Footers(ctx context.Context, sourceID int64) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, text FROM source_footers WHERE source_id = ?`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("source footers: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, t string
		if err := rows.Scan(&k, &t); err != nil {
			return nil, fmt.Errorf("source footers: %w", err)
		}
		out[k] = t
	}
	return out, rows.Err()
}

// maxFooters bounds the footers kept for one source.
const maxFooters = 50

// AddFooters records footers learned for a source (folded key → text),
// keeping at most maxFooters a source.
func (s *Store) AddFooters(ctx context.Context, sourceID int64, footers map[string]string) error {
	if len(footers) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for k, t := range footers {
			if _, err := tx.ExecContext(ctx, `INSERT INTO source_footers (source_id, key, text, created_at)
				SELECT ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM source_footers WHERE source_id = ?) < ?
				ON CONFLICT DO NOTHING`, sourceID, k, t, s.nowMS(), sourceID, maxFooters); err != nil {
				return fmt.Errorf("add source footer: %w", err)
			}
		}
		return nil
	})
}
