package collect

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// boilerplate matches the closing blocks outlets append to their articles:
// donation and membership appeals, newsletter and app promotions, "read
// more" stubs, share prompts and feed footers, in English, German, French,
// Spanish, Italian and Dutch. A block is removed only when it is short,
// matches, and stands at the end of the article (after the last block of
// content), so an article about donations keeps its body.
var boilerplate = regexp.MustCompile(`(?i)(` + strings.Join([]string{
	// English
	`support (our|independent|quality) (journalism|reporting|work)`, `\bdonat(e|ion)\b`, `become a (member|supporter|subscriber)`,
	`(sign up|subscribe) (for|to) (our|the) .{0,40}newsletter`, `\bnewsletter\b.{0,40}\b(sign up|subscribe)`, `download (our|the) app`,
	`^\s*(read more|continue reading|keep reading|read the full (story|article))\b.{0,80}$`,
	`share (this|on) (article|story|facebook|twitter|x)`, `the post .{1,200} appeared first on`, `this (article|story) (was )?(originally )?(published|appeared) (on|in|at)`,
	// German
	`unterstützen sie (unseren|unabhängigen) journalismus`, `jetzt (spenden|abonnieren|unterstützen)`, `\bweiterlesen\b`, `newsletter abonnieren`,
	// French
	`soutenez (notre|le) journalisme`, `faire un don`, `lire la suite`, `abonnez-vous à (notre|la) newsletter`,
	// Spanish
	`apoya (nuestro|el) periodismo`, `haz una donación`, `seguir leyendo`, `suscríbete a (nuestro|nuestra) (boletín|newsletter)`,
	// Italian
	`sostieni (il nostro|il) giornalismo`, `continua a leggere`, `fai una donazione`,
	// Dutch
	`steun (onze|de) journalistiek`, `lees verder`, `doneer nu`,
}, "|") + `)`)

// maxBoilerplate is the longest block, in bytes of text, treated as
// boilerplate: a long paragraph that mentions donations is content.
const maxBoilerplate = 400

// stripBoilerplate removes closing boilerplate blocks from sanitized HTML
// and returns the cleaned HTML and the text of what was removed.
func stripBoilerplate(safe string) (string, []string) {
	nodes, err := html.ParseFragment(strings.NewReader(safe), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil || len(nodes) == 0 {
		return safe, nil
	}
	isBoiler := func(n *html.Node) bool {
		t := strings.TrimSpace(textOf(n))
		return t != "" && len(t) <= maxBoilerplate && boilerplate.MatchString(t)
	}
	isBlank := func(n *html.Node) bool {
		return n.Type == html.TextNode && strings.TrimSpace(n.Data) == "" ||
			n.Type == html.ElementNode && n.DataAtom == atom.Br
	}
	var removed []string
	// from the end: drop boilerplate blocks until the first real one
	end := len(nodes)
	for ; end > 0; end-- {
		n := nodes[end-1]
		if isBlank(n) {
			continue
		}
		if !isBoiler(n) {
			break
		}
		removed = append(removed, strings.TrimSpace(textOf(n)))
	}
	if end == 0 {
		// everything looked like boilerplate: keep the article as it was
		return safe, nil
	}
	var b strings.Builder
	for _, n := range nodes[:end] {
		html.Render(&b, n)
	}
	return strings.TrimSpace(b.String()), removed
}
