package mailer

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/smtptest"
)

func testIdentity() *Identity {
	return &Identity{From: "Town Brief <brief@news.example>", ListName: "Town Brief", ListID: "brief.news.example",
		UnsubscribeMailto: "unsubscribe@news.example"}
}

func testMessage(to string) *brief.Message {
	e := &brief.Edition{Subject: "Today's brief", Text: brief.Text("text body"), HTML: brief.Text("<p>html body</p>")}
	return brief.NewMessage(e, 7, brief.Recipient{ID: 42, Email: to, Name: "Reader"}, "https://brief.example/unsubscribe?token=abc")
}

// build makes m's bytes through the one message builder.
func build(id *Identity, m *brief.Message) ([]byte, error) {
	p, err := id.prepared(m)
	if err != nil {
		return nil, err
	}
	return p.AppendMessage(nil, m)
}

func render(t *testing.T, id *Identity, m *brief.Message) (*mail.Message, string) {
	t.Helper()
	raw, err := build(id, m)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return parsed, string(raw)
}

func TestBuildHeaders(t *testing.T) {
	m, raw := render(t, testIdentity(), testMessage("reader@example.com"))
	want := map[string]string{
		"From":                  `"Town Brief" <brief@news.example>`,
		"To":                    `"Reader" <reader@example.com>`,
		"Subject":               "Today's brief",
		"List-Unsubscribe":      "<https://brief.example/unsubscribe?token=abc>, <mailto:unsubscribe@news.example?subject=unsubscribe>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "Town Brief <brief.news.example>",
		"Precedence":            "bulk",
		"Auto-Submitted":        "auto-generated",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<7.42.") || !strings.HasSuffix(id, "@news.example>") {
		t.Errorf("Message-ID = %q", id)
	}
	if !strings.Contains(m.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type = %q", m.Header.Get("Content-Type"))
	}
	if strings.Index(raw, "text/plain") > strings.Index(raw, "text/html") {
		t.Error("the text part must come before the HTML part")
	}
}

func TestBuildPlainHTTPUnsubscribeIsNotOneClick(t *testing.T) {
	msg := testMessage("reader@example.com")
	msg.UnsubscribeURL = "http://localhost:8080/unsubscribe?token=abc"
	m, _ := render(t, &Identity{From: "b@news.example"}, msg)
	if got := m.Header.Get("List-Unsubscribe"); got != "<http://localhost:8080/unsubscribe?token=abc>" {
		t.Errorf("List-Unsubscribe = %q", got)
	}
	if got := m.Header.Get("List-Unsubscribe-Post"); got != "" {
		t.Errorf("List-Unsubscribe-Post = %q on a non-https URL", got)
	}
}

func TestBuildNeverPutsLineBreaksInHeaders(t *testing.T) {
	msg := testMessage("reader@example.com")
	msg.Edition.Subject = "Hello\r\nBcc: victim@example.com"
	msg.Recipient.Name = "Eve\nBcc: victim@example.com"
	_, raw := render(t, testIdentity(), msg)
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Fatalf("injected header line %q", line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("raw CR or LF in header line %q", line)
		}
	}
	e := testMessage("x@example.com").Edition
	for _, bad := range []*brief.Message{
		brief.NewMessage(e, 1, brief.Recipient{Email: "a@example.com\r\nBcc: v@example.com"}, "https://x.example/u"),
		brief.NewMessage(e, 1, brief.Recipient{Email: "a@example.com"}, "https://x.example/u\r\nBcc: v@example.com"),
	} {
		if _, err := build(testIdentity(), bad); !errors.Is(err, ErrHeaderInjection) {
			t.Errorf("build(%q, %q) = %v, want ErrHeaderInjection", bad.Recipient.Email, bad.UnsubscribeURL, err)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		fault     smtptest.Fault
		code      int
		temporary bool
		unknown   bool
	}{
		{"451 greylisting", smtptest.Fault{Err: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}}, 451, true, false},
		{"452 full", smtptest.Fault{Err: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}}, 452, true, false},
		{"550 unknown user", smtptest.Fault{Err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, 550, false, true},
		{"554 policy", smtptest.Fault{Err: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by policy"}}, 554, false, false},
		{"552 at end of data", smtptest.Fault{DataErr: &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}}, 552, false, false},
		{"dropped mid-data", smtptest.Fault{DropData: true}, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			srv.Script = func(string) smtptest.Fault { return tt.fault }
			s := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, Timeout: 5 * time.Second}, testIdentity())
			c, err := s.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Send(context.Background(), testMessage("x@example.com"))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Send = %v (%T), want *Error", err, err)
			}
			if e.Code != tt.code || e.Temporary() != tt.temporary || e.Permanent() == tt.temporary || e.UnknownMailbox() != tt.unknown {
				t.Errorf("got code %d temporary %v unknown-mailbox %v (%v); want %d %v %v", e.Code, e.Temporary(), e.UnknownMailbox(), e, tt.code, tt.temporary, tt.unknown)
			}
			// the connection stays usable (or is redialed) for the next message
			srv.Script = nil
			if err := c.Send(context.Background(), testMessage("next@example.com")); err != nil {
				t.Fatalf("next message after %s: %v", tt.name, err)
			}
			if got := srv.ByRecipient()["next@example.com"]; got != 1 {
				t.Errorf("next message delivered %d times", got)
			}
		})
	}
}

func TestSMTPConnReusesOneConnection(t *testing.T) {
	srv := smtptest.Start(t)
	s := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, MaxPerConn: 4}, testIdentity())
	c, err := s.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := c.Send(context.Background(), testMessage("r"+string(rune('a'+i))+"@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if n := len(srv.Messages()); n != 10 {
		t.Errorf("%d messages, want 10", n)
	}
	if n := srv.Sessions(); n != 3 {
		t.Errorf("%d SMTP sessions for 10 messages at 4 per connection, want 3", n)
	}
}

func TestOpenFailsWhenRelayIsDown(t *testing.T) {
	// a port nothing listens on
	s := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: 1, TLS: TLSNone, Timeout: 2 * time.Second}, testIdentity())
	_, err := s.Open(context.Background())
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() || !strings.Contains(e.Error(), "connect to 127.0.0.1:1") {
		t.Fatalf("Open = %v, want a temporary *Error naming the relay", err)
	}
}

func TestStartTLSRequiredByDefault(t *testing.T) {
	srv := smtptest.Start(t) // offers no STARTTLS
	// the same relay takes a plain connection, so a refusal below is about TLS
	plain := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, Timeout: 2 * time.Second}, testIdentity())
	c, err := plain.Open(context.Background())
	if err != nil {
		t.Fatalf("plain connection to the test relay: %v", err)
	}
	c.Close()
	s := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, Timeout: 2 * time.Second}, testIdentity())
	c, err = s.Open(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded against a server without STARTTLS while TLS is required")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "starttls") {
		t.Errorf("the refusal does not name STARTTLS: %v", err)
	}
}

func TestOutboxWritesWholeFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	c, err := NewOutbox(dir, testIdentity()).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), testMessage("reader@example.com")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "edition-7-42-reader@example.com.eml" {
		t.Fatalf("outbox holds %v", entries)
	}
	b, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if _, err := mail.ReadMessage(bytes.NewReader(b)); err != nil {
		t.Fatalf("outbox file is not a message: %v", err)
	}
}

func TestOutboxReportsUnwritableFolder(t *testing.T) {
	// a path under a regular file fails even for root, who ignores permissions
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, nil, 0o644)
	_, err := NewOutbox(filepath.Join(file, "outbox"), testIdentity()).Open(context.Background())
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() {
		t.Fatalf("Open = %v, want a temporary *Error", err)
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		code int
		enh  string
	}{
		{"smtp: 550 5.1.1 no such user", 550, "5.1.1"},
		{"421 4.4.2 closing", 421, "4.4.2"},
		{"connection reset by peer", 0, ""},
		{"dial tcp 127.0.0.1:1: connect: connection refused", 0, ""},
	}
	for _, tt := range tests {
		code, enh := parseReply(tt.in)
		if code != tt.code || enh != tt.enh {
			t.Errorf("parseReply(%q) = %d %q, want %d %q", tt.in, code, enh, tt.code, tt.enh)
		}
	}
}

func smtpErr(code int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: msg}
}

func asError(err error, target **Error) bool { return errors.As(err, target) }

// TestFeedbackID: with a Feedback-ID configured every message carries it,
// the edition's ID first; test mails say test.
func TestFeedbackID(t *testing.T) {
	id := testIdentity()
	id.FeedbackID = "brief:news.example"
	m := testMessage("reader@example.com")
	m.EditionID = 42
	raw, err := build(id, m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\r\nFeedback-ID: 42:brief:news.example\r\n") {
		t.Errorf("no Feedback-ID:\n%s", raw[:min(len(raw), 800)])
	}
	m.EditionID = 0
	raw, _ = build(id, m)
	if !strings.Contains(string(raw), "Feedback-ID: test:brief:news.example") {
		t.Error("a test mail's Feedback-ID")
	}
	for v, ok := range map[string]bool{"brief:news.example": true, "a:b:c": true, "a:b:c:d": false, "x y": false, "": false, "a::b": false} {
		if ValidFeedbackID(v) != ok {
			t.Errorf("ValidFeedbackID(%q) = %v", v, !ok)
		}
	}
}
