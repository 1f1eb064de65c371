package pipeline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Article is one cleaned story, ready to be selected into an edition.
type Article struct {
	ID         int64
	SourceID   int64  // 0 for files and editors' articles
	Origin     string // "feed", "file" or "editor"
	SourceName string // the feed's title, or "articles folder", or "editor"
	GUID       string
	URL        string
	Title      string
	Author     string
	Summary    string // plain text lead, at most summaryMax runes
	ImageURL   string // lead image, absolute http(s), or ""
	ImageWidth int    // the lead image's declared width in pixels, 0 when unknown
	// AudioURL is a podcast episode's audio (absolute http(s)), with its
	// MIME type and duration (0 when unknown); "" for none.
	AudioURL     string
	AudioType    string
	AudioSeconds int
	HTML         string // sanitized HTML body
	Text         string // plain-text body
	PublishedAt  time.Time
	CollectedAt  time.Time
	Pinned       bool
	Excluded     bool
	FilePath     string // article files: path relative to the articles folder
	FileHash     string
	Tags         []string // lower case: feed categories, front matter tags
	Rank         int      // the editor's position in the next edition (1 first), 0 when unset
	Priority     int      // its source's priority (read only)
	// Also are the same story from other sources, grouped under this one
	// in an edition ("also reported by").
	Also []Article
}

// canonicalURL is the key two articles share when they link to the same page.
func canonicalURL(raw string) string {
	c := CleanURL(raw)
	u, err := url.Parse(c)
	if err != nil || u.Host == "" {
		return ""
	}
	u.Scheme = "https"
	u.Host = strings.TrimPrefix(strings.ToLower(u.Host), "www.")
	u.Path = strings.TrimSuffix(u.Path, "/")
	if u.RawQuery != "" {
		// sort parameters so that order does not matter
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(strings.Join(q[k], ",")))
		}
		u.RawQuery = b.String()
	}
	return u.String()
}

// contentHash identifies an article by its words, whatever its markup.
func contentHash(title, text string) string {
	norm := strings.Join(strings.Fields(strings.ToLower(title+"\n"+text)), " ")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// SaveArticle inserts a unless it duplicates a stored article by GUID, then
// canonical URL, then content hash, in which case it returns false. An
// article file already stored under the same path is updated when its
// content changed, and skipped otherwise.
func (s *Store) SaveArticle(ctx context.Context, a *Article) (bool, error) {
	if strings.TrimSpace(a.Title) == "" {
		return false, errors.New("article has no title")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("save article: %w", err)
	}
	defer tx.Rollback()
	urlKey := canonicalURL(a.URL)
	hash := contentHash(a.Title, a.Text)
	now := s.nowMS()
	if a.CollectedAt.IsZero() {
		a.CollectedAt = fromMS(now)
	}
	if a.PublishedAt.IsZero() {
		a.PublishedAt = a.CollectedAt
	}

	if a.FilePath != "" {
		var id int64
		var fileHash string
		err := tx.QueryRowContext(ctx, `SELECT id, file_hash FROM articles WHERE file_path = ?`, a.FilePath).Scan(&id, &fileHash)
		switch {
		case err == nil && fileHash == a.FileHash:
			return false, nil
		case err == nil:
			// an edited file updates its article
			if _, err := tx.ExecContext(ctx, `UPDATE articles SET title = ?, url = ?, url_key = ?, content_hash = ?,
				file_hash = ?, author = ?, summary = ?, html = ?, text = ?, published_at = ?, tags = ? WHERE id = ?`,
				a.Title, a.URL, nullString(urlKey), hash, a.FileHash, a.Author, a.Summary,
				a.HTML, a.Text, a.PublishedAt.UnixMilli(), joinTags(a.Tags), id); err != nil {
				return false, fmt.Errorf("update article from %s: %w", a.FilePath, err)
			}
			a.ID = id
			return true, tx.Commit()
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("save article: %w", err)
		}
	}

	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM articles WHERE guid = ?) +
		(SELECT COUNT(*) FROM articles WHERE url_key = ?) +
		(SELECT COUNT(*) FROM articles WHERE content_hash = ?)`,
		nullString(a.GUID), nullString(urlKey), hash).Scan(&exists); err != nil {
		return false, fmt.Errorf("save article: %w", err)
	}
	if exists > 0 {
		return false, nil
	}
	var srcID any
	if a.SourceID != 0 {
		srcID = a.SourceID
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO articles (source_id, origin, source_name, guid, url, url_key,
		content_hash, file_path, file_hash, title, author, summary, image_url, html, text, published_at, collected_at, pinned, tags,
		image_width, audio_url, audio_type, audio_seconds)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		srcID, a.Origin, a.SourceName, nullString(a.GUID), a.URL, nullString(urlKey), hash,
		nullString(a.FilePath), nullString(a.FileHash), a.Title, a.Author, a.Summary, a.ImageURL, a.HTML, a.Text,
		a.PublishedAt.UnixMilli(), a.CollectedAt.UnixMilli(), boolInt(a.Pinned), joinTags(a.Tags),
		a.ImageWidth, a.AudioURL, a.AudioType, a.AudioSeconds)
	if err != nil {
		return false, fmt.Errorf("save article %q: %w", a.Title, err)
	}
	a.ID, _ = res.LastInsertId()
	return true, tx.Commit()
}

const articleColumns = `a.id, COALESCE(a.source_id, 0), a.origin, a.source_name, COALESCE(a.guid, ''), a.url, a.title, a.author,
	a.summary, a.image_url, a.html, a.text, a.published_at, a.collected_at, a.pinned, a.excluded, COALESCE(a.file_path, ''),
	COALESCE(a.file_hash, ''), a.tags, COALESCE(a.rank, 0),
	a.priority, a.image_width, a.audio_url, a.audio_type, a.audio_seconds`

// storyColumns are articleColumns without the bodies (HTML and Text come
// back empty): what selection, the desk and rendering read, so that a
// backlog of long articles is never loaded to choose among them.
const storyColumns = `a.id, COALESCE(a.source_id, 0), a.origin, a.source_name, COALESCE(a.guid, ''), a.url, a.title, a.author,
	a.summary, a.image_url, '', '', a.published_at, a.collected_at, a.pinned, a.excluded, COALESCE(a.file_path, ''),
	COALESCE(a.file_hash, ''), a.tags, COALESCE(a.rank, 0),
	a.priority, a.image_width, a.audio_url, a.audio_type, a.audio_seconds`

func scanArticle(row interface{ Scan(...any) error }) (Article, error) {
	var a Article
	var pub, col int64
	var pinned, excluded int
	var tags string
	err := row.Scan(&a.ID, &a.SourceID, &a.Origin, &a.SourceName, &a.GUID, &a.URL, &a.Title, &a.Author,
		&a.Summary, &a.ImageURL, &a.HTML, &a.Text, &pub, &col, &pinned, &excluded, &a.FilePath, &a.FileHash,
		&tags, &a.Rank, &a.Priority, &a.ImageWidth, &a.AudioURL, &a.AudioType, &a.AudioSeconds)
	a.Tags = splitTags(tags)
	a.PublishedAt, a.CollectedAt = fromMS(pub), fromMS(col)
	a.Pinned, a.Excluded = pinned == 1, excluded == 1
	return a, err
}

func (s *Store) queryArticles(ctx context.Context, query string, args ...any) ([]Article, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Article
	for rows.Next() {
		a, err := scanArticle(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Articles lists the most recently collected articles, newest first, at
// most limit of them (0 for all).
func (s *Store) Articles(ctx context.Context, limit int) ([]Article, error) {
	if limit <= 0 {
		limit = -1
	}
	out, err := s.queryArticles(ctx, `SELECT `+articleColumns+` FROM articles a ORDER BY a.collected_at DESC, a.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list articles: %w", err)
	}
	return out, nil
}

// SetPinned pins (or unpins) an article: pinned articles lead the next
// edition and are selected whenever they were collected. It returns
// ErrNotFound for an unknown ID.
func (s *Store) SetPinned(ctx context.Context, id int64, pinned bool) error {
	return s.setFlag(ctx, id, "pinned", pinned)
}

// SetExcluded excludes (or re-includes) an article from every future
// edition. It returns ErrNotFound for an unknown ID.
func (s *Store) SetExcluded(ctx context.Context, id int64, excluded bool) error {
	return s.setFlag(ctx, id, "excluded", excluded)
}

func (s *Store) setFlag(ctx context.Context, id int64, column string, v bool) error {
	// column is one of two constants above, never input
	res, err := s.db.ExecContext(ctx, `UPDATE articles SET `+column+` = ? WHERE id = ?`, boolInt(v), id)
	if err != nil {
		return fmt.Errorf("set %s on article %d: %w", column, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("article %d: %w", id, ErrNotFound)
	}
	return nil
}

// joinTags stores tags: trimmed, lower case, without commas or repeats.
func joinTags(tags []string) string {
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(t, ",", " ")), " "))
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return strings.Join(out, ",")
}

func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// MoveArticle sets an article's position in the next edition (1 first);
// 0 clears it. Articles the editor placed come first, in their order.
func (s *Store) MoveArticle(ctx context.Context, id int64, position int) error {
	var rank any
	if position > 0 {
		rank = position
	}
	res, err := s.db.ExecContext(ctx, `UPDATE articles SET rank = ? WHERE id = ?`, rank, id)
	if err != nil {
		return fmt.Errorf("move article: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("article %d: %w", id, ErrNotFound)
	}
	return nil
}

// placeArticles places ids at positions 1, 2, … of the next edition, in
// one transaction. ErrNotFound when one of them is unknown.
func (s *Store) placeArticles(ctx context.Context, ids []int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for i, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE articles SET rank = ? WHERE id = ?`, i+1, id)
			if err != nil {
				return fmt.Errorf("place articles: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("article %d: %w", id, ErrNotFound)
			}
		}
		return nil
	})
}

// AddArticle stores an article an editor gives (by file, form or API) with
// origin "editor". It returns ErrDuplicate when it is already stored.
func (s *Store) AddArticle(ctx context.Context, a Article) (Article, error) {
	a.Origin, a.SourceName, a.FilePath, a.SourceID = "editor", "editor", "", 0
	a.FileHash = ""
	stored, err := s.SaveArticle(ctx, &a)
	if err != nil {
		return a, err
	}
	if !stored {
		return a, fmt.Errorf("article %q: %w", a.Title, ErrDuplicate)
	}
	return a, nil
}

// Article returns one article with its bodies, or ErrNotFound.
func (s *Store) Article(ctx context.Context, id int64) (Article, error) {
	arts, err := s.queryArticles(ctx, `SELECT `+articleColumns+` FROM articles a WHERE a.id = ?`, id)
	if err != nil {
		return Article{}, fmt.Errorf("article %d: %w", id, err)
	}
	if len(arts) == 0 {
		return Article{}, fmt.Errorf("article %d: %w", id, ErrNotFound)
	}
	return arts[0], nil
}
