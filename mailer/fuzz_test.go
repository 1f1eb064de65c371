package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"net/textproto"
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

// FuzzReadReply: whatever a relay answers, the reply reader does not
// panic, and it takes as success only what textproto's ReadResponse takes
// (or a bare expected code, which RFC 5321 allows), with the same code in
// its errors, and refuses nothing textproto takes.
func FuzzReadReply(f *testing.F) {
	f.Add("250 2.0.0 Ok\r\n", 250)
	f.Add("250-a\r\n250 b\r\n", 25)
	f.Add("550 5.1.1 unknown\r\n", 354)
	f.Add("250-a\r\n251 b\r\n", 250)
	f.Fuzz(func(t *testing.T, in string, expect int) {
		var scratch []byte
		got := readReply(bufio.NewReader(strings.NewReader(in)), &scratch, expect)
		_, _, want := textproto.NewReader(bufio.NewReader(strings.NewReader(in))).ReadResponse(expect)
		if got == nil && want != nil {
			line, _, _ := strings.Cut(in, "\n")
			if line = strings.TrimRight(line, "\r"); len(line) != 3 {
				t.Fatalf("%q (expect %d): success, textproto: %v", in, expect, want)
			}
		}
		if want == nil && got != nil {
			t.Fatalf("%q (expect %d): %v, textproto: success", in, expect, got)
		}
		var ge, we *textproto.Error
		if errors.As(got, &ge) && errors.As(want, &we) && ge.Code != we.Code {
			t.Fatalf("%q: code %d, textproto %d", in, ge.Code, we.Code)
		}
	})
}
