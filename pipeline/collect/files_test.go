package collect

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArticleFile(t *testing.T) {
	c := NewCleaner()
	tests := []struct {
		name, file, data string
		title, url       string
		textHas          string
		date             time.Time
		pinned           bool
		err              string // substring of the error, "" for none
		line             int
	}{
		{name: "markdown with front matter", file: "a.md",
			data:  "---\ntitle: Big news\nurl: https://example.com/big?utm_source=x\nauthor: Jo\ndate: 2026-11-20\npinned: true\n---\n\nSome **bold** text.\n",
			title: "Big news", url: "https://example.com/big", textHas: "Some bold text.", date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), pinned: true},
		{name: "markdown heading as title", file: "b.markdown", data: "# Heading title\n\nBody here.\n", title: "Heading title", textHas: "Body here."},
		{name: "windows line endings and BOM", file: "c.md", data: "\ufeff---\r\ntitle: CRLF\r\n---\r\nBody.\r\n", title: "CRLF", textHas: "Body."},
		{name: "plain text", file: "d.txt", data: "Title line\n\nFirst para.\n\nSecond <para>.\n", title: "Title line", textHas: "Second <para>."},
		{name: "html", file: "e.html", data: "<html><head><title>Page title</title></head><body><h1>Page title</h1><p>Para.</p><script>x()</script></body></html>", title: "Page title", textHas: "Para."},
		{name: "html heading only", file: "f.htm", data: "<h1>Only heading</h1><p>Para.</p>", title: "Only heading", textHas: "Para."},
		{name: "bad yaml", file: "g.md", data: "---\ntitle: ok\nurl: x: y\n---\nbody", err: "front matter", line: 3},
		{name: "front matter not closed", file: "h.md", data: "---\ntitle: x\nbody", err: "never closed", line: 1},
		{name: "no title", file: "i.md", data: "just text, no heading", err: "no title"},
		{name: "bad date", file: "j.md", data: "---\ntitle: x\ndate: yesterday\n---\n", err: "date"},
		{name: "bad url", file: "k.md", data: "---\ntitle: x\nurl: javascript:alert(1)\n---\n", err: "url"},
		{name: "not utf-8", file: "l.txt", data: "T\xff\xfe\n", err: "UTF-8"},
		{name: "unsupported", file: "m.pdf", data: "%PDF", err: "unsupported"},
		{name: "html title with tags", file: "n.md", data: "---\ntitle: \"<b>Bold</b> title\"\n---\nx", title: "Bold title", textHas: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := c.ParseArticleFile(tt.file, []byte(tt.data))
			if tt.err != "" {
				var fe *FileError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.file) {
					t.Fatalf("err = %v, want a *FileError naming %s and %q", err, tt.file, tt.err)
				}
				if tt.line != 0 && fe.Line != tt.line {
					t.Errorf("line = %d, want %d (%v)", fe.Line, tt.line, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Title != tt.title || a.URL != tt.url || !strings.Contains(a.Text, tt.textHas) || a.Pinned != tt.pinned {
				t.Errorf("got title %q url %q text %q pinned %v", a.Title, a.URL, a.Text, a.Pinned)
			}
			if !tt.date.IsZero() && !a.PublishedAt.Equal(tt.date) {
				t.Errorf("date = %v, want %v", a.PublishedAt, tt.date)
			}
			if strings.Contains(a.HTML, "<script") {
				t.Errorf("script kept: %q", a.HTML)
			}
			if strings.HasPrefix(a.Text, tt.title) {
				t.Errorf("the title is repeated at the start of the body: %q", a.Text)
			}
			if a.FileHash == "" || a.Summary == "" {
				t.Errorf("missing hash or summary: %+v", a)
			}
		})
	}
}

// TestFileMetadata: a .txt file's header lines and an .html file's own
// metadata give the article its link, author and date, so no story is a
// dead end.
func TestFileMetadata(t *testing.T) {
	c := NewCleaner()
	a, err := c.ParseArticleFile("report.txt", []byte("Title: The harbour report\nURL: https://harbour.example/report?utm_source=x\nAuthor: Ada Reporter\nDate: 2026-11-20\nTags: city, port\n\nThe first paragraph of the report.\nThe second one.\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "The harbour report" || a.URL != "https://harbour.example/report" || a.Author != "Ada Reporter" ||
		a.PublishedAt.Format("2006-01-02") != "2026-11-20" || !slices.Equal(a.Tags, []string{"city", "port"}) || strings.Contains(a.Text, "Title:") {
		t.Errorf("txt header: %+v", a)
	}
	plain, err := c.ParseArticleFile("plain.txt", []byte("Just a title\n\nBody: with a colon in its first line.\n"))
	if err != nil || plain.Title != "Just a title" || !strings.Contains(plain.Text, "Body: with a colon") {
		t.Errorf("a file without a header: %+v %v", plain, err)
	}
	page := `<html><head><title>Ferries run late</title><link rel="canonical" href="https://harbour.example/ferries">
<meta name="author" content="Grace Writer"><meta property="article:published_time" content="2026-11-21T06:30:00Z"></head>
<body><p>The winter timetable keeps the last ferry at midnight.</p></body></html>`
	h, err := c.ParseArticleFile("ferries.html", []byte(page))
	if err != nil || h.URL != "https://harbour.example/ferries" || h.Author != "Grace Writer" || h.PublishedAt.Hour() != 6 {
		t.Errorf("html metadata: %+v %v", h, err)
	}
	odd, err := c.ParseArticleFile("odd.html", []byte(`<title>Odd</title><meta property="og:url" content="javascript:x"><meta name="date" content="yesterday"><p>Text.</p>`))
	if err != nil || odd.URL != "" || odd.Title != "Odd" {
		t.Errorf("odd metadata keeps the article out or in: %+v %v", odd, err)
	}
}

// TestUndatedFileDatedByItsTime: a file that gives no date is dated by
// when it was written, so an old file does not lead as the newest story.
func TestUndatedFileDatedByItsTime(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old.txt")
	if err := os.WriteFile(p, []byte("An old note\n\nWritten days ago.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
	a, err := NewCleaner().ReadArticleFile(p)
	if err != nil || !a.PublishedAt.Equal(when) {
		t.Errorf("published %v, want %v (%v)", a.PublishedAt, when, err)
	}
}
