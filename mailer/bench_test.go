package mailer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// benchBodies are the bodies of a message of about 30 KB, like an edition.
func benchBodies() (htmlBody, textBody string) {
	return strings.Repeat("<p style=\"margin:0;font-size:17px\">The council met again to discuss the plan; the debate ran late.</p>\n", 220),
		strings.Repeat("The council met again to discuss the plan; the debate ran late.\n", 110)
}

// signingCase is an identity that signs with key, or not at all.
type signingCase struct {
	name string
	key  crypto.Signer
}

func signingCases(b *testing.B) []signingCase {
	b.Helper()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	return []signingCase{{"unsigned", nil}, {"dkim-rsa2048", rsaKey}, {"dkim-ed25519", edKey}}
}

func (tc signingCase) identity(b *testing.B) *Identity {
	b.Helper()
	id := testIdentity()
	if tc.key != nil {
		s, err := LoadDKIMKey("news.example", "b", keyFile(b, tc.key))
		if err != nil {
			b.Fatal(err)
		}
		id.DKIM = s
	}
	return id
}

func keyFile(b *testing.B, key crypto.Signer) string {
	b.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "k.pem")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	return f
}

// BenchmarkGoMailBaseline builds and writes the same ~30 KB message with
// go-mail's Msg, unsigned: the baseline of BenchmarkAppendPrepared (what a
// message cost when each one was built whole). BenchmarkSignatureOnly is
// the bare signature over a SHA-256 digest with the same keys.
func BenchmarkGoMailBaseline(b *testing.B) {
	h, t := benchBodies()
	var buf bytes.Buffer
	b.ReportAllocs()
	for range b.N {
		msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
		msg.From("Town Brief <brief@news.example>")
		msg.AddToFormat("Reader", "reader@example.com")
		msg.Subject("Today's brief")
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<https://brief.example/u?token=abc>")
		msg.SetBodyString(gomail.TypeTextPlain, t)
		msg.AddAlternativeString(gomail.TypeTextHTML, h)
		buf.Reset()
		if _, err := msg.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func BenchmarkSignatureOnly(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	digest := sha256.Sum256([]byte("headers"))
	b.Run("rsa2048", func(b *testing.B) {
		for range b.N {
			if _, err := rsaKey.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ed25519", func(b *testing.B) {
		for range b.N {
			if _, err := edKey.Sign(rand.Reader, digest[:], crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendPrepared is the per-message work of an edition's send:
// headers and personal values around the bytes encoded once, unsigned and
// DKIM-signed. Compare the signed cost minus the unsigned one with
// BenchmarkSignatureOnly.
func BenchmarkAppendPrepared(b *testing.B) {
	h, t := benchBodies()
	e := &brief.Edition{Subject: "Today's brief", HTML: brief.Body{Static: []string{h[:100], h[100:]}, Slots: []int{brief.SlotGreeting}},
		Text: brief.Body{Static: []string{"", t, ""}, Slots: []int{brief.SlotGreeting, brief.SlotUnsubscribeURL}}}
	for _, tc := range signingCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			id := tc.identity(b)
			p, err := id.Prepare(e)
			if err != nil {
				b.Fatal(err)
			}
			r := brief.NewMessage(e, 1, brief.Recipient{ID: 1, Email: "reader@example.com", Name: "Reader"}, "https://brief.example/u?token=abc")
			var buf []byte
			b.ReportAllocs()
			for range b.N {
				if buf, err = p.AppendMessage(buf[:0], r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkSendAhead sends signed messages over one connection to a relay
// that takes a millisecond to accept each one (smtptest's DelayData): the
// next message is built and signed while the relay answers, so a message
// costs about the larger of the two, not their sum. Its msgs/s against
// 1 / (relay's delay + the signing time of BenchmarkSignatureOnly) shows it.
// RELAY_DELAY=2ms (a Go duration) sets another delay.
func BenchmarkSendAhead(b *testing.B) {
	h, t := benchBodies()
	delay := time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("RELAY_DELAY")); err == nil {
		delay = d
	}
	for _, tc := range signingCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			srv := smtptest.Start(b)
			srv.Script = func(string) smtptest.Fault { return smtptest.Fault{DelayData: delay} }
			c, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone}, tc.identity(b)).Open(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			pl := c.(brief.Pipeliner)
			// an edition of its own: it keeps the identity it was prepared for
			e := &brief.Edition{Subject: "Today's brief", HTML: brief.Body{Static: []string{h[:100], h[100:]}, Slots: []int{brief.SlotGreeting}},
				Text: brief.Body{Static: []string{"", t, ""}, Slots: []int{brief.SlotGreeting, brief.SlotUnsubscribeURL}}}
			msg := func(i int) *brief.Message {
				return brief.NewMessage(e, 1, brief.Recipient{ID: int64(i), Email: fmt.Sprintf("r%d@example.com", i), Name: "Reader"},
					"https://brief.example/u?token=abc")
			}
			next := msg(0)
			b.ResetTimer()
			for i := range b.N {
				m := next
				next = nil
				if i+1 < b.N {
					next = msg(i + 1)
				}
				if err := pl.SendAhead(context.Background(), m, next); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.StopTimer()
			c.Close()
			if got := srv.Messages(); len(got) != b.N || (tc.key != nil) != bytes.HasPrefix(got[0].Data, []byte("DKIM-Signature:")) {
				b.Fatalf("the relay has %d messages of %d, signed: %v", len(got), b.N, bytes.HasPrefix(got[0].Data, []byte("DKIM-Signature:")))
			}
		})
	}
}
