package subscribers

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
)

// TestSearchByAddressThenName pages through the addresses that start with
// q and then the names that do, each subscriber once, with any page size.
func TestSearchByAddressThenName(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, p := range [][2]string{
		{"ada@example.com", "Ada Lovelace"}, {"adam@example.org", ""}, {"grace@example.com", "Ada Hopper"},
		{"alan@example.com", "Alan Turing"}, {"x@example.net", "adabelle"}, {"ADAGIO@example.com", "Adagio"},
	} {
		if _, err := s.Add(ctx, p[0], p[1], "test", "cli"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"ada@example.com", "ADAGIO@example.com", "adam@example.org", "grace@example.com", "x@example.net"}
	for _, size := range []int{1, 2, 3, 5, 10} {
		var got []string
		after := ""
		for range 20 {
			page, next, err := s.Search(ctx, "Ada", "", after, size)
			if err != nil {
				t.Fatalf("size %d after %q: %v", size, after, err)
			}
			for _, p := range page {
				got = append(got, p.Email)
			}
			if next == "" {
				break
			}
			after = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %q, want %q", size, got, want)
		}
	}
	if page, _, _ := s.Search(ctx, "turing", "", "", 10); len(page) != 0 {
		t.Errorf("a name is matched by its start only: %v", page)
	}
	if page, _, _ := s.Search(ctx, "alan", "", "", 10); len(page) != 1 {
		t.Errorf("alan: %d (the address and the name match: once)", len(page))
	}
	if _, _, err := s.Search(ctx, "ada", "", "name:x", 10); !errors.Is(err, ErrBadCursor) {
		t.Errorf("a bad name cursor: %v", err)
	}
	plan := explain(t, s, `SELECT id FROM subscribers WHERE name != '' AND lower(name) >= 'a' AND lower(name) < 'b' AND (lower(name), id) > ('', 0) ORDER BY lower(name), id`)
	if !strings.Contains(plan, "subscribers_name") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("the name search does not read the name index in order: %s", plan)
	}
}

func explain(t *testing.T, s *Store, q string) string {
	t.Helper()
	rows, err := s.db.Query("EXPLAIN QUERY PLAN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "; ")
	}
	return b.String()
}

// TestGrowth counts each day's additions, confirmations, unsubscriptions,
// bounces and complaints as they happen.
func TestGrowth(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "subs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(ctx, db, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Add(ctx, "a@example.com", "", "test", "cli")
	b, _ := s.Add(ctx, "b@example.com", "", "test", "cli")
	id, _, err := s.RequestSubscription(ctx, "c@example.com", "", Consent{Wording: "form"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(24 * time.Hour)
	if err := s.Confirm(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordBounce(ctx, b.ID, "550 no such user", true, 3); err != nil {
		t.Fatal(err)
	}
	if err := complain(ctx, s, "c@example.com"); err != nil {
		t.Fatal(err)
	}
	days, err := s.Growth(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Day{
		{Date: "2026-03-11", Confirmed: 1, Unsubscribed: 1, Bounced: 1, Complained: 1},
		{Date: "2026-03-10", Added: 3},
		{Date: "2026-03-09"},
	}
	if !slices.Equal(days, want) {
		t.Errorf("growth:\n got %+v\nwant %+v", days, want)
	}
}

func TestSetAttributes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	sub, _ := s.Add(ctx, "a@example.com", "", "test", "cli")
	if err := s.SetAttributes(ctx, sub.ID, map[string]string{" city ": " Lisbon ", "plan": "", "team": "news"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, sub.ID)
	if got.Attributes != `{"city":"Lisbon","team":"news"}` {
		t.Errorf("attributes: %s", got.Attributes)
	}
	for _, bad := range []map[string]string{
		{"": "x"}, {"a\nb": "x"}, {"email": "x"}, {"k": strings.Repeat("v", 1001)},
	} {
		if err := s.SetAttributes(ctx, sub.ID, bad); !errors.Is(err, ErrBadAttributes) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := s.SetAttributes(ctx, 999, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}
