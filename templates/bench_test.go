package templates

import (
	"github.com/newsbrief/newsbrief/brief"

	"fmt"
	"strings"
	"testing"
)

func benchEdition() Edition {
	e := Sample()
	e.Articles = nil
	for i := range 20 {
		e.Articles = append(e.Articles, Article{Title: fmt.Sprintf("Story %d", i), URL: fmt.Sprintf("https://example.com/%d", i),
			Source: "Example Times", Summary: strings.Repeat("A sentence of summary. ", 12)})
	}
	return e
}

// BenchmarkRender renders a 20-article edition (templates and CSS
// inlining): the work done once per edition. BenchmarkPersonalize is the
// work done per message; the ratio of the two is what rendering once saves.
func BenchmarkRender(b *testing.B) {
	s, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	e := benchEdition()
	b.ReportAllocs()
	for range b.N {
		if _, err := s.Render(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPersonalize(b *testing.B) {
	s, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	r, err := s.Render(benchEdition())
	if err != nil {
		b.Fatal(err)
	}
	p, u := brief.Recipient{Name: "Ada Lovelace", Email: "ada@example.com"}, "https://brief.example/unsubscribe?token=abcdefghijklmnopqrstuvwxyz0123456789"
	b.ReportAllocs()
	b.SetBytes(int64(r.HTMLSize))
	for range b.N {
		r.Personalize(p, u)
	}
}
