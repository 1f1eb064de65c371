package collect

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/newsbrief/newsbrief/pipeline"
)

// A source's own footer: a closing block that ends many of its items, in
// words no pattern knows ("Harbour News is a member of the Local Press
// Trust"), learned from the feed and removed from every item that ends
// with it, now and in later collects.

// footerMinItems is how many of a feed's items must end with the same
// block (and footerShare of them) for it to be the source's footer.
const (
	footerMinItems = 3
	footerShare    = 0.4
	footerMaxRunes = 600 // a longer closing block is content
	footerTail     = 3   // an item's last blocks looked at
)

// footerKey folds a block's text for comparison: lower case, every digit
// as #, only letters, digits and single spaces.
func footerKey(t string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(t) {
		switch {
		case unicode.IsDigit(r):
			b.WriteByte('#')
			space = false
		case unicode.IsLetter(r):
			b.WriteRune(r)
			space = false
		case !space && b.Len() > 0:
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// tailKeys returns the folded keys of the last footerTail text blocks of
// sanitized HTML, never its first block (an article's opening is never
// its footer).
func tailKeys(safe string) []string {
	root, err := parseFragment(safe)
	if err != nil {
		return nil
	}
	first := root.FirstChild
	for first != nil && strings.TrimSpace(textOf(first)) == "" {
		first = first.NextSibling
	}
	var keys []string
	for n := root.LastChild; n != nil && n != first && len(keys) < footerTail; n = n.PrevSibling {
		t := strings.TrimSpace(textOf(n))
		if t == "" {
			continue
		}
		if utf8.RuneCountInString(t) <= footerMaxRunes {
			keys = append(keys, footerKey(t))
		} else {
			break // long content: no footer before it
		}
	}
	return keys
}

// learnFooters finds the blocks that end at least footerMinItems of the
// items and footerShare of them: key → text.
func learnFooters(arts []pipeline.Article) map[string]string {
	if len(arts) < footerMinItems {
		return nil
	}
	count := map[string]int{}
	text := map[string]string{}
	for _, a := range arts {
		seen := map[string]bool{}
		for _, k := range tailKeys(a.HTML) {
			if k != "" && !seen[k] {
				seen[k] = true
				count[k]++
			}
		}
	}
	out := map[string]string{}
	for k, n := range count {
		if n >= footerMinItems && float64(n) >= footerShare*float64(len(arts)) && len(strings.Fields(k)) >= 3 {
			out[k] = text[k]
		}
	}
	if len(out) == 0 {
		return nil
	}
	// the text as it reads, from the first item that has it
	for _, a := range arts {
		root, err := parseFragment(a.HTML)
		if err != nil {
			continue
		}
		for n := root.FirstChild; n != nil; n = n.NextSibling {
			t := strings.TrimSpace(textOf(n))
			if k := footerKey(t); out[k] == "" && hasKey(out, k) {
				out[k] = t
			}
		}
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// isFooter says whether a folded block is one of footers, or nearly
// (word sets sharing 85 %: a footer that names the article's title or
// date).
func isFooter(key string, footers map[string]string) bool {
	if _, ok := footers[key]; ok {
		return true
	}
	words := strings.Fields(key)
	if len(words) < 5 {
		return false
	}
	set := map[string]bool{}
	for _, w := range words {
		set[w] = true
	}
	for k := range footers {
		fw := strings.Fields(k)
		if len(fw) < 5 {
			continue
		}
		shared, union := 0, len(set)
		other := map[string]bool{}
		for _, w := range fw {
			if other[w] {
				continue
			}
			other[w] = true
			if set[w] {
				shared++
			} else {
				union++
			}
		}
		if float64(shared) >= 0.85*float64(union) {
			return true
		}
	}
	return false
}

// stripFooters removes the source's footers (and the short link lines
// beside them) from the end of an article, and renders its text and, when
// the summary carried a footer, its summary again. It returns the text of
// what it removed.
func stripFooters(a *pipeline.Article, footers map[string]string) []string {
	if len(footers) == 0 || a.HTML == "" {
		return nil
	}
	root, err := parseFragment(a.HTML)
	if err != nil {
		return nil
	}
	var removed []string
	var drop []*html.Node
	kept := 0
	for n := root.FirstChild; n != nil; n = n.NextSibling {
		if strings.TrimSpace(textOf(n)) != "" {
			kept++
		}
	}
	for n := root.LastChild; n != nil && kept > 1; n = n.PrevSibling {
		t := strings.TrimSpace(textOf(n))
		if t == "" {
			continue // white space, an image: neither content nor footer
		}
		if !isFooter(footerKey(t), footers) && !(len(removed) > 0 && navLike(t)) {
			break // the first content block from the end
		}
		removed = append(removed, t)
		drop = append(drop, n)
		kept--
	}
	for _, n := range drop {
		root.RemoveChild(n)
	}
	if len(removed) == 0 {
		return nil
	}
	a.HTML = renderChildren(root)
	a.Text = HTMLToText(a.HTML)
	for _, r := range removed {
		if strings.Contains(norm(a.Summary), norm(r)) || a.Summary == "" {
			a.Summary = Summarize(a.Text)
			break
		}
	}
	return removed
}

// norm folds white space.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }
