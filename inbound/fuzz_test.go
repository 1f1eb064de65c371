package inbound

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds hostile bytes to the parser: it must not panic, and it
// must never report a failure or a complaint it did not claim to read.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"lhost-postfix-04.eml", "lhost-qmail-01.eml", "lhost-exim-01.eml", "arf-01.eml", "rfc3834-01.eml", "rhost-google-02.eml"} {
		if b, err := os.ReadFile(filepath.Join("../testdata/bounces/mail", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.c\nAction: failed\nStatus: 5.1.1\n--x--\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := Parse(raw)
		if err != nil {
			return
		}
		if rep.Kind != Bounce && len(rep.Failures) > 0 {
			t.Fatalf("%s with failures %+v", rep.Kind, rep.Failures)
		}
		if rep.Kind == Bounce && len(rep.Failures) == 0 {
			t.Fatal("a bounce without failures")
		}
		if rep.Kind != Complaint && len(rep.Complainants) > 0 {
			t.Fatalf("%s with complainants", rep.Kind)
		}
	})
}
