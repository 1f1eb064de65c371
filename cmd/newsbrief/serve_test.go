package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// lateServer starts a test server (https when tls) whose handler is set
// later: its URL must be in the configuration the handler is built from.
func lateServer(t *testing.T, tls bool) (*httptest.Server, func(http.Handler)) {
	t.Helper()
	var mu sync.Mutex
	var handler http.Handler = http.NotFoundHandler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cur := handler
		mu.Unlock()
		cur.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, func(next http.Handler) {
		mu.Lock()
		handler = next
		mu.Unlock()
	}
}

// TestOneClickUnsubscribeFromTheMessage sends an edition over SMTP, takes
// the List-Unsubscribe URL from the very message the relay received, POSTs
// the RFC 8058 body to it (served over https), and checks that the next
// edition does not go to that address.
func TestOneClickUnsubscribeFromTheMessage(t *testing.T) {
	web, setHandler := lateServer(t, true)
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none", "NEWSBRIEF_BASE_URL", web.URL)
	e.seed(3, "reader%d@example.com", "First edition story")
	e.must("send")
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))

	var unsubURL string
	for _, m := range relay.Messages() {
		if m.To[0] != "reader1@example.com" {
			continue
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		h := msg.Header.Get("List-Unsubscribe")
		if msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Fatalf("no one-click header: %q", msg.Header.Get("List-Unsubscribe-Post"))
		}
		unsubURL = strings.Trim(strings.Split(h, ",")[0], "<> ")
	}
	if !strings.HasPrefix(unsubURL, web.URL+"/unsubscribe?token=") {
		t.Fatalf("List-Unsubscribe URL %q", unsubURL)
	}
	// what a mailbox provider does: a POST with the RFC 8058 body, no cookie
	resp, err := web.Client().Post(unsubURL, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "You are unsubscribed") {
		t.Fatalf("one-click POST: %d %s", resp.StatusCode, body)
	}

	e.write("articles/b.txt", "Second edition story\n\nMore.\n")
	e.must("run")
	got := relay.ByRecipient()
	if got["reader1@example.com"] != 1 || got["reader0@example.com"] != 2 || got["reader2@example.com"] != 2 {
		t.Fatalf("after the unsubscribe: %v (reader1 must have only the first edition)", got)
	}
}

func TestServeRoutes(t *testing.T) {
	e := newEnv(t)
	e.seed(2, "reader%d@example.com", "Archived story")
	e.must("send")
	a := openTestApp(t)
	defer a.Close()
	a.job(context.Background(), "collect", func(context.Context) error { return nil })
	srv := httptest.NewServer(mustRoutes(t, a, nil))
	defer srv.Close()
	for _, tt := range []struct {
		path     string
		code     int
		contains string
		absent   string
	}{
		{"/healthz", 200, "ok", ""},
		{"/readyz", 200, "ready", ""},
		{"/metrics", 200, `newsbrief_deliveries{state="sent"} 2`, ""},
		{"/metrics", 200, "newsbrief_queue_depth 0", ""},
		{"/metrics", 200, "newsbrief_last_send_success_timestamp_seconds", ""},
		{"/metrics", 200, `newsbrief_editions{status="sent"} 1`, ""},
		{"/metrics", 200, `newsbrief_delivery_problems{class="5xx",state="failed"} 0`, ""},
		{"/metrics", 200, `newsbrief_jobs_total{job="collect",outcome="ok"} 1`, ""},
		{"/metrics", 200, `newsbrief_job_duration_seconds_count{job="collect"} 1`, ""},
		{"/archive", 200, "/archive/1", ""},
		{"/archive/1", 200, "Archived story", "reader0@example.com"},
		{"/archive/2", 404, "", ""},
		{"/archive/x", 404, "", ""},
		{"/unsubscribe", 200, "link at the bottom", ""},
		{"/unsubscribe?token=forged", 400, "not valid", ""},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.contains) || (tt.absent != "" && strings.Contains(string(b), tt.absent)) {
			t.Errorf("GET %s: %d, want %d containing %q:\n%.300s", tt.path, resp.StatusCode, tt.code, tt.contains, b)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServeStartsAndStopsOnSignal(t *testing.T) {
	newEnv(t, "NEWSBRIEF_HTTP_ADDR", "127.0.0.1:0", "NEWSBRIEF_LOG_LEVEL", "info")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &out, &errb) }()
	var addr string
	for i := 0; i < 100 && addr == ""; i++ {
		time.Sleep(20 * time.Millisecond)
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			addr = strings.TrimSpace(rest)
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
	}
	resp, err := http.Get(addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(errb.String(), "stopped") {
		t.Errorf("no shutdown log:\n%s", errb.String())
	}
}

// TestSubscriberLifecycle is the whole journey over real HTTP (https) and a
// real SMTP server on 127.0.0.1: the public form, the confirmation mail, the
// link in it and its button, the next edition, a one-click POST to the
// List-Unsubscribe URL of that very message, and nothing after.
func TestSubscriberLifecycle(t *testing.T) {
	web, setHandler := lateServer(t, true)
	client := web.Client()
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none", "NEWSBRIEF_BASE_URL", web.URL)
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))
	count := func() int { return relay.ByRecipient()["fresh@example.com"] }

	resp, err := client.PostForm(web.URL+"/subscribe", map[string][]string{"email": {"fresh@example.com"}, "name": {"Fresh"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	msgs := waitMessages(t, relay, 1)
	if len(msgs) != 1 || msgs[0].To[0] != "fresh@example.com" {
		t.Fatalf("confirmation mails: %+v", msgs)
	}
	_, text, _ := parts(t, msgs[0].Data)
	i := strings.Index(text, web.URL+"/confirm?token=")
	if i < 0 {
		t.Fatalf("no confirmation link in:\n%s", text)
	}
	link := strings.Fields(text[i:])[0]
	// still pending: an edition now does not reach them
	e.seed(0, "%d", "Before confirming")
	e.must("send")
	if count() != 1 {
		t.Fatal("a pending subscriber received an edition")
	}
	if resp, err := client.Get(link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirm page: %v %v", resp, err)
	}
	if count() != 1 || !strings.Contains(e.must("subscribers", "list", "--status", "pending"), "fresh@example.com") {
		t.Fatal("a GET of the link confirmed")
	}
	resp, err = client.Post(link, "application/x-www-form-urlencoded", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirm: %v %v", resp, err)
	}
	resp.Body.Close()
	export := e.must("subscribers", "export")
	if !strings.Contains(export, "fresh@example.com,Fresh,active,I want to receive") || !strings.Contains(export, ",127.0.0.1,Go-http-client") {
		t.Errorf("export lacks the consent record:\n%s", export)
	}

	e.write("articles/b.txt", "After confirming\n\nNews.\n")
	e.must("run")
	if count() != 2 {
		t.Fatalf("fresh@example.com has %d messages, want the confirmation and one edition", count())
	}
	var edition []byte
	for _, m := range relay.Messages() {
		if m.To[0] == "fresh@example.com" {
			edition = m.Data
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(edition))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("List-Unsubscribe-Post = %q", msg.Header.Get("List-Unsubscribe-Post"))
	}
	unsub := strings.Trim(strings.Split(msg.Header.Get("List-Unsubscribe"), ",")[0], "<> ")
	resp, err = client.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("one-click: %v %v", resp, err)
	}
	resp.Body.Close()
	e.write("articles/c.txt", "After unsubscribing\n\nMore news.\n")
	e.must("run")
	if count() != 2 {
		t.Fatalf("fresh@example.com got %d messages; nothing may arrive after the unsubscribe", count())
	}
}

// TestArchiveFeedAndReadiness: the archive lists sent editions and serves
// them as an Atom feed (parsed with gofeed); /readyz says which process
// holds the send lease.
func TestArchiveFeedAndReadiness(t *testing.T) {
	web, setHandler := lateServer(t, false)
	e := newEnv(t, "NEWSBRIEF_BASE_URL", web.URL)
	e.seed(2, "reader%d@example.com", "Archived story")
	e.must("send")
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))
	get := func(path string) string { t.Helper(); return deskGet(t, http.DefaultClient, web, path) }
	if idx := get("/archive"); !strings.Contains(idx, `href="`+web.URL+`/archive/1"`) || !strings.Contains(idx, "Archived story") {
		t.Errorf("archive index:\n%s", idx)
	}
	feed, err := gofeed.NewParser().ParseString(get("/archive/feed.atom"))
	if err != nil {
		t.Fatalf("Atom feed does not parse: %v", err)
	}
	if feed.FeedType != "atom" || len(feed.Items) != 1 || feed.Items[0].Link != web.URL+"/archive/1" ||
		!strings.Contains(feed.Items[0].Title, "Archived story") || feed.Items[0].UpdatedParsed == nil {
		t.Errorf("feed: %s %+v", feed.FeedType, feed.Items)
	}
	if body := get("/archive/1"); !strings.Contains(body, "Archived story") {
		t.Errorf("edition page lacks its story")
	}
	if r := get("/readyz"); !strings.Contains(r, "sender: idle") {
		t.Errorf("readyz with no send running:\n%s", r)
	}
	a.db.Exec(`INSERT INTO leases (name, holder, expires_at) VALUES ('send', 'otherhost:4242', ?)`, time.Now().Add(time.Minute).UnixMilli())
	if r := get("/readyz"); !strings.Contains(r, "standby: otherhost:4242 holds the send lease") {
		t.Errorf("readyz with another sender:\n%s", r)
	}
}

// mustRoutes is a.routes(d) for tests.
func mustRoutes(t *testing.T, a *app, d *daemon) http.Handler {
	t.Helper()
	h, err := a.routes(d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSubscribeWithAHostileName: a name with quotes, a comma and <…>
// reaches the confirmation mail's To header correctly quoted (it used to
// make /subscribe answer 500 and block a retry for 10 minutes).
func TestSubscribeWithAHostileName(t *testing.T) {
	web, setHandler := lateServer(t, false)
	relay := smtptest.Start(t)
	newEnv(t, "NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none", "NEWSBRIEF_BASE_URL", web.URL)
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))
	name := `Ann "The Boss", <ceo@evil.example>`
	resp, err := http.PostForm(web.URL+"/subscribe", map[string][]string{"email": {"ann@example.com"}, "name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("subscribe answered %d", resp.StatusCode)
	}
	msgs := waitMessages(t, relay, 1)
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ann@example.com" {
		t.Fatalf("confirmation mails: %+v", msgs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	to, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil || to.Address != "ann@example.com" || to.Name != name {
		t.Errorf("To: %q parses as %+v, %v", m.Header.Get("To"), to, err)
	}
}

// waitMessages waits (5 s at most) until the relay holds n messages, as
// confirmations are sent in the background, and returns them.
func waitMessages(t *testing.T, relay *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(relay.Messages()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return relay.Messages()
}
