package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Pending is the status of an address that asked to subscribe and has not
// yet confirmed.
const Pending = "pending"

// ConfirmInterval is the least time between two confirmation mails to one
// address, so the form cannot be used to flood someone's inbox.
const ConfirmInterval = 10 * time.Minute

// Consent is where and how someone agreed to receive the list.
type Consent struct {
	Wording   string // what they agreed to
	IP        string
	UserAgent string
	Via       string // "form", "api", "import", "cli"
}

// RequestSubscription records a request to subscribe (double opt-in) and
// says whether a confirmation mail should go out now. A new address is
// stored as pending; a pending or unsubscribed one is asked to confirm
// again (an unsubscribed address stays unsubscribed until it confirms); an
// active, bounced or erased address gets no mail. At most one confirmation
// goes to an address per ConfirmInterval. Callers must answer the same way
// whatever the outcome, so that the form reveals nothing about who is on
// the list. It returns ErrInvalidEmail for a bad address.
func (s *Store) RequestSubscription(ctx context.Context, email, name string, c Consent) (id int64, send bool, err error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return 0, false, err
	}
	if name, err = CleanName(name); err != nil {
		return 0, false, err
	}
	c.UserAgent = truncate(strings.Map(printable, c.UserAgent), 300)
	c.IP = truncate(c.IP, 64)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("subscribe: %w", err)
	}
	defer tx.Rollback()
	if sup, err := s.suppressed(ctx, tx, addr); err != nil || sup {
		return 0, false, err
	}
	now := s.now().UnixMilli()
	var status string
	var sentAt int64
	err = tx.QueryRowContext(ctx, `SELECT id, status, confirm_sent_at FROM subscribers WHERE email_key = ?`,
		strings.ToLower(addr)).Scan(&id, &status, &sentAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, consent, via,
			consent_ip, consent_ua, confirm_sent_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
			addr, strings.ToLower(addr), name, c.Wording, c.Via, c.IP, c.UserAgent, now, now, now)
		if err != nil {
			return 0, false, fmt.Errorf("subscribe: %w", err)
		}
		id, _ = res.LastInsertId()
		send = true
	case err != nil:
		return 0, false, fmt.Errorf("subscribe: %w", err)
	case status == Pending || status == Unsubscribed:
		if now-sentAt < ConfirmInterval.Milliseconds() {
			return id, false, tx.Commit()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET confirm_sent_at = ?, consent = ?, via = ?, consent_ip = ?,
			consent_ua = ?, name = CASE WHEN ? = '' THEN name ELSE ? END, updated_at = ? WHERE id = ?`,
			now, c.Wording, c.Via, c.IP, c.UserAgent, name, name, now, id); err != nil {
			return 0, false, fmt.Errorf("subscribe: %w", err)
		}
		send = true
	default: // active or bounced: nothing to send
		return id, false, tx.Commit()
	}
	return id, send, tx.Commit()
}

func printable(r rune) rune {
	if r < ' ' || r == 0x7f {
		return -1
	}
	return r
}

// Confirm makes a pending (or unsubscribed, re-subscribing) subscriber
// active and records when they confirmed. Confirming an active subscriber
// again is not an error; a bounced one stays bounced. It returns
// ErrNotFound for an unknown ID (removed or erased since).
func (s *Store) Confirm(ctx context.Context, id int64) error {
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET
		consent_at = CASE WHEN status = 'active' THEN consent_at ELSE ? END,
		status = CASE WHEN status IN ('pending', 'unsubscribed') THEN 'active' ELSE status END,
		unsubscribed_at = CASE WHEN status = 'unsubscribed' THEN 0 ELSE unsubscribed_at END,
		updated_at = ? WHERE id = ?`, now, now, id)
	if err != nil {
		return fmt.Errorf("confirm %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("confirm %d: %w", id, ErrNotFound)
	}
	return nil
}
