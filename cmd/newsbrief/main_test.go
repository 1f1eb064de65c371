package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// env is one isolated newsbrief setup: a working folder with its own
// database, articles folder and outbox, and a clean NEWSBRIEF_* environment.
type env struct {
	t     *testing.T
	dir   string
	stdin string // what the next run reads as its standard input
}

func newEnv(t *testing.T, vars ...string) *env {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NEWSBRIEF_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("NEWSBRIEF_LOG_LEVEL", "warn")
	// what a send through a relay needs (CAN-SPAM); a test of its absence unsets it
	t.Setenv("NEWSBRIEF_POSTAL_ADDRESS", "The Daily Brief, 1 Harbour Street, Portsmouth PO1 2AB, United Kingdom")
	for i := 0; i+1 < len(vars); i += 2 {
		t.Setenv(vars[i], vars[i+1])
	}
	return &env{t: t, dir: dir}
}

// run runs the binary's run function and returns its output and exit code.
func (e *env) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = exitCode(run(ctx, args, strings.NewReader(e.stdin), &out, &errb), &errb)
	return out.String(), errb.String(), code
}

// must runs args and fails the test unless the exit code is 0.
func (e *env) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("newsbrief %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// seed writes one article and n subscribers addressed by format (with
// %d), imports them and collects: an edition is ready to send.
func (e *env) seed(n int, format, title string) {
	e.t.Helper()
	e.write("articles/a.txt", title+"\n\nBody.\n")
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range n {
		fmt.Fprintf(&csv, format+"\n", i)
	}
	e.write("subs.csv", csv.String())
	e.must("subscribers", "import", "--consent", "test list", "subs.csv")
	e.must("collect")
}

// parts parses a message and returns its headers and its text and HTML
// bodies, failing unless it is multipart/alternative, text first.
func parts(t *testing.T, raw []byte) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		bodies = append(bodies, string(b))
	}
	if len(types) != 2 || types[0] != "text/plain" || types[1] != "text/html" {
		t.Fatalf("parts %v, want [text/plain text/html]", types)
	}
	return msg.Header, bodies[0], bodies[1]
}

const rssFeed = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>River Gazette</title><link>%[1]s/</link>
<item><title>Flood barrier passes its first test</title><link>%[1]s/flood?utm_source=rss</link>
<guid>river-1</guid><pubDate>%[2]s</pubDate>
<description>The new barrier held back the autumn surge.</description>
<content:encoded><![CDATA[<p>The new barrier held back the autumn surge. <script>steal()</script>Engineers were pleased.</p>]]></content:encoded></item>
<item><title>Rowing club celebrates a century</title><link>%[1]s/rowing</link><guid>river-2</guid>
<description>One hundred years on the water.</description></item>
</channel></rss>`

const atomFeed = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Hill Herald</title><id>urn:hill</id>
<updated>%[3]s</updated>
<entry><title>Observatory reopens after repairs</title><id>urn:hill:1</id>
<link href="%[1]s/observatory"/><updated>%[3]s</updated>
<content type="html">&lt;p&gt;Stargazers are welcome again from Friday.&lt;/p&gt;</content></entry>
</feed>`

const jsonFeed = `{"version": "https://jsonfeed.org/version/1.1", "title": "Valley Voice",
"items": [{"id": "v1", "url": "%[1]s/market", "title": "Winter market opens on the square",
"content_html": "<p>Forty stalls, mulled cider and a skating rink.</p>", "date_published": "%[3]s"}]}`

// feedServer serves an RSS, an Atom and a JSON feed whose items were
// published two hours ago.
func feedServer(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	pub := time.Now().Add(-2 * time.Hour).UTC()
	rfc822, rfc3339 := pub.Format(time.RFC1123Z), pub.Format(time.RFC3339)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rss.xml":
			w.Header().Set("Content-Type", "application/rss+xml")
			fmt.Fprintf(w, rssFeed, srv.URL, rfc822, rfc3339)
		case "/atom.xml":
			w.Header().Set("Content-Type", "application/atom+xml")
			fmt.Fprintf(w, atomFeed, srv.URL, rfc822, rfc3339)
		case "/feed.json":
			w.Header().Set("Content-Type", "application/feed+json")
			fmt.Fprintf(w, jsonFeed, srv.URL, rfc822, rfc3339)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

var allTitles = []string{
	"Flood barrier passes its first test", "Rowing club celebrates a century",
	"Observatory reopens after repairs", "Winter market opens on the square",
	"Lighthouse keeper retires after forty years",
}

func TestRunEndToEndOverSMTP(t *testing.T) {
	feeds := feedServer(t)
	relay := smtptest.Start(t)
	e := newEnv(t,
		"NEWSBRIEF_FEEDS", feeds.URL+"/rss.xml,"+feeds.URL+"/atom.xml,"+feeds.URL+"/feed.json",
		"NEWSBRIEF_SMTP_HOST", relay.Host,
		"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none",
		"NEWSBRIEF_FROM", "Town Brief <brief@news.example>",
		"NEWSBRIEF_BASE_URL", "https://brief.example",
		"NEWSBRIEF_SEND_CONCURRENCY", "2",
	)
	e.write("articles/lighthouse.md", "---\ntitle: Lighthouse keeper retires after forty years\nurl: https://example.org/lighthouse\n---\nHe climbed 120 steps every night.\n")
	e.write("subs.csv", "email,name\nada@example.com,Ada\nbob@example.com,Bob\ncy@example.com,\ngone@example.com,Gone\n")
	e.must("subscribers", "import", "--consent", "test list", "subs.csv")
	e.must("subscribers", "remove", "gone@example.com")
	e.must("subscribers", "add", "late@example.com")
	// unsubscribe one through the store, as the unsubscribe link would
	a := openTestApp(t)
	late, err := a.subs.GetByEmail(context.Background(), "late@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.subs.Unsubscribe(context.Background(), late.ID); err != nil {
		t.Fatal(err)
	}
	a.Close()

	out := e.must("run")
	if !strings.Contains(out, "3 sent") {
		t.Errorf("run output lacks the counts:\n%s", out)
	}
	got := relay.ByRecipient()
	want := map[string]int{"ada@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages per recipient = %v, want %v", got, want)
	}
	for _, m := range relay.Messages() {
		h, text, html := parts(t, m.Data)
		for _, title := range allTitles {
			if !strings.Contains(text, title) || !strings.Contains(html, title) {
				t.Errorf("message to %v lacks %q in a part", m.To, title)
			}
		}
		if strings.Contains(html, "steal()") || strings.Contains(html, "<script") {
			t.Errorf("message to %v carries a script", m.To)
		}
		if strings.Contains(text, "utm_source") {
			t.Errorf("tracking parameter kept in %v", m.To)
		}
		for _, k := range []string{"From", "To", "Subject", "Date", "Message-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Precedence", "Auto-Submitted"} {
			if h.Get(k) == "" {
				t.Errorf("message to %v lacks header %s", m.To, k)
			}
		}
		if !strings.HasPrefix(h.Get("List-Unsubscribe"), "<https://brief.example/unsubscribe?token=") {
			t.Errorf("List-Unsubscribe = %q", h.Get("List-Unsubscribe"))
		}
		if h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post = %q", h.Get("List-Unsubscribe-Post"))
		}
	}

	// a second run mails nobody
	out = e.must("run")
	if !strings.Contains(out, "nothing new to send") {
		t.Errorf("second run output:\n%s", out)
	}
	if n := len(relay.Messages()); n != 3 {
		t.Fatalf("after a second run the relay has %d messages, want 3", n)
	}
	out = e.must("editions", "list")
	if !strings.Contains(out, "sent") || strings.Count(out, "\n") != 2 {
		t.Errorf("editions list:\n%s", out)
	}
}

func TestRunReportsTemporaryAndPermanentFailures(t *testing.T) {
	relay := smtptest.Start(t)
	relay.Script = func(rcpt string) smtptest.Fault {
		switch rcpt {
		case "busy@example.com":
			return smtptest.Fault{Err: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}}
		case "nobody@example.com":
			return smtptest.Fault{Err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
		}
		return smtptest.Fault{}
	}
	e := newEnv(t,
		"NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none")
	e.write("articles/one.txt", "One story\n\nIts body.\n")
	e.write("subs.csv", "email\na@example.com\nbusy@example.com\nb@example.com\nnobody@example.com\nc@example.com\n")
	e.must("subscribers", "import", "--consent", "test list", "subs.csv")
	out := e.must("run")
	for _, want := range []string{"3 sent", "1 deferred", "1 failed", "busy@example.com", "451", "nobody@example.com", "550", "no such user"} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
	got := relay.ByRecipient()
	if len(got) != 3 || got["a@example.com"] != 1 || got["b@example.com"] != 1 || got["c@example.com"] != 1 {
		t.Errorf("delivered %v, want a, b and c once each", got)
	}
	// the unknown mailbox is suppressed: marked bounced, never mailed again
	if out := e.must("subscribers", "list", "--status", "bounced"); !strings.Contains(out, "nobody@example.com") || strings.Contains(out, "busy@example.com") {
		t.Errorf("bounced subscribers:\n%s", out)
	}
	out = e.must("editions", "show", "1")
	for _, want := range []string{"edition 1: sending", "deferred 451", "failed 550", "busy@example.com", "nobody@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("editions show lacks %q:\n%s", want, out)
		}
	}
}

func TestCollectNamesFailingSources(t *testing.T) {
	feeds := feedServer(t)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/broken.xml":
			io.WriteString(w, "<rss><channel><title>Broken</title><item><title>cut off")
		case "/slow.xml":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(bad.Close)
	e := newEnv(t, "NEWSBRIEF_FETCH_TIMEOUT", "1s",
		"NEWSBRIEF_FEEDS", feeds.URL+"/rss.xml,"+bad.URL+"/broken.xml,"+bad.URL+"/missing.xml,"+bad.URL+"/slow.xml")
	out, errs, code := e.run("collect")
	if code != 1 {
		t.Fatalf("collect exit %d, want 1 (some sources failed)\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"FAILED  " + bad.URL + "/broken.xml: parse feed",
		"FAILED  " + bad.URL + "/missing.xml: http status 404",
		"FAILED  " + bad.URL + "/slow.xml: no answer within 1s",
		"ok      " + feeds.URL + "/rss.xml: 2 new of 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("collect output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "some sources failed (3 of 4, listed above)") {
		t.Errorf("error output does not count the failures:\n%s", errs)
	}
	// each failure is said once: its FAILED line, not again in a log line
	// or the closing error
	if n := strings.Count(out+errs, bad.URL+"/broken.xml"); n != 1 {
		t.Errorf("the broken feed is named %d times:\n%s\n%s", n, out, errs)
	}
	list := e.must("articles", "list")
	if !strings.Contains(list, "Flood barrier passes its first test") {
		t.Errorf("healthy source's articles not stored:\n%s", list)
	}
	srcs := e.must("sources", "list")
	if !strings.Contains(srcs, "http status 404") || !strings.Contains(srcs, "River Gazette") {
		t.Errorf("sources list does not show status and errors:\n%s", srcs)
	}
}

// openTestApp opens the app on the current environment, for checks that
// go through the stores directly.
func openTestApp(t *testing.T) *app {
	t.Helper()
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, newLogger(cfg, io.Discard), strings.NewReader(""), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
