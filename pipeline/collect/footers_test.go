package collect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSourceFootersLearned: a closing block no pattern knows, ending most
// of a feed's items, is that source's footer: removed from every item
// (body, text and summary) and, once learned, from a later item that ends
// with it alone; an item's own last paragraph stays.
func TestSourceFootersLearned(t *testing.T) {
	const footer = "Harbour Gazette is a member of the Local Press Trust and follows its code of practice."
	var round atomic.Int32
	item := func(i int, last string) string {
		return fmt.Sprintf(`<item><title>Story %d</title><link>https://gazette.example/%d</link><guid>g%d</guid>`+
			`<description><![CDATA[<p>Story %d opens with the news of the day, told in a sentence of its own.</p><p>%s</p>]]></description></item>`, i, i, i, i, last)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		var items string
		if round.Load() == 0 {
			items = item(1, footer) + item(2, footer) + item(3, "Story 3 ends with a line of its own about the ferry.") +
				item(4, strings.Replace(footer, "Trust", "Trust", 1)) + item(5, footer)
		} else {
			items = item(6, footer)
		}
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Gazette</title><link>https://gazette.example/</link>`+items+`</channel></rss>`)
	}))
	defer srv.Close()
	s, _ := newStore(t)
	if _, err := collectFeeds(t, s, srv, "feed.xml"); err != nil {
		t.Fatal(err)
	}
	round.Store(1)
	if _, err := newCollector(s, "").Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	arts := byTitle(t, s)
	if len(arts) != 6 {
		t.Fatalf("%d articles", len(arts))
	}
	for title, a := range arts {
		if strings.Contains(a.HTML+a.Text+a.Summary, "Local Press Trust") {
			t.Errorf("%s keeps the source's footer: %q / %q", title, a.Text, a.Summary)
		}
		if !strings.Contains(a.Text, "opens with the news") {
			t.Errorf("%s lost its body: %q", title, a.Text)
		}
	}
	if !strings.Contains(arts["Story 3"].Text, "a line of its own") {
		t.Errorf("an item's own last paragraph was removed: %q", arts["Story 3"].Text)
	}
	footers, err := s.Footers(context.Background(), 1)
	if err != nil || len(footers) != 1 {
		t.Errorf("learned footers: %v %v", footers, err)
	}
}

func TestFooterKey(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"© 2024 Harbour Gazette. All rights reserved.", "© 2025 harbour gazette — all rights reserved"},
		{"Read more at  Gazette", "read more at gazette"},
	} {
		if footerKey(tt.a) != footerKey(tt.b) {
			t.Errorf("%q and %q fold apart: %q, %q", tt.a, tt.b, footerKey(tt.a), footerKey(tt.b))
		}
	}
}
