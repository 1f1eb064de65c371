package collect

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// boilerplate matches the closing blocks outlets append to their articles,
// by kind, in English, German, French, Spanish, Portuguese, Italian, Dutch
// and Czech: donation and membership appeals; newsletter, subscription and
// app promotions; social prompts and author lines that only point to a
// profile; "read more", "related" and comment stubs; feedback and
// correction requests; republication, copyright and licence notices; feed
// tools' footers. A block is removed only at the end of an article (see
// stripBoilerplate) and only when short (maxBoilerplate), so an article
// about donations, newsletters or Twitter keeps its body.
var boilerplate = regexp.MustCompile(`(?i)(` + strings.Join([]string{
	// appeals and memberships
	`support (our|independent|quality|local|public[- ]interest) (journalism|reporting|work|newsroom)`, `\bdonat(e|ion)s? (now|today|here)\b`,
	`make a (donation|contribution)`, `become a (member|supporter|subscriber|patron)`, `would you like to be part of`,
	`join our .{0,40}(program|community|club|membership)`, `thank you for (reading|your support|supporting)`,
	`thank you for making`, `(your|reader|readers'?) support (makes|keeps|is what|helps)`, `requires (courage|your support)`, `made possible by (readers|you|our)`,
	`unterstützen sie (uns|unseren|unabhängigen)`, `jetzt (spenden|unterstützen|mitglied werden)`, `soutenez(-nous| notre journalisme| le journalisme)`,
	`faites un don`, `faire un don`, `apoya (nuestro|el) periodismo`, `haz una donación`, `apoie (o|nosso) jornalismo`, `sostieni (il nostro|il) giornalismo`,
	`steun (onze|de) journalistiek`, `podpořte (nás|naši)`,
	// newsletters, subscriptions, apps
	`(sign up|subscribe|get|receive|keep up with|choose|join|inscri|abonn|recev|assin|suscr|escolha|recib|bestell|abonnier|odebír).{0,60}newsletter`,
	`newsletter.{0,40}(sign up|subscribe|inscri|abonn|here|now|free|gratis|grátis|gratuit)`, `^(the )?\S+( \S+){0,3} newsletters?$`,
	`\b(daily|weekly|morning|evening) newsletter\b`, `enter your e-?mail`, `delivered (straight )?to your inbox`, `sign up (to|for) (receive|get|our|the)`,
	`^sign up\b`, `^subscribe\b`, `subscribe (now|today|to (our|the|this))`, `\b\d+ days? free\b`, `free trial`,
	`be the first to know`, `download (our|the) app`, `get (our|the) app`, `^(recib[ií]|recevez|recevoir|receba|receive|erhalten).{0,40}(e-?mail|mail|inbox|courriel)`,
	`zprávy do e-mailu`, `abonnez-vous`, `s'abonner`, `offres d.abonnement`, `jetzt abonnieren`, `suscr[ií]be(te)?\b`, `assine (já|a|o)`,
	`předplat`, `abbonati`, `neem een abonnement`,
	// social and profile lines
	`follow (us|him|her|them|me) (on|at)\b`, `\bis on (twitter|x|instagram|mastodon|bluesky|facebook) at\b`, `click to share`,
	`share (this|the) (article|story|post)`, `^share (on|via)\b`, `sdílet článek`, `teilen sie (diesen|den) artikel`, `partager (cet|l.)article`,
	`compart(e|ir|a) (esta|este|a|o) (nota|notícia|artículo|matéria)`,
	// read more, related, comments
	`^\s*(read more|continue reading|keep reading|read the full (story|article))\b`, `continue reading the main story`,
	`^(more|related)\b[^.!?]{0,60}:?$`, `^(more|related)( \S+){0,5}:`, `^read more (articles|stories|from|about|by)\b`,
	`^(lire aussi|lire la suite|à lire aussi|voir aussi)`, `^(mehr zum thema|auch auf|lesen sie auch|weiterlesen|mehr dazu)`,
	`^kommentare lesen`, `^(más sobre|lee también|leer más|seguir leyendo|ver más)`, `^(leia (mais|também)|veja também|saiba mais)`,
	`^(continua a leggere|leggi anche)`, `^(lees verder|lees ook)`, `^(čtěte také|související)`,
	// feedback and corrections
	`tell us what you think`, `let us know what you think`, `interested in your feedback`, `send (us )?a (hot )?tip`,
	`if you (spot|notice|found|find|see)(ted)? an? (error|mistake|typo)`, `zaznamenali chybu`, `signaler une erreur`, `fehler gefunden`,
	// republication, copyright, licences, feed footers
	`the post .{1,200} appeared first on`, `^(this|the) (article|story|post|piece) (was )?(originally|first) (appeared|published|ran)`,
	`^originally (appeared|published)`, `^a version of this (article|story) (appeared|was published)`,
	`^this (article|story|post) (was )?(originally )?(published|appeared) (on|in|at|by)`, `republished (from|with permission)`,
	`^(copyright|\(c\)|©)`, `copyright (©|\(c\)|\d{4})`, `all rights reserved`, `todos los derechos reservados`,
	`todos os direitos reservados`, `tous droits réservés`, `alle rechte vorbehalten`, `všechna práva vyhrazena`,
	`licensed under (a |the )?creative commons`, `content (is )?licensed under cc`, `powered by (wordpress|blogger|ghost|substack)`,
	`originally published in .{1,80} on medium`, `thanks for reading .{1,80}(subscribe|support)`,
}, "|") + `)`)

// maxBoilerplate is the longest block, in characters of text, treated as
// boilerplate: a long paragraph that mentions donations is content.
const maxBoilerplate = 320

// tailBlocks is how many blocks from the end the closing is looked for in.
const tailBlocks = 8

// reported matches the reported speech of news: a block with a quote and
// a reporting verb is content, whatever it mentions.
var reported = regexp.MustCompile(`(?i)["“«„].{8,}?["”»“].{0,40}\b(said|says|told|added|wrote|tweeted|écrit|dit|a déclaré|sagte|erklärte|dijo|afirmó|disse|afirmou|píše|uvedl|řekl)\b|\b(said|says|told):?\s*["“«„]`)

// isBoiler says whether a block of text is closing boilerplate.
func isBoiler(t string) bool {
	t = strings.TrimSpace(t)
	return t != "" && utf8.RuneCountInString(t) <= maxBoilerplate && boilerplate.MatchString(t) && !reported.MatchString(t)
}

// navLike says whether a block is a short line that is not a sentence: a
// link, a heading, a section name ("Updates – The Outlet News Brief").
// Next to boilerplate such lines belong to it.
func navLike(t string) bool {
	t = strings.TrimSpace(t)
	n := utf8.RuneCountInString(t)
	return n > 0 && n <= 80 && !sentenceEnd(t) && !strings.ContainsAny(t, "\"“”«»")
}

// stripBoilerplate removes an article's closing boilerplate from sanitized
// HTML and returns the cleaned HTML and the text of what was removed.
// Among the last tailBlocks blocks, after the last long block of content,
// every block that matches boilerplate is removed, and so is every short
// non-sentence line (a link, a section name) next to a removed block; a
// short genuine line (a byline, a credit) between closings stays. An
// article that is all boilerplate is kept whole.
func stripBoilerplate(safe string) (string, []string) {
	nodes, err := html.ParseFragment(strings.NewReader(safe), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil || len(nodes) == 0 {
		return safe, nil
	}
	// the blocks, their text, and which are candidates
	var idx []int // nodes that are blocks with text
	var texts []string
	for i, n := range nodes {
		if n.Type == html.ElementNode && n.DataAtom == atom.Br || n.Type == html.TextNode && strings.TrimSpace(n.Data) == "" {
			continue
		}
		if t := strings.TrimSpace(textOf(n)); t != "" {
			idx = append(idx, i)
			texts = append(texts, t)
		}
	}
	if len(idx) == 0 {
		return safe, nil
	}
	drop := make([]bool, len(idx))
	start := len(idx) - tailBlocks
	if start < 0 {
		start = 0
	}
	// the tail begins after the last long block that is not boilerplate
	for k := len(idx) - 1; k >= start; k-- {
		if utf8.RuneCountInString(texts[k]) > maxBoilerplate/2 && !isBoiler(texts[k]) {
			start = k + 1
			break
		}
	}
	any := false
	for k := start; k < len(idx); k++ {
		if isBoiler(texts[k]) {
			drop[k], any = true, true
		}
	}
	if !any {
		return safe, nil
	}
	// short non-sentence lines next to removed blocks go with them
	for changed := true; changed; {
		changed = false
		for k := max(start, 1); k < len(idx); k++ { // never the article's first block
			if !drop[k] && navLike(texts[k]) && (k > start && drop[k-1] || k+1 < len(idx) && drop[k+1]) {
				drop[k], changed = true, true
			}
		}
	}
	kept := 0
	for k := range idx {
		if !drop[k] {
			kept++
		}
	}
	if kept == 0 {
		return safe, nil // everything looked like boilerplate: keep the article as it was
	}
	var removed []string
	skip := map[int]bool{}
	for k, i := range idx {
		if drop[k] {
			skip[i] = true
			removed = append(removed, texts[k])
		}
	}
	var b strings.Builder
	for i, n := range nodes {
		if !skip[i] {
			html.Render(&b, n)
		}
	}
	return strings.TrimSpace(b.String()), removed
}
