package collect

import (
	"regexp"
	"strings"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/newsbrief/newsbrief/pipeline"
)

// CompiledRules are a source's rules ready to apply.
type CompiledRules struct {
	regexes   []*regexp.Regexp
	selectors []cascadia.Matcher
}

// CompileRules compiles a source's rules; a rule that does not compile is
// an error wrapping ErrBadRule. No rules give a nil *CompiledRules, which
// applies nothing.
func CompileRules(rules []pipeline.Rule) (*CompiledRules, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	c := &CompiledRules{}
	for _, r := range rules {
		re, sel, err := r.Compile()
		if err != nil {
			return nil, err
		}
		if re != nil {
			c.regexes = append(c.regexes, re)
		} else {
			c.selectors = append(c.selectors, sel)
		}
	}
	return c, nil
}

// ApplySelectors removes the elements the selectors match from the feed's
// HTML as it came (before sanitizing, which drops the classes and IDs
// selectors usually name); it returns the HTML and the text of what was
// removed.
func (c *CompiledRules) ApplySelectors(raw string) (string, []string) {
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

// ApplyRegexes removes from sanitized HTML the top-level blocks whose text
// a regular expression matches; it returns the HTML and the text of what
// was removed.
func (c *CompiledRules) ApplyRegexes(safe string) (string, []string) {
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
