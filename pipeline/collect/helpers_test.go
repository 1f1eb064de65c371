package collect

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/internal/testclock"
	"github.com/newsbrief/newsbrief/pipeline"
)

// newStore opens the pipeline's store on a fresh SQLite file in
// t.TempDir(), on a settable clock.
func newStore(t testing.TB) (*pipeline.Store, *testclock.Clock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := testclock.New(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC))
	s, err := pipeline.OpenStore(context.Background(), db, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func titles(as []pipeline.Article) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Title)
	}
	return out
}
