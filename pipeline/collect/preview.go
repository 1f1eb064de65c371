package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/mmcdole/gofeed"

	"github.com/newsbrief/newsbrief/pipeline"
)

// ErrFetch is wrapped by PreviewRule's error when the feed could not be
// fetched or parsed.
var ErrFetch = errors.New("the feed could not be read")

// RulePreview is what a rule would remove from one of a source's items.
type RulePreview struct {
	Title   string
	URL     string
	Removed []string // the text of each block or element removed
}

// PreviewRule fetches src's feed now (nothing is stored, the conditional
// headers are left out so the whole feed comes) and tells what rule would
// remove from its newest n items, applied where collecting applies it
// (selectors to the HTML as it came, regular expressions after the
// sanitizer) and after the source's stored rules. Items it would leave
// alone are listed with nothing removed. A rule that does not compile
// returns an error wrapping pipeline.ErrBadRule.
func (c *Collector) PreviewRule(ctx context.Context, src pipeline.Source, rule pipeline.Rule, n int) ([]RulePreview, error) {
	if _, _, err := rule.Compile(); err != nil {
		return nil, err
	}
	stored, err := c.Store.Rules(ctx, src.ID)
	if err != nil {
		return nil, err
	}
	before, err := CompileRules(stored)
	if err != nil {
		return nil, err
	}
	only, err := CompileRules([]pipeline.Rule{rule})
	if err != nil {
		return nil, err
	}
	src.ETag, src.LastModified = "", ""
	fr, err := fetch(ctx, c.Fetch, c.Fetch.client(), src, c.Store.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, src.URL, err)
	}
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(fr.body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is no longer a feed: %w", ErrFetch, src.URL, err)
	}
	if n <= 0 {
		n = 10
	}
	var out []RulePreview
	for _, item := range feed.Items {
		if item == nil {
			continue
		}
		if len(out) == n {
			break
		}
		raw := item.Content
		if raw == "" {
			raw = item.Description
		}
		p := RulePreview{Title: CleanText(item.Title), URL: webLink(item.Link)}
		raw, _ = before.ApplySelectors(raw)
		if rule.Kind == pipeline.RuleSelector {
			_, p.Removed = only.ApplySelectors(raw)
		} else {
			safe := c.Cleaner.policy.Sanitize(rewriteLinks(raw, p.URL))
			safe, _ = before.ApplyRegexes(safe)
			_, p.Removed = only.ApplyRegexes(safe)
		}
		out = append(out, p)
	}
	return out, nil
}
