package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/newsbrief/newsbrief/pipeline"
)

// ErrNoFeed is wrapped by the error of Discover for an address that is
// not a feed and whose page links none that parses.
var ErrNoFeed = errors.New("no feed found")

// Discover checks an address before it becomes a source: it fetches it and,
// when it is a feed (RSS, Atom or JSON Feed) that parses, returns it with
// the feed's title; when it is a web page, it follows the page's
// <link rel="alternate"> feeds in order and returns the first that parses.
// A page with no feed, a 404 or a host that does not answer is an error
// wrapping ErrNoFeed and naming the reason; a malformed address wraps
// pipeline.ErrBadInput.
func (c *Collector) Discover(ctx context.Context, rawURL string) (feedURL, title string, err error) {
	u, err := pipeline.ValidateFeedURL(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", pipeline.ErrBadInput, err)
	}
	client := c.Fetch.client()
	get := func(u string) ([]byte, error) {
		fr, err := fetch(ctx, c.Fetch, client, pipeline.Source{URL: u}, c.Store.Now())
		return fr.body, err
	}
	body, err := get(u)
	if err != nil {
		return "", "", fmt.Errorf("%w at %s: %v", ErrNoFeed, u, err)
	}
	if feed, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err == nil {
		return u, CleanText(feed.Title), nil
	}
	links := alternates(body, u)
	if len(links) == 0 {
		return "", "", fmt.Errorf("%s: %w: it is not an RSS, Atom or JSON feed, and it links none (<link rel=\"alternate\">)", u, ErrNoFeed)
	}
	var tried []string
	for _, l := range links {
		b, err := get(l)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", l, err))
			continue
		}
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(b))
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: not a feed", l))
			continue
		}
		return l, CleanText(feed.Title), nil
	}
	return "", "", fmt.Errorf("%s: %w: the feeds its page links do not work (%s)", u, ErrNoFeed, strings.Join(tried, "; "))
}

// feedTypes are the <link type> values of feeds.
var feedTypes = map[string]bool{"application/rss+xml": true, "application/atom+xml": true,
	"application/feed+json": true, "application/json": true, "application/rdf+xml": true}

// alternates are the feeds an HTML page links with <link rel="alternate">,
// in page order, made absolute against base (http(s) only).
func alternates(page []byte, base string) []string {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Link {
			var rel, typ, href string
			for _, a := range n.Attr {
				switch strings.ToLower(a.Key) {
				case "rel":
					rel = strings.ToLower(a.Val)
				case "type":
					typ = strings.ToLower(strings.TrimSpace(a.Val))
				case "href":
					href = a.Val
				}
			}
			if strings.Contains(" "+rel+" ", " alternate ") && feedTypes[typ] {
				if l := webLink(resolve(base, href)); l != "" && !seen[l] {
					seen[l] = true
					out = append(out, l)
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	return out
}

// AddSource adds a feed as a source after Discover found it at rawURL (a
// feed, or a page linking one). Errors are Discover's, and
// pipeline.ErrDuplicate for a feed already added.
func (c *Collector) AddSource(ctx context.Context, rawURL, origin string) (src pipeline.Source, found string, err error) {
	feedURL, _, err := c.Discover(ctx, rawURL)
	if err != nil {
		return pipeline.Source{}, "", err
	}
	src, err = c.Store.AddSource(ctx, feedURL, origin)
	return src, feedURL, err
}
