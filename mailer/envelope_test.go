package mailer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// TestPreparedEnvelopeUsesAngleBrackets talks to a hand-scripted server and
// checks the MAIL FROM and RCPT TO lines on the wire.
func TestPreparedEnvelopeUsesAngleBrackets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan string, 20)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.Write([]byte("220 test\r\n"))
		inData := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if inData {
				if line == ".\r\n" {
					inData = false
					c.Write([]byte("250 ok\r\n"))
				}
				continue
			}
			lines <- strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "EHLO"):
				c.Write([]byte("250-test\r\n250 8BITMIME\r\n"))
			case strings.HasPrefix(line, "DATA"):
				inData = true
				c.Write([]byte("354 go\r\n"))
			case strings.HasPrefix(line, "QUIT"):
				c.Write([]byte("221 bye\r\n"))
				return
			default:
				c.Write([]byte("250 ok\r\n"))
			}
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	id := testIdentity()
	_, err = id.Prepare(testEdition())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, Timeout: 5 * time.Second}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), testRecipient()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var got []string
	for len(lines) > 0 {
		got = append(got, <-lines)
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "MAIL FROM:<brief@news.example>") || !strings.Contains(all, "RCPT TO:<reader@example.com>") {
		t.Errorf("envelope on the wire:\n%s", all)
	}
}

// TestReturnAddressesOnTheWire sends through a real SMTP server (pipelined)
// and through the unpipelined path: the message's VERP envelope sender is
// the MAIL FROM, and its tokened mailto is List-Unsubscribe's.
func TestReturnAddressesOnTheWire(t *testing.T) {
	srv := smtptest.Start(t)
	id := testIdentity()
	m := testMessage("reader@example.com")
	m.ReturnPath = "bounces+abc234@news.example"
	m.UnsubscribeMailto = "unsubscribe+xyz567@news.example"
	c, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, Timeout: 5 * time.Second}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].From != "bounces+abc234@news.example" {
		t.Fatalf("envelope sender: %+v", got)
	}
	if !strings.Contains(string(got[0].Data), "<mailto:unsubscribe+xyz567@news.example?subject=unsubscribe>") {
		t.Errorf("List-Unsubscribe lacks the message's own mailto:\n%s", got[0].Data[:600])
	}
	// a mailto that would break out of its angle brackets is refused
	m.UnsubscribeMailto = "x@y>, <https://evil.example/"
	if err := c.Send(context.Background(), m); err == nil {
		t.Error("a mailto with an angle bracket was sent")
	}
}

// TestSendAheadFaults sends a run of messages with each next envelope
// written behind the current end of data, through a real SMTP server that
// refuses one recipient at RCPT, one message after its data, and drops the
// connection in the middle of another: every outcome is the message's own,
// the accepted ones arrive once each, and an envelope sent ahead and never
// followed is discarded on Close.
func TestSendAheadFaults(t *testing.T) {
	srv := smtptest.Start(t)
	srv.Script = func(rcpt string) smtptest.Fault {
		switch {
		case strings.HasPrefix(rcpt, "refused@"):
			return smtptest.Fault{Err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
		case strings.HasPrefix(rcpt, "rejected@"):
			return smtptest.Fault{DataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "content rejected"}}
		case strings.HasPrefix(rcpt, "dropped@"):
			return smtptest.Fault{DropData: true}
		}
		return smtptest.Fault{}
	}
	id := testIdentity()
	conn, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, Timeout: 5 * time.Second}, id).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*SMTPConn)
	names := []string{"a", "refused", "b", "rejected", "c", "dropped", "d", "e"}
	msgs := make([]*brief.Message, len(names))
	for i, n := range names {
		msgs[i] = testMessage(n + "@example.com")
	}
	var outcomes []string
	for i, m := range msgs {
		var next *brief.Message
		if i+1 < len(msgs) {
			next = msgs[i+1]
		}
		err := c.SendAhead(context.Background(), m, next)
		outcome := "sent"
		var me *Error
		if errors.As(err, &me) {
			outcome = fmt.Sprintf("%d", me.Code)
			if me.Temporary() && me.Code == 0 {
				outcome = "lost"
			}
		} else if err != nil {
			outcome = err.Error()
		}
		outcomes = append(outcomes, names[i]+":"+outcome)
		if i == 0 && c.ahead != msgs[1] {
			t.Fatal("the next envelope was not sent ahead")
		}
	}
	if n := srv.Sessions(); n != 2 {
		t.Errorf("%d connections, want 2 (one redial after the drop)", n)
	}
	// the connection is lost with "dropped": d goes out on a new one
	want := "a:sent refused:550 b:sent rejected:554 c:sent dropped:lost d:sent e:sent"
	if got := strings.Join(outcomes, " "); got != want {
		t.Errorf("outcomes\n%s, want\n%s", got, want)
	}
	got := srv.ByRecipient()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if got[n+"@example.com"] != 1 {
			t.Errorf("%s got %d messages", n, got[n+"@example.com"])
		}
	}
	for _, n := range []string{"refused", "rejected", "dropped"} {
		if got[n+"@example.com"] != 0 {
			t.Errorf("%s got %d messages", n, got[n+"@example.com"])
		}
	}
	// an envelope sent ahead, then Close: nothing arrives for it
	last := testMessage("never@example.com")
	if err := c.SendAhead(context.Background(), testMessage("f@example.com"), last); err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(50 * time.Millisecond)
	if n := srv.ByRecipient()["never@example.com"]; n != 0 {
		t.Errorf("the envelope sent ahead and never followed delivered %d messages", n)
	}
}

// TestAppendAddress: the direct path writes what net/mail writes, for
// names and local parts it takes, and leaves the others to net/mail.
func TestAppendAddress(t *testing.T) {
	for _, c := range []struct{ name, addr string }{
		{"", "ada@example.com"},
		{"Ada Lovelace", "ada@example.com"},
		{"Ada (Countess) Lovelace, Jr.", "ada.lovelace+brief@example.com"},
		{`Ada "A" \\ L`, "ada@example.com"},
		{"Jörg Müller", "jorg@example.com"},
		{"Ada", "ada..l@example.com"},
		{"Ada", ".ada@example.com"},
		{"Ada", "ada.@example.com"},
		{"Ada", `"ada l"@example.com`},
		{"Ada", "jörg@bücher.example"},
		{"Ada", "ada@"},
		{"Ada", "no-at-sign"},
		{"Tab\there", "ada@example.com"},
	} {
		want := (&mail.Address{Name: c.name, Address: c.addr}).String()
		if got := string(appendAddress([]byte("x"), c.name, c.addr)); got != "x"+want {
			t.Errorf("appendAddress(%q, %q) = %q, want x%q", c.name, c.addr, got, want)
		}
	}
}

// TestAppendEscaped escapes as html.EscapeString does.
func TestAppendEscaped(t *testing.T) {
	for _, s := range []string{"", "plain", `<a href="x">Tom & Jerry's</a>`, "https://brief.example/u?token=abc&e=7", "jörg 🙂 &amp;"} {
		if got, want := string(appendEscaped(nil, s)), html.EscapeString(s); got != want {
			t.Errorf("appendEscaped(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestReadReply: the reply reader agrees with textproto's ReadResponse,
// which it stands in for on the send's hot path, but for a bare code
// ("250" alone), which RFC 5321 allows and textproto calls short.
func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		in     string
		expect int
	}{
		{"250 2.0.0 Ok: queued as 4F3\r\n", 250},
		{"250 OK\r\n", 25},
		{"251 forwarded\r\n", 25},
		{"354 End data with <CR><LF>.<CR><LF>\r\n", 354},
		{"250-first\r\n250-second\r\n250 last\r\n", 250},
		{"550 5.1.1 <nobody@example.com>: Recipient address rejected\r\n", 25},
		{"452-4.2.2 The mailbox is full.\r\n452 4.2.2 Try again later\r\n", 250},
		{"421 4.7.0 closing\r\n", 354},
		{"250 no carriage return\n", 250},
		{"25\r\n", 250},
		{"abc hello\r\n", 250},
		{"250-a\r\n251 b\r\n", 250},
		{"250x\r\n", 250},
		{"", 250},
		{"250-cut short", 250},
	} {
		var scratch []byte
		got := readReply(bufio.NewReader(strings.NewReader(c.in)), &scratch, c.expect)
		_, _, want := textproto.NewReader(bufio.NewReader(strings.NewReader(c.in))).ReadResponse(c.expect)
		if (got == nil) != (want == nil) {
			t.Errorf("%q (expect %d): got %v, textproto %v", c.in, c.expect, got, want)
			continue
		}
		var ge, we *textproto.Error
		if errors.As(want, &we) {
			if !errors.As(got, &ge) || *ge != *we {
				t.Errorf("%q (expect %d): got %#v, textproto %#v", c.in, c.expect, got, want)
			}
		}
	}
	var scratch []byte
	if err := readReply(bufio.NewReader(strings.NewReader("250\r\n")), &scratch, 250); err != nil {
		t.Errorf("a bare 250: %v", err)
	}
	if err := readReply(bufio.NewReader(strings.NewReader("550\r\n")), &scratch, 250); err == nil {
		t.Errorf("a bare 550 read as success")
	}
}
