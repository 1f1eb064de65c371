package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"golang.org/x/net/html"

	"github.com/mmcdole/gofeed"
)

// SourceResult is what one source yielded in a collect.
type SourceResult struct {
	Source string // URL, or the file's path for article files
	New    int    // articles stored (new or updated)
	Seen   int    // items read, duplicates included
	Err    error
	// Skipped is set when the source was not fetched because its server
	// asked (Retry-After) not to be asked again yet.
	Skipped bool
}

// CollectReport is the outcome of one Collect.
type CollectReport struct {
	Results []SourceResult
}

// Failed returns the results that carry an error.
func (r CollectReport) Failed() []SourceResult {
	var out []SourceResult
	for _, res := range r.Results {
		if res.Err != nil {
			out = append(out, res)
		}
	}
	return out
}

// New is the number of articles stored across all sources.
func (r CollectReport) New() int {
	n := 0
	for _, res := range r.Results {
		n += res.New
	}
	return n
}

// ErrSourcesFailed is wrapped by the error Collect returns when at least one
// source failed while the others were still collected.
var ErrSourcesFailed = errors.New("some sources failed")

// Collector fetches feeds and reads the articles folder into the pipeline.Store.
type Collector struct {
	Store       *pipeline.Store
	Cleaner     *Cleaner
	Fetch       FetchOptions
	ArticlesDir string // "" to read no folder
	Concurrency int    // feeds fetched at once
	Log         *slog.Logger
}

// Collect fetches every source and reads the articles folder. A failing
// source does not stop the others: their articles are stored, and the
// returned error wraps ErrSourcesFailed and names each failure. The report
// is complete in both cases.
func (c *Collector) Collect(ctx context.Context) (CollectReport, error) {
	all, err := c.Store.Sources(ctx)
	if err != nil {
		return CollectReport{}, err
	}
	var srcs []pipeline.Source
	for _, src := range all {
		if !src.Paused {
			srcs = append(srcs, src)
		}
	}
	var report CollectReport
	results := make([]SourceResult, len(srcs))
	n := c.Concurrency
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	client := c.Fetch.client()
	// one request at a time per host: a host's feeds are fetched in turn
	hosts := map[string]*sync.Mutex{}
	for _, src := range srcs {
		if _, ok := hosts[hostOf(src.URL)]; !ok {
			hosts[hostOf(src.URL)] = &sync.Mutex{}
		}
	}
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostLock := hosts[hostOf(src.URL)]
			hostLock.Lock()
			defer hostLock.Unlock()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = SourceResult{Source: src.URL, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			results[i] = c.collectFeed(ctx, client, src)
		}()
	}
	wg.Wait()
	report.Results = append(report.Results, results...)
	if c.ArticlesDir != "" {
		report.Results = append(report.Results, c.collectFolder(ctx)...)
	}
	if err := ctx.Err(); err != nil {
		return report, err
	}
	if failed := report.Failed(); len(failed) > 0 {
		var names []string
		for _, f := range failed {
			names = append(names, fmt.Sprintf("%s: %v", f.Source, f.Err))
		}
		return report, fmt.Errorf("%w (%d of %d): %s", ErrSourcesFailed, len(failed), len(report.Results), strings.Join(names, "; "))
	}
	return report, nil
}

func (c *Collector) collectFeed(ctx context.Context, client *http.Client, src pipeline.Source) SourceResult {
	res := SourceResult{Source: src.URL}
	log := c.logger().With("source", src.URL)
	if now := c.Store.Now(); src.RetryAfter.After(now) {
		log.Info("feed skipped: the server asked us to wait", "until", src.RetryAfter)
		res.Skipped = true
		return res
	}
	fr, err := fetch(ctx, c.Fetch, client, src, c.Store.Now())
	src.RetryAfter = fr.retryAfter
	if err == nil && fr.notModified {
		log.Debug("feed not modified")
		res.Err = c.Store.RecordFetch(ctx, src, "not-modified", nil, src.LastItems, 0)
		return res
	}
	var feed *gofeed.Feed
	if err == nil {
		feed, err = gofeed.NewParser().Parse(bytes.NewReader(fr.body))
		if err != nil {
			err = fmt.Errorf("parse feed: %w", err)
		}
	}
	if err != nil {
		res.Err = err
		log.Debug("feed failed", slog.Any("error", err)) // the caller reports it, once
		if rerr := c.Store.RecordFetch(ctx, src, "error", err, 0, 0); rerr != nil {
			res.Err = errors.Join(err, rerr)
		}
		return res
	}
	src.ETag, src.LastModified = fr.etag, fr.lastModified
	if t := CleanText(feed.Title); t != "" {
		src.Title = t
	}
	name := src.Title
	if name == "" {
		name = src.URL
	}
	base := src.URL
	if feed.Link != "" {
		base = resolve(src.URL, feed.Link)
	}
	srcRules, err := c.Store.Rules(ctx, src.ID)
	var rules *CompiledRules
	if err == nil {
		rules, err = CompileRules(srcRules)
	}
	if err != nil {
		res.Err = err
		return res
	}
	var arts []pipeline.Article
	for _, item := range feed.Items {
		if item == nil {
			continue
		}
		res.Seen++
		a := c.fromItem(item, base, rules)
		if a.Title == "" {
			continue
		}
		a.SourceID, a.SourceName, a.Origin = src.ID, name, "feed"
		arts = append(arts, a)
	}
	if err := c.stripSourceFooters(ctx, src, arts); err != nil {
		res.Err = err
		return res
	}
	for i := range arts {
		a := &arts[i]
		stored, err := c.Store.SaveArticle(ctx, a)
		if err != nil {
			res.Err = err
			break
		}
		if stored {
			res.New++
		}
	}
	status := "ok"
	if res.Err != nil {
		status = "error"
	}
	if err := c.Store.RecordFetch(ctx, src, status, res.Err, res.Seen, res.New); err != nil {
		res.Err = errors.Join(res.Err, err)
	}
	log.Info("feed collected", "items", res.Seen, "new", res.New)
	return res
}

// stripSourceFooters learns the footers this fetch's items share, adds
// them to the source's known ones, and removes them all from the items.
func (c *Collector) stripSourceFooters(ctx context.Context, src pipeline.Source, arts []pipeline.Article) error {
	footers, err := c.Store.Footers(ctx, src.ID)
	if err != nil {
		return err
	}
	learned := learnFooters(arts)
	fresh := map[string]string{}
	for k, t := range learned {
		if _, ok := footers[k]; !ok {
			fresh[k] = t
			footers[k] = t
		}
	}
	if err := c.Store.AddFooters(ctx, src.ID, fresh); err != nil {
		return err
	}
	if len(fresh) > 0 {
		c.logger().Debug("source footers learned", "source", src.URL, "footers", fresh)
	}
	for i := range arts {
		if removed := stripFooters(&arts[i], footers); len(removed) > 0 {
			c.logger().Debug("source footer removed", "source", src.URL, "title", arts[i].Title, "blocks", removed)
		}
	}
	return nil
}

// fromItem turns a feed item into an article: the full content preferred to
// the description, links resolved against the item or the feed.
func (c *Collector) fromItem(item *gofeed.Item, feedBase string, rules *CompiledRules) pipeline.Article {
	link := strings.TrimSpace(item.Link)
	if orig := origLink(item); orig != "" {
		link = orig // FeedBurner's proxy link hides the publisher's own
	}
	if link != "" {
		// only a web page is a story's link: javascript:, data: and the
		// like never reach the e-mail, the archive or the API
		link = webLink(resolve(feedBase, link))
	}
	body := item.Content
	if strings.TrimSpace(body) == "" {
		body = item.Description
	}
	base := link
	if base == "" {
		base = feedBase
	}
	safe, text := c.Cleaner.clean(body, base, rules)
	a := pipeline.Article{
		GUID:  strings.TrimSpace(item.GUID),
		URL:   pipeline.CleanURL(link),
		Title: CleanText(item.Title),
		HTML:  safe,
		Text:  text,
	}
	for _, cat := range item.Categories {
		a.Tags = append(a.Tags, CleanText(cat))
	}
	a.ImageURL, a.ImageWidth = leadImage(item, base, safe)
	a.AudioURL, a.AudioType, a.AudioSeconds = episodeAudio(item, base)
	if len(item.Authors) > 0 && item.Authors[0] != nil {
		a.Author = CleanText(item.Authors[0].Name)
	}
	if item.PublishedParsed != nil {
		a.PublishedAt = item.PublishedParsed.UTC()
	} else if item.UpdatedParsed != nil {
		a.PublishedAt = item.UpdatedParsed.UTC()
	}
	if a.PublishedAt.After(time.Now().Add(24 * time.Hour)) {
		a.PublishedAt = time.Time{} // a date in the future is not to be trusted
	}
	if strings.TrimSpace(text) == "" {
		// a video's description (YouTube's media:group) is its text
		if d := videoDescription(item); d != "" {
			a.HTML, a.Text = c.Cleaner.clean("<p>"+html.EscapeString(d)+"</p>", base, rules)
			text = a.Text
		}
	}
	// the feed's own excerpt when it is real text, cleaned like the body
	// (its footers and the source's rules removed), else the opening of
	// the cleaned body
	if item.Content != "" && item.Description != "" {
		if _, d := c.Cleaner.clean(item.Description, base, rules); len(d) > 40 && !autoExcerpt(d, text) {
			a.Summary = Summarize(d)
		}
	}
	if a.Summary == "" {
		a.Summary = Summarize(text)
	}
	return a
}

// autoExcerpt says whether a feed's description is only the start of the
// body cut by the publishing tool ("… [...]", "Continue reading"), which
// the body's own lead beats.
func autoExcerpt(desc, body string) bool {
	d := strings.TrimSpace(desc)
	for _, tail := range []string{"[...]", "[…]", "[&hellip;]", "...", "…"} {
		if strings.HasSuffix(d, tail) {
			return true
		}
	}
	start := strings.Join(strings.Fields(d), " ")
	if len(start) > 60 {
		start = start[:60]
	}
	return strings.HasPrefix(strings.Join(strings.Fields(body), " "), start)
}

// origLink is the publisher's own link that FeedBurner keeps beside its
// proxy link (feedburner:origLink), or "".
func origLink(item *gofeed.Item) string {
	for _, e := range item.Extensions["feedburner"]["origLink"] {
		if v := strings.TrimSpace(e.Value); v != "" {
			return v
		}
	}
	return ""
}

// webLink is u when it is an absolute http(s) URL with a host, else "".
func webLink(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func (c *Collector) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// hostOf is the host (with port) of a feed URL, for per-host politeness.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Host)
}
