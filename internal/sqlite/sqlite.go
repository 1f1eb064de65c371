// Package sqlite opens the one SQLite database newsbrief keeps and applies the
// numbered migrations that each owning package embeds.
//
// Connections, not SQL, flow through here: every package that owns tables
// (pipeline, subscribers) receives the *sql.DB opened by Open and calls
// Migrate with its own embedded files under its own component name, so no
// package needs to know another one's schema.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrNotWAL is returned by Open when SQLite refused to switch the database
// into write-ahead-log mode (for example on a file system without shared
// memory support).
var ErrNotWAL = errors.New("sqlite: journal mode is not WAL")

// Open opens (creating if needed) the SQLite database file at path with the
// pragmas newsbrief relies on set in the DSN, so that every pooled connection
// has them: a busy timeout, WAL journaling, foreign keys and immediate write
// transactions. It checks that WAL really took effect.
func Open(ctx context.Context, file string) (*sql.DB, error) {
	if file == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	dsn := "file:" + file + "?" + q.Encode()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("open %s: %w (got %q)", file, ErrNotWAL, mode)
	}
	return db, nil
}

// Migrate applies, in numeric order, every "NNN_name.sql" file in dir of fsys
// that has not yet been recorded for component, each in its own transaction
// together with its record in the schema_migrations table. A file whose name
// does not start with a number is an error, so a misnamed migration is found
// at start-up rather than silently skipped.
func Migrate(ctx context.Context, db *sql.DB, component string, fsys fs.FS, dir string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  TEXT NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL,
		PRIMARY KEY (component, version)
	)`); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migrate %s: file %q does not start with a version number", component, e.Name())
		}
		ms = append(ms, migration{v, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return fmt.Errorf("migrate %s: two migrations numbered %d", component, ms[i].version)
		}
	}
	for _, m := range ms {
		body, err := fs.ReadFile(fsys, path.Join(dir, m.name))
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		if err := apply(ctx, db, component, m.version, m.name, string(body)); err != nil {
			return fmt.Errorf("migrate %s %s: %w", component, m.name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, component string, version int, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`,
		component, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		component, version, name, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	return tx.Commit()
}
