package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/newsbrief/newsbrief/brief"
)

// Kinds of address mail comes back to.
const (
	ReturnBounce      = "bounce"      // the envelope sender: delivery reports and feedback-loop complaints
	ReturnUnsubscribe = "unsubscribe" // List-Unsubscribe's mailto
)

// addrMACLen is how much of the HMAC an address token keeps: 80 bits,
// enough that guessing a valid token for a given subscriber is hopeless,
// short enough for the 64-octet limit of a local part.
const addrMACLen = 10

// addrEncoding is lower-case base32 without padding: relays may fold the
// case of a local part, and base32 survives that.
var addrEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// AddressToken returns a token for (editionID, subscriberID) and purpose
// that can stand in an address's local part: letters and digits only,
// case-insensitive, about 24 characters. Unlike a link's token it has no
// issue time: a bounce may come back days later, and an unsubscribe
// address must work as long as the message is read.
func (t *Tokens) AddressToken(purpose string, editionID, subscriberID int64) string {
	return string(t.appendAddressToken(nil, purpose, editionID, subscriberID))
}

// appendAddressToken appends AddressToken's token to dst.
func (t *Tokens) appendAddressToken(dst []byte, purpose string, editionID, subscriberID int64) []byte {
	var raw [2*binary.MaxVarintLen64 + sha256.Size]byte
	buf := binary.AppendUvarint(raw[:0], uint64(editionID))
	buf = binary.AppendUvarint(buf, uint64(subscriberID))
	n := len(buf)
	buf = t.appendMAC(buf, "addr:"+purpose, buf)
	return addrEncoding.AppendEncode(dst, buf[:n+addrMACLen])
}

// VerifyAddressToken checks an address token for purpose and returns the
// edition and subscriber it was made for, or ErrBadToken.
func (t *Tokens) VerifyAddressToken(purpose, token string) (editionID, subscriberID int64, err error) {
	raw, err := addrEncoding.DecodeString(strings.ToLower(token))
	if err != nil || len(raw) <= addrMACLen || len(raw) > 2*binary.MaxVarintLen64+addrMACLen {
		return 0, 0, ErrBadToken
	}
	payload, mac := raw[:len(raw)-addrMACLen], raw[len(raw)-addrMACLen:]
	if !hmac.Equal(mac, t.mac("addr:"+purpose, payload)[:addrMACLen]) {
		return 0, 0, ErrBadToken
	}
	e, n := binary.Uvarint(payload)
	if n <= 0 {
		return 0, 0, ErrBadToken
	}
	s, m := binary.Uvarint(payload[n:])
	if m <= 0 || n+m != len(payload) || e > 1<<62 || s > 1<<62 {
		return 0, 0, ErrBadToken
	}
	return int64(e), int64(s), nil
}

// Returns makes and reads the addresses mail about a message comes back
// to: the envelope sender (BOUNCE_ADDRESS in VERP form, local+TOKEN@domain)
// and List-Unsubscribe's mailto (UNSUBSCRIBE_MAILTO in the same form), each
// with a token signed for the edition and the subscriber, so a bounce or a
// mailed unsubscribe maps to both even when a relay mangles the report. An
// address not configured is "": the message then has none (mailto) or the
// From address (envelope sender).
type Returns struct {
	Tokens      *Tokens
	Bounce      string // bare address, e.g. bounces@news.example.org
	Unsubscribe string // bare address, e.g. unsubscribe@news.example.org
}

// ErrNotReturnAddress says an address is neither return address nor one of
// their token forms.
var ErrNotReturnAddress = errors.New("not one of this list's return addresses")

// maxLocal is RFC 5321's limit on a local part.
const maxLocal = 64

// CheckReturnAddress says whether addr can be a return address: a bare
// address whose token form still fits a local part.
func CheckReturnAddress(addr string) error {
	local, domain, ok := splitAddress(addr)
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, " \t\r\n<>\"(),;:[]\\") {
		return fmt.Errorf("%q is not a bare address like bounces@news.example.org", addr)
	}
	if strings.Contains(local, "+") {
		return fmt.Errorf("%q already has a + in its local part; the token goes after one", addr)
	}
	if len(local)+1+addrTokenMax > maxLocal {
		return fmt.Errorf("local part of %q is too long: with its token it must fit in %d characters", addr, maxLocal)
	}
	return nil
}

// addrTokenMax is the longest address token (IDs below 2^42, which any
// real list stays well under, make 24 characters at most; the bound here
// is for IDs of 2^62).
const addrTokenMax = 34

// Sender is the envelope sender of a subscriber's message of an edition;
// "" when no bounce address is configured.
func (r Returns) Sender(editionID, subscriberID int64) string {
	return r.form(r.Bounce, ReturnBounce, editionID, subscriberID)
}

// Mailto is the List-Unsubscribe mailto address of a subscriber's message
// of an edition; "" when no unsubscribe address is configured.
func (r Returns) Mailto(editionID, subscriberID int64) string {
	return r.form(r.Unsubscribe, ReturnUnsubscribe, editionID, subscriberID)
}

func (r Returns) form(addr, purpose string, editionID, subscriberID int64) string {
	if addr == "" {
		return ""
	}
	if subscriberID == 0 || r.Tokens == nil {
		return addr // a test send: mail about it changes nobody
	}
	local, domain, _ := splitAddress(addr)
	var buf [128]byte
	b := append(append(buf[:0], local...), '+')
	b = r.Tokens.appendAddressToken(b, purpose, editionID, subscriberID)
	return string(append(append(b, '@'), domain...))
}

// Parse reads an address mail arrived at. It returns ErrNotReturnAddress
// for any other address (mail for it must be refused: no open relay),
// and ErrBadToken for a return address with a token this list did not
// sign (Return.Kind is set).
func (r Returns) Parse(addr string) (brief.ReturnAddress, error) {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	local, domain, ok := splitAddress(addr)
	if !ok {
		return brief.ReturnAddress{}, ErrNotReturnAddress
	}
	base, token, _ := strings.Cut(local, "+")
	for _, c := range []struct{ addr, kind string }{{r.Bounce, ReturnBounce}, {r.Unsubscribe, ReturnUnsubscribe}} {
		if c.addr == "" {
			continue
		}
		cl, cd, _ := splitAddress(c.addr)
		if !strings.EqualFold(base, cl) || !strings.EqualFold(domain, cd) {
			continue
		}
		ret := brief.ReturnAddress{Kind: c.kind, Token: token}
		if token == "" {
			return ret, nil
		}
		if r.Tokens == nil {
			return ret, ErrBadToken
		}
		e, s, err := r.Tokens.VerifyAddressToken(c.kind, token)
		if err != nil {
			return ret, err
		}
		ret.EditionID, ret.SubscriberID = e, s
		return ret, nil
	}
	return brief.ReturnAddress{}, ErrNotReturnAddress
}

// VerifyLink checks the token of an unsubscribe link (found in the
// List-Unsubscribe header of a message a complaint or a bounce returns)
// and returns its subscriber.
func (r Returns) VerifyLink(token string) (int64, error) {
	if r.Tokens == nil {
		return 0, ErrBadToken
	}
	return r.Tokens.Verify(PurposeUnsubscribe, token, 0)
}

// VerifyToken checks a token found elsewhere than in the address (an
// unsubscribe mail's subject) for kind.
func (r Returns) VerifyToken(kind, token string) (editionID, subscriberID int64, err error) {
	if r.Tokens == nil {
		return 0, 0, ErrBadToken
	}
	return r.Tokens.VerifyAddressToken(kind, token)
}

func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}
