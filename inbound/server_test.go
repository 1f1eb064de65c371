package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/subscribers"
)

// site is a subscriber store on disk with the list's return addresses,
// and the processor that applies what comes back to it.
type site struct {
	store   *subscribers.Store
	tokens  *subscribers.Tokens
	returns subscribers.Returns
	proc    *Processor
}

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := subscribers.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := subscribers.NewTokens([]byte("inbound-test-secret-0123"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ret := subscribers.Returns{Tokens: tok, Bounce: "bounces@news.example.org", Unsubscribe: "unsubscribe@news.example.org"}
	return &site{store: st, tokens: tok, returns: ret, proc: &Processor{Addresses: ret,
		Recorder: subscribers.Feedback{Store: st, SoftLimit: 3}, ListID: "brief.news.example.org",
		NotFound: func(err error) bool { return errors.Is(err, subscribers.ErrNotFound) },
		Log:      slog.New(slog.DiscardHandler)}}
}

func (s *site) add(t *testing.T, email string) subscribers.Subscriber {
	t.Helper()
	sub, err := s.store.Add(context.Background(), email, "", "test", "cli")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func (s *site) status(t *testing.T, id int64) string {
	t.Helper()
	sub, err := s.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status
}

// startServer runs the inbound listener on 127.0.0.1.
func startServer(t *testing.T, s *site, cfg ServerConfig) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, s.proc, slog.New(slog.DiscardHandler))
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// deliver sends raw to rcpt over SMTP, as a relay returning mail would;
// it returns the server's answer to RCPT TO or to the end of DATA.
func deliver(t *testing.T, addr, from, rcpt string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func corpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata/bounces/mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// ourMessage is the headers of one of the list's messages to a
// subscriber, as the list sends it (VERP envelope sender, tokened
// List-Unsubscribe), for the reports that quote it.
func (s *site) ourMessage(sub subscribers.Subscriber, edition int64) string {
	link := "https://news.example.org/unsubscribe?token=" + s.tokens.Sign(subscribers.PurposeUnsubscribe, sub.ID) + fmt.Sprintf("&e=%d", edition)
	return "Return-Path: <" + s.returns.Sender(edition, sub.ID) + ">\r\n" +
		"From: The Brief <brief@news.example.org>\r\nTo: " + sub.Email + "\r\nSubject: Today's brief\r\n" +
		"List-Id: The Brief <brief.news.example.org>\r\n" +
		"List-Unsubscribe: <" + link + ">,\r\n <mailto:" + s.returns.Mailto(edition, sub.ID) + "?subject=unsubscribe>\r\n" +
		"Message-ID: <7.42@news.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nToday's news.\r\n"
}

// arf is a feedback-loop report (RFC 5965) about original, as mailbox
// providers send them.
func arf(original string) []byte {
	return []byte("From: staff@hotmail.example\r\nTo: bounces@news.example.org\r\nSubject: complaint about message\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n" +
		"--b1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: Test-FBL/1.0\r\nVersion: 1\r\n\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\n" + original + "\r\n--b1--\r\n")
}

// TestInboundSMTP is the "done when" at the listener: a later
// DSN, a feedback-loop complaint and a mailto unsubscribe, delivered over
// SMTP, each change their subscriber's state once; a forged tokenless
// unsubscribe and mail for other addresses change nothing.
func TestInboundSMTP(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	addr := startServer(t, s, ServerConfig{MaxBytes: 256 << 10})
	gone, spam, leaving, victim, away := s.add(t, "gone@example.net"), s.add(t, "spam@example.net"),
		s.add(t, "leaving@example.net"), s.add(t, "victim@example.net"), s.add(t, "away@example.net")

	// 1. a real Postfix DSN (5.1.1) to gone's VERP address of edition 7;
	// its own recipient lines name someone else (the corpus mail): the
	// token says whom
	dsn := corpus(t, "lhost-postfix-04.eml")
	if err := deliver(t, addr, "", s.returns.Sender(7, gone.ID), dsn); err != nil {
		t.Fatalf("DSN: %v", err)
	}
	if st := s.status(t, gone.ID); st != subscribers.Bounced {
		t.Errorf("after a hard DSN gone is %s", st)
	}
	// the same DSN again (a relay redelivering it) changes nothing and
	// counts once
	if err := deliver(t, addr, "", s.returns.Sender(7, gone.ID), dsn); err != nil {
		t.Fatal(err)
	}
	// 2. a complaint about spam's message, sent to the plain bounce
	// address: the quoted message's tokens say whom
	if err := deliver(t, addr, "", "bounces@news.example.org", arf(s.ourMessage(spam, 7))); err != nil {
		t.Fatalf("ARF: %v", err)
	}
	if st := s.status(t, spam.ID); st != subscribers.Complained {
		t.Errorf("after a complaint spam is %s", st)
	}
	// 3. the mailto unsubscribe Gmail and Apple Mail send
	mailto := s.returns.Mailto(7, leaving.ID)
	req := []byte("From: leaving@example.net\r\nTo: " + mailto + "\r\nSubject: unsubscribe\r\n\r\nThis message was automatically generated by Gmail.\r\n")
	if err := deliver(t, addr, "leaving@example.net", mailto, req); err != nil {
		t.Fatalf("mailto: %v", err)
	}
	if st := s.status(t, leaving.ID); st != subscribers.Unsubscribed {
		t.Errorf("after a mailto unsubscribe leaving is %s", st)
	}
	// 4. forged: a tokenless unsubscribe "from" victim
	forged := []byte("From: victim@example.net\r\nTo: unsubscribe@news.example.org\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n")
	if err := deliver(t, addr, "victim@example.net", "unsubscribe@news.example.org", forged); err != nil {
		t.Fatalf("tokenless: %v", err)
	}
	// and a forged DSN naming victim, without a token, about a message
	// that is not the list's
	fake := strings.ReplaceAll(string(dsn), "kijitora@example.co.jp", "victim@example.net")
	if err := deliver(t, addr, "", "bounces@news.example.org", []byte(fake)); err != nil {
		t.Fatal(err)
	}
	if st := s.status(t, victim.ID); st != subscribers.Active {
		t.Errorf("a forged unsubscribe or bounce changed victim to %s", st)
	}
	// 5. an out-of-office reply to away's VERP address: ignored
	if err := deliver(t, addr, "", s.returns.Sender(7, away.ID), corpus(t, "rfc3834-01.eml")); err != nil {
		t.Fatal(err)
	}
	if st := s.status(t, away.ID); st != subscribers.Active {
		t.Errorf("an auto-reply changed away to %s", st)
	}
	// 6. no open relay: other domains, other local parts, forged tokens
	for _, rcpt := range []string{"someone@other.example", "postmaster@news.example.org",
		"bounces+aaaaaaaaaaaaaaaaaaaaaaaa@news.example.org", "bounces@news.example.org.evil.example"} {
		if err := deliver(t, addr, "x@y.example", rcpt, []byte("Subject: hi\r\n\r\nhi\r\n")); code(err) != 550 {
			t.Errorf("RCPT TO:<%s> answered %v, want 550", rcpt, err)
		}
	}
	// 7. too large
	big := append([]byte("Subject: big\r\n\r\n"), []byte(strings.Repeat(strings.Repeat("x", 70)+"\r\n", 5000))...)
	if err := deliver(t, addr, "", "bounces@news.example.org", big); code(err) != 552 {
		t.Errorf("a message over the limit answered %v, want 552", err)
	}

	c, err := s.store.EditionFeedback(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c != (subscribers.FeedbackCounts{Hard: 1, Complaints: 1, Unsubscribes: 1}) {
		t.Errorf("edition 7's feedback: %+v", c)
	}
}

// TestInboundTemporaryFailure: a message that cannot be applied (the
// database is gone) is answered 451, so the sender keeps it.
func TestInboundTemporaryFailure(t *testing.T) {
	s := newSite(t)
	sub := s.add(t, "gone@example.net")
	s.proc.Recorder = failingRecorder{}
	addr := startServer(t, s, ServerConfig{})
	err := deliver(t, addr, "", s.returns.Sender(3, sub.ID), corpus(t, "lhost-postfix-04.eml"))
	if code(err) != 451 {
		t.Errorf("answer %v, want 451", err)
	}
}

type failingRecorder struct{}

func (failingRecorder) Apply(context.Context, brief.Feedback) (brief.Applied, error) {
	return brief.Applied{}, errors.New("database is locked")
}

// TestInboundLimits: connections from one client and messages an hour
// are capped.
func TestInboundLimits(t *testing.T) {
	s := newSite(t)
	addr := startServer(t, s, ServerConfig{MaxConns: 4, PerHour: 20})
	// one client may hold a quarter of the connections: the second waits
	c1, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := c1.Hello("client"); err != nil {
		t.Fatal(err)
	}
	c2, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Hello("client"); code(err) != 421 {
		t.Errorf("a second connection from one client was answered %v, want 421", err)
	}
	c1.Quit()
	c2.Close()
	// the burst of messages, then 450
	var refused, waited int
	for i := 0; i < 15; i++ {
		err := deliver(t, addr, "", "bounces@news.example.org", []byte("Subject: x\r\n\r\nx\r\n"))
		switch code(err) {
		case 0:
		case 450:
			refused++
		case 421: // the last connection's end not seen yet
			if waited++; waited > 300 {
				t.Fatal("the server kept refusing connections")
			}
			time.Sleep(10 * time.Millisecond)
			i--
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Error("15 messages in a row from one client at 20 an hour were all taken")
	}
}
