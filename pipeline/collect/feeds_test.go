package collect

import (
	"compress/gzip"
	"context"
	"errors"
	"github.com/newsbrief/newsbrief/pipeline"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// feedServer serves testdata/feeds, gzipped when the client asks, with the
// charset of cp1252-header.xml given only in its Content-Type header.
func feedServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var gzipped atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(filepath.Join("testdata", "feeds", filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".json"):
			w.Header().Set("Content-Type", "application/feed+json")
		case strings.HasSuffix(r.URL.Path, "cp1252-header.xml"):
			w.Header().Set("Content-Type", "application/rss+xml; charset=windows-1252")
		default:
			w.Header().Set("Content-Type", "application/xml")
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			gzipped.Add(1)
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(data)
			zw.Close()
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv, &gzipped
}

func collectFeeds(t *testing.T, s *pipeline.Store, srv *httptest.Server, names ...string) (CollectReport, error) {
	t.Helper()
	for _, n := range names {
		if _, err := s.AddSource(context.Background(), srv.URL+"/"+n, "cli"); err != nil {
			t.Fatal(err)
		}
	}
	return newCollector(s, "").Collect(context.Background())
}

func byTitle(t *testing.T, s *pipeline.Store) map[string]pipeline.Article {
	t.Helper()
	arts, err := s.Articles(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]pipeline.Article{}
	for _, a := range arts {
		out[a.Title] = a
	}
	return out
}

// TestFeedFormats collects a feed of every format and every failure in
// testdata/feeds and checks what comes out, field by field.
func TestFeedFormats(t *testing.T) {
	s, _ := newStore(t)
	srv, gzipped := feedServer(t)
	feeds := []string{"rss091.xml", "rss092.xml", "rss10.rdf", "rss20.xml", "atom03.xml", "atom10.xml",
		"feed10.json", "feed11.json", "latin1.xml", "cp1252-header.xml", "broken.xml"}
	rep, err := collectFeeds(t, s, srv, feeds...)
	if !errors.Is(err, ErrSourcesFailed) || !strings.Contains(err.Error(), "broken.xml") || len(rep.Failed()) != 1 {
		t.Fatalf("collect: want only broken.xml to fail, got %v", err)
	}
	if gzipped.Load() != int32(len(feeds)) {
		t.Errorf("%d of %d responses were gzipped: Accept-Encoding not sent?", gzipped.Load(), len(feeds))
	}
	got := byTitle(t, s)
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v.UTC() }

	type want struct {
		url, guid, author, source, image, summary string
		published                                 time.Time
		tags                                      []string
		htmlHas, htmlHasNot, textHas              []string
	}
	tests := map[string]want{
		"Ferry timetable changes from Monday": {url: "https://harbour.example/2026/ferry-timetable", source: "Harbour Gazette",
			summary: "The morning ferry leaves ten minutes earlier from Monday. The evening crossings are unchanged."},
		"Night buses return to the valley line": {url: "https://radio.example/news/night-buses", source: "Valley Radio",
			image: "https://radio.example/img/bus.jpg", htmlHas: []string{"<p>Night buses run again"}},
		"Amateur astronomers spot a new comet": {url: "https://science.example/comet", author: "Rosa Ortiz", source: "Science Desk",
			published: utc("2026-11-22T21:30:00Z"), tags: []string{"astronomy"}},
		"Council approves the new tram line to the stadium": {
			url: "https://chronicle.example/2026/11/tram-line", guid: "chronicle-tram-4711", author: "Ada Lind", source: "City Chronicle",
			image: "https://chronicle.example/img/tram-large.jpg", published: utc("2026-11-22T08:00:00Z"),
			tags:    []string{"transport", "city council"},
			summary: "Councillors voted 31 to 12 for the tram line on Thursday evening.",
			htmlHas: []string{`href="https://chronicle.example/topics/tram"`, `src="https://chronicle.example/img/tram.jpg"`, "six stops", "a good day"},
			htmlHasNot: []string{"<script", "alert", "onclick", "javascript:", "<iframe", "<form", "<input", "track.example",
				"utm_", "Support our journalism", "newsletter"},
			textHas: []string{"Councillors voted 31 to 12", "The line will have six stops."}},
		"Library opens late on weekdays": {url: "https://chronicle.example/2026/11/library", guid: "https://chronicle.example/2026/11/library",
			image: "https://chronicle.example/img/library-thumb.jpg", htmlHasNot: []string{"Continue reading"}},
		"Snow closes the pass road": {url: "https://mountain.example/pass-closed", guid: "tag:mountain.example,2026:pass-closed",
			author: "Jon Berg", source: "Mountain Weekly", published: utc("2026-11-22T09:00:00Z"), textHas: []string{"Heavy snow closed the pass road"}},
		"The city's open data portal goes live": {url: "https://tech.example/blog/posts/open-data", author: "Mia Chen", source: "Tech Notes",
			published: utc("2026-11-22T11:00:00Z"), tags: []string{"open data"},
			summary: "The open data portal publishes timetables, budgets and air quality readings.",
			htmlHas: []string{`href="https://tech.example/blog/posts/datasets"`, `src="https://tech.example/blog/posts/img/portal.png"`}},
		"The market hall reopens after renovation": {url: "https://food.example/market-hall", guid: "food-market-1", source: "Food Column",
			image: "https://food.example/img/hall.jpg", published: utc("2026-11-22T06:00:00Z"), tags: []string{"markets", "food"},
			summary: "Forty stalls, a new roof and longer opening hours: the market hall is back."},
		"Home side wins the derby in extra time": {url: "https://sports.example/derby", guid: "derby-2026", author: "Sam Okafor",
			source: "Sports Roundup", published: utc("2026-11-22T19:00:00Z"), textHas: []string{"2 to 1 in extra time"}},
		"Grüße aus der Küche: neues Café am See": {url: "https://zeitung.example/cafe", source: "Zürich Zeitung",
			textHas: []string{"Das Café am See öffnet am Montag."}},
		"Crème brûlée wins the “best dessert” prize": {url: "https://cafe.example/creme", source: "Café Society",
			textHas: []string{"The jury chose the crème brûlée – again."}},
	}
	if len(got) != len(tests) {
		var titles []string
		for k := range got {
			titles = append(titles, k)
		}
		t.Errorf("%d articles, want %d: %q", len(got), len(tests), titles)
	}
	for title, w := range tests {
		t.Run(title, func(t *testing.T) {
			a, ok := got[title]
			if !ok {
				t.Fatalf("not collected")
			}
			check := func(field, have, want string) {
				if want != "" && have != want {
					t.Errorf("%s = %q, want %q", field, have, want)
				}
			}
			check("URL", a.URL, w.url)
			check("GUID", a.GUID, w.guid)
			check("Author", a.Author, w.author)
			check("SourceName", a.SourceName, w.source)
			check("ImageURL", a.ImageURL, w.image)
			check("Summary", a.Summary, w.summary)
			if !w.published.IsZero() && !a.PublishedAt.Equal(w.published) {
				t.Errorf("PublishedAt = %v, want %v", a.PublishedAt, w.published)
			}
			if w.tags != nil && !slices.Equal(a.Tags, w.tags) {
				t.Errorf("Tags = %q, want %q", a.Tags, w.tags)
			}
			for _, s := range w.htmlHas {
				if !strings.Contains(a.HTML, s) {
					t.Errorf("HTML lacks %q:\n%s", s, a.HTML)
				}
			}
			for _, s := range w.htmlHasNot {
				if strings.Contains(a.HTML, s) || strings.Contains(a.Text, s) {
					t.Errorf("HTML or text still has %q:\n%s", s, a.HTML)
				}
			}
			for _, s := range w.textHas {
				if !strings.Contains(a.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, a.Text)
				}
			}
			if a.Summary == "" || len([]rune(a.Summary)) > summaryMax {
				t.Errorf("summary %q empty or over %d runes", a.Summary, summaryMax)
			}
		})
	}
	srcs, _ := s.Sources(context.Background())
	for _, src := range srcs {
		switch {
		case strings.HasSuffix(src.URL, "broken.xml"):
			if src.LastStatus != "error" || !strings.Contains(src.LastError, "parse feed") || src.LastFetchedAt.IsZero() {
				t.Errorf("broken feed's source: %+v", src)
			}
		case strings.HasSuffix(src.URL, "rss20.xml"):
			if src.LastStatus != "ok" || src.LastItems != 2 || src.LastNewItems != 2 || src.Title != "City Chronicle" {
				t.Errorf("rss20 source: %+v", src)
			}
		}
	}
}

// TestDuplicatesAcrossFeeds: the same wire story under two URLs that differ
// only by tracking parameters, www, a trailing slash and a fragment is
// stored once; the same story told by two outlets is one entry of the next
// edition with the other as "also reported by".
func TestDuplicatesAcrossFeeds(t *testing.T) {
	s, _ := newStore(t)
	srv, _ := feedServer(t)
	if _, err := collectFeeds(t, s, srv, "dup-a.xml", "dup-b.xml"); err != nil {
		t.Fatal(err)
	}
	got := byTitle(t, s)
	if len(got) != 3 {
		t.Fatalf("%d articles stored, want 3 (the wire story once): %v", len(got), got)
	}
	d := &pipeline.Editions{Store: s, MaxArticles: 10}
	arts, err := d.Select(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("%d entries, want 2 (the bridge story grouped)", len(arts))
	}
	var bridge pipeline.Article
	for _, a := range arts {
		if strings.Contains(a.Title, "ridge") {
			bridge = a
		}
	}
	if len(bridge.Also) != 1 || bridge.Title != "River crossing closed for two weeks as bridge repairs begin" ||
		bridge.Also[0].SourceName != "Daily Post" || bridge.Also[0].URL != "https://post.example/bridge-repairs" {
		t.Errorf("bridge entry %q with also %+v", bridge.Title, bridge.Also)
	}
}

func TestSourceRules(t *testing.T) {
	const feed = `<?xml version="1.0"?><rss version="2.0"><channel><title>%s</title><link>https://%s.example/</link>
<item><title>Story from %s about the harbour works</title><link>https://%s.example/story</link><description><![CDATA[
<p>The harbour works continue through the winter.</p>
<div class="share-box"><p>Share this on every network you know</p></div>
<p>Photo: Harbour Authority</p>
<p>The works end in May.</p>]]></description></item></channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		w.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(feed, "%s", name), "%s", name)))
	}))
	defer srv.Close()
	s, _ := newStore(t)
	ctx := context.Background()
	ruled, _ := s.AddSource(ctx, srv.URL+"/ruled", "cli")
	if _, err := s.AddSource(ctx, srv.URL+"/plain", "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(ctx, srv.URL+"/ruled", pipeline.RuleSelector, "div.share-box"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(ctx, "1", pipeline.RuleRegex, `^Photo: `); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{pipeline.RuleRegex, "(unclosed"}, {pipeline.RuleSelector, "div[["}, {"xpath", "//p"}} {
		if _, err := s.AddRule(ctx, "1", bad[0], bad[1]); !errors.Is(err, pipeline.ErrBadRule) {
			t.Errorf("rule %s %q: %v, want ErrBadRule", bad[0], bad[1], err)
		}
	}
	if _, err := s.AddRule(ctx, "99", pipeline.RuleRegex, "x"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("rule for an unknown source: %v", err)
	}
	if rules, _ := s.Rules(ctx, ruled.ID); len(rules) != 2 {
		t.Fatalf("rules: %+v", rules)
	}
	if _, err := newCollector(s, "").Collect(ctx); err != nil {
		t.Fatal(err)
	}
	got := byTitle(t, s)
	r, p := got["Story from ruled about the harbour works"], got["Story from plain about the harbour works"]
	if strings.Contains(r.Text, "Share this") || strings.Contains(r.Text, "Photo:") || !strings.Contains(r.Text, "The works end in May.") {
		t.Errorf("ruled source's article:\n%s", r.Text)
	}
	if !strings.Contains(p.Text, "Photo: Harbour Authority") {
		t.Errorf("the other source's article lost text to a rule that is not its own:\n%s", p.Text)
	}
}
