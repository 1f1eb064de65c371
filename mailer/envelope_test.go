package mailer

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

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
