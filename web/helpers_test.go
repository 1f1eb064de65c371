package web

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/subscribers"
)

// newStore opens a subscriber store on a database file in t.TempDir(),
// with now as its clock (nil for the real one).
func newStore(t testing.TB, now ...func() time.Time) *subscribers.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "subs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var clock func() time.Time
	if len(now) > 0 {
		clock = now[0]
	}
	s, err := subscribers.Open(context.Background(), db, clock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
