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
