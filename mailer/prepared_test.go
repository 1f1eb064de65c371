package mailer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/smtptest"
)

func testEdition() *brief.Edition {
	long := strings.Repeat("word ", 40) + "=equals= and ünïcödé · “quotes” "
	return &brief.Edition{
		Subject: "Today's brief · Grüße and a long subject line that goes on and on past seventy-six characters",
		Text: brief.Body{
			Static: []string{"", "\n.leading dot line\n" + long + "\nTrailing space   \n\nUnsubscribe: ", "\n.\n"},
			Slots:  []int{brief.SlotGreeting, brief.SlotUnsubscribeURL},
		},
		HTML: brief.Body{
			Static: []string{"<p>", "</p><p style=\"a=b\">" + long + "</p><a href=\"", "\">Unsubscribe</a>\r\n.end"},
			Slots:  []int{brief.SlotGreeting, brief.SlotUnsubscribeURL},
		},
	}
}

func testRecipient() *brief.Message {
	return brief.NewMessage(testEdition(), 3, brief.Recipient{ID: 9, Email: "reader@example.com", Name: "Zoë <Reader>"},
		"https://brief.example/unsubscribe?token=a&b=c")
}

// fill joins a body as the receiver should see it.
func fill(b brief.Body, r *brief.Message, escape func(string) string) string {
	return b.Fill(&r.Values, escape)
}

func decodeParts(t *testing.T, raw []byte) (*mail.Message, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	if len(bodies) != 2 {
		t.Fatalf("%d parts", len(bodies))
	}
	return msg, bodies[0], bodies[1]
}

func TestPreparedMessageDecodesToTheBodies(t *testing.T) {
	id := testIdentity()
	e := testEdition()
	p, err := id.Prepare(e)
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient()
	raw, err := p.AppendMessage(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for i, line := range strings.Split(string(raw), "\r\n") {
		limit := 76 // body lines
		if i < strings.Count(head, "\r\n")+1 {
			limit = 998 // header lines: a URL cannot be folded
		}
		if len(line) > limit {
			t.Errorf("line %d is %d characters: %q", i, len(line), line)
		}
		if strings.HasPrefix(line, ".") {
			t.Errorf("line %d starts with a dot: %q", i, line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("bare CR or LF in line %d", i)
		}
	}
	msg, text, htmlBody := decodeParts(t, raw)
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	wantText := fill(e.Text, r, func(s string) string { return s })
	if norm(text) != norm(wantText) {
		t.Errorf("text part:\n%q\nwant\n%q", text, wantText)
	}
	wantHTML := fill(e.HTML, r, htmlEscape)
	if norm(htmlBody) != norm(wantHTML) {
		t.Errorf("html part:\n%q\nwant\n%q", htmlBody, wantHTML)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subj != e.Subject {
		t.Errorf("Subject = %q", subj)
	}
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil || to.Name != "Zoë <Reader>" || to.Address != "reader@example.com" {
		t.Errorf("To = %q (%v)", msg.Header.Get("To"), err)
	}
	for k, v := range map[string]string{"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Precedence": "bulk",
		"Auto-Submitted": "auto-generated", "List-Id": "Town Brief <brief.news.example>"} {
		if msg.Header.Get(k) != v {
			t.Errorf("%s = %q", k, msg.Header.Get(k))
		}
	}
	if !strings.HasPrefix(msg.Header.Get("List-Unsubscribe"), "<https://brief.example/unsubscribe?token=a&b=c>") {
		t.Errorf("List-Unsubscribe = %q", msg.Header.Get("List-Unsubscribe"))
	}
	bad := testRecipient()
	bad.Recipient.Email = "a@example.com\r\nBcc: v@example.com"
	if _, err := p.AppendMessage(nil, bad); err == nil {
		t.Error("an address with CR/LF was accepted")
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestQPAppend(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a=b", "a=3Db"},
		{".dot", "=2Edot"},
		{"x\n.dot", "x\r\n=2Edot"},
		{"trailing \nx", "trailing=20\r\nx"},
		{"é", "=C3=A9"},
		{strings.Repeat("a", 80), strings.Repeat("a", 75) + "=\r\n" + strings.Repeat("a", 5)},
	}
	for _, tt := range tests {
		if got := string(qpAppend(nil, tt.in)); got != tt.want {
			t.Errorf("qpAppend(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSendPreparedOverSMTPWithDKIM(t *testing.T) {
	srv := smtptest.Start(t)
	id := testIdentity()
	keyFile, record := ed25519Key(t)
	signer, err := LoadDKIMKey("news.example", "brief", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	id.DKIM = signer
	_, err = id.Prepare(testEdition())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if err := c.Send(context.Background(), testRecipient()); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Messages()
	if len(got) != 3 || srv.Sessions() != 1 {
		t.Fatalf("%d messages over %d sessions", len(got), srv.Sessions())
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(got[0].Data), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{record}, nil },
	})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Fatalf("DKIM on the relayed prepared message: %v %+v\n%s", err, verifs[0], got[0].Data[:800])
	}
	decodeParts(t, got[0].Data)
	// a refused recipient leaves the connection usable
	srv.Script = func(rcpt string) smtptest.Fault {
		if rcpt == "reader@example.com" {
			return smtptest.Fault{Err: smtpErr(550, "no such user")}
		}
		return smtptest.Fault{}
	}
	err = c.Send(context.Background(), testRecipient())
	var e *Error
	if !asError(err, &e) || e.Code != 550 || e.Temporary() {
		t.Fatalf("550: %v", err)
	}
	other := testRecipient()
	other.Recipient.Email = "other@example.com"
	if err := c.Send(context.Background(), other); err != nil {
		t.Fatalf("after a 550: %v", err)
	}
}

// TestPreparedConnectionOutlivesTimeout sends over one connection for
// longer than the SMTP timeout: the timeout applies to each message.
func TestPreparedConnectionOutlivesTimeout(t *testing.T) {
	srv := smtptest.Start(t)
	srv.Script = func(string) smtptest.Fault { return smtptest.Fault{DelayData: 150 * time.Millisecond} }
	id := testIdentity()
	_, err := id.Prepare(testEdition())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, Timeout: 500 * time.Millisecond}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 8 { // 8 x 150 ms > 500 ms
		if err := c.Send(context.Background(), testRecipient()); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if srv.Sessions() != 1 {
		t.Errorf("%d sessions, want 1", srv.Sessions())
	}
}

// TestSendPreparedWithoutPipelining talks to a relay that does not offer
// PIPELINING (a hand-scripted one: the test server offers it): MAIL, RCPT
// and DATA go one at a time, each after the previous answer, and the
// message arrives whole, twice over one connection.
func TestSendPreparedWithoutPipelining(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu       sync.Mutex
		commands []string
		messages []string
		early    bool // a command arrived before the previous answer
	)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 plain.example ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			mu.Lock()
			commands = append(commands, strings.Fields(cmd)[0])
			early = early || r.Buffered() > 0
			mu.Unlock()
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				fmt.Fprint(c, "250-plain.example\r\n250 8BITMIME\r\n")
			case strings.HasPrefix(cmd, "DATA"):
				fmt.Fprint(c, "354 go ahead\r\n")
				var msg strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					msg.WriteString(l)
				}
				mu.Lock()
				messages = append(messages, msg.String())
				mu.Unlock()
				fmt.Fprint(c, "250 queued\r\n")
			case strings.HasPrefix(cmd, "QUIT"):
				fmt.Fprint(c, "221 bye\r\n")
				return
			default:
				fmt.Fprint(c, "250 ok\r\n")
			}
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	id := testIdentity()
	_, err = id.Prepare(testEdition())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: addr.Port, TLS: TLSNone}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := conn.Send(context.Background(), testRecipient()); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	mu.Lock()
	defer mu.Unlock()
	if early {
		t.Errorf("commands were pipelined to a relay that does not offer it: %v", commands)
	}
	if got := strings.Join(commands, " "); !strings.Contains(got, "MAIL RCPT DATA MAIL RCPT DATA") {
		t.Errorf("commands: %s", got)
	}
	if len(messages) != 2 || !strings.Contains(messages[0], "Subject:") || !strings.Contains(messages[0], "Unsubscribe") {
		t.Fatalf("messages received: %d\n%.300s", len(messages), strings.Join(messages, "\n---\n"))
	}
}
