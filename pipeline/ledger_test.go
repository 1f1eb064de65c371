package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/pipeline/deliver"
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

// BenchmarkClaim claims a 10,000-row audience 256 rows at a time: a read
// by the primary key and one write a claim (the claim window), where it
// was a write a row.
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

// windowEdition is a sending edition of n pending rows, IDs 1 to n.
func windowEdition(t *testing.T, s *Store, n int) int64 {
	t.Helper()
	ctx := context.Background()
	res, err := s.db.ExecContext(ctx, `INSERT INTO editions (subject, status, created_at) VALUES ('w', 'sending', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := res.LastInsertId()
	var page []Recipient
	for i := 1; i <= n; i++ {
		page = append(page, Recipient{ID: int64(i), Email: fmt.Sprintf("r%d@example.com", i)})
	}
	if err := s.AddAudience(ctx, ed, page, true); err != nil {
		t.Fatal(err)
	}
	return ed
}

// claimAll claims batches of n until a claim comes back empty and returns
// the IDs, checking that none comes twice.
func claimAll(t *testing.T, s *Store, ed int64, n int) []int64 {
	t.Helper()
	var ids []int64
	seen := map[int64]bool{}
	for {
		jobs, err := s.Claim(context.Background(), ed, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			return ids
		}
		for _, j := range jobs {
			if seen[j.Recipient.ID] {
				t.Fatalf("row %d claimed twice", j.Recipient.ID)
			}
			seen[j.Recipient.ID] = true
			ids = append(ids, j.Recipient.ID)
		}
	}
}

func record(t *testing.T, s *Store, ed int64, rs []deliver.Result) {
	t.Helper()
	ch := make(chan []deliver.Result, 1)
	ch <- rs
	close(ch)
	if err := s.RecordResults(context.Background(), ed, ch); err != nil {
		t.Fatal(err)
	}
}

// wantRow fails t unless row id of edition ed is in state after attempts.
func wantRow(t *testing.T, s *Store, ed, id int64, state string, attempts int, what string) {
	t.Helper()
	var st string
	var n int
	if err := s.db.QueryRow(`SELECT state, attempts FROM deliveries WHERE edition_id = ? AND subscriber_id = ?`, ed, id).
		Scan(&st, &n); err != nil {
		t.Fatal(err)
	}
	if st != state || n != attempts {
		t.Errorf("%s (row %d): %s after %d attempts, want %s after %d", what, id, st, n, state, attempts)
	}
}

// TestClaimWindow: a claim writes no row, yet what it claimed is in flight
// (counted sending, listed by InFlight, not claimed again) until its
// outcomes are recorded; a restart settles what a killed send left in its
// window by the journal's word; rows queued again below the window while
// the send runs are claimed once nothing is left above it.
func TestClaimWindow(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	ed := windowEdition(t, s, 1000)

	jobs, err := s.Claim(ctx, ed, 100)
	if err != nil || len(jobs) != 100 || jobs[0].Recipient.ID != 1 || jobs[99].Recipient.ID != 100 || jobs[0].Attempts != 1 {
		t.Fatalf("first claim: %d jobs, %v", len(jobs), err)
	}
	wantRow(t, s, ed, 50, StatePending, 0, "a claimed row, left pending in the table")
	counts, _ := s.DeliveryCounts(ctx, ed)
	if counts[StateSending] != 100 || counts[StatePending] != 900 {
		t.Fatalf("counts after a claim: %v", counts)
	}
	checkCounts(t, s)
	if f, err := s.DeliveryState(ctx, ed, "r50@example.com"); err != nil || f.State != StateSending {
		t.Fatalf("a claimed row reads as %q (%v), want sending", f.State, err)
	}
	// a killed send: its window is in flight; the journal says 1-10
	// accepted, 11-20 had their end of data written, the rest never left
	keys, err := s.InFlight(ctx)
	if err != nil || len(keys) != 100 {
		t.Fatalf("in flight: %d, %v", len(keys), err)
	}
	progress := map[deliver.Key]deliver.Progress{}
	for _, k := range keys {
		switch {
		case k.Subscriber <= 10:
			progress[k] = deliver.Accepted
		case k.Subscriber <= 20:
			progress[k] = deliver.EndWritten
		}
	}
	sent, unknown, requeued, err := s.SettleInFlight(ctx, keys, progress)
	if err != nil || sent != 10 || unknown != 10 || requeued != 80 {
		t.Fatalf("settled %d sent, %d unknown, %d again (%v)", sent, unknown, requeued, err)
	}
	wantRow(t, s, ed, 5, StateSent, 1, "accepted row")
	wantRow(t, s, ed, 15, StateUnknown, 1, "end of data written")
	wantRow(t, s, ed, 50, StatePending, 0, "never left")
	if keys, _ := s.InFlight(ctx); len(keys) != 0 {
		t.Fatalf("%d still in flight after settling", len(keys))
	}
	checkCounts(t, s)

	// the next send claims the 80 and the 900, each once, and records them
	// while the operator queues the unknown ones again: claimed at the end
	first, err := s.Claim(ctx, ed, 256)
	if err != nil || len(first) != 256 || first[0].Recipient.ID != 21 {
		t.Fatalf("claim after settling: %d from %d, %v", len(first), first[0].Recipient.ID, err)
	}
	if n, err := s.ResendUnknown(ctx, ed); err != nil || n != 10 {
		t.Fatalf("resend unknown: %d, %v", n, err)
	}
	ids := append([]int64{}, idsOf(first)...)
	ids = append(ids, claimAll(t, s, ed, 256)...)
	if len(ids) != 990 {
		t.Fatalf("claimed %d rows in all, want 990", len(ids))
	}
	checkCounts(t, s)
	var rs []deliver.Result
	for _, id := range ids {
		r := deliver.Result{SubscriberID: id, State: StateSent}
		switch id % 100 {
		case 1:
			r = deliver.Result{SubscriberID: id, Release: true}
		case 2:
			r = deliver.Result{SubscriberID: id, State: StateDeferred, Code: 451, Detail: "later", Next: time.Now().Add(time.Hour)}
		}
		rs = append(rs, r)
	}
	record(t, s, ed, rs)
	counts, _ = s.DeliveryCounts(ctx, ed)
	// 9 released (101, 201, … 901), 9 deferred; 10 were sent before
	if counts[StateSent] != 10+990-18 || counts[StatePending] != 9 || counts[StateDeferred] != 9 || counts[StateSending] != 0 {
		t.Fatalf("counts after recording: %v", counts)
	}
	wantRow(t, s, ed, 102, StateDeferred, 1, "deferred row")
	wantRow(t, s, ed, 101, StatePending, 0, "released row")
	if keys, _ := s.InFlight(ctx); len(keys) != 0 {
		t.Fatalf("%d in flight once every outcome is recorded", len(keys))
	}
	checkCounts(t, s)
	// the released rows go in the next claim
	if again := claimAll(t, s, ed, 256); len(again) != 9 {
		t.Fatalf("released rows claimed again: %d, want 9", len(again))
	}
	checkCounts(t, s)
}

// TestCancelDuringWindow: cancelling an edition while its claim is in
// flight skips what was not claimed at once, lets the claimed rows' outcomes
// be recorded, and skips the claimed rows never tried when the window
// closes.
func TestCancelDuringWindow(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	ed := windowEdition(t, s, 300)
	jobs, err := s.Claim(ctx, ed, 100)
	if err != nil || len(jobs) != 100 {
		t.Fatal(len(jobs), err)
	}
	if n, err := s.Cancel(ctx, ed); err != nil || n != 200 {
		t.Fatalf("cancel skipped %d (%v), want the 200 not claimed", n, err)
	}
	checkCounts(t, s)
	var rs []deliver.Result
	for _, j := range jobs {
		if j.Recipient.ID <= 60 {
			rs = append(rs, deliver.Result{SubscriberID: j.Recipient.ID, State: StateSent})
		} else {
			rs = append(rs, deliver.Result{SubscriberID: j.Recipient.ID, Release: true})
		}
	}
	record(t, s, ed, rs)
	counts, _ := s.DeliveryCounts(ctx, ed)
	if counts[StateSent] != 60 || counts[StateSkipped] != 240 || counts[StatePending] != 0 || counts[StateSending] != 0 {
		t.Fatalf("counts: %v", counts)
	}
	checkCounts(t, s)
}

func idsOf(jobs []deliver.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.Recipient.ID
	}
	return out
}

// TestAppendJSONString: what SQLite's json_each reads back is what
// encoding/json would have written, for quotes, control characters,
// non-ASCII and bytes that are not UTF-8.
func TestAppendJSONString(t *testing.T) {
	for _, v := range []string{"", "plain", `Ada "Countess" <Lovelace> & co\`, "tab\tnew\nline\x00\x1f", "Jörg 🙂 \u2028", "bad \xff\xfe bytes", "\xe2\x82"} {
		var got, want string
		if err := json.Unmarshal(appendJSONString(nil, v), &got); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		std, _ := json.Marshal(v)
		json.Unmarshal(std, &want)
		if got != want {
			t.Errorf("%q: read back %q, encoding/json's %q", v, got, want)
		}
	}
}
