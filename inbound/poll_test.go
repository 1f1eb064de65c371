package inbound

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/newsbrief/newsbrief/subscribers"
)

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startIMAP runs go-imap's in-memory server on 127.0.0.1 with one account
// and INBOX, over implicit TLS, and returns its address and a client
// configuration that trusts it.
func startIMAP(t *testing.T) (string, *tls.Config) {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("bounces", "secret-pw")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:   imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		Logger: log.New(io.Discard, "", 0),
	})
	cert, pool := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// imapLogin signs in to the test server's account; the client closes
// when the test ends.
func imapLogin(t *testing.T, addr string, cfg *tls.Config) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("bounces", "secret-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// appendMail puts messages into a folder, as the operator's MTA would.
func appendMail(t *testing.T, addr string, cfg *tls.Config, folder string, msgs ...[]byte) {
	t.Helper()
	c := imapLogin(t, addr, cfg)
	for _, m := range msgs {
		w := c.Append(folder, int64(len(m)), nil)
		if _, err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// folderCount is how many messages a folder holds.
func folderCount(t *testing.T, addr string, cfg *tls.Config, folder string) uint32 {
	t.Helper()
	st, err := imapLogin(t, addr, cfg).Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return *st.NumMessages
}

// TestPollMailbox is the "done when" through a mailbox: a later
// DSN, a complaint and a mailto unsubscribe found in an IMAP mailbox each
// change their subscriber once; a tokenless unsubscribe and other mail
// change nothing; a second poll reads nothing again, even when the marks
// are lost.
func TestPollMailbox(t *testing.T) {
	for _, processed := range []string{"", "Processed"} {
		t.Run("processed="+processed, func(t *testing.T) {
			s := newSite(t)
			ctx := context.Background()
			addr, cfg := startIMAP(t)
			gone, spam, leaving, victim := s.add(t, "gone@example.net"), s.add(t, "spam@example.net"),
				s.add(t, "leaving@example.net"), s.add(t, "victim@example.net")
			// Delivered-To is what the mailbox's MTA records of the envelope
			dsn := append([]byte("Delivered-To: "+s.returns.Sender(9, gone.ID)+"\r\n"), corpus(t, "lhost-postfix-04.eml")...)
			unsub := []byte("Delivered-To: " + s.returns.Mailto(9, leaving.ID) + "\r\nFrom: leaving@example.net\r\nTo: " +
				s.returns.Mailto(9, leaving.ID) + "\r\nSubject: unsubscribe\r\n\r\n\r\n")
			forged := []byte("Delivered-To: unsubscribe@news.example.org\r\nFrom: victim@example.net\r\nTo: unsubscribe@news.example.org\r\nSubject: unsubscribe\r\n\r\n\r\n")
			other := []byte("From: friend@example.com\r\nTo: bounces@news.example.org\r\nSubject: lunch?\r\n\r\nAre you free on Friday?\r\n")
			appendMail(t, addr, cfg, "INBOX", dsn, arf(s.ourMessage(spam, 9)), unsub, forged, other, corpus(t, "rfc3834-02.eml"))

			p := &Poller{Mailbox: Mailbox{Addr: addr, TLS: true, User: "bounces", Password: "secret-pw", Folder: "INBOX", Processed: processed},
				Processor: s.proc, TLS: cfg}
			rep, err := p.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Read != 6 || rep.Applied != 6 {
				t.Errorf("first poll: %+v", rep)
			}
			for _, c := range []struct {
				sub  subscribers.Subscriber
				want string
			}{{gone, subscribers.Bounced}, {spam, subscribers.Complained}, {leaving, subscribers.Unsubscribed}, {victim, subscribers.Active}} {
				if st := s.status(t, c.sub.ID); st != c.want {
					t.Errorf("%s is %s, want %s", c.sub.Email, st, c.want)
				}
			}
			rep, err = p.Poll(ctx)
			if err != nil || rep.Read != 0 {
				t.Errorf("second poll read %+v (%v), want nothing", rep, err)
			}
			if processed != "" {
				if n := folderCount(t, addr, cfg, processed); n != 6 {
					t.Errorf("%d messages moved to %s, want 6", n, processed)
				}
				if n := folderCount(t, addr, cfg, "INBOX"); n != 0 {
					t.Errorf("%d messages left in INBOX", n)
				}
			}
			// the same mails again (marks lost, a copy re-delivered):
			// the database knows them
			appendMail(t, addr, cfg, "INBOX", dsn, arf(s.ourMessage(spam, 9)))
			if _, err := p.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := s.store.EditionFeedback(ctx, 9)
			if err != nil {
				t.Fatal(err)
			}
			if c != (subscribers.FeedbackCounts{Hard: 1, Complaints: 1, Unsubscribes: 1}) {
				t.Errorf("edition 9's feedback: %+v", c)
			}
		})
	}
}

// TestPollWrongPassword: a login failure is an error that names the
// account, and changes nothing.
func TestPollWrongPassword(t *testing.T) {
	s := newSite(t)
	addr, cfg := startIMAP(t)
	p := &Poller{Mailbox: Mailbox{Addr: addr, TLS: true, User: "bounces", Password: "wrong", Folder: "INBOX"}, Processor: s.proc, TLS: cfg}
	if _, err := p.Poll(context.Background()); err == nil {
		t.Fatal("a wrong password polled")
	}
}

func TestParseMailboxURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mailbox
		err  bool
	}{
		{in: "imaps://bounces:p%40ss@imap.example.org/INBOX", want: Mailbox{Addr: "imap.example.org:993", TLS: true, User: "bounces", Password: "p@ss", Folder: "INBOX"}},
		{in: "imaps://u:p@imap.example.org:1993/Bounces?processed=Done", want: Mailbox{Addr: "imap.example.org:1993", TLS: true, User: "u", Password: "p", Folder: "Bounces", Processed: "Done"}},
		{in: "imap://u:p@imap.example.org", want: Mailbox{Addr: "imap.example.org:143", User: "u", Password: "p", Folder: "INBOX"}},
		{in: "imap://u:p@127.0.0.1:1143/?tls=none", want: Mailbox{Addr: "127.0.0.1:1143", Insecure: true, User: "u", Password: "p", Folder: "INBOX"}},
		{in: "imap://u:p@imap.example.org/?tls=none", err: true}, // clear text across the network
		{in: "pop3://u:p@mail.example.org", err: true},
		{in: "imaps://imap.example.org/INBOX", err: true},
		{in: "imaps://u:p@imap.example.org/?proccessed=x", err: true},
	} {
		got, err := ParseMailboxURL(c.in)
		if (err != nil) != c.err || !c.err && got != c.want {
			t.Errorf("ParseMailboxURL(%q) = %+v, %v", c.in, got, err)
		}
	}
}
