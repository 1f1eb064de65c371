package subscribers

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// exportColumns are the columns of an export, in order.
var exportColumns = []string{"email", "name", "status", "consent", "via", "consent_at", "consent_ip", "consent_user_agent",
	"created_at", "unsubscribed_at", "bounced_at", "last_bounce", "attributes"}

// Export writes every subscriber as CSV: address, name, status, the consent
// record (wording, how, when, IP, user agent), dates, bounce state and
// attributes. Every cell is spreadsheet-safe: one that a spreadsheet would
// read as a formula (starting with =, +, -, @, a tab or a CR) is prefixed
// with a single quote, as OWASP advises, so a name or user agent typed
// into the public form cannot run in an operator's spreadsheet. Import
// strips that quote again.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	row := make([]string, len(exportColumns))
	err := s.Each(ctx, "", func(sub Subscriber) error {
		copy(row, []string{sub.Email, sub.Name, sub.Status, sub.Consent, sub.Via, isoTime(sub.ConsentAt), sub.ConsentIP,
			sub.ConsentUA, isoTime(sub.CreatedAt), isoTime(sub.UnsubscribedAt), isoTime(sub.BouncedAt), sub.LastBounce, sub.Attributes})
		for i := range row {
			row[i] = SpreadsheetSafe(row[i])
		}
		return cw.Write(row)
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// SpreadsheetSafe prefixes a cell that a spreadsheet would take for a
// formula with a single quote.
func SpreadsheetSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// unquoteCell undoes SpreadsheetSafe for a cell read back in an import.
func unquoteCell(v string) string {
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(v[1])) {
		return v[1:]
	}
	return v
}

// isoTime is t in RFC 3339 (UTC), or "" for the zero time.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// maxImportLine is the longest line an import reads, in bytes.
const maxImportLine = 1 << 20

// ErrLineTooLong is matched (errors.Is) by the *LineTooLongError of an
// import that meets a line longer than maxImportLine: the rows before it
// are imported, nothing after it is read.
var ErrLineTooLong = errors.New("line longer than 1 MiB")

// LineTooLongError names the line an import stopped at.
type LineTooLongError struct{ Line int }

func (e *LineTooLongError) Error() string { return fmt.Sprintf("line %d is longer than 1 MiB", e.Line) }

// Is makes errors.Is(err, ErrLineTooLong) hold.
func (e *LineTooLongError) Is(target error) bool { return target == ErrLineTooLong }

// maxAttribute is the longest value an import keeps in an extra column.
const maxAttribute = 1000

// lineLimit passes r through, failing with ErrLineTooLong as soon as a line
// is longer than max bytes, so one endless line costs no more memory than
// that.
type lineLimit struct {
	r    *bufio.Reader
	max  int
	run  int // bytes since the last line end
	line int // 1-based line of the current position
}

func (l *lineLimit) Read(p []byte) (int, error) {
	if l.run > l.max {
		return 0, &LineTooLongError{Line: l.line}
	}
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.run = 0
			l.line++
			continue
		}
		l.run++
	}
	if l.run > l.max {
		return n, nil // the next Read reports it, after the rows before are parsed
	}
	return n, err
}
