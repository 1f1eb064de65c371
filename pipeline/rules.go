package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Rule kinds.
const (
	RuleRegex    = "regex"    // a block whose text matches is removed
	RuleSelector = "selector" // elements matching the CSS selector are removed
)

// Rule is an editor's boilerplate rule for one source.
type Rule struct {
	ID       int64
	SourceID int64
	Kind     string // RuleRegex or RuleSelector
	Pattern  string
}

// ErrBadRule is wrapped by the error for a rule that does not compile.
var ErrBadRule = errors.New("bad rule")

// compiledRules are a source's rules ready to apply.
type compiledRules struct {
	regexes   []*regexp.Regexp
	selectors []cascadia.Matcher
}

func compileRules(rules []Rule) (*compiledRules, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	c := &compiledRules{}
	for _, r := range rules {
		switch r.Kind {
		case RuleRegex:
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, fmt.Errorf("%w: regex %q: %v", ErrBadRule, r.Pattern, err)
			}
			c.regexes = append(c.regexes, re)
		case RuleSelector:
			sel, err := cascadia.ParseGroup(r.Pattern)
			if err != nil {
				return nil, fmt.Errorf("%w: selector %q: %v", ErrBadRule, r.Pattern, err)
			}
			c.selectors = append(c.selectors, sel)
		default:
			return nil, fmt.Errorf("%w: kind %q is not regex or selector", ErrBadRule, r.Kind)
		}
	}
	return c, nil
}

// applySelectors removes the elements the selectors match from the feed's
// HTML as it came (before sanitizing, which drops the classes and IDs
// selectors usually name); it returns the HTML and the text of what was
// removed.
func (c *compiledRules) applySelectors(raw string) (string, []string) {
	if c == nil || len(c.selectors) == 0 {
		return raw, nil
	}
	root, err := parseFragment(raw)
	if err != nil {
		return raw, nil
	}
	var removed []string
	for _, sel := range c.selectors {
		for _, n := range cascadia.QueryAll(root, sel) {
			if n.Parent != nil {
				removed = append(removed, strings.TrimSpace(textOf(n)))
				n.Parent.RemoveChild(n)
			}
		}
	}
	if len(removed) == 0 {
		return raw, nil
	}
	return renderChildren(root), removed
}

// applyRegexes removes from sanitized HTML the top-level blocks whose text
// a regular expression matches; it returns the HTML and the text of what
// was removed.
func (c *compiledRules) applyRegexes(safe string) (string, []string) {
	if c == nil || len(c.regexes) == 0 {
		return safe, nil
	}
	root, err := parseFragment(safe)
	if err != nil {
		return safe, nil
	}
	var removed []string
	for n := root.FirstChild; n != nil; {
		next := n.NextSibling
		t := strings.TrimSpace(textOf(n))
		for _, re := range c.regexes {
			if t != "" && re.MatchString(t) {
				removed = append(removed, t)
				root.RemoveChild(n)
				break
			}
		}
		n = next
	}
	if len(removed) == 0 {
		return safe, nil
	}
	return renderChildren(root), removed
}

// parseFragment parses an HTML fragment under a <div> it returns.
func parseFragment(s string) (*html.Node, error) {
	root := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(s), root)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	return root, nil
}

func renderChildren(root *html.Node) string {
	var b strings.Builder
	for n := root.FirstChild; n != nil; n = n.NextSibling {
		html.Render(&b, n)
	}
	return strings.TrimSpace(b.String())
}

// AddRule stores a boilerplate rule for a source (by ID or URL) after
// checking that it compiles.
func (s *Store) AddRule(ctx context.Context, idOrURL, kind, pattern string) (Rule, error) {
	r := Rule{Kind: kind, Pattern: pattern}
	if _, err := compileRules([]Rule{r}); err != nil {
		return Rule{}, err
	}
	src, err := s.Source(ctx, idOrURL)
	if err != nil {
		return Rule{}, err
	}
	r.SourceID = src.ID
	res, err := s.db.ExecContext(ctx, `INSERT INTO source_rules (source_id, kind, pattern, created_at) VALUES (?, ?, ?, ?)`,
		src.ID, kind, pattern, s.nowMS())
	if err != nil {
		return Rule{}, fmt.Errorf("add rule: %w", err)
	}
	r.ID, _ = res.LastInsertId()
	return r, nil
}

// RemoveRule deletes a rule by its ID.
func (s *Store) RemoveRule(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM source_rules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rule %d: %w", id, ErrNotFound)
	}
	return nil
}

// Rules lists the rules of one source (sourceID > 0) or of all, in the
// order they were added.
func (s *Store) Rules(ctx context.Context, sourceID int64) ([]Rule, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, source_id, kind, pattern FROM source_rules
		WHERE ?1 = 0 OR source_id = ?1 ORDER BY id`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		if err := rows.Scan(&r.ID, &r.SourceID, &r.Kind, &r.Pattern); err != nil {
			return nil, fmt.Errorf("list rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetPriority sets a source's priority: articles of higher-priority sources
// come first in an edition and win when the total cap cuts.
func (s *Store) SetPriority(ctx context.Context, idOrURL string, priority int) error {
	src, err := s.Source(ctx, idOrURL)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE sources SET priority = ? WHERE id = ?`, priority, src.ID); err != nil {
		return fmt.Errorf("set priority: %w", err)
	}
	return nil
}
