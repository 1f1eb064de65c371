package mailer

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzBuildHeaders checks that nothing a subscriber or an article controls
// can add a header line or leave a raw CR or LF in the header block.
func FuzzBuildHeaders(f *testing.F) {
	f.Add("Reader", "Subject", "a@example.com")
	f.Add("Eve\r\nBcc: v@example.com", "Hi\nBcc: v@example.com", "a@example.com")
	f.Add("Ünïcødé \"quoted\"", "Grüße · news", "b@example.org")
	f.Fuzz(func(t *testing.T, name, subject, to string) {
		m := testMessage(to)
		m.Recipient.Name, m.Edition.Subject = name, subject
		raw, err := build(testIdentity(), m)
		if err != nil {
			return
		}
		b := bytes.NewBuffer(raw)
		head, _, _ := strings.Cut(b.String(), "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("raw CR or LF in header line %q", line)
			}
			if line == "" || line[0] == ' ' || line[0] == '\t' {
				continue // continuation
			}
			k, _, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("header line without a name: %q", line)
			}
			switch strings.ToLower(k) {
			case "bcc", "cc", "reply-to", "sender":
				t.Fatalf("injected header %q", line)
			}
		}
	})
}
