package pipeline

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAddAudience writes the ledger rows of a 10,000-subscriber
// edition, in the engine's pages of 1,000: the per-row cost of the first
// of a message's ledger writes.
func BenchmarkAddAudience(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	pages := make([][]Recipient, 10)
	for p := range pages {
		for i := range 1000 {
			id := int64(p*1000 + i + 1)
			pages[p] = append(pages[p], Recipient{ID: id, Email: fmt.Sprintf("reader%d@example.com", id), Name: fmt.Sprintf("Reader %d", id)})
		}
	}
	b.ResetTimer()
	for n := range b.N {
		res, err := s.db.ExecContext(ctx, `INSERT INTO editions (subject, status, created_at) VALUES (?, 'sending', 0)`, fmt.Sprint(n))
		if err != nil {
			b.Fatal(err)
		}
		ed, _ := res.LastInsertId()
		for p, page := range pages {
			if err := s.AddAudience(ctx, ed, page, p == len(pages)-1); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000)/1000, "µs/row")
}

// TestAddAudienceKeepsEveryField: the page goes through JSON into SQLite;
// every address and name comes out as it went in, and a page added twice
// adds nothing the second time.
func TestAddAudienceKeepsEveryField(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	res, err := s.db.ExecContext(ctx, `INSERT INTO editions (subject, status, created_at) VALUES ('x', 'sending', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := res.LastInsertId()
	page := []Recipient{
		{ID: 1, Email: "ada@example.com", Name: `Ada "Countess" <Lovelace> & co`},
		{ID: 2, Email: "jörg@bücher.example", Name: "Jörg Müller 🙂"},
		{ID: 1 << 40, Email: "big@example.com"},
	}
	for range 2 {
		if err := s.AddAudience(ctx, ed, page, true); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.DeliveryCounts(ctx, ed)
	if err != nil || counts[StatePending] != 3 {
		t.Fatalf("counts %v (%v), want 3 pending", counts, err)
	}
	for _, r := range page {
		var email, name string
		if err := s.db.QueryRowContext(ctx, `SELECT email, name FROM deliveries WHERE edition_id = ? AND subscriber_id = ?`, ed, r.ID).Scan(&email, &name); err != nil {
			t.Fatalf("%d: %v", r.ID, err)
		}
		if email != r.Email || name != r.Name {
			t.Errorf("%d: got %q %q, want %q %q", r.ID, email, name, r.Email, r.Name)
		}
	}
}

// BenchmarkClaim claims a 10,000-row audience 256 rows at a time: the
// second of a message's ledger writes.
func BenchmarkClaim(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	var page []Recipient
	for i := range 10000 {
		page = append(page, Recipient{ID: int64(i + 1), Email: fmt.Sprintf("reader%d@example.com", i+1), Name: fmt.Sprintf("Reader %d", i+1)})
	}
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		res, err := s.db.ExecContext(ctx, `INSERT INTO editions (subject, status, created_at) VALUES (?, 'sending', 0)`, fmt.Sprint(n))
		if err != nil {
			b.Fatal(err)
		}
		ed, _ := res.LastInsertId()
		if err := s.AddAudience(ctx, ed, page, true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for {
			jobs, err := s.Claim(ctx, ed, 256)
			if err != nil {
				b.Fatal(err)
			}
			if len(jobs) == 0 {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000)/1000, "µs/row")
}
