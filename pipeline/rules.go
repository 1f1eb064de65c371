package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/andybalholm/cascadia"
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

// Compile compiles the rule: a regular expression or a CSS selector group
// (the other is nil). An error wraps ErrBadRule.
func (r Rule) Compile() (*regexp.Regexp, cascadia.Matcher, error) {
	switch r.Kind {
	case RuleRegex:
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: regex %q: %v", ErrBadRule, r.Pattern, err)
		}
		return re, nil, nil
	case RuleSelector:
		sel, err := cascadia.ParseGroup(r.Pattern)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: selector %q: %v", ErrBadRule, r.Pattern, err)
		}
		return nil, sel, nil
	}
	return nil, nil, fmt.Errorf("%w: kind %q is not regex or selector", ErrBadRule, r.Kind)
}

// AddRule stores a boilerplate rule for a source (by ID or URL) after
// checking that it compiles.
func (s *Store) AddRule(ctx context.Context, idOrURL, kind, pattern string) (Rule, error) {
	r := Rule{Kind: kind, Pattern: pattern}
	if _, _, err := r.Compile(); err != nil {
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
