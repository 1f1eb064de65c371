package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Day is what happened to the list on one day (UTC).
type Day struct {
	Date         string // YYYY-MM-DD
	Added        int    // new subscribers, pending or active
	Confirmed    int    // pending subscribers who confirmed
	Unsubscribed int
	Bounced      int
	Complained   int
}

// Growth returns the last days days (today included, newest first, every
// day present), from the per-day counts the table's triggers keep: a few
// rows read whatever the list's size.
func (s *Store) Growth(ctx context.Context, days int) ([]Day, error) {
	if days <= 0 || days > 366 {
		days = 30
	}
	today := s.now().UTC()
	from := today.AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
	rows, err := s.db.QueryContext(ctx, `SELECT day, event, n FROM subscriber_days WHERE day >= ? ORDER BY day DESC`, from)
	if err != nil {
		return nil, fmt.Errorf("growth: %w", err)
	}
	defer rows.Close()
	byDay := make(map[string]*Day, days)
	out := make([]Day, days)
	for i := range out {
		out[i].Date = today.AddDate(0, 0, -i).Format(time.DateOnly)
		byDay[out[i].Date] = &out[i]
	}
	for rows.Next() {
		var day, event string
		var n int
		if err := rows.Scan(&day, &event, &n); err != nil {
			return nil, fmt.Errorf("growth: %w", err)
		}
		d := byDay[day]
		if d == nil {
			continue // a clock set back: a day after today
		}
		switch event {
		case "added":
			d.Added += n
		case Active:
			d.Confirmed += n
		case Unsubscribed:
			d.Unsubscribed += n
		case Bounced:
			d.Bounced += n
		case Complained:
			d.Complained += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("growth: %w", err)
	}
	return out, nil
}

// Attribute limits: how many a subscriber has, how long a name and a
// value may be.
const (
	maxAttributes   = 50
	maxAttributeKey = 64
)

// ErrBadAttributes is returned by SetAttributes for attributes it refuses.
var ErrBadAttributes = errors.New("bad attributes")

// SetAttributes replaces a subscriber's attributes (the extra columns of
// an import, available to templates): at most 50, each name at most 64
// characters without control characters, each value at most 1000
// characters. ErrNotFound for an unknown ID.
func (s *Store) SetAttributes(ctx context.Context, id int64, attrs map[string]string) error {
	if len(attrs) > maxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrBadAttributes, len(attrs), maxAttributes)
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	clean := make(map[string]string, len(attrs))
	for _, k := range keys {
		name := strings.TrimSpace(k)
		switch {
		case name == "" || utf8.RuneCountInString(name) > maxAttributeKey:
			return fmt.Errorf("%w: an attribute's name must have 1 to %d characters: %q", ErrBadAttributes, maxAttributeKey, k)
		case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(name):
			return fmt.Errorf("%w: attribute name %q has control characters", ErrBadAttributes, k)
		case strings.EqualFold(name, "email") || strings.EqualFold(name, "name"):
			return fmt.Errorf("%w: %q is not an attribute (the address and the name are kept apart)", ErrBadAttributes, name)
		}
		v := strings.TrimSpace(attrs[k])
		if utf8.RuneCountInString(v) > maxAttribute || !utf8.ValidString(v) {
			return fmt.Errorf("%w: attribute %q is longer than %d characters or not UTF-8", ErrBadAttributes, name, maxAttribute)
		}
		if v != "" {
			clean[name] = v
		}
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return fmt.Errorf("set attributes: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET attributes = ?, updated_at = ? WHERE id = ?`, string(b), s.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("set attributes: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("subscriber %d: %w", id, ErrNotFound)
	}
	return nil
}
