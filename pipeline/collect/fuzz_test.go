package collect

import (
	"bytes"
	"github.com/newsbrief/newsbrief/pipeline"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
)

func FuzzParseArticleFile(f *testing.F) {
	f.Add("a.md", []byte("---\ntitle: T\nurl: https://example.com/x\ndate: 2026-11-23\n---\nBody *text*.\n"))
	f.Add("b.md", []byte("---\ntitle: [x\n---\n"))
	f.Add("c.txt", []byte("Title\n\nPara <b>one</b>.\n"))
	f.Add("d.html", []byte("<html><title>T</title><body><h1>T</h1><p onclick=x>p</p><script>s()</script></body></html>"))
	f.Add("e.md", []byte("\ufeff---\r\ntitle: \"<img src=x onerror=alert(1)>\"\r\n---\r\n[a](javascript:alert(1))"))
	c := NewCleaner()
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		a, err := c.ParseArticleFile(name, data)
		if err != nil {
			return
		}
		// a title is plain text on one line (templates escape it)
		if strings.TrimSpace(a.Title) == "" || strings.ContainsAny(a.Title, "\r\n") {
			t.Fatalf("bad title %q", a.Title)
		}
		checkSafe(t, a.HTML)
		if !utf8.ValidString(a.Text) || !utf8.ValidString(a.Summary) {
			t.Fatal("invalid UTF-8 out")
		}
	})
}

func FuzzClean(f *testing.F) {
	f.Add(`<p onclick="x()">a<script>b()</script><a href="javascript:c()">d</a></p>`, "https://example.com/")
	f.Add(`<img src="/p.gif" width=1 height=1><iframe src=//evil></iframe>`, "")
	f.Add(`<<svg/onload=alert(1)>`, "http://x")
	f.Add(`<div class="share"><p>Share</p></div><p>Photo: x</p><p>body</p>`, "https://example.com/")
	c := NewCleaner()
	// an editor's rules must not let anything unsafe through either
	rules, err := CompileRules([]pipeline.Rule{{Kind: pipeline.RuleSelector, Pattern: "div.share, p:last-child"}, {Kind: pipeline.RuleRegex, Pattern: "^Photo: "}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, base string) {
		safe, text := c.Clean(raw, base)
		checkSafe(t, safe)
		ruled, _ := c.clean(raw, base, rules)
		checkSafe(t, ruled)
		if utf8.ValidString(raw) && !utf8.ValidString(text) {
			t.Fatal("invalid UTF-8 text from valid input")
		}
		_ = Summarize(text)
	})
}

func FuzzFeedItems(f *testing.F) {
	f.Add([]byte(`<rss version="2.0"><channel><title>T</title><item><title>A</title><link>/a</link><description>&lt;script&gt;x()&lt;/script&gt;d</description></item></channel></rss>`))
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>E</title><content type="html">&lt;p&gt;c&lt;/p&gt;</content></entry></feed>`))
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","title":"x","content_html":"<b>y</b>"}]}`))
	f.Add([]byte(`<rss><channel><item><title>cut`))
	c := &Collector{Cleaner: NewCleaner()}
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, item := range feed.Items {
			if item == nil {
				continue
			}
			a := c.fromItem(item, "https://feed.example/", nil)
			checkSafe(t, a.HTML)
			if strings.ContainsAny(a.Title, "\r\n") {
				t.Fatalf("title with a line break: %q", a.Title)
			}
		}
	})
}

// checkSafe fails on markup the cleaner must never let through.
func checkSafe(t *testing.T, safe string) {
	t.Helper()
	// parse it as a browser would: what matters is elements and attributes,
	// not text that happens to read "onclick=" (which is escaped)
	z := html.NewTokenizer(strings.NewReader(safe))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "form", "input", "style", "link", "meta", "base":
				t.Fatalf("cleaned HTML has a <%s> element: %s", tok.Data, safe)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.Map(func(r rune) rune {
					if r <= ' ' {
						return -1
					}
					return r
				}, a.Val))
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") {
					t.Fatalf("cleaned HTML has %s=%q on <%s>: %s", a.Key, a.Val, tok.Data, safe)
				}
			}
		}
	}
}
