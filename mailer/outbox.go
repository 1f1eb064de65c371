package mailer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/newsbrief/newsbrief/brief"
)

// Outbox writes each message as an .eml file into a folder instead of
// sending it: the default when no SMTP host is configured.
type Outbox struct {
	dir string
	id  *Identity
}

// NewOutbox returns an outbox writing into dir, created if missing.
func NewOutbox(dir string, id *Identity) *Outbox { return &Outbox{dir: dir, id: id} }

// Dir is the folder messages are written to.
func (o *Outbox) Dir() string { return o.dir }

// Open makes sure the folder exists and is writable.
func (o *Outbox) Open(ctx context.Context) (brief.Conn, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("outbox: %v", err), Temp: true, Err: err}
	}
	return &OutboxConn{o: o}, nil
}

// OutboxConn writes messages into the outbox folder.
type OutboxConn struct{ o *Outbox }

// FileName is the name a message gets in the outbox: edition, subscriber
// and address, so a listing reads like the ledger. Test sends (edition 0)
// carry a timestamp instead.
func FileName(m *brief.Message) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, m.Recipient.Email)
	if m.EditionID == 0 {
		return fmt.Sprintf("test-%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000"), safe)
	}
	return fmt.Sprintf("edition-%d-%d-%s.eml", m.EditionID, m.Recipient.ID, safe)
}

// Send writes the message to a temporary file and renames it into place,
// so the outbox never holds half a message (a full disk leaves no file and
// returns a temporary *Error). The bytes are those a relay would get.
func (c *OutboxConn) Send(ctx context.Context, m *brief.Message) error {
	p, err := c.o.id.prepared(m)
	if err != nil {
		return &Error{Msg: err.Error(), Temp: false, Err: err}
	}
	return c.SendPrepared(ctx, p, m)
}

// write creates name in the outbox through a temporary file and a rename.
func (c *OutboxConn) write(name string, fill func(io.Writer) error) error {
	fail := func(err error) error {
		return &Error{Msg: fmt.Sprintf("outbox: %v", err), Temp: true, Err: err}
	}
	tmp, err := os.CreateTemp(c.o.dir, ".tmp-*.eml")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.o.dir, name)); err != nil {
		return fail(err)
	}
	return nil
}

// Close does nothing; it satisfies the connection interface.
func (c *OutboxConn) Close() error { return nil }

// SendPrepared writes one message of a prepared edition into the outbox,
// like Send.
func (c *OutboxConn) SendPrepared(ctx context.Context, p *Prepared, r *brief.Message) error {
	raw, err := p.AppendMessage(nil, r)
	if err != nil {
		return &Error{Msg: err.Error(), Temp: false, Err: err}
	}
	return c.write(FileName(r), func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	})
}
