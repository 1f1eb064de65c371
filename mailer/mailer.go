// Package mailer turns messages into MIME and moves them: over SMTP with
// go-mail (one connection per worker, reused for many messages), or into a
// folder of .eml files when no relay is configured.
//
// An edition flows in once as static pieces and per-recipient slots;
// Identity.Prepare encodes it (multipart/alternative, quoted-printable) for
// all its messages, and each message is then only its headers and personal
// values around those bytes, written straight into SMTP DATA (or an .eml
// file), DKIM-signed when configured. One-off messages (confirmations, test
// sends) are editions of one message and take the same path: there is one
// message builder and one DKIM signer. go-mail dials, negotiates STARTTLS
// or TLS and authenticates. SMTP.Open and Outbox.Open return connections
// (brief.Conn) whose Send reports failures as *Error, which says whether
// the failure is temporary (retry) or permanent (give up).
package mailer

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsbrief/newsbrief/brief"
)

// prepared is m's edition encoded for id, once per edition.
func (id *Identity) prepared(m *brief.Message) (*Prepared, error) {
	if m.Edition == nil {
		return nil, errors.New("build message: no edition")
	}
	p, err := m.Edition.Prepared(func(e *brief.Edition) (any, error) { return id.Prepare(e) })
	if err != nil {
		return nil, err
	}
	return p.(*Prepared), nil
}

// Identity is what every message from this list carries.
type Identity struct {
	From              string   // "Name <addr@domain>"
	ReplyTo           string   // optional
	ListName          string   // List-Id's phrase
	ListID            string   // List-Id's id, e.g. "brief.example.com"
	UnsubscribeMailto string   // optional mailto: address for List-Unsubscribe
	DKIM              *DKIMKey // nil: messages are not signed
	// FeedbackID, when set, is the last fields of every message's
	// Feedback-ID header (Gmail's feedback loop), after the edition's ID:
	// "42:" + FeedbackID ("test:" and "confirm:" for other mails). At
	// most three colon-separated fields of letters, digits, dots and
	// dashes.
	FeedbackID string
}

// DKIMKey is the key a list signs its messages with (relaxed/relaxed,
// rsa-sha256 or ed25519-sha256), for a domain and selector.
type DKIMKey struct {
	Domain   string
	Selector string
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// dkimSignedHeaders are the headers the DKIM signature covers, the
// List-Unsubscribe pair among them as RFC 8058 asks, and, once more than
// they occur, the ones a forwarder or an attacker must not add a second
// of (over-signing: an added From, Subject or List-Unsubscribe breaks the
// signature).
func dkimSignedHeaders() []string {
	return []string{"From", "Reply-To", "To", "Subject", "Date", "Message-ID",
		"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "Feedback-ID",
		"From", "Subject", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}
}

// ValidFeedbackID says whether v can end a Feedback-ID header: one to
// three colon-separated fields of letters, digits, dots, dashes and
// underscores.
func ValidFeedbackID(v string) bool {
	fields := strings.Split(v, ":")
	if v == "" || len(fields) > 3 {
		return false
	}
	for _, f := range fields {
		if f == "" || strings.ContainsFunc(f, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		}) {
			return false
		}
	}
	return true
}

// LoadDKIMKey reads a PEM private key (RSA of at least 1024 bits, or
// Ed25519) to sign with for domain and selector.
func LoadDKIMKey(domain, selector, keyFile string) (*DKIMKey, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	key, err := gomail.PrivKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", keyFile, err)
	}
	k := &DKIMKey{Domain: domain, Selector: selector, Signer: key}
	if _, err := newDKIMSigner(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ErrHeaderInjection is returned when a value meant for a header
// holds a CR or LF; it never reaches a header.
var ErrHeaderInjection = errors.New("line break in a header value")

// headerSafe folds any run of white space (CR and LF included) into one
// space: no header ever carries a raw CR or LF taken from input.
func headerSafe(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

func listID(name, id string) string {
	name = headerSafe(name)
	if name == "" {
		return "<" + id + ">"
	}
	// a phrase with specials is quoted; quotes and backslashes escaped
	if strings.ContainsAny(name, `()<>@,;:\".[]`) {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return mimeWord(name) + " <" + id + ">"
}

// appendMessageID appends "<edition>.<subscriber>.<random>@<domain>"
// (without the angle brackets).
func appendMessageID(dst []byte, domain string, editionID, subscriberID int64) []byte {
	var b [6]byte
	rand.Read(b[:])
	dst = strconv.AppendInt(dst, editionID, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, subscriberID, 10)
	dst = append(dst, '.')
	dst = hex.AppendEncode(dst, b[:])
	dst = append(dst, '@')
	return append(dst, domain...)
}

// appendAddress appends the address as net/mail's Address.String writes it:
// a plain ASCII name and a plain local part directly, anything else
// through net/mail.
func appendAddress(dst []byte, name, addr string) []byte {
	at := strings.LastIndexByte(addr, '@')
	plain := at > 0 && at < len(addr)-1
	for i := 0; plain && i < at; i++ {
		c := addr[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '+', c == '-', c == '_':
		case c == '.' && i > 0 && i < at-1 && addr[i-1] != '.':
		default:
			plain = false
		}
	}
	for i := 0; plain && i < len(name); i++ {
		if c := name[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			plain = false
		}
	}
	if !plain {
		return append(dst, (&mail.Address{Name: name, Address: addr}).String()...)
	}
	if name != "" {
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `" `...)
	}
	dst = append(dst, '<')
	dst = append(dst, addr...)
	return append(dst, '>')
}

// fromDomain is the domain of the From address, for Message-IDs.
func fromDomain(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			return a.Address[at+1:]
		}
	}
	return "newsbrief.invalid"
}
