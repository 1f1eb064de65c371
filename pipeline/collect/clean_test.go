package collect

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSummarize(t *testing.T) {
	long := strings.Repeat("The council met again today to discuss the plan. ", 12)
	tests := []struct {
		name, in string
		check    func(string) bool
	}{
		{"short kept", "One line.", func(s string) bool { return s == "One line." }},
		{"white space folded", "  One   line.\n\n Two.  ", func(s string) bool { return s == "One line. Two." }},
		{"a caption is not the lead", "Photo: Reuters\n\nThe council met today.", func(s string) bool { return s == "The council met today." }},
		{"list items joined", "Three changes:\n\n- buses\n- trams\n- ferries", func(s string) bool { return s == "Three changes: buses; trams; ferries" }},
		{"a long lead stands alone", long + "\n\nThe second paragraph.", func(s string) bool { return !strings.Contains(s, "second") }},
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

func TestTextParagraphs(t *testing.T) {
	long := strings.Repeat("A line of a paragraph that goes on. ", 4)
	tests := []struct {
		name, in string
		want     []string
	}{
		{"a paragraph a line", long + "\n" + long + "\nSupport us.", []string{strings.TrimSpace(long), strings.TrimSpace(long), "Support us."}},
		{"a paragraph a line, blank lines too", long + "\n\n" + long, []string{strings.TrimSpace(long), strings.TrimSpace(long)}},
		{"hard-wrapped", "The council met\ntoday at noon.\n\nIt voted\nyes.", []string{"The council met today at noon.", "It voted yes."}},
		{"one short line", "Hello.", []string{"Hello."}},
	}
	for _, tt := range tests {
		if got := textParagraphs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"<ul><li>a</li><li>b</li></ul>", "- a\n- b"},
		{"<p>Before</p><ul><li>a</li><li>b</li></ul><p>After</p>", "Before\n\n- a\n- b\n\nAfter"},
		{"Hello <b>bold</b> world", "Hello bold world"},
		{"filing<a href=x>,</a> the ( <i>among</i> others)", "filing, the ( among others)"},
		{"<table><tr><td>a</td><td>b</td></tr></table>", "a b"},
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

func TestStripBoilerplate(t *testing.T) {
	body := "<p>The council approved the plan on Monday after a long debate about costs and timing.</p>"
	tests := []struct {
		name, in string
		keep     []string
		drop     []string
	}{
		{"donation appeal and newsletter promo",
			body + `<p>Support our journalism: donate today.</p><div><p>Sign up for our daily newsletter!</p></div>`,
			[]string{"council approved"}, []string{"donate today", "newsletter"}},
		{"read more stub", body + `<p><a href="https://x.example/a">Read more…</a></p>`, []string{"council approved"}, []string{"Read more"}},
		{"wordpress footer", body + `<p>The post Plan approved appeared first on City News.</p>`, []string{"council"}, []string{"appeared first"}},
		{"german", body + `<p>Jetzt spenden und unabhängigen Journalismus sichern.</p><p>Weiterlesen</p>`, []string{"council"}, []string{"spenden", "Weiterlesen"}},
		{"french and spanish", body + `<p>Lire la suite</p><p>Apoya nuestro periodismo.</p>`, []string{"council"}, []string{"Lire la suite", "Apoya"}},
		{"an article about donations keeps its body",
			`<p>Donations to the food bank doubled this winter, the charity said.</p>` + body,
			[]string{"Donations to the food bank", "council approved"}, nil},
		{"a closing paragraph that is content",
			body + `<p>Please read the full report on the city's website before the vote.</p>`,
			[]string{"read the full report"}, nil},
		{"all boilerplate keeps everything", `<p>Read more</p>`, []string{"Read more"}, nil},
		{"an appeal whatever line ends the article (the shape of the outlet report this product was designed from)",
			body + `<p>Investigative journalism takes time – and it requires your support. Support our work for free expression.</p>` +
				`<p>Thank you for making our independent work possible.</p><p><a href="/updates">Updates – Harbour News Brief</a></p>` +
				`<p><a href="/en">To the Harbour News Brief in English</a></p>`,
			[]string{"council approved"}, []string{"requires your support", "Thank you", "Updates", "in English"}},
		{"a byline between closings stays",
			body + `<p>This article originally appeared on The Atlantic.</p><p>Sarah Archer is the author of The Midcentury Kitchen.</p>`,
			[]string{"council approved", "Sarah Archer"}, []string{"originally appeared"}},
		{"reported speech is content", body + `<p>“Sign up for our newsletter,” the mayor said, “if you want to know more.”</p>`,
			[]string{"the mayor said"}, nil},
		{"a short last line of news stays", body + `<p>More than 200 people were evacuated.</p>`, []string{"More than 200"}, nil},
	}
	for _, tt := range tests {
		got, removed := stripBoilerplate(tt.in)
		for _, k := range tt.keep {
			if !strings.Contains(got, k) {
				t.Errorf("%s: lost %q: %s", tt.name, k, got)
			}
		}
		for _, d := range tt.drop {
			if strings.Contains(got, d) {
				t.Errorf("%s: kept %q: %s", tt.name, d, got)
			}
		}
		if len(tt.drop) > 0 && len(removed) == 0 {
			t.Errorf("%s: nothing reported removed", tt.name)
		}
	}
}
