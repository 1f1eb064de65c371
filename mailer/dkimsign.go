package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dkimSigner signs the messages of a prepared edition (RFC 6376, relaxed
// header and body canonicalization, rsa-sha256 or ed25519-sha256 as RFC
// 8463 defines it). It does what go-msgauth's Signer does for the same
// options, but without its general-purpose byte-by-byte canonicalization,
// which cost more than an RSA-2048 signature per 30 KB message: lines that
// need no change (nearly all of a quoted-printable body) are hashed as they
// are. Messages it signs are verified with go-msgauth in the tests.
type dkimSigner struct {
	domain, selector string
	key              crypto.Signer
	algo             string      // the a= tag
	hash             crypto.Hash // what key.Sign is told
	keys             []string    // h=, in order
	skip             []int       // for each key, how many of its instances earlier keys sign
	tagsHead         string      // "v=1; a=…; c=…; d=…; s=…; "
	hTag             string      // the folded h= list, the same for every message
}

// headBufs are scratch buffers for the canonical header block, shared by
// the workers.
var headBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func newDKIMSigner(o *DKIMKey) (*dkimSigner, error) {
	if o == nil || o.Signer == nil {
		return nil, errors.New("dkim: no key")
	}
	s := &dkimSigner{domain: o.Domain, selector: o.Selector, key: o.Signer, keys: dkimSignedHeaders()}
	switch pub := o.Signer.Public().(type) {
	case ed25519.PublicKey:
		s.algo, s.hash = "ed25519-sha256", crypto.Hash(0)
	case *rsa.PublicKey:
		if pub.N.BitLen() < 1024 {
			return nil, fmt.Errorf("dkim: an RSA key of %d bits is too short (RFC 8301 asks for at least 1024, 2048 is usual)", pub.N.BitLen())
		}
		s.algo, s.hash = "rsa-sha256", crypto.SHA256
	default:
		return nil, fmt.Errorf("dkim: a %T key cannot sign DKIM (RSA or Ed25519)", pub)
	}
	for _, v := range []string{o.Domain, o.Selector} {
		if v == "" || strings.ContainsAny(v, "; \t\r\n=") {
			return nil, fmt.Errorf("dkim: bad domain or selector %q", v)
		}
	}
	s.tagsHead = "v=1; a=" + s.algo + "; c=relaxed/relaxed; d=" + s.domain + "; s=" + s.selector + ";"
	// each name's instances are signed from the bottom up (RFC 6376
	// 5.4.2): the nth listing of a name signs its nth instance from the
	// bottom, and one listing more than it occurs signs nothing more
	// (over-signing)
	s.skip = make([]int, len(s.keys))
	for i, k := range s.keys {
		for _, e := range s.keys[:i] {
			if strings.EqualFold(e, k) {
				s.skip[i]++
			}
		}
	}
	var f strings.Builder
	n := len(" t=; h=") + 10
	for i, k := range s.keys {
		if i > 0 {
			f.WriteByte(':')
			n++
		}
		if n+len(k) > 76 {
			f.WriteString("\r\n ")
			n = 1
		}
		f.WriteString(k)
		n += len(k)
	}
	s.hTag = f.String()
	return s, nil
}

// signature returns the DKIM-Signature header field (with its CRLF) for
// msg, a whole message with CRLF line ends.
func (s *dkimSigner) signature(msg []byte, now time.Time) ([]byte, error) {
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("dkim: message has no body")
	}
	h := sha256.New()
	relaxedBody(h, body)
	return s.signatureWithBodyHash(msg[:len(head)+2], h.Sum(nil), now)
}

// signatureWithBodyHash is signature for a message whose header block is
// head (each field ending in CRLF) and whose canonical body hashes to bh.
func (s *dkimSigner) signatureWithBodyHash(head, bodyHash []byte, now time.Time) ([]byte, error) {
	bh := base64.StdEncoding.EncodeToString(bodyHash)
	var f strings.Builder
	f.Grow(len(s.tagsHead) + len(s.hTag) + len(bh) + 40)
	f.WriteString("DKIM-Signature: ")
	f.WriteString(s.tagsHead)
	f.WriteString("\r\n t=")
	f.WriteString(strconv.FormatInt(now.Unix(), 10))
	f.WriteString("; h=")
	f.WriteString(s.hTag)
	f.WriteString(";\r\n bh=")
	f.WriteString(bh)
	f.WriteString(";\r\n b=")
	unsigned := f.String()

	var fields [32]headerField
	all := headerFields(fields[:0], head)
	bp := headBufs.Get().(*[]byte)
	defer headBufs.Put(bp)
	canon := (*bp)[:0]
	for ki, k := range s.keys {
		skip := s.skip[ki]
		for i := len(all) - 1; i >= 0; i-- {
			if asciiEqualFold(all[i].name, k) {
				if skip > 0 {
					skip--
					continue
				}
				canon = appendRelaxedHeader(canon, all[i].raw, true)
				break
			}
		}
	}
	canon = appendRelaxedHeader(canon, []byte(unsigned), false)
	*bp = canon
	sum := sha256.Sum256(canon)
	digest := sum[:]
	// RSA signs the digest as a SHA-256 one; Ed25519 (crypto.Hash(0)) signs
	// the digest as its message, which is what RFC 8463 asks
	sig, err := s.key.Sign(rand.Reader, digest, s.hash)
	if err != nil {
		return nil, fmt.Errorf("dkim: sign: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(sig)
	out := make([]byte, 0, len(unsigned)+len(b64)+len(b64)/72*3+2)
	out = append(out, unsigned...)
	for len(b64) > 72 {
		out = append(out, b64[:72]...)
		out = append(out, "\r\n "...)
		b64 = b64[72:]
	}
	out = append(out, b64...)
	return append(out, "\r\n"...), nil
}

type headerField struct {
	name []byte
	raw  []byte // the whole field with its folds and final CRLF
}

// headerFields splits a header block (each field ending in CRLF, folded
// lines starting with a space or tab) into fields.
func headerFields(out []headerField, head []byte) []headerField {
	for len(head) > 0 {
		end := 0
		for {
			i := bytes.Index(head[end:], []byte("\r\n"))
			if i < 0 {
				end = len(head)
				break
			}
			end += i + 2
			if end >= len(head) || (head[end] != ' ' && head[end] != '\t') {
				break
			}
		}
		raw := head[:end]
		name, _, _ := bytes.Cut(raw, []byte(":"))
		out = append(out, headerField{name: bytes.TrimRight(name, " \t"), raw: raw})
		head = head[end:]
	}
	return out
}

// appendRelaxedHeader appends raw in RFC 6376 3.4.2 form: the name
// lower-cased, the value unfolded, runs of spaces and tabs made one space,
// none around the colon or at the end; crlf adds the line end.
func appendRelaxedHeader(out, raw []byte, crlf bool) []byte {
	name, value, _ := bytes.Cut(raw, []byte(":"))
	for _, c := range bytes.TrimRight(name, " \t") {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	out = append(out, ':')
	space, started := false, false
	for _, c := range value {
		switch c {
		case '\r', '\n':
			continue
		case ' ', '\t':
			space = true
			continue
		}
		if space && started {
			out = append(out, ' ')
		}
		space, started = false, true
		out = append(out, c)
	}
	if crlf {
		out = append(out, "\r\n"...)
	}
	return out
}

// relaxedBody writes body's RFC 6376 3.4.4 canonical form to h: spaces and
// tabs at line ends removed, other runs made one space, empty lines at the
// end dropped, CRLF at the end. A body whose lines all end in CRLF (every
// message newsbrief writes) takes the fast path: lines that need no change
// are hashed in spans as they are. Others (bare LF, lone CR) go through a
// byte-by-byte state machine that treats them as go-msgauth does.
func relaxedBody(h hash.Hash, body []byte) {
	crlf := bytes.Count(body, []byte("\r\n"))
	if bytes.Count(body, []byte("\r")) != crlf || bytes.Count(body, []byte("\n")) != crlf {
		relaxedBodyBytes(h, body)
		return
	}
	if bytes.IndexByte(body, '\t') < 0 && !bytes.Contains(body, []byte("  ")) && !bytes.Contains(body, []byte(" \r\n")) {
		// nothing to change but the empty lines at the end
		trimmed := body
		for bytes.HasSuffix(trimmed, []byte("\r\n\r\n")) {
			trimmed = trimmed[:len(trimmed)-2]
		}
		if len(trimmed) == 2 && crlf > 0 && bytes.Equal(trimmed, []byte("\r\n")) {
			return // only empty lines: an empty body
		}
		if len(trimmed) > 0 && trimmed[len(trimmed)-1] == ' ' {
			trimmed = trimmed[:len(trimmed)-1] // a last line without CRLF ending in one space
			if len(trimmed) == 0 || bytes.HasSuffix(trimmed, []byte("\r\n")) {
				goto lines
			}
		}
		h.Write(trimmed)
		if !bytes.HasSuffix(trimmed, []byte("\r\n")) && len(trimmed) > 0 {
			h.Write([]byte("\r\n"))
		}
		return
	}
lines:
	span := 0   // start of the unchanged bytes not yet written
	blanks := 0 // empty lines held back: written only if text follows
	var tmp []byte
	for pos := 0; pos < len(body); {
		line, next := body[pos:], len(body) // without its line end
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			// every LF here ends a CRLF
			line, next = body[pos:pos+i-1], pos+i+1
		}
		if len(line) == 0 {
			h.Write(body[span:pos])
			blanks++
			pos, span = next, next
			continue
		}
		if next != len(body) || bytes.HasSuffix(body, []byte("\r\n")) {
			if bytes.IndexByte(line, '\t') < 0 && !bytes.Contains(line, []byte("  ")) && line[len(line)-1] != ' ' {
				if blanks > 0 {
					h.Write(body[span:pos])
					for ; blanks > 0; blanks-- {
						h.Write([]byte("\r\n"))
					}
					span = pos
				}
				pos = next
				continue
			}
		}
		// a line that changes (or the last one, without its CRLF): what
		// came before as it is, then this line's canonical form
		h.Write(body[span:pos])
		tmp = appendRelaxedLine(tmp[:0], line)
		if len(tmp) == 0 {
			blanks++ // only whitespace: an empty line
		} else {
			for ; blanks > 0; blanks-- {
				h.Write([]byte("\r\n"))
			}
			h.Write(append(tmp, '\r', '\n'))
		}
		pos, span = next, next
	}
	if blanks == 0 {
		h.Write(body[span:])
	}
}

// relaxedBodyBytes is relaxed body canonicalization one byte at a time: a
// bare LF counts as CRLF; CR and LF end a run of spaces; line breaks are
// held back until text follows, so those at the end are dropped.
func relaxedBodyBytes(h hash.Hash, body []byte) {
	out := make([]byte, 0, len(body)+2)
	var held []byte
	wsp, prevCR, written := false, false, false
	for _, c := range body {
		cr := prevCR
		prevCR = c == '\r'
		switch c {
		case ' ', '\t':
			wsp = true
		case '\r', '\n':
			wsp = false
			if c == '\n' && !cr {
				held = append(held, '\r')
			}
			held = append(held, c)
		default:
			out = append(out, held...)
			held = held[:0]
			if wsp {
				out = append(out, ' ')
				wsp = false
			}
			out = append(out, c)
			written = true
		}
	}
	if written {
		out = append(out, "\r\n"...)
	}
	h.Write(out)
}

// relaxedLines appends the relaxed canonical form of b's lines to dst, each
// line on its own (b ends in CRLF, or its last line is taken as ending
// there): trailing spaces and tabs dropped, runs made one space. Unlike a
// whole body, empty lines at the end are kept: the lines are a piece of a
// body whose pieces all end at line ends.
func relaxedLines(dst, b []byte) []byte {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\r\n"))
		dst = append(appendRelaxedLine(dst, line), '\r', '\n')
		b = rest
	}
	return dst
}

// appendRelaxedLine appends one line (without its line end) in relaxed
// form: runs of spaces and tabs made one space, none at the end.
func appendRelaxedLine(dst, line []byte) []byte {
	space := false
	for _, c := range line {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// asciiEqualFold says whether a header name b is k, ignoring ASCII case.
func asciiEqualFold(b []byte, k string) bool {
	if len(b) != len(k) {
		return false
	}
	for i := range b {
		x, y := b[i], k[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
