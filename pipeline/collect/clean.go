package collect

import (
	"github.com/newsbrief/newsbrief/pipeline"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// summaryMax is the longest lead summary, in runes.
const summaryMax = 320

// Cleaner turns untrusted article HTML into sanitized HTML, plain text and a
// lead summary. It is safe for concurrent use.
type Cleaner struct {
	policy *bluemonday.Policy
	// Log, if set, gets what boilerplate removal took out, at debug level,
	// so an editor can see why a paragraph is missing.
	Log *slog.Logger
}

// NewCleaner returns a Cleaner with newsbrief's sanitizing policy: the
// user-generated-content policy of bluemonday (no scripts, styles, event
// handlers, iframes, forms or javascript: URLs), with links opened in a new
// tab and marked nofollow.
func NewCleaner() *Cleaner {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return &Cleaner{policy: p}
}

// Clean sanitizes raw HTML, resolving relative links against base (which
// may be empty), dropping 1×1 tracking images and tracking parameters from
// links. It returns the sanitized HTML and its plain-text rendering.
func (c *Cleaner) Clean(raw, base string) (safeHTML, text string) {
	return c.clean(raw, base, nil)
}

// clean is Clean with a source's own rules: its selectors applied to the
// HTML as it came, its regular expressions after the sanitizer, both before
// the built-in boilerplate rules.
func (c *Cleaner) clean(raw, base string, rules *CompiledRules) (safeHTML, text string) {
	raw, bySelector := rules.ApplySelectors(raw)
	raw = rewriteLinks(raw, base)
	safeHTML = strings.TrimSpace(c.policy.Sanitize(raw))
	safeHTML, byRegex := rules.ApplyRegexes(safeHTML)
	var removed []string
	if byRule := append(bySelector, byRegex...); len(byRule) > 0 && c.Log != nil {
		c.Log.Debug("removed by the source's rules", "base", base, "blocks", byRule)
	}
	safeHTML, removed = stripBoilerplate(safeHTML)
	if len(removed) > 0 && c.Log != nil {
		c.Log.Debug("boilerplate removed", "base", base, "blocks", removed)
	}
	return safeHTML, HTMLToText(safeHTML)
}

// CleanText strips every tag from s (used for titles and authors): the result
// is plain text on one line.
func CleanText(s string) string {
	if strings.ContainsAny(s, "<&") {
		s = HTMLToText(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

// rewriteLinks resolves relative href/src attributes against base, removes
// tracking parameters from links and drops images of 1×1 pixel. Invalid
// HTML is returned unchanged for the sanitizer to deal with.
func rewriteLinks(raw, base string) string {
	baseURL, _ := url.Parse(base)
	nodes, err := html.ParseFragment(strings.NewReader(raw), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return raw
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			if c.Type == html.ElementNode && c.DataAtom == atom.Img && isTrackingPixel(c) {
				n.RemoveChild(c)
			} else {
				walk(c)
			}
			c = next
		}
		if n.Type != html.ElementNode {
			return
		}
		for i, a := range n.Attr {
			if a.Key != "href" && a.Key != "src" {
				continue
			}
			v := strings.TrimSpace(a.Val)
			if baseURL != nil && baseURL.IsAbs() {
				if ref, err := url.Parse(v); err == nil {
					v = baseURL.ResolveReference(ref).String()
				}
			}
			if a.Key == "href" {
				v = pipeline.CleanURL(v)
			}
			n.Attr[i].Val = v
		}
	}
	var b strings.Builder
	for _, n := range nodes {
		walk(n)
		if n.Type == html.ElementNode && n.DataAtom == atom.Img && isTrackingPixel(n) {
			continue
		}
		if err := html.Render(&b, n); err != nil {
			return raw
		}
	}
	return b.String()
}

func isTrackingPixel(n *html.Node) bool {
	var w, h string
	for _, a := range n.Attr {
		switch a.Key {
		case "width":
			w = strings.TrimSuffix(strings.TrimSpace(a.Val), "px")
		case "height":
			h = strings.TrimSuffix(strings.TrimSpace(a.Val), "px")
		}
	}
	return (w == "1" || w == "0") && (h == "1" || h == "0")
}

var blockElements = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Blockquote: true, atom.Pre: true,
	atom.Tr: true, atom.Table: true, atom.Ul: true, atom.Ol: true, atom.Hr: true, atom.Figure: true,
	atom.Figcaption: true, atom.Section: true, atom.Article: true, atom.Header: true, atom.Footer: true,
}

// HTMLToText renders HTML as plain text: paragraphs separated by a blank
// line, the items of a list on lines of their own prefixed with "- ",
// table cells separated by a space, script and style contents dropped,
// white space folded. Inline markup adds no space of its own: text the
// HTML joins stays joined ("filing<a>,</a> the" reads "filing, the").
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	var cur strings.Builder
	prevItem := false // the last paragraph written was a list item
	item := false     // the paragraph being read is a list item
	flush := func() {
		if t := strings.Join(strings.Fields(cur.String()), " "); t != "" && t != "-" {
			if b.Len() > 0 {
				if item && prevItem {
					b.WriteString("\n")
				} else {
					b.WriteString("\n\n")
				}
			}
			b.WriteString(t)
			prevItem = item
		}
		cur.Reset()
		item = false
	}
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			return b.String()
		case html.TextToken:
			if skip == 0 {
				cur.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Script || a == atom.Style || a == atom.Noscript || a == atom.Template {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			switch {
			case blockElements[a]:
				flush()
				if a == atom.Li && tt == html.StartTagToken {
					cur.WriteString("- ")
					item = true
				}
				if a == atom.Ul || a == atom.Ol {
					prevItem = false // a new list starts a new paragraph
				}
			case a == atom.Td || a == atom.Th:
				cur.WriteByte(' ')
			}
		}
	}
}

// summaryMin is the length a summary of whole paragraphs aims at: shorter
// leads take the next paragraph too.
const summaryMin = 120

// Summarize returns a lead of at most summaryMax runes taken from text
// (paragraphs separated by blank lines, list items by line breaks, as
// HTMLToText writes them): whole paragraphs from the first real one (a
// short line without a sentence's end, such as a caption, a dateline or a
// heading, is skipped while a paragraph follows), list items joined with
// "; ", the last one cut at a sentence boundary where one exists past a
// third of the limit, else at a word boundary with an ellipsis.
func Summarize(text string) string {
	var paras []string
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		lines := strings.Split(p, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(strings.Join(strings.Fields(l), " "), "- ")
		}
		if p = strings.Join(strings.Fields(strings.Join(lines, "; ")), " "); p != "" && p != ";" {
			paras = append(paras, p)
		}
	}
	for len(paras) > 1 && utf8.RuneCountInString(paras[0]) < 80 && !sentenceEnd(paras[0]) {
		paras = paras[1:]
	}
	var out string
	for _, p := range paras {
		if out == "" {
			out = p
		} else if utf8.RuneCountInString(out)+1+utf8.RuneCountInString(p) <= summaryMax {
			out += " " + p
		} else {
			break
		}
		if utf8.RuneCountInString(out) >= summaryMin {
			break
		}
	}
	return cutSummary(out)
}

// sentenceEnd says whether s ends a sentence.
func sentenceEnd(s string) bool {
	s = strings.TrimRight(s, "\"'”’»)]")
	return strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") ||
		strings.HasSuffix(s, "…") || strings.HasSuffix(s, "。") || strings.HasSuffix(s, ":")
}

// cutSummary cuts text to summaryMax runes; a source's own cut ("… ...")
// becomes one ellipsis against the last word.
func cutSummary(text string) string {
	if t := strings.TrimSuffix(text, "..."); t != text {
		text = strings.TrimRightFunc(t, unicode.IsSpace) + "…"
	}
	if utf8.RuneCountInString(text) <= summaryMax {
		return text
	}
	runes := []rune(text)
	cut := string(runes[:summaryMax])
	best := -1
	for i, r := range cut {
		if (r == '.' || r == '!' || r == '?' || r == '。') && (i+utf8.RuneLen(r) == len(cut) || cut[i+utf8.RuneLen(r)] == ' ') {
			best = i + utf8.RuneLen(r)
		}
	}
	if best >= len(cut)/3 {
		return cut[:best]
	}
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) }) + "…"
}
