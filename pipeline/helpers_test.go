package pipeline

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/internal/testclock"
)

// newStore opens a Store on a fresh SQLite file in t.TempDir().
func newStore(t testing.TB) (*Store, *testclock.Clock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := testclock.New(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC))
	s, err := OpenStore(context.Background(), db, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func mustSave(t testing.TB, s *Store, a Article) Article {
	t.Helper()
	ok, err := s.SaveArticle(context.Background(), &a)
	if err != nil || !ok {
		t.Fatalf("save %q: stored=%v err=%v", a.Title, ok, err)
	}
	return a
}

// subjectOf is a createEdition render callback that gives the subject s.
func subjectOf(s string) func(Edition) (string, error) {
	return func(Edition) (string, error) { return s, nil }
}

// checkCounts fails t when the kept delivery counts differ from a count of
// the ledger's rows.
func checkCounts(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	read := func(q string) map[string]int {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var ed int64
			var st, class string
			var n int
			if err := rows.Scan(&ed, &st, &class, &n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				m[fmt.Sprintf("%d/%s/%s", ed, st, class)] = n
			}
		}
		return m
	}
	kept := read(`SELECT edition_id, state, class, n FROM delivery_counts`)
	// a pending row inside its edition's claim window is in flight: sending
	real := read(`SELECT d.edition_id, CASE WHEN d.state = 'pending' AND d.subscriber_id > e.claimed_from
			AND d.subscriber_id <= e.claimed_upto THEN 'sending' ELSE d.state END,
		CASE WHEN d.state NOT IN ('deferred', 'failed') THEN ''
		WHEN d.code BETWEEN 400 AND 499 THEN '4xx' WHEN d.code >= 500 THEN '5xx' ELSE 'network' END, COUNT(*)
		FROM deliveries d JOIN editions e ON e.id = d.edition_id GROUP BY 1, 2, 3`)
	if !maps.Equal(kept, real) {
		t.Errorf("kept delivery counts %v, the ledger holds %v", kept, real)
	}
}
