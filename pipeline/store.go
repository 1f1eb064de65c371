package pipeline

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Sentinel errors returned by the store; test for them with errors.Is.
var (
	// ErrNotFound is returned when a source, article or edition does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate is returned when an article or source already exists.
	ErrDuplicate = errors.New("already exists")
	// ErrNothingNew is returned by Send when no article is waiting for an edition.
	ErrNothingNew = errors.New("nothing new to send")
	// ErrBadInput is returned for a value an editor gave that cannot be used.
	ErrBadInput = errors.New("bad input")
)

// Store keeps sources, articles, editions and the delivery ledger in the
// SQLite database it is given. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	now   func() time.Time
	stmts sync.Map // query → *sql.Stmt: the delivery ledger's statements, prepared once
}

// stmt is query prepared once on the database and bound to tx: the
// statements a send runs per batch are not prepared again per batch.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	v, ok := s.stmts.Load(query)
	if !ok {
		st, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		if v, ok = s.stmts.LoadOrStore(query, st); ok {
			st.Close()
		} else {
			v = st
		}
	}
	return tx.StmtContext(ctx, v.(*sql.Stmt)), nil
}

// OpenStore applies the pipeline's migrations to db and returns a Store.
// now may be nil for the wall clock.
func OpenStore(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "pipeline", migrations, "migrations"); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}, nil
}

func (s *Store) nowMS() int64 { return s.now().UnixMilli() }

// Now is the store's clock (the wall clock unless OpenStore was given one).
func (s *Store) Now() time.Time { return s.now() }

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
