package subscribers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrSuppressed is returned when an address was erased at its owner's
// request: it is kept only as a hash and may not be added again.
var ErrSuppressed = errors.New("address was erased at its owner's request and stays suppressed")

// suppressionHash is the HMAC-SHA256 of the lower-cased address under a key
// generated once and kept in the database, so the stored hashes cannot be
// reversed by hashing guessed addresses without the database's key.
func (s *Store) suppressionHash(ctx context.Context, q querier, addr string) (string, error) {
	key, err := s.suppressionKey(ctx, q)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// suppressionKey loads (generating it the first time) the key of the
// suppression hashes; it never changes, so it is kept once loaded.
func (s *Store) suppressionKey(ctx context.Context, q querier) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.supKey != nil {
		return s.supKey, nil
	}
	var hexKey string
	err := q.QueryRowContext(ctx, `SELECT value FROM subscriber_settings WHERE key = 'suppression_key'`).Scan(&hexKey)
	if errors.Is(err, sql.ErrNoRows) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		// another process may have raced us: keep whichever was stored first
		if _, err := q.ExecContext(ctx, `INSERT INTO subscriber_settings (key, value) VALUES ('suppression_key', ?)
			ON CONFLICT(key) DO NOTHING`, hex.EncodeToString(b)); err != nil {
			return nil, err
		}
		err = q.QueryRowContext(ctx, `SELECT value FROM subscriber_settings WHERE key = 'suppression_key'`).Scan(&hexKey)
	}
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(hexKey)
	if err != nil {
		return nil, fmt.Errorf("suppression key: %w", err)
	}
	s.supKey = k
	return k, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// suppressed reports whether addr was erased.
func (s *Store) suppressed(ctx context.Context, q querier, addr string) (bool, error) {
	h, err := s.suppressionHash(ctx, q, addr)
	if err != nil {
		return false, fmt.Errorf("check suppression: %w", err)
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`, h).Scan(&n); err != nil {
		return false, fmt.Errorf("check suppression: %w", err)
	}
	return n > 0, nil
}

// Forget erases a subscriber's personal data (address, name, consent) and
// keeps only a keyed hash of the address, so that it stays suppressed and
// cannot come back by import or by hand. It returns the erased
// subscriber's ID (so the caller can erase copies in other tables), and
// ErrNotFound when the address is not on the list (it is suppressed all the
// same).
func (s *Store) Forget(ctx context.Context, email string) (int64, error) {
	var id int64
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	defer tx.Rollback()
	h, err := s.suppressionHash(ctx, tx, email)
	if err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (hash, reason, created_at) VALUES (?, 'erased on request', ?)
		ON CONFLICT(hash) DO NOTHING`, h, s.now().UnixMilli()); err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	err = tx.QueryRowContext(ctx, `DELETE FROM subscribers WHERE email_key = ? RETURNING id`,
		strings.ToLower(strings.TrimSpace(email))).Scan(&id)
	notFound := errors.Is(err, sql.ErrNoRows)
	if err != nil && !notFound {
		return 0, fmt.Errorf("forget: %w", err)
	}
	if !notFound {
		// what came back about their messages names them too (the
		// per-edition counts stay)
		if _, err := tx.ExecContext(ctx, `DELETE FROM feedback WHERE subscriber_id = ?`, id); err != nil {
			return 0, fmt.Errorf("forget: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	if notFound {
		return 0, fmt.Errorf("forget %s: %w", email, ErrNotFound)
	}
	return id, nil
}
