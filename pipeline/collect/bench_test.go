package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
)

// feed1000 is an RSS feed of 1,000 items, each with ~2 KB of HTML content.
func feed1000() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Bench</title><link>https://bench.example/</link>`)
	para := strings.Repeat("The council met again today to discuss the plan. <a href=\"/more?utm_source=rss\">More</a> ", 10)
	for i := range 1000 {
		fmt.Fprintf(&b, `<item><title>Story %d</title><link>https://bench.example/s/%d?utm_medium=rss</link><guid>s%d</guid>
<description>Summary of story %d.</description><content:encoded><![CDATA[<p>%s</p><p>%d</p><script>x()</script><img src="/t.gif" width="1" height="1">]]></content:encoded></item>`,
			i, i, i, i, para, i)
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

// BenchmarkCollectFeed fetches, parses, cleans and stores a 1,000-item feed
// into an empty store; BenchmarkParseFeedOnly parses the same bytes with
// gofeed alone, the baseline the cleaning and storing add to.
func BenchmarkCollectFeed(b *testing.B) {
	body := feed1000()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	b.SetBytes(int64(len(body)))
	var items int
	for range b.N {
		b.StopTimer()
		s, _ := newStore(b)
		s.AddSource(context.Background(), srv.URL+"/feed", "cli")
		c := &Collector{Store: s, Cleaner: NewCleaner(), Concurrency: 1,
			Fetch: FetchOptions{Timeout: time.Minute, MaxBytes: 64 << 20, UserAgent: "bench"}}
		b.StartTimer()
		rep, err := c.Collect(context.Background())
		if err != nil || rep.New() != 1000 {
			b.Fatalf("%d new, %v", rep.New(), err)
		}
		items += rep.New()
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}

func BenchmarkParseFeedOnly(b *testing.B) {
	body := feed1000()
	b.SetBytes(int64(len(body)))
	for range b.N {
		f, err := gofeed.NewParser().ParseString(body)
		if err != nil || len(f.Items) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "items/s")
}
