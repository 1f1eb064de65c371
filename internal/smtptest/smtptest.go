// Package smtptest runs a real SMTP server on 127.0.0.1 for tests: it
// accepts mail over TCP with github.com/emersion/go-smtp, records every
// message it accepts, and can be scripted to answer 4xx/5xx, stall or drop
// the connection, per recipient.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Fault is what the server does for one recipient.
type Fault struct {
	Err       *smtp.SMTPError // answer to RCPT TO (e.g. 451 or 550)
	DataErr   *smtp.SMTPError // answer to the end of DATA instead of 250
	DropData  bool            // close the connection in the middle of DATA
	DelayData time.Duration   // wait before answering DATA
}

// Server is a scripted SMTP server.
type Server struct {
	Addr string // host:port it listens on
	Host string
	Port int

	// Script, if set, is asked for each RCPT TO; the zero Fault accepts.
	Script func(rcpt string) Fault

	srv      *smtp.Server
	mu       sync.Mutex
	messages []Message
	sessions int
}

// Start starts a server on 127.0.0.1 with a free port; it is closed when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are the point of some tests
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxRecipients = 100
	srv.MaxMessageBytes = 10 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.srv = srv
	s.Addr = l.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns a copy of every accepted message.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// ByRecipient counts accepted messages per recipient address.
func (s *Server) ByRecipient() map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		for _, r := range m.To {
			out[strings.ToLower(r)]++
		}
	}
	return out
}

// Sessions is how many SMTP connections were opened.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	from   string
	to     []string
	faults []Fault
}

func (ss *session) Reset()        { ss.from, ss.to, ss.faults = "", nil, nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.from != "" {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "sender already specified"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	var f Fault
	if ss.s.Script != nil {
		f = ss.s.Script(to)
	}
	if f.Err != nil {
		return f.Err
	}
	ss.to = append(ss.to, to)
	ss.faults = append(ss.faults, f)
	return nil
}

// errDropped makes go-smtp close the connection.
var errDropped = errors.New("smtptest: connection dropped")

func (ss *session) Data(r io.Reader) error {
	var f Fault
	for _, x := range ss.faults {
		if x.DropData || x.DataErr != nil || x.DelayData > 0 {
			f = x
		}
	}
	if f.DropData {
		io.CopyN(io.Discard, r, 512)
		ss.conn.Conn().Close()
		return errDropped
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	if f.DelayData > 0 {
		time.Sleep(f.DelayData)
	}
	if f.DataErr != nil {
		return f.DataErr
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: b.Bytes()})
	ss.s.mu.Unlock()
	return nil
}
