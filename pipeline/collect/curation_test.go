package collect

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"

	"github.com/newsbrief/newsbrief/pipeline"
)

// The curation corpus (testdata/curation, real material with its licences)
// and the report on it: go test ./pipeline/collect -run Curation -v.

type ending struct {
	page, lang, label, kind, text string
}

func readEndings(t *testing.T) (endings, genuine []ending) {
	t.Helper()
	f, err := os.Open("../../testdata/curation/endings.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 5 {
			t.Fatalf("endings.tsv: %q", sc.Text())
		}
		e := ending{c[0], c[1], c[2], c[3], c[4]}
		if e.label == "ending" {
			endings = append(endings, e)
		} else {
			genuine = append(genuine, e)
		}
	}
	return endings, genuine
}

// endingsReport places each real closing paragraph after two genuine ones
// (as a feed item's HTML, as a .txt file with single line breaks, and as a
// description-only item, whose summary is checked too) and each genuine
// look-alike at the end of an article, alone and followed by a closing.
type endingsReport struct {
	endings, removedHTML, removedText, removedSummary int
	genuine, keptLast, keptBeforeEnding               int
	bodyLost                                          int
	missed, wronglyRemoved                            []string
}

func measureEndings(t *testing.T, c *Cleaner, endings, genuine []ending) endingsReport {
	t.Helper()
	r := endingsReport{endings: len(endings), genuine: len(genuine)}
	body := func(i int, not string) []string {
		var out []string
		for j := 0; len(out) < 2; j++ {
			g := genuine[(i+j*7)%len(genuine)]
			if g.text != not {
				out = append(out, g.text)
			}
		}
		return out
	}
	htmlOf := func(paras []string) string {
		var b strings.Builder
		for _, p := range paras {
			b.WriteString("<p>" + html.EscapeString(p) + "</p>\n")
		}
		return b.String()
	}
	intact := func(text string, paras []string) bool {
		for _, p := range paras {
			if !strings.Contains(norm(text), norm(p)) {
				return false
			}
		}
		return true
	}
	for i, e := range endings {
		b := body(i, "")
		_, text := c.Clean(htmlOf(append(b, e.text)), "")
		if !strings.Contains(norm(text), norm(e.text)) {
			r.removedHTML++
		} else {
			r.missed = append(r.missed, e.page+" ("+e.lang+"): "+e.text)
		}
		if !intact(text, b) {
			r.bodyLost++
		}
		a, err := c.ParseArticleFile("a.txt", []byte("A title\n"+strings.Join(append(b, e.text), "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(norm(a.Text), norm(e.text)) {
			r.removedText++
		}
		col := &Collector{Cleaner: c}
		item := col.fromItem(&gofeed.Item{Title: "A title", Description: htmlOf([]string{b[0], e.text})}, "https://example.com/", nil)
		if !strings.Contains(norm(item.Summary), norm(e.text)) && !strings.Contains(norm(item.Text), norm(e.text)) {
			r.removedSummary++
		}
	}
	for i, g := range genuine {
		b := body(i, g.text)
		_, text := c.Clean(htmlOf(append(b, g.text)), "")
		if strings.Contains(norm(text), norm(g.text)) {
			r.keptLast++
		} else {
			r.wronglyRemoved = append(r.wronglyRemoved, g.page+" ("+g.lang+"): "+g.text)
		}
		_, text = c.Clean(htmlOf(append(b, g.text, endings[i%len(endings)].text)), "")
		if strings.Contains(norm(text), norm(g.text)) {
			r.keptBeforeEnding++
		}
	}
	return r
}

// feedsReport reads every item of the corpus's feeds as collecting does.
type feedsReport struct {
	feeds, items                                int
	junkImages, strayPunct, proxyLinks, tracked int
	videos, videosWithoutSummary                int
	episodes, episodesWithoutAudio              int
	boilerSummaries                             int
	footers, footerItems                        int
	examples                                    []string
}

// junkImage says whether a lead image is one no reader wants: a
// tracking pixel, a share button, an icon, an avatar, a Flash or video
// page URL rather than an image.
var junkImage = regexp.MustCompile(`(?i)feeds\.feedburner\.com/~|feedsportal|/~ff/|/~r/|[/_.-]pixel|1x1|share|flare|youtube\.com/v/|\.swf(\?|$)|gravatar\.com/avatar|[/_-]icon|emoji|smilies|doubleclick|/b\.gif|stats\.wordpress`)

var strayPunct = regexp.MustCompile(` [,;:!?)]| \.(\s|$)| …|\( `)

var proxyLink = regexp.MustCompile(`(?i)feedproxy\.google\.com|feeds\.feedburner\.com/~r/|google\.[a-z.]+/url\?`)

var trackedLink = regexp.MustCompile(`(?i)[?&](utm_[a-z]+|wt_mc|mc_cid|mc_eid|gclid|fbclid|source=rss|cmpid|ncid|ref=rss)`)

var boilerSummary = regexp.MustCompile(`(?i)appeared first on|continue reading|read more|the post .* appeared`)

func measureFeeds(t *testing.T, c *Cleaner) feedsReport {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/curation/feeds/*.*")
	var r feedsReport
	col := &Collector{Cleaner: c}
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "LICENSE") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, err := toUTF8(raw, "")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		feed, err := gofeed.NewParser().ParseString(string(body))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r.feeds++
		base := feed.Link
		name := filepath.Base(f)
		var arts []pipeline.Article
		for _, it := range feed.Items {
			arts = append(arts, col.fromItem(it, base, nil))
		}
		learned := learnFooters(arts)
		r.footers += len(learned)
		for k := range learned {
			r.examples = append(r.examples, name+": footer learned: "+learned[k])
		}
		for i := range arts {
			if len(stripFooters(&arts[i], learned)) > 0 {
				r.footerItems++
			}
		}
		for i, it := range feed.Items {
			a := arts[i]
			r.items++
			if a.ImageURL != "" && junkImage.MatchString(a.ImageURL) {
				r.junkImages++
				r.examples = append(r.examples, name+": image "+a.ImageURL)
			}
			if strayPunct.MatchString(a.Summary) {
				r.strayPunct++
				r.examples = append(r.examples, name+": summary "+a.Summary)
			}
			if boilerSummary.MatchString(a.Summary) {
				r.boilerSummaries++
				r.examples = append(r.examples, name+": summary "+a.Summary)
			}
			if proxyLink.MatchString(a.URL) {
				r.proxyLinks++
				r.examples = append(r.examples, name+": link "+a.URL)
			}
			if trackedLink.MatchString(a.URL) {
				r.tracked++
				r.examples = append(r.examples, name+": link "+a.URL)
			}
			if strings.Contains(a.URL, "youtube.com/watch") {
				r.videos++
				if a.Summary == "" {
					r.videosWithoutSummary++
				}
			}
			for _, enc := range it.Enclosures {
				if enc != nil && strings.HasPrefix(enc.Type, "audio/") {
					r.episodes++
					if a.AudioURL == "" {
						r.episodesWithoutAudio++
					}
					break
				}
			}
		}
	}
	return r
}

// TestCuration checks the curation corpus and prints the report.
func TestCuration(t *testing.T) {
	c := NewCleaner()
	endings, genuine := readEndings(t)
	langs := map[string]bool{}
	for _, e := range endings {
		langs[e.lang] = true
	}
	if len(endings) < 30 || len(langs) < 6 || len(genuine) < 20 {
		t.Fatalf("the corpus: %d endings in %d languages, %d genuine", len(endings), len(langs), len(genuine))
	}
	er := measureEndings(t, c, endings, genuine)
	fr := measureFeeds(t, c)
	t.Logf("curation report")
	t.Logf("  endings removed: %d/%d as HTML, %d/%d in .txt files, %d/%d from description-only items (body and summary)",
		er.removedHTML, er.endings, er.removedText, er.endings, er.removedSummary, er.endings)
	t.Logf("  genuine paragraphs kept: %d/%d as the last, %d/%d before a closing; articles that lost body text: %d",
		er.keptLast, er.genuine, er.keptBeforeEnding, er.genuine, er.bodyLost)
	t.Logf("  feeds: %d with %d items; junk lead images %d; summaries with a stray space %d; summaries with boilerplate %d",
		fr.feeds, fr.items, fr.junkImages, fr.strayPunct, fr.boilerSummaries)
	t.Logf("  source footers learned %d, removed from %d items", fr.footers, fr.footerItems)
	t.Logf("  links through a proxy %d, with trackers %d; videos %d (%d without a summary); episodes %d (%d without an audio link)",
		fr.proxyLinks, fr.tracked, fr.videos, fr.videosWithoutSummary, fr.episodes, fr.episodesWithoutAudio)
	// the bar the issue set, held on this corpus
	if er.removedHTML < er.endings || er.removedText < er.endings || er.removedSummary < er.endings {
		t.Errorf("closing paragraphs kept (run with -v to see them)")
	}
	if er.keptLast < er.genuine || er.keptBeforeEnding < er.genuine || er.bodyLost > 0 {
		t.Errorf("genuine paragraphs removed (run with -v to see them)")
	}
	if fr.junkImages+fr.strayPunct+fr.boilerSummaries+fr.proxyLinks+fr.tracked+fr.videosWithoutSummary+fr.episodesWithoutAudio > 0 {
		t.Errorf("junk left in the feeds' items (run with -v to see it)")
	}
	if testing.Verbose() {
		for _, m := range er.missed {
			t.Logf("  kept ending: %s", m)
		}
		for _, m := range er.wronglyRemoved {
			t.Logf("  removed genuine: %s", m)
		}
		for _, m := range fr.examples {
			t.Logf("  %s", m)
		}
	}
}

// TestCurationFields checks items of the captured feeds field by field:
// the publisher's link, the widest image (and a narrow one's width), a
// video's thumbnail and description, an episode's audio and duration, a
// summary without stray spaces.
func TestCurationFields(t *testing.T) {
	col := &Collector{Cleaner: NewCleaner()}
	first := func(name string) pipeline.Article {
		t.Helper()
		raw, err := os.ReadFile("../../testdata/curation/feeds/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, err := toUTF8(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		feed, err := gofeed.NewParser().ParseString(string(body))
		if err != nil {
			t.Fatal(err)
		}
		return col.fromItem(feed.Items[0], feed.Link, nil)
	}
	tests := []struct {
		feed  string
		check func(a pipeline.Article) bool
		what  string
	}{
		{"rss-parser-guardian.rss", func(a pipeline.Article) bool { return strings.Contains(a.ImageURL, "w=460") && a.ImageWidth == 460 },
			"the wider of two media:content images, with its width"},
		{"feedjira-youtube_atom.xml", func(a pipeline.Article) bool {
			return a.ImageURL == "https://i2.ytimg.com/vi/5shykyfmb28/hqdefault.jpg" && strings.HasPrefix(a.Summary, "A question is the most powerful force")
		}, "YouTube's thumbnail (not the Flash URL) and media:description as the summary"},
		{"feedjira-itunes.xml", func(a pipeline.Article) bool {
			return strings.HasSuffix(a.AudioURL, "AllAboutEverythingEpisode3.m4a") && a.AudioType == "audio/x-m4a" && a.AudioSeconds == 7*60+4
		}, "the episode's audio and its itunes:duration"},
		{"feedjira-TechCrunch.xml", func(a pipeline.Article) bool {
			return a.URL == "http://techcrunch.com/2011/11/02/angies-list-prices-ipo-at-11-to-13-per-share-valued-at-over-600m/" &&
				a.ImageWidth == 150 && !strings.Contains(a.Summary, " ,") && strings.Contains(a.Summary, "In a new filing, the company")
		}, "feedburner:origLink, not the proxy; the wider of its thumbnails (150 px, from its URL) with that width; no space before a comma left by a link"},
		{"feedjira-google_alerts_atom.xml", func(a pipeline.Article) bool {
			return strings.HasPrefix(a.URL, "https://www.aglobalmarketresearch.com/report-offers") && strings.HasSuffix(a.Summary, "senior…")
		}, "Google's redirect unwrapped; the source's own cut as one ellipsis"},
		{"rss-parser-uolNoticias.rss", func(a pipeline.Article) bool {
			return a.ImageWidth == 142 && strings.HasPrefix(a.Summary, "Líder na pesquisa Ibope")
		},
			"a Latin-1 feed's text; a thumbnail's width from its file name"},
	}
	for _, tt := range tests {
		if a := first(tt.feed); !tt.check(a) {
			t.Errorf("%s: %s:\n url %q\n image %q (%d)\n audio %q %q %d\n summary %q", tt.feed, tt.what, a.URL, a.ImageURL, a.ImageWidth,
				a.AudioURL, a.AudioType, a.AudioSeconds, a.Summary)
		}
	}
}
