package subscribers

import (
	"context"
	"strings"
	"testing"
	"unicode"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", " A@EXAMPLE.com ", "x@bücher.example", "a@b", "\"q\"@example.com", "a@example.com\r\nBcc: b@c.d", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail(in)
		if err != nil {
			return
		}
		if strings.ContainsFunc(out, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
			t.Fatalf("NormalizeEmail(%q) = %q with white space or control characters", in, out)
		}
		again, err := NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}

func FuzzImport(f *testing.F) {
	f.Add("email,name\na@example.com,A\n")
	f.Add("\ufeffName,EMAIL\r\nB,b@example.com\r\n\"x\ny\",c@example.com\r\n")
	f.Add("email\n\"unterminated\n")
	f.Add("email,name\nbad\n,,,,\n")
	s := newStore(f)
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := s.Import(context.Background(), strings.NewReader(in), ImportOptions{DryRun: true})
		if err != nil {
			return
		}
		for _, b := range rep.Bad {
			if b.Line < 1 || b.Reason == "" {
				t.Fatalf("bad row without a line or reason: %+v", b)
			}
		}
	})
}
