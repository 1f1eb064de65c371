package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// copyDir copies the files of src (one level) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestREADMEQuickStart runs the README's first command on a copy of the
// shipped example articles and subscribers: one .eml per example
// subscriber, each multipart/alternative, each part carrying every title.
func TestREADMEQuickStart(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	copyDir(t, filepath.Join(root, "articles"), filepath.Join(e.dir, "articles"))
	copyDir(t, filepath.Join(root, "examples"), filepath.Join(e.dir, "examples"))
	e.must("subscribers", "import", "--consent", "example list shipped with newsbrief", "examples/subscribers.csv")
	out := e.must("run")
	if !strings.Contains(out, filepath.Join(e.dir, "outbox")) {
		t.Errorf("run does not say where the messages went:\n%s", out)
	}
	emls, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
	subs, _ := os.ReadFile(filepath.Join(root, "examples", "subscribers.csv"))
	if want := strings.Count(strings.TrimSpace(string(subs)), "\n"); len(emls) != want {
		t.Fatalf("%d .eml files, want one per example subscriber (%d)", len(emls), want)
	}
	titles := []string{
		"City council approves a network of protected bike lanes",
		"Central library extends its opening hours into the evening",
		"Electric harbour ferry begins its first season",
	}
	for _, f := range emls {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, text, html := parts(t, raw)
		for _, title := range titles {
			if !strings.Contains(text, title) || !strings.Contains(html, title) {
				t.Errorf("%s lacks %q in a part", filepath.Base(f), title)
			}
		}
		if strings.Contains(html, "alert(") {
			t.Errorf("%s carries the example article's script", filepath.Base(f))
		}
	}
	// the command is safe to repeat
	out = e.must("subscribers", "import", "--consent", "example list shipped with newsbrief", "examples/subscribers.csv")
	if !strings.Contains(out, "0 added") {
		t.Errorf("second import: %s", out)
	}
	if out := e.must("run"); !strings.Contains(out, "nothing new to send") {
		t.Errorf("second run:\n%s", out)
	}
}

func TestExitCodesAndUsage(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, nil, 2, "no command given"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help", nil, []string{"help"}, 0, "Commands:"},
		{"subcommand help", nil, []string{"send", "--help"}, 0, "Usage: newsbrief send"},
		{"bad flag", nil, []string{"send", "--bogus"}, 2, "flag provided but not defined"},
		{"bad tls", []string{"NEWSBRIEF_SMTP_TLS", "ssl"}, []string{"run"}, 2, `NEWSBRIEF_SMTP_TLS: "ssl" is not one of starttls, tls, none`},
		{"bad int", []string{"NEWSBRIEF_SEND_CONCURRENCY", "many"}, []string{"run"}, 2, `NEWSBRIEF_SEND_CONCURRENCY: "many" is not a valid whole number`},
		{"bad duration", []string{"NEWSBRIEF_RETRY_FOR", "1 day"}, []string{"run"}, 2, "NEWSBRIEF_RETRY_FOR"},
		{"bad schedule", []string{"NEWSBRIEF_SCHEDULE", "at seven"}, []string{"run"}, 2, "NEWSBRIEF_SCHEDULE"},
		{"bad from", []string{"NEWSBRIEF_FROM", "not an address"}, []string{"run"}, 2, "NEWSBRIEF_FROM"},
		{"crlf from", []string{"NEWSBRIEF_FROM", "a@b.example\r\nBcc: x@y.example"}, []string{"run"}, 2, "line break"},
		{"short secret", []string{"NEWSBRIEF_SECRET", "short"}, []string{"run"}, 2, "NEWSBRIEF_SECRET"},
		{"half dkim", []string{"NEWSBRIEF_DKIM_DOMAIN", "example.com"}, []string{"run"}, 2, "NEWSBRIEF_DKIM_SELECTOR"},
		{"bad feed", []string{"NEWSBRIEF_FEEDS", "ftp://x.example/feed"}, []string{"collect"}, 2, "NEWSBRIEF_FEEDS"},
		{"bad base url", []string{"NEWSBRIEF_BASE_URL", "brief.example"}, []string{"run"}, 2, "NEWSBRIEF_BASE_URL"},
		{"duration without unit", []string{"NEWSBRIEF_CATCHUP", "6"}, []string{"run"}, 2, `NEWSBRIEF_CATCHUP: "6" is not a valid duration (like "30s", "24h")`},
		{"short admin token", []string{"NEWSBRIEF_ADMIN_TOKEN", "a"}, []string{"serve"}, 2, "NEWSBRIEF_ADMIN_TOKEN: is 1 characters; use at least 16"},
		{"bad id", nil, []string{"articles", "pin", "abc"}, 2, "not an ID"},
		{"missing id", nil, []string{"editions", "show", "99"}, 1, "edition 99: not found"},
		{"bad email", nil, []string{"subscribers", "add", "not-an-address"}, 2, "invalid e-mail address"},
		{"bad source", nil, []string{"sources", "add", "file:///etc/passwd"}, 2, "want an absolute http"},
		{"missing import", nil, []string{"subscribers", "import", "nope.csv"}, 1, "nope.csv"},
		{"version", nil, []string{"version"}, 0, "newsbrief"},
		{"bad status", nil, []string{"subscribers", "list", "--status", "activ"}, 2, `--status "activ" is not one of pending, active`},
		{"plus in bounce address", []string{"NEWSBRIEF_BOUNCE_ADDRESS", "b+x@news.example"}, []string{"run"}, 2, "NEWSBRIEF_BOUNCE_ADDRESS"},
		{"bounce is unsubscribe", []string{"NEWSBRIEF_BOUNCE_ADDRESS", "b@news.example", "NEWSBRIEF_UNSUBSCRIBE_MAILTO", "B@news.example"}, []string{"run"}, 2, "must differ"},
		{"inbound without addresses", []string{"NEWSBRIEF_INBOUND_ADDR", ":2525"}, []string{"serve"}, 2, "NEWSBRIEF_INBOUND_ADDR"},
		{"half inbound tls", []string{"NEWSBRIEF_INBOUND_TLS_CERT", "cert.pem"}, []string{"serve"}, 2, "NEWSBRIEF_INBOUND_TLS_KEY"},
		{"bad mailbox", []string{"NEWSBRIEF_BOUNCE_MAILBOX", "pop3://u:p@mail.example"}, []string{"run"}, 2, "NEWSBRIEF_BOUNCE_MAILBOX"},
		{"clear mailbox", []string{"NEWSBRIEF_BOUNCE_MAILBOX", "imap://u:p@mail.example/?tls=none"}, []string{"run"}, 2, "loopback"},
		{"bad sendgrid key", []string{"NEWSBRIEF_SENDGRID_WEBHOOK_KEY", "bm90IGEga2V5"}, []string{"serve"}, 2, "NEWSBRIEF_SENDGRID_WEBHOOK_KEY"},
		{"bad topic", []string{"NEWSBRIEF_SES_TOPIC_ARNS", "ses-feedback"}, []string{"serve"}, 2, "NEWSBRIEF_SES_TOPIC_ARNS"},
		{"weak postmark auth", []string{"NEWSBRIEF_POSTMARK_WEBHOOK_AUTH", "pm:short"}, []string{"serve"}, 2, "NEWSBRIEF_POSTMARK_WEBHOOK_AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.env...)
			out, errs, code := e.run(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			if !strings.Contains(out+errs, tt.contains) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", tt.contains, out, errs)
			}
		})
	}
}

func TestConfigMasksSecrets(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_SMTP_PASSWORD", "hunter2-very-secret", "NEWSBRIEF_SMTP_USERNAME", "mailer",
		"NEWSBRIEF_BOUNCE_MAILBOX", "imaps://bounces:hunter2-mailbox@imap.example/INBOX",
		"NEWSBRIEF_MAILGUN_SIGNING_KEY", "key-hunter2-mailgun-0123",
		"NEWSBRIEF_SECRET", "0123456789abcdef-signing-key", "NEWSBRIEF_SMTP_HOST", "relay.example")
	out := e.must("config")
	if strings.Contains(out, "hunter2") || strings.Contains(out, "signing-key") {
		t.Fatalf("config prints a secret:\n%s", out)
	}
	for _, want := range []string{"NEWSBRIEF_SMTP_PASSWORD", "******** (set)", "NEWSBRIEF_SMTP_HOST", "relay.example",
		"imaps://bounces:xxxxx@imap.example/INBOX",
		"NEWSBRIEF_ADMIN_TOKEN", "(not set)", "NEWSBRIEF_DB", "newsbrief.db", "SQLite database file"} {
		if !strings.Contains(out, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	// every variable is listed
	for _, name := range []string{"DB", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_TLS", "FROM",
		"REPLY_TO", "BASE_URL", "SECRET", "ADMIN_TOKEN", "SCHEDULE", "COLLECT_SCHEDULE", "FEEDS", "ARTICLES_DIR",
		"TEMPLATES_DIR", "OUTBOX_DIR", "HTTP_ADDR", "SEND_CONCURRENCY", "SEND_RATE", "MAX_ARTICLES", "DKIM_DOMAIN",
		"DKIM_SELECTOR", "DKIM_KEY_FILE", "LOG_LEVEL", "LOG_FORMAT"} {
		if !strings.Contains(out, "NEWSBRIEF_"+name+" ") {
			t.Errorf("config lacks NEWSBRIEF_%s", name)
		}
	}
}

func TestBrokenTemplateFailsAtStartup(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_TEMPLATES_DIR", "tpl")
	e.write("tpl/digest.html", "<p>{{range .Articles}}{{.Title}}</p>") // missing {{end}}
	e.write("articles/a.txt", "A story\n\nBody.\n")
	e.write("subs.csv", "email\na@example.com\n")
	_, errs, code := e.run("run")
	if code != 2 || !strings.Contains(errs, "digest.html") {
		t.Fatalf("exit %d, stderr %q; want 2 naming digest.html", code, errs)
	}
	e.write("tpl/digest.html", "<p>{{.NoSuchField}}</p>") // fails only when executed
	_, errs, code = e.run("send", "--dry-run")
	if code != 2 || !strings.Contains(errs, "NoSuchField") {
		t.Fatalf("exit %d, stderr %q; want 2 naming the field", code, errs)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "outbox")); err == nil {
		t.Error("an outbox was written although the templates are broken")
	}
}

func TestSendDryRunAndTest(t *testing.T) {
	e := newEnv(t)
	e.write("articles/a.md", "---\ntitle: Dry run story\n---\nBody text.\n")
	e.write("subs.csv", "email,name\na@example.com,A\nb@example.com,B\n")
	e.must("subscribers", "import", "--consent", "test list", "subs.csv")
	e.must("collect")
	out := e.must("send", "--dry-run")
	if !strings.Contains(out, "would go to 2 subscribers with 1 articles") {
		t.Errorf("dry run output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "outbox")); err == nil {
		t.Error("dry run wrote an outbox")
	}
	out = e.must("send", "--test", "editor@example.com")
	if !strings.Contains(out, "test message to editor@example.com written as .eml files to") {
		t.Errorf("test send output:\n%s", out)
	}
	emls, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
	if len(emls) != 1 || !strings.Contains(emls[0], "test-") {
		t.Fatalf("outbox after test send: %v", emls)
	}
	raw, _ := os.ReadFile(emls[0])
	h, _, _ := parts(t, raw)
	if !strings.Contains(h.Get("Subject"), "TEST") {
		t.Errorf("test subject %q", h.Get("Subject"))
	}
	if out := e.must("editions", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("a dry run or test send made an edition:\n%s", out)
	}
	// the real send still goes to both
	e.must("send")
	emls, _ = filepath.Glob(filepath.Join(e.dir, "outbox", "edition-*.eml"))
	if len(emls) != 2 {
		t.Errorf("%d edition messages, want 2", len(emls))
	}
}

func TestPreviewWritesBothBodies(t *testing.T) {
	e := newEnv(t)
	e.write("articles/a.md", "---\ntitle: Preview story\n---\nBody text.\n")
	e.must("collect")
	out := e.must("preview", "--to", "p/next.html")
	for _, f := range []string{"p/next.html", "p/next.txt"} {
		if !strings.Contains(out, f) {
			t.Errorf("preview does not print %s:\n%s", f, out)
		}
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil || !strings.Contains(string(b), "Preview story") {
			t.Errorf("%s: %v, %q", f, err, b)
		}
	}
}

func TestArticlesPinExclude(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_MAX_ARTICLES", "2")
	e.write("articles/a.md", "---\ntitle: Story A\ndate: 2026-11-20\n---\nA.\n")
	e.write("articles/b.md", "---\ntitle: Story B\ndate: 2026-11-21\n---\nB.\n")
	e.write("articles/c.md", "---\ntitle: Story C\ndate: 2026-11-22\n---\nC.\n")
	e.write("extra.txt", "Editor's pick\n\nAdded by hand.\n")
	e.must("collect")
	out := e.must("articles", "add", "extra.txt")
	if !strings.Contains(out, "Editor's pick") {
		t.Errorf("articles add: %s", out)
	}
	e.must("articles", "pin", "1")     // Story A, the oldest, pinned
	e.must("articles", "exclude", "4") // the editor's pick, excluded
	e.must("preview", "--to", "p.html")
	b, _ := os.ReadFile(filepath.Join(e.dir, "p.txt"))
	text := string(b)
	ia, ic := strings.Index(text, "Story A"), strings.Index(text, "Story C")
	if ia < 0 || ic < 0 || ia > ic || strings.Contains(text, "Story B") || strings.Contains(text, "Editor's pick") {
		t.Errorf("want pinned A first, then C (newest), capped at 2, the excluded pick left out:\n%s", text)
	}
}

func TestGroupHelp(t *testing.T) {
	for _, g := range []string{"sources", "articles", "subscribers", "editions"} {
		e := newEnv(t)
		out := e.must(g, "--help")
		if !strings.Contains(out, "Usage: newsbrief "+g) {
			t.Errorf("%s --help: %s", g, out)
		}
		if _, _, code := e.run(g, "bogus"); code != 2 {
			t.Errorf("%s bogus: exit %d, want 2", g, code)
		}
		if _, _, code := e.run(g); code != 2 {
			t.Errorf("%s with no subcommand: exit %d, want 2", g, code)
		}
	}
}

func TestSubscribersForget(t *testing.T) {
	e := newEnv(t)
	e.seed(3, "user%d@example.com", "A story for the forgetful")
	e.must("send")
	out := e.must("subscribers", "forget", "USER1@example.com")
	if !strings.Contains(out, "erased") {
		t.Errorf("forget: %s", out)
	}
	if out := e.must("subscribers", "list"); strings.Contains(out, "user1@") {
		t.Errorf("still listed:\n%s", out)
	}
	if out := e.must("editions", "show", "1"); !strings.Contains(out, "3 sent") {
		t.Errorf("the edition's counts changed:\n%s", out)
	}
	a := openTestApp(t)
	if _, err := a.store.DeliveryState(context.Background(), 1, "user1@example.com"); err == nil {
		t.Error("the ledger still holds the erased address")
	}
	a.Close()
	if _, errs, code := e.run("subscribers", "add", "user1@example.com"); code != 1 || !strings.Contains(errs, "suppressed") {
		t.Errorf("re-adding an erased address: exit %d, %s", code, errs)
	}
	e.write("again.csv", "email\nuser1@example.com\n")
	if out := e.must("subscribers", "import", "again.csv"); !strings.Contains(out, "again.csv:2: address was erased") {
		t.Errorf("import of an erased address:\n%s", out)
	}
}

func TestImportWithoutConsentAsksForConfirmation(t *testing.T) {
	e := newEnv(t)
	e.write("subs.csv", "email,name\nada@example.com,Ada\nbob@example.com,Bob\n")
	out := e.must("subscribers", "import", "--dry-run", "subs.csv")
	if !strings.Contains(out, "2 added") {
		t.Errorf("dry run: %s", out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "outbox")); err == nil {
		t.Fatal("a dry run mailed confirmations")
	}
	out = e.must("subscribers", "import", "subs.csv")
	if !strings.Contains(out, "2 of the added are pending") {
		t.Errorf("import: %s", out)
	}
	emls, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
	if len(emls) != 2 {
		t.Fatalf("%d confirmation mails, want 2", len(emls))
	}
	raw, _ := os.ReadFile(emls[0])
	if !strings.Contains(string(raw), "/confirm?token=3D") && !strings.Contains(string(raw), "/confirm?token=") {
		t.Errorf("no confirmation link in:\n%s", raw)
	}
	if out := e.must("subscribers", "list", "--status", "pending"); strings.Count(out, "@example.com") != 2 {
		t.Errorf("pending subscribers:\n%s", out)
	}
	// pending subscribers get no edition
	e.write("articles/a.txt", "A story\n\nBody.\n")
	if out := e.must("run"); !strings.Contains(out, "no recipients") {
		t.Errorf("run with only pending subscribers:\n%s", out)
	}
}

func TestOversizedEditionWarns(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_MAX_ARTICLES", "200", "NEWSBRIEF_LOG_LEVEL", "warn")
	long := strings.Repeat("A long summary sentence about the council and its plans. ", 5)
	for i := range 200 {
		e.write(fmt.Sprintf("articles/a%03d.md", i), fmt.Sprintf("---\ntitle: Story number %d\nsummary: %s\n---\nBody.\n", i, long))
	}
	e.must("collect")
	_, errs, code := e.run("send", "--dry-run")
	if code != 0 || !strings.Contains(errs, "over Gmail's clipping limit") {
		t.Errorf("exit %d, stderr:\n%.500s", code, errs)
	}
}

// TestCurationCommands: articles move, sources priority and source rules
// from the command line, with bad input refused as usage errors.
func TestCurationCommands(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_MAX_ARTICLES", "2")
	e.write("articles/a.md", "---\ntitle: Story A\ndate: 2026-11-20\ntags: [city, council]\n---\nA.\n")
	e.write("articles/b.md", "---\ntitle: Story B\ndate: 2026-11-21\n---\nB.\n")
	e.write("articles/c.md", "---\ntitle: Story C\ndate: 2026-11-22\n---\nC.\n")
	e.must("collect")
	e.must("articles", "move", "1", "1") // the oldest first
	e.must("preview", "--to", "p.html")
	b, _ := os.ReadFile(filepath.Join(e.dir, "p.txt"))
	text := string(b)
	if ia, ic := strings.Index(text, "Story A"), strings.Index(text, "Story C"); ia < 0 || ic < 0 || ia > ic || strings.Contains(text, "Story B") {
		t.Errorf("want moved A first, then C:\n%s", text)
	}
	for _, bad := range [][]string{
		{"articles", "move", "1", "-3"}, {"articles", "move", "x", "1"},
		{"sources", "priority", "1", "high"},
		{"sources", "rule", "add", "1", "--regex", "(unclosed"},
		{"sources", "rule", "add", "1"},
	} {
		if _, stderr, code := e.run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2; %s", bad, code, stderr)
		}
	}
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Feeds</title><link>https://feeds.example/</link></channel></rss>`)
	}))
	defer feed.Close()
	e.must("sources", "add", feed.URL+"/rss")
	e.must("sources", "priority", feed.URL+"/rss", "3")
	out := e.must("sources", "rule", "add", "1", "--selector", "div.promo")
	if !strings.Contains(out, "rule 1 added to source 1: selector div.promo") {
		t.Errorf("rule add: %s", out)
	}
	e.must("sources", "rule", "add", "1", "--regex", "^Photo: ")
	if out := e.must("sources", "rule", "list", "1"); !strings.Contains(out, "div.promo") || !strings.Contains(out, "^Photo: ") {
		t.Errorf("rule list: %s", out)
	}
	e.must("sources", "rule", "remove", "1")
	if out := e.must("sources", "rule", "list"); strings.Contains(out, "div.promo") {
		t.Errorf("rule list after remove: %s", out)
	}
	if _, _, code := e.run("sources", "rule", "remove", "1"); code != 1 {
		t.Errorf("removing a removed rule: exit %d, want 1", code)
	}
	if out := e.must("sources", "list"); !strings.Contains(out, "PRIORITY") || !regexp.MustCompile(regexp.QuoteMeta(feed.URL)+`/rss\s+3\s`).MatchString(out) {
		t.Errorf("sources list: %s", out)
	}
}

// TestNextEditionAgrees: the command line's list, its dry run, the API and
// the preview ask the same editions service, so they agree on the next
// edition, with grouping, the per-source and total caps applied.
func TestNextEditionAgrees(t *testing.T) {
	item := func(i int, title string) string {
		return fmt.Sprintf(`<item><title>%s</title><link>https://%%s.example/%d</link><guid>%%s-%d</guid><pubDate>%s</pubDate><description>About %s.</description></item>`,
			title, i, i, time.Now().Add(-time.Duration(i)*time.Minute).UTC().Format(time.RFC1123Z), title)
	}
	feed := func(host string, items ...string) string {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>` + host + `</title><link>https://` + host + `.example/</link>`)
		for _, it := range items {
			b.WriteString(strings.ReplaceAll(it, "%s", host))
		}
		b.WriteString(`</channel></rss>`)
		return b.String()
	}
	feeds := map[string]string{
		"/a.xml": feed("alpha", item(1, "Harbour ferry timetable changes for the winter season"), item(2, "Council approves new cycling lanes on Main Street"),
			item(3, "Library extends opening hours into the evening"), item(4, "Museum reopens its Roman gallery after repairs")),
		"/b.xml": feed("beta", item(5, "Winter season harbour ferry timetable changes announced"), item(6, "Farmers market moves to the old station square")),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feeds[r.URL.Path])
	}))
	defer srv.Close()
	web, setHandler := lateServer(t, false)
	e := newEnv(t, "NEWSBRIEF_MAX_ARTICLES", "3", "NEWSBRIEF_MAX_PER_SOURCE", "2", "NEWSBRIEF_ADMIN_TOKEN", testAdminToken,
		"NEWSBRIEF_BASE_URL", web.URL)
	e.must("sources", "add", srv.URL+"/a.xml")
	e.must("sources", "add", srv.URL+"/b.xml")
	e.must("collect")

	list := e.must("articles", "list")
	var inNext, grouped []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "ID" || f[0] == "flags:" {
			continue
		}
		if strings.Contains(f[1], "N") {
			inNext = append(inNext, f[0])
		}
		if strings.Contains(f[1], "G") {
			grouped = append(grouped, f[0])
		}
	}
	if len(inNext) != 3 || len(grouped) != 1 {
		t.Fatalf("articles list: in the next edition %v, grouped %v, want 3 and 1:\n%s", inNext, grouped, list)
	}
	if dry := e.must("send", "--dry-run"); !strings.Contains(dry, "with 3 articles") {
		t.Errorf("dry run disagrees with the list %v:\n%s", inNext, dry)
	}
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))
	api := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", web.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var next struct {
		Next []struct {
			ID   int64   `json:"id"`
			Also []int64 `json:"also_reported_by"`
		} `json:"next_edition"`
	}
	api("/api/articles", &next)
	var ids, also []string
	for _, n := range next.Next {
		ids = append(ids, fmt.Sprint(n.ID))
		for _, o := range n.Also {
			also = append(also, fmt.Sprint(o))
		}
	}
	slices.Sort(ids)
	slices.Sort(inNext)
	if !slices.Equal(ids, inNext) || !slices.Equal(also, grouped) {
		t.Errorf("the API's next edition %v (also %v), the list's %v (grouped %v)", ids, also, inNext, grouped)
	}
	var preview struct {
		Articles int `json:"articles"`
	}
	api("/api/preview", &preview)
	if preview.Articles != 3 {
		t.Errorf("the preview carries %d articles, the list 3", preview.Articles)
	}
}

// TestUnknownVariableNamed: a typo'd variable is reported by every
// command, config included, with the setting it was probably meant to be.
func TestUnknownVariableNamed(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_SMPT_HOST", "relay.example", "NEWSBRIEF_QQQQQQQQQQQQ", "x")
	_, errs, code := e.run("collect")
	if code != 0 || !strings.Contains(errs, "NEWSBRIEF_SMPT_HOST is not a newsbrief variable (ignored); did you mean NEWSBRIEF_SMTP_HOST?") {
		t.Errorf("collect: exit %d, stderr:\n%s", code, errs)
	}
	if !strings.Contains(errs, "NEWSBRIEF_QQQQQQQQQQQQ is not a newsbrief variable (ignored); 'newsbrief config' lists them all") {
		t.Errorf("a name near none: stderr:\n%s", errs)
	}
	if out := e.must("config"); !strings.Contains(out, "# unknown: NEWSBRIEF_SMPT_HOST is not a newsbrief variable (ignored); did you mean NEWSBRIEF_SMTP_HOST?") {
		t.Errorf("config does not list the unknown variable:\n%s", out)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"abc", "", 3}, {"SMPT", "SMTP", 2}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2},
	}
	for _, tt := range tests {
		if d := editDistance(tt.a, tt.b); d != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, d, tt.d)
		}
	}
}

// TestImportFromStandardInput: `subscribers import -` reads the CSV from
// standard input (docker exec -i … import - < list.csv).
func TestImportFromStandardInput(t *testing.T) {
	e := newEnv(t)
	e.stdin = "email,name\nann@example.com,Ann\nbob@example.com,Bob\n"
	if out := e.must("subscribers", "import", "--consent", "paper form", "-"); !strings.Contains(out, "2 added") {
		t.Errorf("import -:\n%s", out)
	}
}

// TestHealthCommand: `newsbrief health` exits 0 while the local serve
// answers /readyz and 1 with the reason when it does not.
func TestHealthCommand(t *testing.T) {
	web, setHandler := lateServer(t, false)
	u, _ := url.Parse(web.URL)
	e := newEnv(t, "NEWSBRIEF_HTTP_ADDR", u.Host)
	a := openTestApp(t)
	defer a.Close()
	setHandler(mustRoutes(t, a, nil))
	if out, errs, code := e.run("health"); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("health with serve up: exit %d\n%s%s", code, out, errs)
	}
	web.Close()
	if _, errs, code := e.run("health"); code != 1 || !strings.Contains(errs, "does not answer") {
		t.Errorf("health with serve down: exit %d\n%s", code, errs)
	}
}

// TestVersionStamped: the Dockerfile's VERSION and REVISION build
// arguments reach `newsbrief version`.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "newsbrief")
	build := exec.Command("go", "build", "-ldflags", "-X main.buildVersion=1.2.3 -X main.buildRevision=0123456789abcdef", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "newsbrief 1.2.3 (revision 0123456789ab)" {
		t.Errorf("version = %q, %v", out, err)
	}
}

// TestPostalAddressRequiredForRelaySends: a send, run or serve through an
// SMTP relay without NEWSBRIEF_POSTAL_ADDRESS exits 2 naming it; the
// outbox quick start needs none, and a dry run needs none either.
func TestPostalAddressRequiredForRelaySends(t *testing.T) {
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none",
		"NEWSBRIEF_POSTAL_ADDRESS", "")
	e.seed(1, "reader%d@example.com", "A story")
	for _, args := range [][]string{{"send"}, {"run"}, {"serve"}} {
		if _, errs, code := e.run(args...); code != 2 || !strings.Contains(errs, "NEWSBRIEF_POSTAL_ADDRESS") {
			t.Errorf("%v without a postal address: exit %d, %s", args, code, errs)
		}
	}
	if len(relay.Messages()) != 0 {
		t.Error("a message went out without a postal address")
	}
	e.must("send", "--dry-run")
	o := newEnv(t, "NEWSBRIEF_POSTAL_ADDRESS", "")
	o.seed(1, "reader%d@example.com", "A story")
	o.must("send") // to the outbox
	if _, errs, code := e.run("config"); code != 0 {
		t.Errorf("config: %d %s", code, errs)
	}
	t.Setenv("NEWSBRIEF_FEEDBACK_ID", "bad id")
	if _, errs, code := e.run("config"); code != 2 || !strings.Contains(errs, "NEWSBRIEF_FEEDBACK_ID") {
		t.Errorf("a bad feedback ID: %d %s", code, errs)
	}
}
