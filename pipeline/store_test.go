package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDeduplication(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mustSave(t, s, Article{Origin: "feed", GUID: "g1", URL: "https://example.com/a", Title: "First", Text: "one"})
	tests := []struct {
		name string
		a    Article
		dup  bool
	}{
		{"same guid", Article{Origin: "feed", GUID: "g1", URL: "https://example.com/other", Title: "Other", Text: "x"}, true},
		{"same url with tracking", Article{Origin: "feed", GUID: "g2", URL: "https://www.example.com/a?utm_source=z#top", Title: "Other", Text: "y"}, true},
		{"same content", Article{Origin: "feed", GUID: "g3", URL: "https://elsewhere.example/b", Title: "first", Text: "  ONE "}, true},
		{"new", Article{Origin: "feed", GUID: "g4", URL: "https://example.com/new", Title: "New", Text: "z"}, false},
		{"no guid, no url, new text", Article{Origin: "editor", Title: "Bare", Text: "bare"}, false},
	}
	for _, tt := range tests {
		stored, err := s.SaveArticle(ctx, &tt.a)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if stored == tt.dup {
			t.Errorf("%s: stored = %v, want %v", tt.name, stored, !tt.dup)
		}
	}
	if _, err := s.AddArticle(ctx, Article{Title: "First", Text: "one"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("AddArticle of a duplicate = %v, want ErrDuplicate", err)
	}
}

func TestNextArticlesOrderCapAndWindow(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i, title := range []string{"old", "mid", "new", "newest"} {
		a := mustSave(t, s, Article{Origin: "feed", Title: title, Text: title, PublishedAt: base.Add(time.Duration(i) * time.Hour)})
		ids = append(ids, a.ID)
	}
	if err := s.SetPinned(ctx, ids[0], true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetExcluded(ctx, ids[3], true); err != nil {
		t.Fatal(err)
	}
	got, err := s.NextArticles(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Title != "old" || got[1].Title != "new" {
		t.Fatalf("next = %v, want pinned 'old' then newest included 'new'", titles(got))
	}
	// an edition takes them; articles collected before it are not offered again
	clk.Add(time.Minute)
	if _, err := s.createEdition(ctx, got, time.Time{}, subjectOf("s")); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	next, _ := s.NextArticles(ctx, 10)
	if len(next) != 0 {
		t.Errorf("after an edition, next = %v, want nothing ('mid' was collected before it)", titles(next))
	}
	clk.Add(time.Minute)
	mustSave(t, s, Article{Origin: "feed", Title: "fresh", Text: "fresh"})
	next, _ = s.NextArticles(ctx, 10)
	if len(next) != 1 || next[0].Title != "fresh" {
		t.Errorf("next = %v, want [fresh]", titles(next))
	}
	if err := s.SetPinned(ctx, 999, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("pin unknown = %v", err)
	}
}

func titles(as []Article) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Title)
	}
	return out
}

func TestSources(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.AddSource(ctx, "https://example.com/feed.xml", "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSource(ctx, "https://example.com/feed.xml", "cli"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second add = %v, want ErrDuplicate", err)
	}
	for _, bad := range []string{"ftp://example.com/x", "example.com/feed", "https://exa mple.com/", "javascript:alert(1)"} {
		if _, err := s.AddSource(ctx, bad, "cli"); err == nil {
			t.Errorf("AddSource(%q) accepted", bad)
		}
	}
	if err := s.EnsureSources(ctx, []string{"https://example.com/feed.xml", "https://example.org/atom"}); err != nil {
		t.Fatal(err)
	}
	srcs, _ := s.Sources(ctx)
	if len(srcs) != 2 || srcs[1].Origin != "env" {
		t.Fatalf("sources = %+v", srcs)
	}
	if err := s.RemoveSource(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSource(ctx, "https://nope.example/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove unknown = %v", err)
	}
}

func TestSelectionRules(t *testing.T) {
	d, _, _, clk := newDeliverer(t, 1)
	ctx := context.Background()
	now := clk.Now()
	src1, _ := d.Store.AddSource(ctx, "https://one.example/feed", "cli")
	src2, _ := d.Store.AddSource(ctx, "https://two.example/feed", "cli")
	for i := range 4 {
		mustSave(t, d.Store, Article{Origin: "feed", SourceID: src1.ID, Title: fmt.Sprintf("one-%d", i), Text: fmt.Sprint(i), PublishedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	mustSave(t, d.Store, Article{Origin: "feed", SourceID: src2.ID, Title: "two-old", Text: "old", PublishedAt: now.Add(-72 * time.Hour)})
	mustSave(t, d.Store, Article{Origin: "file", Title: "file-old", Text: "file", PublishedAt: now.Add(-72 * time.Hour)})
	pinned := mustSave(t, d.Store, Article{Origin: "feed", SourceID: src2.ID, Title: "two-pinned-old", Text: "p", PublishedAt: now.Add(-96 * time.Hour)})
	d.Store.SetPinned(ctx, pinned.ID, true)
	d.FirstLookback, d.MaxPerSource, d.MaxArticles = 24*time.Hour, 2, 10
	got, err := d.Select(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Join(titles(got), ",")
	// pinned first; one-0 and one-1 (cap 2 per feed); the old feed article
	// left out on a first edition; the old file kept (editors' files are deliberate)
	if !strings.HasPrefix(names, "two-pinned-old,") || strings.Contains(names, "one-2") || strings.Contains(names, "two-old") ||
		!strings.Contains(names, "file-old") || !strings.Contains(names, "one-0") || !strings.Contains(names, "one-1") {
		t.Errorf("selected %s", names)
	}
	d.MinArticles = 10
	if _, err := d.Select(ctx); !errors.Is(err, ErrNothingNew) || !strings.Contains(err.Error(), "fewer than the minimum of 10") {
		t.Errorf("below the minimum: %v", err)
	}
}

// TestWaitingAcrossEditions: the waiting flag and the copied source
// priority that selection reads stay right through an edition, a cancelled
// one, a pinned old article, a priority change and a source's removal.
func TestWaitingAcrossEditions(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	e := &Editions{Store: s, MaxArticles: 10}
	low, err := s.AddSource(ctx, "https://low.example/feed", "cli")
	if err != nil {
		t.Fatal(err)
	}
	high, err := s.AddSource(ctx, "https://high.example/feed", "cli")
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	a := mustSave(t, s, Article{Origin: "feed", SourceID: low.ID, Title: "Harbour ferry timetable changes", URL: "https://low.example/1", Text: "a", PublishedAt: now})
	b := mustSave(t, s, Article{Origin: "feed", SourceID: high.ID, Title: "Library opening hours extended", URL: "https://high.example/1", Text: "b", PublishedAt: now.Add(-time.Hour)})
	ids := func() []int64 {
		t.Helper()
		arts, err := e.Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, x := range arts {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []int64{a.ID, b.ID}) {
		t.Fatalf("newest first: %v", got)
	}
	if err := s.SetPriority(ctx, high.URL, 5); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []int64{b.ID, a.ID}) {
		t.Fatalf("after raising a source's priority: %v", got)
	}
	// an edition takes both: nothing waits
	clk.Add(time.Minute)
	arts, _ := e.Select(ctx)
	ed, err := s.createEdition(ctx, arts, time.Time{}, subjectOf("one"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 0 {
		t.Fatalf("after the edition: %v", got)
	}
	// cancelled: its articles wait again
	if _, err := s.Cancel(ctx, ed.ID); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 2 {
		t.Fatalf("after cancelling: %v", got)
	}
	arts, _ = e.Select(ctx)
	if _, err := s.createEdition(ctx, arts, time.Time{}, subjectOf("two")); err != nil {
		t.Fatal(err)
	}
	// an old article pinned after the edition is taken; a new one too
	clk.Add(time.Hour)
	old := mustSave(t, s, Article{Origin: "feed", SourceID: low.ID, Title: "Council budget vote delayed", URL: "https://low.example/2", Text: "c", PublishedAt: now.Add(-48 * time.Hour)})
	if got := ids(); !slices.Equal(got, []int64{old.ID}) {
		t.Fatalf("a new article: %v", got)
	}
	if err := s.SetPinned(ctx, a.ID, true); err != nil { // a was sent: pinning does not bring it back
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []int64{old.ID}) {
		t.Fatalf("a sent article pinned: %v", got)
	}
	// the source removed: its waiting article keeps waiting, at priority 0
	if err := s.RemoveSource(ctx, low.URL); err != nil {
		t.Fatal(err)
	}
	var prio int
	if err := s.db.QueryRowContext(ctx, `SELECT priority FROM articles WHERE id = ?`, old.ID).Scan(&prio); err != nil || prio != 0 {
		t.Fatalf("priority after the source's removal = %d, %v", prio, err)
	}
	if got := ids(); !slices.Equal(got, []int64{old.ID}) {
		t.Fatalf("after removing its source: %v", got)
	}
}

// TestSelectionPriorityAndMove: a higher-priority source's articles come
// before newer ones, the cap keeps them, and an article the editor moved
// takes its place for the next edition only.
func TestSelectionPriorityAndMove(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	low, _ := s.AddSource(ctx, "https://low.example/feed", "cli")
	high, _ := s.AddSource(ctx, "https://high.example/feed", "cli")
	if err := s.SetPriority(ctx, high.URL, 5); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	newest := mustSave(t, s, Article{Title: "Newest low-priority story", URL: "https://low.example/1", Text: "a", Origin: "feed", SourceID: low.ID, PublishedAt: now.Add(-time.Hour)})
	older := mustSave(t, s, Article{Title: "Older high-priority story", URL: "https://high.example/1", Text: "b", Origin: "feed", SourceID: high.ID, PublishedAt: now.Add(-5 * time.Hour)})
	third := mustSave(t, s, Article{Title: "Editor's own note", Text: "c", Origin: "editor", PublishedAt: now.Add(-9 * time.Hour)})
	d := &Editions{Store: s, MaxArticles: 2}
	ids := func() []int64 {
		arts, err := d.Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, a := range arts {
			out = append(out, a.ID)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []int64{older.ID, newest.ID}) {
		t.Errorf("by priority: %v, want %v", got, []int64{older.ID, newest.ID})
	}
	if err := s.MoveArticle(ctx, third.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []int64{third.ID, older.ID}) {
		t.Errorf("after move: %v, want %v", got, []int64{third.ID, older.ID})
	}
	if err := s.MoveArticle(ctx, 999, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("move of an unknown article: %v", err)
	}
	arts, _ := d.Select(ctx)
	if _, err := s.createEdition(ctx, arts, time.Time{}, subjectOf("one")); err != nil {
		t.Fatal(err)
	}
	var rank any
	s.db.QueryRowContext(ctx, `SELECT rank FROM articles WHERE id = ?`, third.ID).Scan(&rank)
	if rank != nil {
		t.Errorf("rank kept after the edition was made: %v", rank)
	}
}
