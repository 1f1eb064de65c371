package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/newsbrief/newsbrief/brief"
)

// TLS modes for SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // STARTTLS required
	TLSImplicit = "tls"      // implicit TLS (SMTPS, usually port 465)
	TLSNone     = "none"     // plain text: only for a relay on the same host
)

// SMTPConfig says how to reach the relay.
type SMTPConfig struct {
	Host       string
	Port       int
	Username   string
	Password   string
	TLS        string        // TLSStartTLS, TLSImplicit or TLSNone
	Timeout    time.Duration // per command
	MaxPerConn int           // messages before a connection is closed and redialed; 0 for no limit
	HELO       string        // optional EHLO name
	TLSConfig  *tls.Config   // optional, e.g. a test CA
}

// SMTP delivers over a relay; each Open returns one connection for one
// worker.
type SMTP struct {
	cfg SMTPConfig
	id  *Identity
}

// NewSMTP returns an SMTP sender for cfg and the list's identity.
func NewSMTP(cfg SMTPConfig, id *Identity) *SMTP {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg, id: id}
}

func (s *SMTP) client() (*gomail.Client, error) {
	// No NOOP before and no RSET after every message: they cost two extra
	// round trips per message. A transaction that failed half-way is reset
	// by go-mail (MAIL, RCPT) or the connection is redialed (see Send).
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithoutNoop(), gomail.WithoutRset()}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// Open dials the relay, so that a relay that cannot be reached is reported
// before any message is tried.
func (s *SMTP) Open(ctx context.Context) (brief.Conn, error) {
	c := &SMTPConn{s: s}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// SMTPConn is one connection to the relay, reused for many messages: reset
// after a failed transaction, redialed after a drop, a 421 or MaxPerConn
// messages. It is not safe for concurrent use; each worker has its own.
type SMTPConn struct {
	s    *SMTP
	gm   *gomail.Client // dials, negotiates TLS and authenticates
	sc   *smtp.Client   // the live connection
	sent int
	buf  []byte // reused message buffer
	env  []byte // reused envelope buffer
	// ahead is the message whose MAIL, RCPT and DATA went out behind the
	// previous message's end of data, their answers not read yet; the next
	// SendAhead must be for it.
	ahead *brief.Message
	// built is ahead's message, built (and signed) while the relay
	// answered the message before it; builtErr the error building it.
	built    []byte
	builtFor *brief.Message
	builtErr error
	reply    []byte // the text of the reply being read
}

func (c *SMTPConn) dial(ctx context.Context) error {
	gm, err := c.s.client()
	if err != nil {
		return err
	}
	sc, err := gm.DialToSMTPClientWithContext(ctx)
	if err != nil {
		e := classify(err)
		e.Msg = fmt.Sprintf("connect to %s:%d: %s", c.s.cfg.Host, c.s.cfg.Port, e.Msg)
		return e
	}
	c.gm, c.sc, c.sent = gm, sc, 0
	return nil
}

func (c *SMTPConn) drop() {
	c.ahead, c.builtFor = nil, nil
	if c.sc != nil {
		c.gm.CloseWithSMTPClient(c.sc)
		c.sc = nil
	}
}

// ready redials when the connection is gone or has carried MaxPerConn
// messages.
func (c *SMTPConn) ready(ctx context.Context) error {
	if c.s.cfg.MaxPerConn > 0 && c.sent >= c.s.cfg.MaxPerConn {
		c.drop()
	}
	if c.sc == nil {
		return c.dial(ctx)
	}
	return nil
}

// Send delivers one message: MAIL, RCPT and DATA (pipelined when the relay
// offers it) with the bytes of m's edition, encoded once per edition,
// around m's own headers and values. Failures are *Error values.
func (c *SMTPConn) Send(ctx context.Context, m *brief.Message) error {
	return c.SendAhead(ctx, m, nil)
}

// SendAhead is Send, and when next is not nil and the relay pipelines, it
// writes next's MAIL, RCPT and DATA in the same write as m's end of data
// (as Postfix's own client does): one write and, usually, one read a
// message instead of two and two. The next call must be for next; its
// envelope's answers are read then.
func (c *SMTPConn) SendAhead(ctx context.Context, m, next *brief.Message) error {
	p, err := c.s.id.prepared(m)
	if err != nil {
		c.drop() // a message sent ahead may be waiting: start clean
		return &Error{Msg: err.Error(), Temp: false, Err: err}
	}
	return c.sendPrepared(ctx, p, m, next)
}

// SendPrepared delivers one message of a prepared edition: MAIL, RCPT and
// DATA with the message's bytes written as they are (they need no
// dot-stuffing). Failures are *Error values.
func (c *SMTPConn) SendPrepared(ctx context.Context, p *Prepared, r *brief.Message) error {
	return c.sendPrepared(ctx, p, r, nil)
}

func (c *SMTPConn) sendPrepared(ctx context.Context, p *Prepared, r, next *brief.Message) error {
	if c.ahead != nil && c.ahead != r {
		c.drop() // the envelope sent ahead was for another message
	}
	var err error
	if c.builtFor == r && c.ahead == r {
		c.buf, c.built, err = c.built, c.buf, c.builtErr
	} else {
		c.buf, err = p.AppendMessage(c.buf[:0], r)
	}
	c.builtFor, c.builtErr = nil, nil
	if err != nil {
		c.drop()
		return &Error{Msg: err.Error(), Temp: false, Err: err}
	}
	if c.ahead == r {
		// its envelope is on the wire, behind the last end of data
		c.ahead = nil
		if err := c.sc.UpdateDeadline(c.s.cfg.Timeout); err != nil {
			return c.failed(err, false)
		}
		c.sent++
		return c.finishPipelined(p, r, next)
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	// the timeout is per message, not per connection: go-mail's own send
	// path extends the deadline the same way
	if err := c.sc.UpdateDeadline(c.s.cfg.Timeout); err != nil {
		return c.failed(err, false)
	}
	c.sent++
	from := p.from
	if r.ReturnPath != "" {
		from = r.ReturnPath
	}
	if ok, _ := c.sc.Extension("PIPELINING"); ok {
		env, err := c.appendEnvelope(c.env[:0], p, r)
		if err != nil {
			return err
		}
		c.env = env
		c.sc.Text.W.Write(env)
		if err := c.sc.Text.W.Flush(); err != nil {
			return c.failed(err, false)
		}
		return c.finishPipelined(p, r, next)
	}
	if strings.ContainsAny(from, "\r\n<>") {
		return &Error{Msg: fmt.Sprintf("address %q contains a line break or angle bracket", from)}
	}
	// paths in angle brackets, as RFC 5321 wants and go-mail's own path sends them
	if err := c.sc.Mail("<" + from + ">"); err != nil {
		return c.failed(err, true)
	}
	if err := c.sc.Rcpt("<" + r.Recipient.Email + ">"); err != nil {
		return c.failed(err, true)
	}
	w, err := c.sc.Data()
	if err != nil {
		return c.failed(err, false)
	}
	// once the journal knows that it may arrive: straight into the
	// connection's buffer, past the dot writer, whose Close then adds the
	// final CRLF and the terminating dot
	if err := c.record(r); err != nil {
		return err
	}
	if _, err := c.sc.Text.W.Write(bytes.TrimSuffix(c.buf, []byte("\r\n"))); err != nil {
		return c.failed(err, false)
	}
	if err := w.Close(); err != nil {
		return c.failed(err, false)
	}
	if r.Journal != nil {
		r.Journal.Accepted(r.EditionID, r.Recipient.ID)
	}
	return nil
}

// record tells r's journal that its end of data is about to be written.
// When the journal cannot take it the connection is dropped, so the relay
// discards the unfinished message, and the message is deferred.
func (c *SMTPConn) record(r *brief.Message) error {
	if r.Journal == nil {
		return nil
	}
	if err := r.Journal.Record(r.EditionID, r.Recipient.ID); err != nil {
		c.drop()
		return &Error{Msg: "send journal: " + err.Error(), Temp: true, Err: err}
	}
	return nil
}

// envelopeFrom is r's envelope sender.
func (p *Prepared) envelopeFrom(r *brief.Message) string {
	if r.ReturnPath != "" {
		return r.ReturnPath
	}
	return p.from
}

// appendEnvelope appends r's MAIL, RCPT and DATA (RFC 2920) to dst.
func (c *SMTPConn) appendEnvelope(dst []byte, p *Prepared, r *brief.Message) ([]byte, error) {
	from, to := p.envelopeFrom(r), r.Recipient.Email
	for _, addr := range []string{from, to} {
		if strings.ContainsAny(addr, "\r\n<>") {
			return dst, &Error{Msg: fmt.Sprintf("address %q contains a line break or angle bracket", addr)}
		}
	}
	dst = append(dst, "MAIL FROM:<"...)
	dst = append(dst, from...)
	dst = append(dst, '>')
	if !isASCII(from) || !isASCII(to) {
		if ok, _ := c.sc.Extension("SMTPUTF8"); ok {
			dst = append(dst, " SMTPUTF8"...)
		}
	}
	dst = append(dst, "\r\nRCPT TO:<"...)
	dst = append(dst, to...)
	return append(dst, ">\r\nDATA\r\n"...), nil
}

// finishPipelined reads the answers to r's MAIL, RCPT and DATA (written
// and flushed already), then writes the message and its terminating dot
// in one write, with next's envelope behind it when there is a next and
// the connection will carry it, and reads the answer to the dot. The
// message is in c.buf.
func (c *SMTPConn) finishPipelined(p *Prepared, r, next *brief.Message) error {
	// all three answers are read whatever they say, to stay in step
	mailErr := c.readReply(250)
	rcptErr := c.readReply(25)
	dataErr := c.readReply(354)
	if err := errors.Join(mailErr, rcptErr); err != nil {
		if dataErr == nil {
			// a server that opened DATA anyway: hang up, so that it
			// discards the transaction
			c.drop()
			return classify(firstErr(mailErr, rcptErr))
		}
		return c.failed(firstErr(mailErr, rcptErr), true)
	}
	if dataErr != nil {
		return c.failed(dataErr, true)
	}
	// the prepared message ends in CRLF and has no line starting with ".";
	// once the journal knows that it may arrive, the message and its
	// terminating dot go in one write
	if err := c.record(r); err != nil {
		return err
	}
	// one write: the relay reads the dot and the next envelope together
	// and answers all four at once (two writes would leave its second
	// answer waiting on our delayed ACK, under Nagle's algorithm)
	tw := c.sc.Text.W
	c.buf = append(c.buf, ".\r\n"...)
	if next != nil && (c.s.cfg.MaxPerConn == 0 || c.sent < c.s.cfg.MaxPerConn) {
		if b, err := c.appendEnvelope(c.buf, p, next); err == nil {
			c.buf, c.ahead = b, next
		}
	}
	tw.Write(c.buf)
	if err := tw.Flush(); err != nil {
		return c.failed(err, false)
	}
	if c.ahead != nil {
		// the next message is built (and signed) while the relay takes
		// this one and answers: the connection does not wait for it
		c.built, c.builtErr = p.AppendMessage(c.built[:0], c.ahead)
		c.builtFor = c.ahead
	}
	if err := c.readReply(250); err != nil {
		// refused after the dot: the connection stays in step (the next
		// envelope's answers follow) unless it was lost
		e := classify(err)
		if e.Code == 0 || e.Code == 421 {
			c.drop()
		}
		return e
	}
	if r.Journal != nil {
		r.Journal.Accepted(r.EditionID, r.Recipient.ID)
	}
	return nil
}

// readReply reads one reply as textproto's ReadResponse(expect) does (a
// *textproto.Error for a code other than expected, its lines joined by
// "\n"), but straight from the connection's buffer: a reply that is what
// was expected, nearly every one, allocates nothing.
func (c *SMTPConn) readReply(expect int) error {
	return readReply(c.sc.Text.R, &c.reply, expect)
}

// readReply reads one reply from r, its text kept in *text.
func readReply(r *bufio.Reader, text *[]byte, expect int) error {
	reply := (*text)[:0]
	defer func() { *text = reply }()
	code := 0
	for first := true; ; first = false {
		line, err := r.ReadSlice('\n')
		if err != nil && !(err == io.EOF && len(line) > 0) {
			// (a last line the connection's end cut from its line end is
			// read, as textproto reads it)
			if errors.Is(err, bufio.ErrBufferFull) {
				err = textproto.ProtocolError("reply line too long")
			}
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		n, more, ok := replyCode(line, first)
		if first {
			if !ok {
				return textproto.ProtocolError("invalid reply: " + string(line))
			}
			code = n
		} else {
			reply = append(reply, '\n')
			if !ok || n != code {
				// inside a multi-line reply, a line that is not one of
				// its own is kept whole, and the reply goes on
				reply = append(reply, line...)
				continue
			}
		}
		if len(line) > 4 {
			reply = append(reply, line[4:]...)
		}
		if !more {
			break
		}
	}
	// textproto's rule: expect is one, two or three digits of the code
	if 1 <= expect && expect < 10 && code/100 != expect ||
		10 <= expect && expect < 100 && code/10 != expect ||
		100 <= expect && expect < 1000 && code != expect {
		return &textproto.Error{Code: code, Msg: string(reply)}
	}
	return nil
}

// replyCode parses a reply line's code (100 to 999) and whether more lines
// follow ("250-"); with bare, a code alone is a whole reply (RFC 5321
// allows it; textproto does not, nor does it take one inside a reply).
func replyCode(line []byte, bare bool) (code int, more, ok bool) {
	if len(line) < 3 || len(line) == 3 && !bare || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false, false
	}
	for _, d := range line[:3] {
		if d < '0' || d > '9' {
			return 0, false, false
		}
		code = code*10 + int(d-'0')
	}
	return code, len(line) > 3 && line[3] == '-', code >= 100
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// failed classifies an error of the transaction and leaves the connection
// clean: a refused MAIL or RCPT is reset with RSET; anything else, or a
// reset that fails, drops the connection for a redial.
func (c *SMTPConn) failed(err error, resettable bool) error {
	e := classify(err)
	if e.Code == 0 || e.Code == 421 || !resettable || c.sc.Reset() != nil {
		c.drop()
	}
	return e
}

// Close says QUIT and closes the connection; with an envelope sent ahead
// and never followed (the relay may be waiting for its data), it hangs up
// instead, so the relay discards the open transaction.
func (c *SMTPConn) Close() error {
	if c.ahead != nil {
		c.drop()
	}
	if c.sc == nil {
		return nil
	}
	err := c.gm.CloseWithSMTPClient(c.sc)
	c.sc = nil
	return err
}
