package subscribers

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// ImportOptions change what Import does.
type ImportOptions struct {
	DryRun  bool   // check every row, store nothing
	Consent string // where the consent came from; with it new rows are active, without it pending
	// Pending, if set, is called for each new pending subscriber (after
	// its batch is committed), so the caller can mail a confirmation.
	Pending func(id int64, email, name string) error
}

// RowError is one bad import row.
type RowError struct {
	Line   int
	Email  string
	Reason string
}

// Error renders "line N: reason".
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ImportReport tells what an import did (or, on a dry run, would do).
type ImportReport struct {
	Added     int
	Pending   int // of Added: waiting for their confirmation (no --consent)
	Updated   int // existing subscribers whose name changed
	Unchanged int // already on the list as given
	Bad       []RowError
}

// ErrBadHeader is returned when an import file's first row has no "email" column.
var ErrBadHeader = errors.New(`the first row must be a header naming an "email" column (and optionally "name")`)

// importBatch is how many rows one transaction writes.
const importBatch = 1000

// Import reads CSV with a header row naming at least an "email" column
// (and optionally "name"), in any order and letter case; a UTF-8 byte order
// mark and Windows line endings are accepted. Rows are streamed and written
// in batches, so memory stays flat for any file size. Every bad row
// (invalid address, CR/LF in a name, a duplicate of an earlier row, a
// malformed CSV line) is reported by line number and skipped; the good rows
// are upserted by address: new addresses are added as active, existing
// ones get the new name. Unsubscribed addresses are never re-activated.
// On DryRun nothing is written.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3)
	}
	cr := csv.NewReader(&lineLimit{r: br, max: maxImportLine, line: 1})
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return rep, fmt.Errorf("import: empty file: %w", ErrBadHeader)
		}
		return rep, fmt.Errorf("import: header: %w", err)
	}
	emailCol, nameCol := -1, -1
	attrCols := map[int]string{} // any other column is kept as an attribute
	for i, h := range header {
		switch key := strings.ToLower(strings.TrimSpace(h)); key {
		case "email", "e-mail", "email address":
			emailCol = i
		case "name":
			nameCol = i
		default:
			if key != "" {
				attrCols[i] = strings.TrimSpace(h)
			}
		}
	}
	if emailCol < 0 {
		return rep, fmt.Errorf("import: %w", ErrBadHeader)
	}
	// make sure the suppression key exists before any read-only (dry-run) transaction needs it
	if _, err := s.suppressionHash(ctx, s.db, ""); err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	// One pinned connection with a temporary table of the addresses seen so
	// far (kept on disk by SQLite, not in memory), so duplicates are found
	// and reported by line at any file size in flat memory.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS import_seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL)`); err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.import_seen`)
	if _, err := conn.ExecContext(ctx, `DELETE FROM temp.import_seen`); err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	batch := make([]importRow, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.importBatch(ctx, conn, batch, opts, &rep)
		batch = batch[:0]
		return err
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rep.Bad = append(rep.Bad, RowError{Line: pe.StartLine, Reason: "malformed CSV: " + pe.Err.Error()})
				continue
			}
			if errors.Is(err, ErrLineTooLong) {
				tooLong := err
				if err := flush(); err != nil { // what came before is imported
					return rep, err
				}
				return rep, fmt.Errorf("import: %w; nothing after it was read", tooLong)
			}
			return rep, fmt.Errorf("import: %w", err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = unquoteCell(rec[i])
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if emailCol >= len(rec) {
			rep.Bad = append(rep.Bad, RowError{Line: line, Reason: "no email column in this row"})
			continue
		}
		addr, err := NormalizeEmail(rec[emailCol])
		if err != nil {
			rep.Bad = append(rep.Bad, RowError{Line: line, Email: rec[emailCol], Reason: strings.TrimPrefix(err.Error(), ErrInvalidEmail.Error()+" ")})
			continue
		}
		name := ""
		if nameCol >= 0 && nameCol < len(rec) {
			if name, err = CleanName(rec[nameCol]); err != nil {
				rep.Bad = append(rep.Bad, RowError{Line: line, Email: addr, Reason: err.Error()})
				continue
			}
		}
		attrs := "{}"
		if len(attrCols) > 0 {
			m := make(map[string]string, len(attrCols))
			for i, k := range attrCols {
				if i < len(rec) && strings.TrimSpace(rec[i]) != "" {
					m[k] = strings.TrimSpace(rec[i])
				}
			}
			long := ""
			for k, v := range m {
				if utf8.RuneCountInString(v) > maxAttribute {
					long = k
				}
			}
			if long != "" {
				rep.Bad = append(rep.Bad, RowError{Line: line, Email: addr,
					Reason: fmt.Sprintf("column %q is longer than %d characters", long, maxAttribute)})
				continue
			}
			if len(m) > 0 {
				b, _ := json.Marshal(m)
				attrs = string(b)
			}
		}
		batch = append(batch, importRow{line, addr, name, attrs})
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	err = flush()
	sort.SliceStable(rep.Bad, func(i, j int) bool { return rep.Bad[i].Line < rep.Bad[j].Line })
	return rep, err
}

// importRow is one good row waiting to be written.
type importRow struct {
	line        int
	email, name string
	attrs       string // JSON object
}

// importBatch upserts one batch in one transaction; on a dry run it only
// reads, to count what would change.
func (s *Store) importBatch(ctx context.Context, conn *sql.Conn, batch []importRow, opts ImportOptions, rep *ImportReport) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer tx.Rollback()
	now := s.now().UnixMilli()
	// statements prepared once per batch, not once per row
	seenStmt, err := tx.PrepareContext(ctx, `INSERT INTO temp.import_seen (key, line) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET key = key RETURNING line`)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer seenStmt.Close()
	findStmt, err := tx.PrepareContext(ctx, `SELECT id, name, json_patch(attributes, ?) != attributes FROM subscribers WHERE email_key = ?`)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer findStmt.Close()
	insStmt, err := tx.PrepareContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, consent, via,
		consent_at, confirm_sent_at, created_at, updated_at, attributes) VALUES (?, ?, ?, ?, ?, 'import', ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer insStmt.Close()
	supStmt, err := tx.PrepareContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer supStmt.Close()
	type newPending struct {
		id          int64
		email, name string
	}
	var pending []newPending
	for _, r := range batch {
		var first int
		err := seenStmt.QueryRowContext(ctx, strings.ToLower(r.email), r.line).Scan(&first)
		if err != nil {
			return fmt.Errorf("import line %d: %w", r.line, err)
		}
		if first != r.line {
			rep.Bad = append(rep.Bad, RowError{Line: r.line, Email: r.email, Reason: fmt.Sprintf("duplicate of line %d", first)})
			continue
		}
		var id int64
		var name string
		var attrsChange bool
		err = findStmt.QueryRowContext(ctx, r.attrs, strings.ToLower(r.email)).Scan(&id, &name, &attrsChange)
		switch {
		case errors.Is(err, sql.ErrNoRows): // a new address, unless it was erased
			h, herr := s.suppressionHash(ctx, tx, r.email)
			if herr != nil {
				return fmt.Errorf("import: %w", herr)
			}
			var sup int
			if err = supStmt.QueryRowContext(ctx, h).Scan(&sup); err != nil {
				break
			}
			if sup > 0 {
				rep.Bad = append(rep.Bad, RowError{Line: r.line, Email: r.email, Reason: ErrSuppressed.Error()})
				continue
			}
			rep.Added++
			status, consentAt, sentAt := Active, now, int64(0)
			if opts.Consent == "" {
				status, consentAt, sentAt = Pending, 0, now
				rep.Pending++
			}
			if opts.DryRun {
				break
			}
			var res sql.Result
			res, err = insStmt.ExecContext(ctx, r.email, strings.ToLower(r.email), r.name, status, opts.Consent,
				consentAt, sentAt, now, now, r.attrs)
			if err == nil && status == Pending {
				id, _ := res.LastInsertId()
				pending = append(pending, newPending{id, r.email, r.name})
			}
		case err != nil:
		case (r.name != "" && r.name != name) || attrsChange:
			rep.Updated++
			if !opts.DryRun {
				_, err = tx.ExecContext(ctx, `UPDATE subscribers SET name = CASE WHEN ? = '' THEN name ELSE ? END,
					attributes = json_patch(attributes, ?), updated_at = ? WHERE id = ?`, r.name, r.name, r.attrs, now, id)
			}
		default:
			rep.Unchanged++
		}
		if err != nil {
			return fmt.Errorf("import line %d: %w", r.line, err)
		}
	}
	// on a dry run only the temporary table was written
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if opts.Pending != nil {
		for _, p := range pending {
			if err := opts.Pending(p.id, p.email, p.name); err != nil {
				return fmt.Errorf("import: confirmation to %s: %w", p.email, err)
			}
		}
	}
	return nil
}
