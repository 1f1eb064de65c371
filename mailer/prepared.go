package mailer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/brief"
)

// Prepared is an edition's MIME encoded once: the static pieces of both
// bodies are quoted-printable encoded here, and each message only encodes
// its few personal values and headers. Every encoded line is at most 76
// characters and none starts with ".", so the bytes go into SMTP DATA as
// they are, with no dot-stuffing pass. It is safe for concurrent use.
type Prepared struct {
	id       *Identity
	from     string // envelope sender, bare address
	domain   string // for Message-IDs
	head     []byte // headers the same for every message
	boundary string
	html     encodedBody
	text     encodedBody
	signer   *dkimSigner // nil when the identity does not sign
}

type encodedBody struct {
	static [][]byte
	canon  [][]byte // the static pieces in DKIM relaxed form, when signing
	slots  []int
}

// Prepare encodes an edition once for all its messages.
func (id *Identity) Prepare(e *brief.Edition) (*Prepared, error) {
	from, err := mail.ParseAddress(id.From)
	if err != nil {
		return nil, fmt.Errorf("prepare: from %q: %w", id.From, err)
	}
	b := make([]byte, 24)
	rand.Read(b)
	p := &Prepared{id: id, from: from.Address, domain: fromDomain(id.From), boundary: "nb-" + hex.EncodeToString(b)}
	var h bytes.Buffer
	h.WriteString("From: " + from.String() + "\r\n")
	if id.ReplyTo != "" {
		rt, err := mail.ParseAddress(id.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("prepare: reply-to %q: %w", id.ReplyTo, err)
		}
		h.WriteString("Reply-To: " + rt.String() + "\r\n")
	}
	h.WriteString("Subject: " + foldWords(mime.QEncoding.Encode("UTF-8", headerSafe(e.Subject))) + "\r\n")
	if id.ListID != "" {
		h.WriteString("List-Id: " + listID(id.ListName, id.ListID) + "\r\n")
	}
	h.WriteString("Precedence: bulk\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n")
	h.WriteString("Content-Type: multipart/alternative;\r\n boundary=\"" + p.boundary + "\"\r\n")
	p.head = h.Bytes()
	if id.DKIM != nil {
		if p.signer, err = newDKIMSigner(id.DKIM); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	p.text = encodeBody(e.Text, p.signer != nil)
	p.html = encodeBody(e.HTML, p.signer != nil)
	return p, nil
}

// encodeBody encodes the static pieces of b once. Each piece before a slot
// ends at a line end and each slot's value is given lines of its own, so
// that, with canon, DKIM's line-by-line canonical form of the pieces can be
// computed here too, once per edition.
func encodeBody(b brief.Body, canon bool) encodedBody {
	out := encodedBody{slots: b.Slots}
	for i, s := range b.Static {
		enc := qpAppend(nil, s)
		if (i < len(b.Slots) || i == len(b.Static)-1) && len(enc) > 0 && !bytes.HasSuffix(enc, []byte("\r\n")) {
			// soft break: the slot starts a line of its own, and the
			// body ends with a line end before the boundary
			enc = append(enc, "=\r\n"...)
		}
		out.static = append(out.static, enc)
		if canon {
			out.canon = append(out.canon, relaxedLines(nil, enc))
		}
	}
	return out
}

// AppendMessage appends the whole message m to dst: headers, then the
// text part and the HTML part, CRLF line ends, a DKIM signature first when
// the identity signs.
func (p *Prepared) AppendMessage(dst []byte, r *brief.Message) ([]byte, error) {
	if strings.ContainsAny(r.Recipient.Email, "\r\n") || strings.ContainsAny(r.UnsubscribeURL, "\r\n") ||
		strings.ContainsAny(r.UnsubscribeMailto, "\r\n<>?") {
		return dst, fmt.Errorf("build message: %w", ErrHeaderInjection)
	}
	start := len(dst)
	// appended piece by piece: no string is built for a header
	dst = append(dst, "Date: "...)
	dst = time.Now().AppendFormat(dst, time.RFC1123Z)
	dst = append(dst, "\r\nMessage-ID: <"...)
	dst = appendMessageID(dst, p.domain, r.EditionID, r.Recipient.ID)
	dst = append(dst, ">\r\nTo: "...)
	dst = appendAddress(dst, headerSafe(r.Recipient.Name), r.Recipient.Email)
	dst = append(dst, "\r\n"...)
	if p.id.FeedbackID != "" {
		dst = append(dst, "Feedback-ID: "...)
		if r.EditionID > 0 {
			dst = strconv.AppendInt(dst, r.EditionID, 10)
		} else {
			dst = append(dst, "test"...)
		}
		dst = append(dst, ':')
		dst = append(dst, p.id.FeedbackID...)
		dst = append(dst, "\r\n"...)
	}
	dst = p.id.appendUnsubscribe(dst, r.UnsubscribeURL, r.UnsubscribeMailto)
	dst = append(dst, p.head...)
	bodyStart := len(dst) - start
	dst = append(dst, "\r\n"...)
	dst = p.appendBody(dst, r, false)
	if p.signer == nil {
		return dst, nil
	}
	sig, err := p.signer.signatureWithBodyHash(dst[start:bodyStart], p.bodyHash(r), time.Now())
	if err != nil {
		return dst, err
	}
	// the signature goes first: shift the message up and copy it in front
	n := len(dst)
	dst = append(dst, sig...)
	copy(dst[start+len(sig):], dst[start:n])
	copy(dst[start:], sig)
	return dst, nil
}

// appendBody appends the MIME body for r: the text part and the HTML part.
// With canon it appends the body's DKIM relaxed canonical form instead, from
// the pieces canonicalized once per edition.
func (p *Prepared) appendBody(dst []byte, r *brief.Message, canon bool) []byte {
	dst = append(dst, "--"...)
	dst = append(dst, p.boundary...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"...)
	dst = p.text.appendFilled(dst, &r.Values, false, canon)
	dst = append(dst, "\r\n--"...)
	dst = append(dst, p.boundary...)
	dst = append(dst, "\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"...)
	dst = p.html.appendFilled(dst, &r.Values, true, canon)
	dst = append(dst, "\r\n--"...)
	dst = append(dst, p.boundary...)
	return append(dst, "--\r\n"...)
}

// bodyHash is the SHA-256 of r's message body in DKIM relaxed form.
func (p *Prepared) bodyHash(r *brief.Message) []byte {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	*bp = p.appendBody((*bp)[:0], r, true)
	sum := sha256.Sum256(*bp)
	return sum[:]
}

// bodyBufs are scratch buffers for bodyHash, shared by the workers.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// escapedHTML are the characters html.EscapeString changes: a value
// without them (nearly every name) is used as it is.
const escapedHTML = `<>&'"`

// appendEscaped appends s escaped as html.EscapeString escapes it.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '\'':
			dst = append(dst, "&#39;"...)
		case '"':
			dst = append(dst, "&#34;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func (b *encodedBody) appendFilled(dst []byte, vals *brief.Values, escape, canon bool) []byte {
	for i, st := range b.static {
		if canon {
			dst = append(dst, b.canon[i]...)
		} else {
			dst = append(dst, st...)
		}
		if i < len(b.slots) {
			v := vals[b.slots[i]]
			if v != "" {
				from := len(dst)
				if escape && strings.ContainsAny(v, escapedHTML) {
					// escaped on the stack when it fits (a link does)
					var buf [1024]byte
					dst = qpAppend(dst, appendEscaped(buf[:0], v))
				} else {
					dst = qpAppend(dst, v)
				}
				if !bytes.HasSuffix(dst, []byte("\r\n")) {
					dst = append(dst, "=\r\n"...)
				}
				if canon {
					dst = append(dst[:from], relaxedLines(nil, dst[from:])...)
				}
			}
		}
	}
	// the body ends with a line end before the boundary
	if !bytes.HasSuffix(dst, []byte("\r\n")) {
		dst = append(dst, "=\r\n"...)
	}
	return dst
}

// appendUnsubscribe appends the List-Unsubscribe header (and
// List-Unsubscribe-Post when the URL is https), or nothing when there is
// neither a URL nor a mailto.
func (id *Identity) appendUnsubscribe(dst []byte, u, mailto string) []byte {
	if mailto == "" {
		mailto = id.UnsubscribeMailto
	}
	if u == "" && mailto == "" {
		return dst
	}
	dst = append(dst, "List-Unsubscribe: "...)
	if u != "" {
		dst = append(dst, '<')
		dst = append(dst, u...)
		dst = append(dst, '>')
		if mailto != "" {
			dst = append(dst, ",\r\n "...)
		}
	}
	if mailto != "" {
		dst = append(dst, "<mailto:"...)
		dst = append(dst, mailto...)
		dst = append(dst, "?subject=unsubscribe>"...)
	}
	dst = append(dst, "\r\n"...)
	if strings.HasPrefix(u, "https://") {
		dst = append(dst, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"...)
	}
	return dst
}

// foldWords folds a header value of space-separated encoded words so that
// no line is much longer than 76 characters.
func foldWords(v string) string {
	words := strings.Split(v, " ")
	var b strings.Builder
	n := len("Subject: ")
	for i, w := range words {
		if i == 0 && n+len(w) > 76 {
			b.WriteString("\r\n ")
			n = 1
		}
		if i > 0 {
			if n+1+len(w) > 76 {
				b.WriteString("\r\n ")
				n = 1
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

// qpAppend appends s quoted-printable encoded (RFC 2045): lines of at most
// 76 characters with soft breaks, "\n" as a hard CRLF line end, "=", control
// characters and non-ASCII bytes escaped, white space before a line end
// escaped, and a "." at the start of a line escaped so that the result can
// go into SMTP DATA unchanged.
func qpAppend[S ~string | ~[]byte](dst []byte, s S) []byte {
	col := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			continue
		}
		if c == '\n' {
			dst = append(dst, '\r', '\n')
			col = 0
			continue
		}
		atEOL := i+1 == len(s) || s[i+1] == '\n' || (s[i+1] == '\r' && i+2 < len(s) && s[i+2] == '\n')
		literal := (c >= '!' && c <= '~' && c != '=') || ((c == ' ' || c == '\t') && !atEOL)
		if c == '.' && col == 0 {
			literal = false
		}
		w := 3
		if literal {
			w = 1
		}
		if col+w > 75 {
			dst = append(dst, '=', '\r', '\n')
			col = 0
			if c == '.' {
				literal, w = false, 3
			}
		}
		if literal {
			dst = append(dst, c)
		} else {
			dst = append(dst, '=', hexDigits[c>>4], hexDigits[c&15])
		}
		col += w
	}
	return dst
}
