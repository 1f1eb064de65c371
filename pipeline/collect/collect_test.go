package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/newsbrief/newsbrief/pipeline"
)

func newCollector(s *pipeline.Store, dir string) *Collector {
	return &Collector{Store: s, Cleaner: NewCleaner(), ArticlesDir: dir, Concurrency: 2,
		Fetch: FetchOptions{Timeout: 2 * time.Second, MaxBytes: 1 << 20, UserAgent: "newsbrief-test"}}
}

const testRSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>Test Feed</title><link>%s/</link>
<item><title>Item one</title><link>/one</link><guid>one</guid><description>&lt;p&gt;First &lt;a href="/rel"&gt;link&lt;/a&gt;.&lt;/p&gt;</description></item>
<item><title>Item two</title><link>https://example.com/two</link><guid>two</guid><description>Second.</description></item>
</channel></rss>`

func TestCollectConditionalGet(t *testing.T) {
	var requests, conditional atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("User-Agent") != "newsbrief-test" {
			t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
		}
		if r.Header.Get("If-None-Match") == `"v1"` && r.Header.Get("If-Modified-Since") == "Mon, 23 Nov 2026 05:00:00 GMT" {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 05:00:00 GMT")
		fmt.Fprintf(w, testRSS, srv.URL)
	}))
	defer srv.Close()
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.AddSource(ctx, srv.URL+"/feed", "cli"); err != nil {
		t.Fatal(err)
	}
	c := newCollector(s, "")
	rep, err := c.Collect(ctx)
	if err != nil || rep.New() != 2 {
		t.Fatalf("first collect: %d new, %v", rep.New(), err)
	}
	arts, _ := s.Articles(ctx, 0)
	var one pipeline.Article
	for _, a := range arts {
		if a.Title == "Item one" {
			one = a
		}
	}
	if one.URL != srv.URL+"/one" || !strings.Contains(one.HTML, `href="`+srv.URL+`/rel"`) || one.SourceName != "Test Feed" {
		t.Errorf("relative links not resolved or source not named: %+v", one)
	}
	rep, err = c.Collect(ctx)
	if err != nil || rep.New() != 0 {
		t.Fatalf("second collect: %d new, %v", rep.New(), err)
	}
	if requests.Load() != 2 || conditional.Load() != 1 {
		t.Errorf("%d requests, %d conditional; want 2 and 1", requests.Load(), conditional.Load())
	}
	srcs, _ := s.Sources(ctx)
	if srcs[0].LastStatus != "not-modified" || srcs[0].ETag != `"v1"` {
		t.Errorf("source after 304: %+v", srcs[0])
	}
	if n, _ := s.Articles(ctx, 0); len(n) != 2 {
		t.Errorf("%d articles after a 304, want 2", len(n))
	}
}

func TestCollectBodyCapAndRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			w.Write([]byte(strings.Repeat("x", 4096)))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer srv.Close()
	s, _ := newStore(t)
	ctx := context.Background()
	s.AddSource(ctx, srv.URL+"/huge", "cli")
	s.AddSource(ctx, srv.URL+"/loop", "cli")
	c := newCollector(s, "")
	c.Fetch.MaxBytes = 1024
	rep, err := c.Collect(ctx)
	if !errors.Is(err, ErrSourcesFailed) {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(rep.Results[0].Err, ErrTooLarge) || !strings.Contains(rep.Results[1].Err.Error(), "redirects") {
		t.Errorf("results = %+v", rep.Results)
	}
}

func TestCollectFolder(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.md", "---\ntitle: Good\n---\nBody one.\n")
	write("bad.md", "---\ntitle: [broken\n---\n")
	write("notes.pdf", "ignored")
	write(".hidden.md", "---\ntitle: Hidden\n---\n")
	c := newCollector(s, dir)
	rep, err := c.Collect(ctx)
	if !errors.Is(err, ErrSourcesFailed) || !strings.Contains(err.Error(), "bad.md") {
		t.Fatalf("err = %v, want one failure naming bad.md", err)
	}
	if rep.New() != 1 {
		t.Errorf("%d new, want 1", rep.New())
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.md")); err != nil {
		t.Errorf("the bad file was moved or removed: %v", err)
	}
	// unchanged: nothing new; edited: the article is updated in place
	write("bad.md", "---\ntitle: Fixed\n---\nNow fine.\n")
	rep, err = c.Collect(ctx)
	if err != nil || rep.New() != 1 {
		t.Fatalf("second collect: %d new, %v", rep.New(), err)
	}
	write("good.md", "---\ntitle: Good, edited\n---\nBody two.\n")
	if rep, err = c.Collect(ctx); err != nil || rep.New() != 1 {
		t.Fatalf("third collect: %d new, %v", rep.New(), err)
	}
	arts, _ := s.Articles(ctx, 0)
	got := titles(arts)
	if len(got) != 2 || !strings.Contains(strings.Join(got, "|"), "Good, edited") || !strings.Contains(strings.Join(got, "|"), "Fixed") {
		t.Errorf("articles = %v", got)
	}
	if rep, _ = c.Collect(ctx); rep.New() != 0 {
		t.Errorf("unchanged folder collected %d again", rep.New())
	}
}

func TestCollectMissingFolderIsNotAnError(t *testing.T) {
	s, _ := newStore(t)
	if _, err := newCollector(s, filepath.Join(t.TempDir(), "none")).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCollectHonoursRetryAfter(t *testing.T) {
	var requests atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprintf(w, testRSS, srv.URL)
	}))
	defer srv.Close()
	s, clk := newStore(t)
	ctx := context.Background()
	s.AddSource(ctx, srv.URL+"/feed", "cli")
	c := newCollector(s, "")
	rep, err := c.Collect(ctx)
	if err == nil || !strings.Contains(rep.Results[0].Err.Error(), "429") || !strings.Contains(rep.Results[0].Err.Error(), "not fetched again before") {
		t.Fatalf("first collect: %+v, %v", rep.Results, err)
	}
	clk.Add(time.Minute)
	rep, err = c.Collect(ctx)
	if err != nil || !rep.Results[0].Skipped || requests.Load() != 1 {
		t.Fatalf("within Retry-After: %+v %v, %d requests", rep.Results, err, requests.Load())
	}
	clk.Add(2 * time.Minute)
	if rep, err = c.Collect(ctx); err != nil || rep.New() != 2 || requests.Load() != 2 {
		t.Fatalf("after Retry-After: %+v %v, %d requests", rep.Results, err, requests.Load())
	}
}

func TestCollectOneRequestPerHostAtATime(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		fmt.Fprintf(w, `<rss version="2.0"><channel><title>%s</title><item><title>Item %s</title><guid>%s</guid></item></channel></rss>`, r.URL.Path, r.URL.Path, r.URL.Path)
	}))
	defer srv.Close()
	s, _ := newStore(t)
	ctx := context.Background()
	for i := range 4 {
		s.AddSource(ctx, fmt.Sprintf("%s/feed%d", srv.URL, i), "cli")
	}
	c := newCollector(s, "")
	c.Concurrency = 4
	rep, err := c.Collect(ctx)
	if err != nil || rep.New() != 4 {
		t.Fatalf("collect: %+v %v", rep.Results, err)
	}
	if peak.Load() != 1 {
		t.Errorf("%d requests at once to one host, want 1", peak.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"120", now.Add(2 * time.Minute)},
		{"Mon, 23 Nov 2026 09:00:00 GMT", now.Add(time.Hour)},
		{"999999999", now.Add(maxRetryAfter)},
		{"soon", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); !got.Equal(tt.want) {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLeadImages(t *testing.T) {
	feed := `<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Pics</title><link>https://pics.example/</link>
<item><title>With media content</title><link>https://pics.example/a</link><guid>a</guid>
<media:content url="https://cdn.example/a.jpg" medium="image"/><description>A</description></item>
<item><title>With thumbnail</title><link>https://pics.example/b</link><guid>b</guid>
<media:thumbnail url="/thumbs/b.jpg"/><description>B</description></item>
<item><title>With enclosure</title><link>https://pics.example/c</link><guid>c</guid>
<enclosure url="https://cdn.example/c.png" type="image/png" length="1"/><description>C</description></item>
<item><title>With inline image</title><link>https://pics.example/d</link><guid>d</guid>
<description>&lt;p&gt;D &lt;img src="/img/d.webp" alt=""&gt;&lt;/p&gt;</description></item>
<item><title>With audio only</title><link>https://pics.example/e</link><guid>e</guid>
<enclosure url="https://cdn.example/e.mp3" type="audio/mpeg" length="1"/><description>E</description></item>
</channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, feed) }))
	defer srv.Close()
	s, _ := newStore(t)
	ctx := context.Background()
	s.AddSource(ctx, srv.URL+"/feed", "cli")
	if _, err := newCollector(s, "").Collect(ctx); err != nil {
		t.Fatal(err)
	}
	arts, _ := s.Articles(ctx, 0)
	want := map[string]string{
		"With media content": "https://cdn.example/a.jpg",
		"With thumbnail":     "https://pics.example/thumbs/b.jpg",
		"With enclosure":     "https://cdn.example/c.png",
		"With inline image":  "https://pics.example/img/d.webp",
		"With audio only":    "",
	}
	for _, a := range arts {
		if a.ImageURL != want[a.Title] {
			t.Errorf("%s: image %q, want %q", a.Title, a.ImageURL, want[a.Title])
		}
	}
}

// TestFolderReadsRegularFilesOnly: a symbolic link in the articles folder
// (to a file anywhere on the machine) is reported and not collected, and a
// FIFO is reported at once instead of hanging the collect.
func TestFolderReadsRegularFilesOnly(t *testing.T) {
	s, _ := newStore(t)
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("Root password\n\nhunter2 is the password of this machine.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real.md"), []byte("# A real story\n\nBody.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan CollectReport, 1)
	go func() { rep, _ := newCollector(s, dir).Collect(ctx); done <- rep }()
	var rep CollectReport
	select {
	case rep = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("collect hangs on a FIFO in the articles folder")
	}
	failed := map[string]bool{}
	for _, r := range rep.Failed() {
		if !errors.Is(r.Err, ErrNotRegular) {
			t.Errorf("%s: %v, want ErrNotRegular", r.Source, r.Err)
		}
		failed[filepath.Base(r.Source)] = true
	}
	if !failed["leak.txt"] || !failed["pipe.md"] || len(failed) != 2 {
		t.Errorf("reported %v, want leak.txt and pipe.md", failed)
	}
	arts, err := s.Articles(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].Title != "A real story" {
		t.Errorf("collected %v, want the real story only", titles(arts))
	}
	// an editor naming a FIFO gets an error at once too
	if _, err := NewCleaner().ReadArticleFile(filepath.Join(dir, "pipe.md")); !errors.Is(err, ErrNotRegular) {
		t.Errorf("articles add of a FIFO: %v", err)
	}
}

func TestRefusedAddress(t *testing.T) {
	tests := []struct {
		ip      string
		refused bool
	}{
		{"169.254.169.254", true}, // cloud metadata
		{"::ffff:169.254.169.254", true},
		{"fe80::1", true},
		{"0.0.0.0", true},
		{"224.0.0.1", true},
		{"127.0.0.1", false}, // a feed on this machine
		{"::1", false},
		{"10.1.2.3", false}, // the local network
		{"192.168.1.10", false},
		{"93.184.216.34", false},
	}
	for _, tt := range tests {
		if got := RefusedAddress(netip.MustParseAddr(tt.ip)); got != tt.refused {
			t.Errorf("RefusedAddress(%s) = %v, want %v", tt.ip, got, tt.refused)
		}
	}
}

// TestRedirectToARefusedAddress: a feed that redirects to an address the
// collector refuses (here 127.0.0.2 stands in for 169.254.169.254, so the
// test sends nothing off this machine) fails with ErrRefusedAddress before
// any connection is made.
func TestRedirectToARefusedAddress(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:9/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	if _, err := s.AddSource(ctx, srv.URL+"/feed.xml", "cli"); err != nil {
		t.Fatal(err)
	}
	c := newCollector(s, "")
	c.Fetch.Refuse = func(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.2") }
	rep, _ := c.Collect(ctx)
	failed := rep.Failed()
	if len(failed) != 1 || !errors.Is(failed[0].Err, ErrRefusedAddress) {
		t.Fatalf("collect = %+v, want the source refused with ErrRefusedAddress", rep.Results)
	}
}

// TestOnlyWebLinks: an item whose link is javascript: or data: is stored
// without a link, so it reaches neither the e-mail nor the API.
func TestOnlyWebLinks(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	feed := `<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><title>Script link story</title><link>javascript:alert(document.cookie)</link><guid>a</guid><description>One.</description></item>
<item><title>Data link story</title><link>data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;</link><guid>b</guid><description>Two.</description></item>
<item><title>Web link story</title><link>https://hostile.example/real?utm_source=x</link><guid>c</guid><description>Three.</description></item>
</channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, feed) }))
	defer srv.Close()
	if _, err := s.AddSource(ctx, srv.URL+"/feed.xml", "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := newCollector(s, "").Collect(ctx); err != nil {
		t.Fatal(err)
	}
	arts, _ := s.Articles(ctx, 0)
	got := map[string]string{}
	for _, a := range arts {
		got[a.Title] = a.URL
	}
	want := map[string]string{"Script link story": "", "Data link story": "", "Web link story": "https://hostile.example/real"}
	if !maps.Equal(got, want) {
		t.Errorf("links %v, want %v", got, want)
	}
}

// TestOneBadByteKeepsTheFeed: a feed that says it is UTF-8 but holds one
// invalid byte is read with that byte replaced, not lost whole.
func TestOneBadByteKeepsTheFeed(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	feed := []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Caf\xe9 News</title><link>https://cafe.example/</link>" +
		"<item><title>Cr\xe8me br\xfbl\xe9e wins</title><link>https://cafe.example/1</link><guid>1</guid><description>Sweet.</description></item>" +
		"<item><title>Second story</title><link>https://cafe.example/2</link><guid>2</guid><description>Fine.</description></item></channel></rss>")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(feed)
	}))
	defer srv.Close()
	if _, err := s.AddSource(ctx, srv.URL+"/feed.xml", "cli"); err != nil {
		t.Fatal(err)
	}
	rep, err := newCollector(s, "").Collect(ctx)
	if err != nil || rep.New() != 2 {
		t.Fatalf("collect: %d new, %v", rep.New(), err)
	}
	arts, _ := s.Articles(ctx, 0)
	for _, a := range arts {
		if !utf8.ValidString(a.Title) {
			t.Errorf("stored invalid UTF-8: %q", a.Title)
		}
	}
}

// TestDiscover: an address becomes a source only when it gives a feed: a
// feed itself, or a page that links one; a page with none, a 404 and a
// port nobody listens on are refused with the reason.
func TestDiscover(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	const rss = `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour News</title><link>https://harbour.example/</link></channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed.xml":
			io.WriteString(w, rss)
		case "/":
			io.WriteString(w, `<!doctype html><html><head><title>Harbour</title>
<link rel="stylesheet" href="/s.css"><link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
</head><body><p>News.</p></body></html>`)
		case "/broken-link":
			io.WriteString(w, `<html><head><link rel="alternate" type="application/atom+xml" href="/nowhere.xml"></head></html>`)
		case "/plain":
			io.WriteString(w, `<html><head><title>No feed here</title></head><body>Hello</body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	c := newCollector(s, "")
	tests := []struct {
		in, feed, title string
		err             error
		says            string
	}{
		{srv.URL + "/feed.xml", srv.URL + "/feed.xml", "Harbour News", nil, ""},
		{srv.URL + "/", srv.URL + "/feed.xml", "Harbour News", nil, ""},
		{srv.URL + "/plain", "", "", ErrNoFeed, "links none"},
		{srv.URL + "/broken-link", "", "", ErrNoFeed, "404"},
		{srv.URL + "/missing", "", "", nil, "404"},
		{closedURL + "/feed.xml", "", "", nil, "connection refused"},
		{"ftp://harbour.example/feed", "", "", pipeline.ErrBadInput, "http"},
	}
	for _, tt := range tests {
		feed, title, err := c.Discover(ctx, tt.in)
		if feed != tt.feed || title != tt.title {
			t.Errorf("Discover(%s) = %q, %q, %v; want %q, %q", tt.in, feed, title, err, tt.feed, tt.title)
		}
		if tt.feed == "" && (err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.says)) {
			t.Errorf("Discover(%s): %v, want an error wrapping %v saying %q", tt.in, err, tt.err, tt.says)
		}
	}
}
