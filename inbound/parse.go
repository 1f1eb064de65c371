package inbound

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"

	"golang.org/x/net/html/charset"
)

// Kind is what a mail that came back is.
type Kind string

// Kinds of mail that come back.
const (
	Unknown   Kind = "unknown"   // not understood: nothing is done on its word
	Bounce    Kind = "bounce"    // a delivery report of failed recipients
	Delayed   Kind = "delayed"   // a report that delivery is still being tried (nothing to do)
	Delivered Kind = "delivered" // a report of success (nothing to do)
	Complaint Kind = "complaint" // a feedback-loop report (RFC 5965 ARF)
	AutoReply Kind = "autoreply" // an out-of-office or other automatic answer (ignored)
	Challenge Kind = "challenge" // a challenge-response system asking the sender to prove itself (ignored)
	Human     Kind = "human"     // a person's mail (a reply)
	// Unsubscribe is a request to unsubscribe by mail (RFC 2369's and RFC
	// 8058's mailto, which Gmail and Apple Mail send with the subject
	// "unsubscribe").
	Unsubscribe Kind = "unsubscribe"
)

// Failure is one recipient a delivery report says failed.
type Failure struct {
	Email  string // the recipient, lower-case ("" when the report names none)
	Status string // enhanced status code, "5.1.1", when known
	Code   int    // SMTP reply code, when known
	Detail string // the diagnostic text, one line
	Hard   bool   // the address does not exist (or its domain takes no mail)
}

// Report is what one returned mail says.
type Report struct {
	Kind         Kind
	Format       string    // how it was read: "rfc3464", "arf", "rfc3834", "text", …
	Failures     []Failure // Bounce: the failed recipients
	FeedbackType string    // Complaint: ARF's Feedback-Type (abuse, fraud, opt-out, auth-failure, …)
	Complainants []string  // Complaint: the original recipients named (Original-Rcpt-To, Removal-Recipient)
	Subject      string    // the returned mail's own subject, decoded
	From         string    // its From address
	// Envelope lists the addresses the returned mail was sent to, from its
	// own headers (To, Delivered-To, X-Original-To, Envelope-To), for a
	// message read from a mailbox, where the envelope is gone.
	Envelope []string
	// Original holds the headers of the message that came back, when the
	// report carries them (message/rfc822, text/rfc822-headers, or a copy
	// pasted into the text).
	Original textproto.MIMEHeader
}

// ErrNotMail is a message that cannot be read as mail at all.
var ErrNotMail = errors.New("not an RFC 5322 message")

// limits on what a hostile message can make the parser do
const (
	maxDepth = 6
	maxParts = 64
	maxText  = 1 << 20 // text read from one part
)

// Parse reads a mail that came back and says what it is. It never
// returns a Bounce or a Complaint it did not read from a structure or
// wording it knows: anything else is Unknown, and nothing is done on it.
func Parse(raw []byte) (*Report, error) {
	raw = bytes.TrimLeft(raw, "\r\n\t ")
	if bytes.HasPrefix(raw, []byte("From ")) { // an mbox separator line
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotMail, err)
	}
	h := textproto.MIMEHeader(msg.Header)
	rep := &Report{Kind: Unknown, Subject: decodeHeader(h.Get("Subject"))}
	if a, err := mail.ParseAddress(decodeHeader(h.Get("From"))); err == nil {
		rep.From = strings.ToLower(a.Address)
	}
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc"} {
		for _, v := range h.Values(k) {
			if list, err := mail.ParseAddressList(v); err == nil {
				for _, a := range list {
					rep.Envelope = append(rep.Envelope, a.Address)
				}
			} else if a := strings.Trim(strings.TrimSpace(v), "<>"); strings.Contains(a, "@") && !strings.ContainsAny(a, " ,") {
				rep.Envelope = append(rep.Envelope, a)
			}
		}
	}
	w := &walker{}
	w.walk(h, msg.Body, 0)

	switch {
	case w.feedback != nil:
		rep.Format = "arf"
		readFeedback(rep, w.feedback)
	case w.status != nil:
		rep.Format = "rfc3464"
		readDSN(rep, w.status, w.text.String())
	}
	if w.original != nil {
		rep.Original = w.original
	}
	rep.Failures = dedupe(rep.Failures)
	if rep.Kind != Unknown {
		return rep, nil
	}
	body := w.text.String()
	if rep.Original == nil {
		if hdr, ok := pastedHeaders(body); ok {
			rep.Original = hdr
		}
	}
	bounceLike := looksLikeBounce(h, rep.From, rep.Subject, body)
	switch {
	case isUnsubscribe(rep.Subject, body):
		rep.Kind, rep.Format = Unsubscribe, "mailto"
	case isChallenge(h, rep.Subject, body):
		rep.Kind, rep.Format = Challenge, "challenge"
	case !fromDaemon(h, rep.From) && isAutoReply(h, rep.Subject):
		rep.Kind, rep.Format = AutoReply, "rfc3834"
	case bounceLike && readText(rep, body):
		rep.Format = "text"
		rep.Failures = dedupe(rep.Failures)
	case bounceLike && strings.Contains(strings.ToLower(rep.Subject), "delay"):
		rep.Kind, rep.Format = Delayed, "text"
	case bounceLike:
		// a report in words it does not know: nothing is done on it
	case isAutoReply(h, rep.Subject):
		rep.Kind, rep.Format = AutoReply, "rfc3834"
	case h.Get("Auto-Submitted") == "":
		rep.Kind, rep.Format = Human, "mail"
	}
	return rep, nil
}

// walker collects the parts of a message that matter.
type walker struct {
	parts    int
	status   []byte               // message/delivery-status
	feedback []byte               // message/feedback-report
	original textproto.MIMEHeader // headers of the returned message
	text     strings.Builder      // the text parts, decoded
}

func (w *walker) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	w.parts++
	if depth > maxDepth || w.parts > maxParts {
		return
	}
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "text/plain"
	}
	body = decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	switch {
	case strings.HasPrefix(ct, "multipart/"):
		if params["boundary"] == "" {
			w.addText(body, params["charset"])
			return
		}
		b, _ := io.ReadAll(io.LimitReader(body, 8*maxText))
		if w.walkParts(b, params["boundary"], depth) == 0 {
			// a boundary that the parts do not use (relays mangle
			// them): take the one the body uses
			if m := usedBoundary.FindSubmatch(b); m != nil && string(m[1]) != params["boundary"] {
				w.walkParts(b, string(m[1]), depth)
			}
		}
	case ct == "message/delivery-status" || ct == "message/global-delivery-status":
		if w.status == nil {
			w.status, _ = io.ReadAll(io.LimitReader(body, maxText))
		}
	case ct == "message/feedback-report":
		if w.feedback == nil {
			w.feedback, _ = io.ReadAll(io.LimitReader(body, maxText))
		}
	case ct == "message/rfc822" || ct == "message/global" || ct == "message/rfc822-headers" || ct == "text/rfc822-headers":
		b, _ := io.ReadAll(io.LimitReader(body, maxText))
		if w.original == nil {
			w.original = readHeaders(b)
		}
	case strings.HasPrefix(ct, "text/"):
		w.addText(body, params["charset"])
	}
}

var usedBoundary = regexp.MustCompile(`(?m)^--([^\s-][^\s]{4,69}|-[^\s]{4,69})\s*$`)

// walkParts walks the parts of a multipart body with boundary and returns
// how many it found.
func (w *walker) walkParts(b []byte, boundary string, depth int) int {
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	n := 0
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return n
		}
		n++
		w.walk(p.Header, p, depth+1)
	}
}

func (w *walker) addText(body io.Reader, cs string) {
	if w.text.Len() > maxText {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(body, maxText))
	if cs != "" && !strings.EqualFold(cs, "us-ascii") && !strings.EqualFold(cs, "utf-8") {
		if r, err := charset.NewReaderLabel(cs, bytes.NewReader(b)); err == nil {
			if d, err := io.ReadAll(r); err == nil {
				b = d
			}
		}
	}
	w.text.Write(b)
	w.text.WriteByte('\n')
}

func decodeTransfer(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// stripSpace drops the line ends and spaces base64 text is wrapped in.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || n == 0 || err != nil {
			return j, err
		}
	}
}

// readHeaders reads the header block at the start of b, leniently.
func readHeaders(b []byte) textproto.MIMEHeader {
	b = bytes.TrimLeft(b, "\r\n")
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	h, err := r.ReadMIMEHeader()
	if len(h) == 0 && err != nil {
		return nil
	}
	return h
}

var pastedStart = regexp.MustCompile(`(?im)^(?:return-path|received|message-id|from|to|subject|date|list-unsubscribe|dkim-signature):`)

// pastedHeaders finds the returned message's headers pasted into the text
// of a bounce that has no MIME structure for them (qmail, Exim and others
// paste a copy after a separator line).
func pastedHeaders(body string) (textproto.MIMEHeader, bool) {
	for _, sep := range []string{"--- Below this line is a copy of the message.", "------ This is a copy of the message",
		"----- Original message -----", "Original message follows", "----- Original Message -----",
		"--- Original message follows", "------ Original message ------", "The original message was received"} {
		i := strings.Index(body, sep)
		if i < 0 {
			continue
		}
		rest := body[i:]
		loc := pastedStart.FindStringIndex(rest)
		if loc == nil {
			continue
		}
		if h := readHeaders([]byte(rest[loc[0]:])); len(h) > 0 {
			return h, true
		}
	}
	return nil, false
}

// blankLine separates the field groups of a report.
var blankLine = regexp.MustCompile(`\n[ \t]*\n`)

// fieldGroups reads "Name: value" groups separated by blank lines (the
// delivery-status and feedback-report formats), unfolding continuation
// lines.
func fieldGroups(b []byte) []textproto.MIMEHeader {
	var groups []textproto.MIMEHeader
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	for _, block := range blankLine.Split(text, -1) {
		if strings.TrimSpace(block) == "" {
			continue
		}
		g := textproto.MIMEHeader{}
		var name string
		for _, line := range strings.Split(block, "\n") {
			if line == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && name != "" {
				vs := g[name]
				vs[len(vs)-1] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			name = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
			g[name] = append(g[name], strings.TrimSpace(v))
		}
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	return groups
}

// typed returns the address of a "type; address" field.
func typed(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	v = strings.TrimSpace(v)
	v = strings.Trim(v, "<>\"")
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		v = strings.Trim(v[i:], "<>")
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// readDSN reads a message/delivery-status part (RFC 3464): one group of
// per-message fields, then one per recipient.
func readDSN(rep *Report, status []byte, text string) {
	groups := fieldGroups(status)
	var failed, delayed, delivered int
	for _, g := range groups {
		rcpt := typed(g.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = typed(g.Get("Original-Recipient"))
		}
		if rcpt == "" && g.Get("Action") == "" && g.Get("Status") == "" {
			continue // the per-message group
		}
		action := strings.ToLower(strings.TrimSpace(strings.Fields(g.Get("Action") + " x")[0]))
		st := findStatus(g.Get("Status"))
		diag := g.Get("Diagnostic-Code")
		if _, d, ok := strings.Cut(diag, ";"); ok && len(strings.TrimSpace(diag)) < 12 || strings.HasPrefix(strings.ToLower(diag), "smtp;") || strings.HasPrefix(strings.ToLower(diag), "x-") {
			diag = strings.TrimSpace(d)
		}
		if diag == "" {
			diag = textFor(text, rcpt)
		}
		if s := findStatus(diag); s != "" && (st == "" || strings.HasSuffix(st, ".0.0")) {
			st = s
		}
		switch {
		case action == "delayed" || action == "x" && strings.HasPrefix(st, "4") && !strings.Contains(strings.ToLower(text), "permanent"):
			delayed++
			continue
		case action == "delivered" || action == "relayed" || action == "expanded" || strings.HasPrefix(st, "2"):
			delivered++
			continue
		}
		failed++
		code := findReply(diag)
		context := diag
		if t := textFor(text, rcpt); afterData(strings.ToLower(strings.Join(strings.Fields(t), " "))) {
			context += " (" + oneLine(t, 300) + ")"
		}
		rep.Failures = append(rep.Failures, Failure{Email: rcpt, Status: st, Code: code,
			Detail: oneLine(diag, 300), Hard: hardFailure(st, code, context)})
	}
	switch {
	case failed > 0:
		rep.Kind = Bounce
	case delayed > 0:
		rep.Kind = Delayed
	case delivered > 0:
		rep.Kind = Delivered
	}
}

// textFor is the part of a bounce's text that speaks of rcpt: from the
// line that names it to the next blank line.
func textFor(text, rcpt string) string {
	if rcpt == "" {
		return ""
	}
	loc := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(rcpt)).FindStringIndex(text)
	if loc == nil {
		return ""
	}
	i := loc[0]
	end := strings.Index(text[i:], "\n\n")
	if end < 0 || end > 2000 {
		end = min(len(text)-i, 2000)
	}
	return text[i : i+end]
}

// readFeedback reads a message/feedback-report part (RFC 5965).
func readFeedback(rep *Report, fb []byte) {
	groups := fieldGroups(fb)
	if len(groups) == 0 {
		return
	}
	g := groups[0]
	rep.Kind = Complaint
	rep.FeedbackType = strings.ToLower(strings.TrimSpace(g.Get("Feedback-Type")))
	if rep.FeedbackType == "" {
		rep.FeedbackType = "abuse"
	}
	for _, k := range []string{"Original-Rcpt-To", "Removal-Recipient"} {
		for _, v := range g.Values(k) {
			if a := typed(v); strings.Contains(a, "@") {
				rep.Complainants = append(rep.Complainants, a)
			}
		}
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func decodeHeader(v string) string {
	d := mime.WordDecoder{CharsetReader: charset.NewReaderLabel}
	if s, err := d.DecodeHeader(v); err == nil {
		return s
	}
	return v
}

// dedupe merges failures of one recipient (a report may name it once per
// attempt or per part): hard if any says so, the first reading's details.
func dedupe(fs []Failure) []Failure {
	out := fs[:0]
	seen := map[string]int{}
	for _, f := range fs {
		if i, ok := seen[f.Email]; ok && f.Email != "" {
			if f.Hard && !out[i].Hard {
				out[i] = f
			}
			continue
		}
		seen[f.Email] = len(out)
		out = append(out, f)
	}
	return out
}
