package subscribers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// Token purposes: a token signed for one is refused for another.
const (
	PurposeUnsubscribe = "unsubscribe"
	PurposeConfirm     = "confirm"
	PurposeArticle     = "article" // the brief's own page of a story without a link elsewhere
)

// Token errors; test with errors.Is.
var (
	ErrBadToken     = errors.New("this link is not valid: it was altered, cut short or not made by this newsletter")
	ErrExpiredToken = errors.New("this link has expired")
)

// Tokens signs and verifies the tokens in subscribers' links: an HMAC-SHA256
// over (purpose, subscriber ID, issue time) with the list's secret, compared
// in constant time.
type Tokens struct {
	key  []byte
	now  func() time.Time
	macs sync.Pool // HMAC-SHA256 states keyed with key, reset before each use
}

// NewTokens returns a signer for secret, which must be at least 16 bytes.
func NewTokens(secret []byte, now func() time.Time) (*Tokens, error) {
	if len(secret) < 16 {
		return nil, errors.New("token secret shorter than 16 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: secret, now: now}, nil
}

// payload: 8 bytes subscriber ID, 8 bytes issue time (Unix seconds); then a
// 32-byte MAC over purpose || 0 || payload.
const payloadLen = 16

// Sign returns a URL-safe token for subscriber id and purpose.
func (t *Tokens) Sign(purpose string, id int64) string {
	return string(t.AppendSign(nil, purpose, id))
}

// AppendSign appends Sign's token to dst (base64url without padding: safe
// in a URL's query as it is).
func (t *Tokens) AppendSign(dst []byte, purpose string, id int64) []byte {
	var buf [payloadLen + sha256.Size]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(id))
	binary.BigEndian.PutUint64(buf[8:payloadLen], uint64(t.now().Unix()))
	t.appendMAC(buf[:payloadLen], purpose, buf[:payloadLen])
	return base64.RawURLEncoding.AppendEncode(dst, buf[:])
}

// Verify checks a token for purpose and returns the subscriber ID it was
// issued for. A token older than maxAge (if maxAge > 0) returns
// ErrExpiredToken; anything forged, altered or for another purpose returns
// ErrBadToken.
func (t *Tokens) Verify(purpose, token string, maxAge time.Duration) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != payloadLen+sha256.Size {
		return 0, ErrBadToken
	}
	if !hmac.Equal(raw[payloadLen:], t.mac(purpose, raw[:payloadLen])) {
		return 0, ErrBadToken
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[8:16])), 0)
	if maxAge > 0 && t.now().Sub(issued) > maxAge {
		return 0, ErrExpiredToken
	}
	return int64(binary.BigEndian.Uint64(raw[:8])), nil
}

func (t *Tokens) mac(purpose string, payload []byte) []byte {
	return t.appendMAC(make([]byte, 0, sha256.Size), purpose, payload)
}

// macState is a pooled HMAC state and the scratch its input is put in.
type macState struct {
	h   hash.Hash
	buf []byte
}

// appendMAC appends the MAC of purpose || 0 || payload to dst.
func (t *Tokens) appendMAC(dst []byte, purpose string, payload []byte) []byte {
	m, _ := t.macs.Get().(*macState)
	if m == nil {
		m = &macState{h: hmac.New(sha256.New, t.key)}
	}
	m.h.Reset()
	m.buf = append(append(append(m.buf[:0], purpose...), 0), payload...)
	m.h.Write(m.buf)
	// summed into the scratch, then copied: dst does not escape through
	// the hash's interface
	m.buf = m.h.Sum(m.buf[:0])
	dst = append(dst, m.buf...)
	t.macs.Put(m)
	return dst
}

// Secret returns the key to sign tokens with: configured when it is not
// empty, else a random 32-byte key generated once and kept in the database
// so that links keep working across restarts.
func (s *Store) Secret(ctx context.Context, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM subscriber_settings WHERE key = 'token_secret'`).Scan(&v)
	if err == nil {
		return hex.DecodeString(v)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load token secret: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate token secret: %w", err)
	}
	// another process may have raced us: keep whichever was stored first
	if _, err := s.db.ExecContext(ctx, `INSERT INTO subscriber_settings (key, value) VALUES ('token_secret', ?)
		ON CONFLICT(key) DO NOTHING`, hex.EncodeToString(key)); err != nil {
		return nil, fmt.Errorf("store token secret: %w", err)
	}
	return s.Secret(ctx, "")
}
