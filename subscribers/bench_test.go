package subscribers

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkImport imports 10,000 new rows per iteration into a store (see
// bench/import.sh for a million rows against the sqlite3 shell's .import).
func BenchmarkImport(b *testing.B) {
	s := newStore(b)
	var total int
	for i := range b.N {
		var csv strings.Builder
		csv.WriteString("email,name\n")
		for j := range 10000 {
			fmt.Fprintf(&csv, "r%d-%d@example.com,Reader %d\n", i, j, j)
		}
		b.StartTimer()
		rep, err := s.Import(context.Background(), strings.NewReader(csv.String()), ImportOptions{Consent: "bench"})
		b.StopTimer()
		if err != nil || rep.Added != 10000 {
			b.Fatalf("%+v %v", rep, err)
		}
		total += rep.Added
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkActiveAfter pages through 10,000 active subscribers 1,000 at a
// time, as a send writes its audience.
func BenchmarkActiveAfter(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for j := range 10000 {
		fmt.Fprintf(&csv, "r%d@example.com,Reader %d\n", j, j)
	}
	if _, err := s.Import(ctx, strings.NewReader(csv.String()), ImportOptions{Consent: "bench"}); err != nil {
		b.Fatal(err)
	}
	a := Audience{Store: s}
	b.ResetTimer()
	for range b.N {
		var after int64
		n := 0
		for {
			page, err := a.ActiveAfter(ctx, after, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			n += len(page)
			after = page[len(page)-1].ID
		}
		if n != 10000 {
			b.Fatalf("%d active", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000)/1000, "µs/row")
}

// BenchmarkLinks is a message's per-recipient addresses: the unsubscribe
// link alone, and with the VERP sender and the tokened mailto.
func BenchmarkLinks(b *testing.B) {
	tok, _ := NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	for _, c := range []struct {
		name string
		ret  Returns
	}{
		{"link-only", Returns{}},
		{"with-return-addresses", Returns{Tokens: tok, Bounce: "bounces@news.example.org", Unsubscribe: "unsubscribe@news.example.org"}},
	} {
		a := Audience{Tokens: tok, BaseURL: "https://news.example.org", Returns: c.ret}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				a.Links(42, int64(i+1))
			}
		})
	}
}
