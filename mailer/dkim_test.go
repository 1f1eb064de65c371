package mailer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/newsbrief/newsbrief/brief"

	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// TestDKIMVerifiesIndependently signs a message with each key type and
// verifies it with go-msgauth, serving the public key from a stub DNS
// lookup; the signed headers must include both List-Unsubscribe headers.
func TestDKIMVerifiesIndependently(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaPub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPriv := x509.MarshalPKCS1PrivateKey(rsaKey)
	edPriv, _ := x509.MarshalPKCS8PrivateKey(edKey)
	tests := []struct {
		name, pemType string
		der           []byte
		record        string
	}{
		{"rsa-2048", "RSA PRIVATE KEY", rsaPriv, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"ed25519", "PRIVATE KEY", edPriv, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyFile := filepath.Join(t.TempDir(), "key.pem")
			if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: tt.pemType, Bytes: tt.der}), 0o600); err != nil {
				t.Fatal(err)
			}
			signer, err := LoadDKIMKey("news.example", "brief", keyFile)
			if err != nil {
				t.Fatal(err)
			}
			id := testIdentity()
			id.DKIM = signer
			raw, err := build(id, testMessage("reader@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.NewBuffer(raw)
			lookups := 0
			verifs, err := dkim.VerifyWithOptions(bytes.NewReader(b.Bytes()), &dkim.VerifyOptions{
				LookupTXT: func(domain string) ([]string, error) {
					lookups++
					if domain != "brief._domainkey.news.example" {
						t.Errorf("looked up %q", domain)
					}
					return []string{tt.record}, nil
				},
			})
			if err != nil || len(verifs) != 1 || lookups != 1 {
				t.Fatalf("verify: %v, %d signatures, %d lookups", err, len(verifs), lookups)
			}
			v := verifs[0]
			if v.Err != nil {
				t.Fatalf("signature does not verify: %v\n%s", v.Err, b.String()[:min(3000, b.Len())])
			}
			signed := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
			for _, h := range []string{"from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post", "list-id"} {
				if !strings.Contains(":"+signed+":", ":"+h+":") {
					t.Errorf("h= lacks %s: %s", h, signed)
				}
			}
			// the message as the relay receives it verifies too
			srv := smtptest.Start(t)
			c, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone}, id).Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send(context.Background(), testMessage("reader@example.com")); err != nil {
				t.Fatal(err)
			}
			c.Close()
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("relay got %d messages", len(got))
			}
			verifs, err = dkim.VerifyWithOptions(bytes.NewReader(got[0].Data), &dkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{tt.record}, nil },
			})
			if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
				t.Fatalf("the relayed message does not verify: %v %+v", err, verifs)
			}
			// altering a signed header breaks the signature
			tampered := bytes.Replace(b.Bytes(), []byte("Subject: Today's brief"), []byte("Subject: Today's offer"), 1)
			verifs, _ = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{tt.record}, nil },
			})
			if len(verifs) != 1 || verifs[0].Err == nil {
				t.Error("a tampered subject still verifies")
			}
			// over-signed: a second From, Subject or List-Unsubscribe added
			// above the signed ones breaks the signature
			for _, added := range []string{"From: Mallory <m@evil.example>", "Subject: Win a prize", "List-Unsubscribe: <https://evil.example/u>"} {
				forged := append([]byte(added+"\r\n"), b.Bytes()...)
				verifs, _ = dkim.VerifyWithOptions(bytes.NewReader(forged), &dkim.VerifyOptions{
					LookupTXT: func(string) ([]string, error) { return []string{tt.record}, nil },
				})
				if len(verifs) != 1 || verifs[0].Err == nil {
					t.Errorf("a message with %q added still verifies", added)
				}
			}
			if n := strings.Count(":"+signed+":", ":from:"); n != 2 {
				t.Errorf("From is signed %d times in h=, want 2 (over-signed): %s", n, signed)
			}
		})
	}
}

func TestDKIMKeyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadDKIMKey("news.example", "brief", bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := LoadDKIMKey("news.example", "brief", filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing key file accepted")
	}
}

// ed25519Key writes a fresh Ed25519 key and returns its file and DNS record.
func ed25519Key(t *testing.T) (string, string) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	f := filepath.Join(t.TempDir(), "ed.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

// FuzzDKIMSignature signs messages with any header value and any body with
// the prepared path's signer and verifies them with go-msgauth: the
// hand-written relaxed canonicalization must agree with an independent one.
func FuzzDKIMSignature(f *testing.F) {
	for _, s := range [][2]string{
		{"Plain subject", "Hello world\r\n"},
		{"a  b\tc : d", "trailing spaces   \r\ntabs\t\tinside\r\n\r\n\r\n"},
		{"x", ""},
		{"", "no final line end"},
		{"y", "bare\nline feeds\n\n"},
		{"z", "   \r\n\t\r\nonly blanks before\r\n \r\n"},
		{"q", "lone\rcarriage return\r\n"},
		{"=?UTF-8?q?enc?=", "=C3=BC quoted-printable=\r\n soft break\r\n"},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	s, err := newDKIMSigner(&DKIMKey{Domain: "news.example", Selector: "brief", Signer: key})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		subject = strings.NewReplacer("\r", " ", "\n", " ").Replace(subject)
		msg := []byte("From: Brief <brief@news.example>\r\nTo: reader@example.com\r\nSubject: " + subject +
			"\r\nList-Unsubscribe: <https://brief.example/u?t=1>,\r\n <mailto:u@news.example>\r\n\r\n")
		msg = append(msg, body...)
		sig, err := s.signature(msg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		signed := append(sig, msg...)
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return []string{record}, nil }})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
			t.Fatalf("does not verify: %v %v\n%q", err, verifs[0].Err, signed)
		}
	})
}

// FuzzPreparedDKIM signs prepared editions whose static text and personal
// values are anything (indentation, tabs, runs of spaces, blank and
// whitespace-only lines) and verifies them with go-msgauth: the body hash
// from pieces canonicalized once per edition must be the message's own.
func FuzzPreparedDKIM(f *testing.F) {
	f.Add("  indented\n\tline  \n   \n", "Hello  Zoë ,  ", "\nend   \n\n\n")
	f.Add("", "", "")
	f.Add("no line end", "\t", " ")
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	id := testIdentity()
	id.DKIM = &DKIMKey{Domain: "news.example", Selector: "brief", Signer: key}
	f.Fuzz(func(t *testing.T, before, value, after string) {
		e := &brief.Edition{Subject: "s",
			Text: brief.Body{Static: []string{before, after}, Slots: []int{brief.SlotGreeting}},
			HTML: brief.Body{Static: []string{after, before, value}, Slots: []int{brief.SlotGreeting, brief.SlotUnsubscribeURL}}}
		p, err := id.Prepare(e)
		if err != nil {
			t.Fatal(err)
		}
		r := brief.NewMessage(e, 1, brief.Recipient{Email: "reader@example.com"}, "https://brief.example/u?t=1")
		r.Values[brief.SlotGreeting] = value
		msg, err := p.AppendMessage(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return []string{record}, nil }})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
			t.Fatalf("does not verify: %v %v\n%q", err, verifs[0].Err, msg)
		}
	})
}

// TestLoadDKIMKeyRefusesOtherKeys: a key DKIM cannot sign with fails at
// start-up with a reason, not at the first send.
func TestLoadDKIMKeyRefusesOtherKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ec.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDKIMKey("news.example", "brief", f); err == nil {
		t.Fatal("an ECDSA key was accepted for DKIM")
	}
}
