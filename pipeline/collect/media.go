package collect

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// What an item carries besides its text: the lead image and a podcast
// episode's audio.

// minLeadWidth is the narrowest image shown across the e-mail's column;
// a narrower one is shown at its own size.
const minLeadWidth = 200

// junkImageURL matches image URLs no reader wants as a story's picture:
// feed proxies' tracking pixels and share buttons ("flares"), ad servers,
// statistics beacons, avatars, emoji and icons, and Flash or video pages
// given as media.
var junkImageURL = regexp.MustCompile(`(?i)feeds\.feedburner\.com/~|feedproxy\.google\.com/~|feedsportal\.com|` +
	`doubleclick\.net|/~ff/|/~r/|[/_.-]pixel|1x1\.|/b\.gif|stats\.wordpress\.com|pixel\.wp\.com|` +
	`gravatar\.com/avatar|/avatars?/|emoji|smilies|[/_-]icons?[/_.-]|share[-_]?(button|icon)|/share/|` +
	`youtube\.com/v/|\.swf(\?|$)|feeds\.wordpress\.com/|/comments/`)

type imageCandidate struct {
	url   string
	width int // declared, 0 when unknown
}

// leadImage picks an article's image and its declared width (0 when
// unknown): of the item's image, its media:content and media:thumbnail
// (also inside media:group, as YouTube gives them), image enclosures and
// the images of its content, the widest declared one that is not junk
// (tracking pixels, share buttons, icons, Flash and video pages), else the
// first such one undeclared. Relative URLs are resolved against base; only
// absolute http(s) URLs are kept.
func leadImage(item *gofeed.Item, base, safeHTML string) (string, int) {
	var cands []imageCandidate
	add := func(u string, w int) {
		cands = append(cands, imageCandidate{strings.TrimSpace(u), w})
	}
	if item.Image != nil {
		add(item.Image.URL, 0)
	}
	if media, ok := item.Extensions["media"]; ok {
		var walk func(es []ext.Extension, name string)
		walk = func(es []ext.Extension, name string) {
			for _, e := range es {
				switch name {
				case "content":
					medium, typ := e.Attrs["medium"], e.Attrs["type"]
					if (medium == "" || medium == "image") && (typ == "" || strings.HasPrefix(typ, "image/")) {
						add(e.Attrs["url"], atoi(e.Attrs["width"]))
					}
				case "thumbnail":
					add(e.Attrs["url"], atoi(e.Attrs["width"]))
				}
				for kid, kids := range e.Children {
					walk(kids, kid)
				}
			}
		}
		for name, es := range media {
			walk(es, name)
		}
	}
	for _, enc := range item.Enclosures {
		if enc != nil && strings.HasPrefix(enc.Type, "image/") {
			add(enc.URL, 0)
		}
	}
	for _, img := range contentImages(safeHTML) {
		cands = append(cands, img)
	}
	best, bestWidth := "", -1
	for i := range cands {
		if cands[i].width == 0 {
			cands[i].width = urlWidth(cands[i].url)
		}
	}
	for _, c := range cands {
		if c.url == "" || junkImageURL.MatchString(c.url) || (c.width > 0 && c.width <= 2) {
			continue
		}
		u, err := url.Parse(resolve(base, c.url))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if best == "" || c.width > bestWidth {
			best, bestWidth = u.String(), c.width
		}
	}
	if bestWidth < 0 {
		bestWidth = 0
	}
	return best, bestWidth
}

// contentImages lists the images of sanitized HTML with their declared
// width (from width, else the widest srcset entry).
func contentImages(safeHTML string) []imageCandidate {
	if !strings.Contains(safeHTML, "<img") {
		return nil
	}
	var out []imageCandidate
	z := html.NewTokenizer(strings.NewReader(safeHTML))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if atom.Lookup(name) != atom.Img || !hasAttr {
			continue
		}
		var c imageCandidate
		var height int
		for {
			k, v, more := z.TagAttr()
			switch string(k) {
			case "src":
				c.url = string(v)
			case "width":
				c.width = atoi(string(v))
			case "height":
				height = atoi(string(v))
			case "srcset":
				for _, part := range strings.Split(string(v), ",") {
					f := strings.Fields(part)
					if len(f) == 2 && strings.HasSuffix(f[1], "w") {
						if w := atoi(strings.TrimSuffix(f[1], "w")); w > c.width {
							c.url, c.width = f[0], w
						}
					}
				}
			}
			if !more {
				break
			}
		}
		if c.width > 0 && c.width <= 2 || height > 0 && height <= 2 {
			continue // a tracking pixel
		}
		out = append(out, c)
	}
}

// sizedName matches the size image services and WordPress write into
// file names ("photo_142x100.jpg", "photo-150x150.png").
var sizedName = regexp.MustCompile(`[_-](\d{2,4})x(\d{2,4})\.(jpe?g|png|gif|webp)$`)

// urlWidth reads an image's width from its URL when it tells one: a
// size in the file name, or a w= or width= parameter; 0 when not.
func urlWidth(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	if m := sizedName.FindStringSubmatch(strings.ToLower(u.Path)); m != nil {
		return atoi(m[1])
	}
	q := u.Query()
	for _, k := range []string{"w", "width"} {
		if w := atoi(q.Get(k)); w > 0 {
			return w
		}
	}
	return 0
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "px"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// episodeAudio is a podcast episode's audio: its first audio enclosure
// (or media:content of an audio type), with the MIME type and the
// duration from itunes:duration ("1:02:03", "62:03" or seconds).
func episodeAudio(item *gofeed.Item, base string) (link, typ string, seconds int) {
	for _, enc := range item.Enclosures {
		if enc == nil {
			continue
		}
		t := strings.ToLower(strings.TrimSpace(enc.Type))
		if strings.HasPrefix(t, "audio/") || t == "" && audioExt.MatchString(enc.URL) {
			if u := webLink(resolve(base, enc.URL)); u != "" {
				link, typ = u, t
				break
			}
		}
	}
	if link == "" {
		if media, ok := item.Extensions["media"]; ok {
			for _, e := range media["content"] {
				if strings.HasPrefix(e.Attrs["type"], "audio/") || e.Attrs["medium"] == "audio" {
					if u := webLink(resolve(base, e.Attrs["url"])); u != "" {
						link, typ = u, e.Attrs["type"]
						seconds = atoi(e.Attrs["duration"])
						break
					}
				}
			}
		}
	}
	if link != "" && item.ITunesExt != nil && item.ITunesExt.Duration != "" {
		seconds = parseDuration(item.ITunesExt.Duration)
	}
	return link, typ, seconds
}

var audioExt = regexp.MustCompile(`(?i)\.(mp3|m4a|aac|ogg|oga|opus|wav)(\?|$)`)

// parseDuration reads "1:02:03", "62:03" or "3723" as seconds; 0 when it
// cannot.
func parseDuration(s string) int {
	total := 0
	for _, part := range strings.Split(strings.TrimSpace(s), ":") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 {
			return 0
		}
		total = total*60 + n
	}
	return total
}

// videoDescription is a video item's description (YouTube's
// media:group/media:description, or media:description), as text.
func videoDescription(item *gofeed.Item) string {
	media, ok := item.Extensions["media"]
	if !ok {
		return ""
	}
	for _, e := range media["description"] {
		if t := strings.TrimSpace(e.Value); t != "" {
			return t
		}
	}
	for _, g := range media["group"] {
		for _, d := range g.Children["description"] {
			if t := strings.TrimSpace(d.Value); t != "" {
				return t
			}
		}
	}
	return ""
}
