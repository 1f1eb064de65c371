package templates

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/brief"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./templates -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./templates -update\n--- got ---\n%s", name, got)
	}
}

// renderSample loads the default templates and renders Sample().
func renderSample(t *testing.T) brief.Rendered {
	t.Helper()
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render(Sample())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDefaultTemplatesGolden(t *testing.T) {
	r := renderSample(t)
	html, text := r.Personalize(brief.Recipient{Name: "Ada", Email: "ada@example.com"}, "https://brief.example/unsubscribe?token=t&x=1")
	golden(t, "sample.subject.txt", r.Subject+"\n")
	golden(t, "sample.html", html)
	golden(t, "sample.txt", text)
	if r.HTMLSize > GmailClipBytes {
		t.Errorf("sample HTML is %d bytes, over Gmail's clipping limit", r.HTMLSize)
	}
}

func TestPersonalizeEscapes(t *testing.T) {
	r := renderSample(t)
	p, u := brief.Recipient{Name: `<script>alert("x")</script>`, Email: "a&b@example.com"}, `https://x.example/u?t="><script>`
	html, text := r.Personalize(p, u)
	if strings.Contains(html, "<script>") || strings.Contains(html, `"><script>`) {
		t.Errorf("personal parts not escaped in HTML:\n%s", html)
	}
	if !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, "a&amp;b@example.com") {
		t.Errorf("escaped personal parts missing from HTML")
	}
	if !strings.Contains(text, `Hello <script>alert("x")</script>,`) {
		t.Errorf("text body should carry the name as is:\n%s", text)
	}
	// two subscribers, two different bodies from one render
	h2, _ := r.Personalize(brief.Recipient{Name: "Bob", Email: "bob@example.com"}, "https://x.example/u?t=b")
	if !strings.Contains(h2, "Hello Bob,") || strings.Contains(h2, "<script") || strings.Contains(h2, "&lt;script") {
		t.Errorf("second personalization leaks the first")
	}
	for _, tt := range []struct {
		g          brief.Greeting
		name, want string
	}{
		{brief.Greeting{}, "", "Hello,"},
		{brief.Greeting{}, "Ada Lovelace", "Hello Ada,"},
		{brief.Greeting{Named: "Dear {name},", Unnamed: "Dear reader,"}, "Ada Lovelace", "Dear Ada Lovelace,"},
		{brief.Greeting{Named: "Dear {name},", Unnamed: "Dear reader,"}, "", "Dear reader,"},
		{brief.Greeting{Off: true}, "Ada", ""},
	} {
		if got := tt.g.Of(tt.name); got != tt.want {
			t.Errorf("%+v.Of(%q) = %q, want %q", tt.g, tt.name, got, tt.want)
		}
	}
}

func TestOverridesAndBrokenTemplates(t *testing.T) {
	tests := []struct {
		name, file, content string
		wantErr             string
	}{
		{"subject override", SubjectFile, "Brief: {{len .Articles}} stories", ""},
		{"parse error", HTMLFile, "<p>{{range .Articles}}", "digest.html"},
		{"unknown field", TextFile, "{{.Nope}}", "digest.txt"},
		{"unknown function", SubjectFile, "{{shout .ListName}}", "subject.txt"},
		{"empty subject", SubjectFile, "{{/* nothing */}}", "the subject is empty"},
		{"personal subject", SubjectFile, "Hi {{.Subscriber.Name}}", "may not use .Subscriber"},
		{"panicking method", TextFile, "{{index .Articles 5}}", "digest.txt"},
		{"not utf-8", HTMLFile, "\xff\xfe", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Sources()[tt.file] != filepath.Join(dir, tt.file) || !strings.HasPrefix(s.Sources()[HTMLFile], "embedded") {
					t.Errorf("sources = %v", s.Sources())
				}
				r, err := s.Render(Sample())
				if err != nil || r.Subject != "Brief: 2 stories" {
					t.Errorf("Render = %v, %v", r, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an ErrTemplate naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenderNeedsArticles(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(Edition{ListName: "x"}); !errors.Is(err, ErrTemplate) {
		t.Fatalf("Render of an empty edition = %v", err)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		in     string
		width  int
		indent string
		want   string
	}{
		{"", 10, "  ", ""},
		{"one", 10, "", "one"},
		{"a b c d e f", 5, "", "a b c\nd e f"},
		{"hello world again", 10, "> ", "> hello\n> world\n> again"},
		{"averyveryverylongword x", 5, "", "averyveryverylongword\nx"},
		{"  spaced   out  ", 80, "", "spaced out"},
	}
	for _, tt := range tests {
		if got := Wrap(tt.in, tt.width, tt.indent); got != tt.want {
			t.Errorf("Wrap(%q, %d, %q) = %q, want %q", tt.in, tt.width, tt.indent, got, tt.want)
		}
	}
}

// TestSections: a template that asks for sections gets the articles
// grouped by source or by first tag, in order of first appearance.
func TestSections(t *testing.T) {
	e := Edition{Articles: []Article{
		{Title: "a", Source: "Times", Tags: []string{"city"}},
		{Title: "b", Source: "Post", Tags: []string{"sport"}},
		{Title: "c", Source: "Times"},
		{Title: "d", Tags: []string{"city", "sport"}},
	}}
	flat := func(ss []Section) string {
		var b strings.Builder
		for _, s := range ss {
			b.WriteString("[" + s.Name + ":")
			for _, a := range s.Articles {
				b.WriteString(a.Title)
			}
			b.WriteString("]")
		}
		return b.String()
	}
	if got := flat(e.BySource()); got != "[Times:ac][Post:b][:d]" {
		t.Errorf("BySource = %s", got)
	}
	if got := flat(e.ByTag()); got != "[city:ad][sport:b][:c]" {
		t.Errorf("ByTag = %s", got)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "digest.txt"), []byte("{{range .ByTag}}## {{or .Name \"other\"}}\n{{range .Articles}}- {{.Title}}\n{{end}}{{end}}{{.Subscriber.UnsubscribeURL}}\n"), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render(Sample())
	if err != nil {
		t.Fatal(err)
	}
	_, text := r.Personalize(brief.Recipient{Email: "a@example.com"}, "https://example.com/u")
	if !strings.Contains(text, "## city\n- A sample story\n## weather\n- Another story\n") {
		t.Errorf("sectioned text:\n%s", text)
	}
}

// TestPublicPage: an edition's public page carries no personal part (no
// greeting, no address, no unsubscribe link, no link to itself), and has
// the note, a subscribe call and the tags a link preview reads.
func TestPublicPage(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	r := Renderer{Set: set, ListName: "The Daily Brief", BaseURL: "https://brief.example"}
	is := brief.Issue{ID: 7, Date: time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC), Subject: "Harbour reopens & more",
		Note: "Good morning.\n\nA short week.", Stories: []brief.Story{
			{Title: "Harbour reopens", URL: "https://news.example/h", Summary: "Boats return.", ImageURL: "https://news.example/h.jpg"},
			{Title: "Rain <again>", Summary: "Wet."},
		}}
	page, err := r.Page(context.Background(), is)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<meta property="og:title" content="Harbour reopens &amp; more">`,
		`<meta property="og:url" content="https://brief.example/archive/7">`,
		`<meta property="og:image" content="https://news.example/h.jpg">`,
		`<meta property="og:description" content="Good morning. A short week.">`,
		`href="https://brief.example/subscribe"`, `href="https://brief.example/archive"`,
		"<p>Good morning.</p><p>A short week.</p>", "Rain &lt;again&gt;",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, not := range []string{"Hello", "You receive", "/unsubscribe", "View this edition in your browser", `class="greeting"`} {
		if strings.Contains(page, not) {
			t.Errorf("the page carries %q", not)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		s    int
		want string
	}{{0, ""}, {20, "1 min"}, {424, "7 min"}, {3600, "1 h"}, {3900, "1 h 5 min"}} {
		if got := duration(tt.s); got != tt.want {
			t.Errorf("duration(%d) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

// TestNarrowImagesAtTheirSize: an image narrower than the column is shown
// at its own width, a wide one fills the column; an episode has a Listen
// link with its length in both parts.
func TestNarrowImagesAtTheirSize(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	r := Renderer{Set: set, ListName: "The Daily Brief"}
	out, err := r.Render(context.Background(), brief.Issue{ID: 1, Date: time.Now(), Stories: []brief.Story{
		{Title: "Narrow", ImageURL: "https://news.example/n.jpg", ImageWidth: 140},
		{Title: "Wide", ImageURL: "https://news.example/w.jpg", ImageWidth: 1200},
		{Title: "Episode", Audio: brief.Audio{URL: "https://pod.example/e.mp3", Type: "audio/mpeg", Seconds: 1925}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	htmlBody, text := out.Personalize(brief.Recipient{Email: "a@example.com"}, "https://x.example/u")
	for _, want := range []string{`src="https://news.example/n.jpg" alt="" width="140"`, `src="https://news.example/w.jpg" alt="" width="576"`,
		`href="https://pod.example/e.mp3"`, "Listen (32 min)"} {
		if !strings.Contains(htmlBody, want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
	if !strings.Contains(text, "Listen (32 min):\n    https://pod.example/e.mp3") {
		t.Errorf("text lacks the Listen line:\n%s", text)
	}
}

// TestTwentyLongStoriesUnderGmailsClip: an edition of 20 long stories
// (the longest lead, an image, three other sources, tags) stays under
// Gmail's 102 KB clipping limit.
func TestTwentyLongStoriesUnderGmailsClip(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	r := Renderer{Set: set, ListName: "The Daily Brief", BaseURL: "https://brief.example", LogoURL: "https://brief.example/logo.png",
		PostalAddress: "The Daily Brief, 1 Harbour Street, Portsmouth PO1 2AB, United Kingdom", Contact: "editors@brief.example"}
	is := brief.Issue{ID: 9, Date: time.Now(), Note: strings.Repeat("A word from the desk. ", 20)}
	for i := range 20 {
		st := brief.Story{ID: int64(i + 1), Title: fmt.Sprintf("Story %d: %s", i, strings.Repeat("a long headline that goes on ", 3)),
			URL: fmt.Sprintf("https://news.example/2026/12/01/a-long-path-for-story-%d-with-words?id=%d", i, i), Source: "Harbour News",
			Author: "Ada Reporter", Summary: strings.Repeat("x", 300) + ".", ImageURL: fmt.Sprintf("https://img.example/%d.jpg", i),
			Tags: []string{[]string{"city", "port", "weather"}[i%3]}}
		for j := range 3 {
			st.Also = append(st.Also, brief.Link{Source: fmt.Sprintf("Outlet %d", j), URL: fmt.Sprintf("https://outlet%d.example/story-%d", j, i)})
		}
		is.Stories = append(is.Stories, st)
	}
	out, err := r.Render(context.Background(), is)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 long stories: %d bytes of HTML (Gmail clips at %d)", out.HTMLSize, GmailClipBytes)
	if out.HTMLSize >= GmailClipBytes {
		t.Errorf("%d bytes, over Gmail's clipping limit", out.HTMLSize)
	}
}
