// Package mailer turns messages into MIME and moves them: over SMTP with
// go-mail (one connection per worker, reused for many messages), or into a
// folder of .eml files when no relay is configured.
//
// An edition flows in once as static pieces and per-recipient slots;
// Identity.Prepare encodes it (multipart/alternative, quoted-printable) for
// all its messages, and each message is then only its headers and personal
// values around those bytes, written straight into SMTP DATA (or an .eml
// file), DKIM-signed when configured. One-off messages (confirmations) are
// built with go-mail by Identity.Build. SMTP.Open and Outbox.Open return
// connections whose Send and SendPrepared report failures as *Error, which
// says whether the failure is temporary (retry) or permanent (give up).
package mailer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail to one recipient.
type Message struct {
	ToEmail        string
	ToName         string
	Subject        string
	Text           string
	HTML           string
	UnsubscribeURL string    // https URL for List-Unsubscribe (one-click when https)
	Date           time.Time // zero for now
	// EditionID and SubscriberID make the Message-ID traceable; 0 is fine.
	EditionID    int64
	SubscriberID int64
}

// Identity is what every message from this list carries.
type Identity struct {
	From              string // "Name <addr@domain>"
	ReplyTo           string // optional
	ListName          string // List-Id's phrase
	ListID            string // List-Id's id, e.g. "brief.example.com"
	UnsubscribeMailto string // optional mailto: address for List-Unsubscribe
	DKIM              *dkim.SignOptions
}

// DKIMSignedHeaders are the headers the DKIM signature covers, the
// List-Unsubscribe pair among them as RFC 8058 asks.
var DKIMSignedHeaders = []string{"From", "Reply-To", "To", "Subject", "Date", "Message-ID",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}

// NewDKIMSigner reads a PEM private key (RSA or Ed25519) and returns the
// options to sign with for domain and selector: relaxed canonicalization,
// the DKIMSignedHeaders.
func NewDKIMSigner(domain, selector, keyFile string) (*dkim.SignOptions, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	key, err := gomail.PrivKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", keyFile, err)
	}
	opts := &dkim.SignOptions{Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: DKIMSignedHeaders}
	if _, err := dkim.NewSigner(opts); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return opts, nil
}

// sign adds a DKIM-Signature header to msg. The message is written once to
// compute it; go-mail writes it the same way again when it is sent (the
// MIME boundary is kept, and the signature covers headers by name).
//
// go-msgauth signs rather than go-mail's own signer: go-mail v0.8.1 folds
// the signature's h= list in the middle of a header name, which relaxed
// canonicalization then reads as a different name, so no verifier accepts it.
func (id *Identity) sign(msg *gomail.Msg) error {
	s, err := dkim.NewSigner(id.DKIM)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if _, err := msg.WriteTo(s); err != nil {
		s.Close()
		return fmt.Errorf("dkim: %w", err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(s.Signature(), "DKIM-Signature: "), "\r\n")
	msg.SetGenHeaderPreformatted("DKIM-Signature", v)
	return nil
}

// ErrHeaderInjection is returned by Build when a value meant for a header
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

// Build makes the MIME message: multipart/alternative with the text part
// first and the HTML part second; From, To, Subject, Date, Message-ID;
// List-Unsubscribe (https and mailto) with List-Unsubscribe-Post for
// one-click; List-Id; Precedence: bulk; Auto-Submitted: auto-generated; a
// DKIM signature when the identity has a signer. Subject and names are
// folded to one line; an address holding a line break returns
// ErrHeaderInjection.
func (id *Identity) Build(m *Message) (*gomail.Msg, error) {
	if strings.ContainsAny(m.ToEmail, "\r\n") || strings.ContainsAny(m.UnsubscribeURL, "\r\n") {
		return nil, fmt.Errorf("build message: %w", ErrHeaderInjection)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(id.From); err != nil {
		return nil, fmt.Errorf("build message: from %q: %w", id.From, err)
	}
	if err := msg.AddToFormat(headerSafe(m.ToName), m.ToEmail); err != nil {
		return nil, fmt.Errorf("build message: to %q: %w", m.ToEmail, err)
	}
	if id.ReplyTo != "" {
		if err := msg.ReplyTo(id.ReplyTo); err != nil {
			return nil, fmt.Errorf("build message: reply-to %q: %w", id.ReplyTo, err)
		}
	}
	msg.Subject(headerSafe(m.Subject))
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	msg.SetMessageIDWithValue(messageID(fromDomain(id.From), m.EditionID, m.SubscriberID))
	id.setUnsubscribe(msg, m.UnsubscribeURL)
	if id.ListID != "" {
		msg.SetGenHeaderPreformatted("List-Id", listID(id.ListName, id.ListID))
	}
	msg.SetGenHeader(gomail.HeaderPrecedence, "bulk")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	if id.DKIM != nil {
		if err := id.sign(msg); err != nil {
			return nil, fmt.Errorf("build message: %w", err)
		}
	}
	return msg, nil
}

// setUnsubscribe sets List-Unsubscribe (the same value a prepared edition
// carries) and, for an https URL, the RFC 8058 one-click header; a plain
// http URL (a laptop) is listed but not one-click.
func (id *Identity) setUnsubscribe(msg *gomail.Msg, url string) {
	if v := id.unsubscribeHeader(url); v != "" {
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, v)
	}
	if strings.HasPrefix(url, "https://") {
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
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

// messageID is "<edition>.<subscriber>.<random>@<domain>".
func messageID(domain string, editionID, subscriberID int64) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%d.%d.%s@%s", editionID, subscriberID, hex.EncodeToString(b), domain)
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
