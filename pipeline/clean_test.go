package pipeline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/a?utm_source=x&utm_medium=y&id=3", "https://example.com/a?id=3"},
		{"https://example.com/a?fbclid=abc", "https://example.com/a"},
		{"https://example.com/a#section", "https://example.com/a"},
		{"https://example.com/a?UTM_Campaign=z&q=go", "https://example.com/a?q=go"},
		{"mailto:a@example.com", "mailto:a@example.com"},
		{"/relative/path", "/relative/path"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CleanURL(tt.in); got != tt.want {
			t.Errorf("CleanURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalURL(t *testing.T) {
	same := []string{
		"https://www.example.com/story/?b=2&a=1&utm_source=feed",
		"http://example.com/story?a=1&b=2#comments",
		"https://EXAMPLE.com/story?a=1&b=2",
	}
	want := canonicalURL(same[0])
	for _, u := range same[1:] {
		if got := canonicalURL(u); got != want {
			t.Errorf("canonicalURL(%q) = %q, want %q", u, got, want)
		}
	}
	if canonicalURL("https://example.com/other") == want {
		t.Error("different pages share a key")
	}
}

func TestSummarize(t *testing.T) {
	long := strings.Repeat("The council met again today to discuss the plan. ", 12)
	tests := []struct {
		name, in string
		check    func(string) bool
	}{
		{"short kept", "One line.", func(s string) bool { return s == "One line." }},
		{"white space folded", "  a\n\n b  ", func(s string) bool { return s == "a b" }},
		{"ends at a sentence", long, func(s string) bool {
			return strings.HasSuffix(s, "plan.") && utf8.RuneCountInString(s) <= summaryMax
		}},
		{"no sentence: word boundary and ellipsis", strings.Repeat("word ", 200), func(s string) bool {
			return strings.HasSuffix(s, "word…") && utf8.RuneCountInString(s) <= summaryMax+1
		}},
		{"multibyte safe", strings.Repeat("日本語の文章です", 100), func(s string) bool {
			return utf8.ValidString(s) && utf8.RuneCountInString(s) <= summaryMax+1
		}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.in); !tt.check(got) {
			t.Errorf("%s: Summarize = %q", tt.name, got)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"<ul><li>a</li><li>b</li></ul>", "- a\n\n- b"},
		{"Hello <b>bold</b> world", "Hello bold world"},
		{"<p>x<script>evil()</script>y</p>", "xy"},
		{"<style>p{}</style><p>Text &amp; more</p>", "Text & more"},
		{"broken <p unclosed", "broken"},
	}
	for _, tt := range tests {
		if got := HTMLToText(tt.in); got != tt.want {
			t.Errorf("HTMLToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanHostileHTML(t *testing.T) {
	c := NewCleaner()
	in := `<p onclick="steal()">Hi <a href="javascript:alert(1)">x</a> <a href="/more?utm_source=feed">more</a></p>
<script>alert(1)</script><iframe src="https://evil.example"></iframe><form action="/x"><input name="q"></form>
<img src="https://t.example/pixel.gif" width="1" height="1"><img src="/photo.jpg" alt="photo">
<style>body{display:none}</style><object data="x.swf"></object>`
	safe, text := c.Clean(in, "https://news.example/story/1")
	for _, bad := range []string{"onclick", "javascript:", "<script", "<iframe", "<form", "<input", "pixel.gif", "<style", "<object", "utm_source"} {
		if strings.Contains(safe, bad) {
			t.Errorf("cleaned HTML still has %q:\n%s", bad, safe)
		}
	}
	for _, good := range []string{`href="https://news.example/more"`, `src="https://news.example/photo.jpg"`, "Hi"} {
		if !strings.Contains(safe, good) {
			t.Errorf("cleaned HTML lacks %q:\n%s", good, safe)
		}
	}
	if strings.Contains(text, "alert") || !strings.Contains(text, "Hi") {
		t.Errorf("text = %q", text)
	}
}
