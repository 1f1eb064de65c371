package mailer

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
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
