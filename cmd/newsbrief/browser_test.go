package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/newsbrief/newsbrief/internal/smtptest"
)

// chromium finds a Chromium to drive: Debian's package (installed by
// .ci/run) or whatever NEWSBRIEF_CHROMIUM names. Without one the test is
// skipped, unless REQUIRE_BROWSER is set (as in CI), where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("NEWSBRIEF_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found (apt-get install chromium), and REQUIRE_BROWSER is set")
	}
	t.Skip("no Chromium found: apt-get install chromium (CI installs it)")
	return ""
}

// Viewports every page is captured at.
var viewports = []struct {
	name          string
	width, height int64
}{{"phone", 412, 915}, {"laptop", 1280, 800}}

// browser starts a headless Chromium for the test and returns its context
// and shot, an action that saves a full-page screenshot of the current page
// at each viewport (NAME-phone.png, NAME-laptop.png) in the test's artifact
// folder (go test -artifacts keeps them), leaving the phone's viewport on.
func browser(t *testing.T) (context.Context, func(name string) chromedp.Action) {
	t.Helper()
	exe := chromium(t)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(412, 915))...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	dir := t.ArtifactDir()
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			for _, v := range viewports {
				if err := chromedp.EmulateViewport(v.width, v.height).Do(ctx); err != nil {
					return err
				}
				var buf []byte
				if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, name+"-"+v.name+".png"), buf, 0o644); err != nil {
					return err
				}
			}
			return chromedp.EmulateViewport(viewports[0].width, viewports[0].height).Do(ctx)
		})
	}
	return ctx, shot
}

// TestDeskInBrowser drives the editors' desk in headless Chromium: sign
// in, exclude an article, preview, send now against a local SMTP server
// and watch the progress page reach done. A screenshot of each page is
// saved in the test's artifact folder (go test -artifacts keeps them).
func TestDeskInBrowser(t *testing.T) {
	chromium(t)
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken, "NEWSBRIEF_SMTP_HOST", relay.Host,
		"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none")
	e.write("articles/keep.md", "---\ntitle: The story that stays\n---\nIt stays in the edition.\n")
	e.write("articles/drop.md", "---\ntitle: The story the editor drops\n---\nIt is excluded.\n")
	e.seed(3, "reader%d@example.com", "A third story")
	web, _ := deskServer(t, e)

	ctx, shot := browser(t)
	shots := t.ArtifactDir()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/feed.xml" {
			io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour News</title><link>https://harbour.example/</link></channel></rss>`)
			return
		}
		io.WriteString(w, `<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>Harbour</body></html>`)
	}))
	defer site.Close()
	var edition, preview, confirm, status, added, skipped, carried string
	err := chromedp.Run(ctx,
		chromedp.Navigate(web.URL+"/admin"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		shot("1-sign-in"),
		chromedp.SendKeys("#token", testAdminToken, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible(".article", chromedp.ByQuery),
		shot("2-next-edition"),
		// exclude the story to drop
		chromedp.Click(`//div[contains(@class,"article")][.//h3[contains(., "The story the editor drops")]]//button[contains(@class,"exclude")]`, chromedp.BySearch),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".article h3")).map(e => e.textContent).join("\n")`, &edition),
		shot("3-after-exclude"),
		chromedp.Navigate(web.URL+"/admin/preview"),
		chromedp.WaitVisible("iframe", chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.Text("pre", &preview, chromedp.ByQuery),
		shot("4-preview"),
		chromedp.Navigate(web.URL+"/admin"),
		chromedp.Click("#send-now", chromedp.ByID),
		chromedp.WaitVisible("#confirm-text", chromedp.ByID),
		chromedp.Text("#confirm-text", &confirm, chromedp.ByID),
		shot("5-confirm"),
		chromedp.Click("#confirm-send", chromedp.ByID),
		// the editions page reloads itself until the send is done
		chromedp.WaitVisible(`tr.edition[data-status="sent"]`, chromedp.ByQuery),
		chromedp.Text("#editions", &status, chromedp.ByID),
		shot("6-done"),
		// the edition's own page (sent: no controls left), and a source
		// added by a site's page that links its feed
		chromedp.Navigate(web.URL+"/admin/editions/1"),
		chromedp.WaitVisible("#carried", chromedp.ByID),
		chromedp.Text("#carried", &carried, chromedp.ByID),
		shot("7-edition"),
		chromedp.Navigate(web.URL+"/admin/sources"),
		chromedp.WaitVisible("#source-url", chromedp.ByID),
		chromedp.SendKeys("#source-url", site.URL+"/", chromedp.ByID),
		chromedp.Click("#add-source", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Text(".flash", &added, chromedp.ByQuery),
		shot("8-source-added"),
		// skip the next slot
		chromedp.Navigate(web.URL+"/admin/schedule"),
		chromedp.WaitVisible("#slots", chromedp.ByID),
		chromedp.Click(`#slots tr.slot button`, chromedp.ByQuery),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("#slots tr.slot").dataset.skipped`, &skipped),
		shot("9-schedule"),
	)
	if err != nil {
		t.Fatalf("browser: %v (screenshots so far in %s)", err, shots)
	}
	if strings.Contains(edition, "The story the editor drops") || !strings.Contains(edition, "The story that stays") {
		t.Errorf("the edition's articles after the exclusion:\n%s", edition)
	}
	if strings.Contains(preview, "The story the editor drops") || !strings.Contains(preview, "The story that stays") {
		t.Errorf("preview text:\n%s", preview)
	}
	if !strings.Contains(confirm, "to 3 subscribers") {
		t.Errorf("confirmation does not name the recipient count: %q", confirm)
	}
	if !strings.Contains(status, "sent") {
		t.Errorf("progress: %s", status)
	}
	if !strings.Contains(carried, "The story that stays") || strings.Contains(carried, "The story the editor drops") {
		t.Errorf("the edition's page lists what it carried: %q", carried)
	}
	if skipped != "true" {
		t.Errorf("the next slot after Skip: skipped=%q", skipped)
	}
	if !strings.Contains(added, site.URL+"/feed.xml") {
		t.Errorf("adding a source by its page: %q", added)
	}
	got := relay.ByRecipient()
	for i := range 3 {
		if addr := fmt.Sprintf("reader%d@example.com", i); got[addr] != 1 {
			t.Errorf("%s got %d messages", addr, got[addr])
		}
	}
	for _, m := range relay.Messages() {
		if strings.Contains(string(m.Data), "editor drops") {
			t.Error("a message carries the excluded story")
		}
	}
	t.Logf("screenshots in %s", shots)
}

// TestDeskOperationsInBrowser drives the rest of the desk in headless
// Chromium, with a screenshot of every page at phone and laptop widths:
// find a subscriber by name and erase them, preview a rule on a source's
// page, write the editor's note, pause and resume a running send, the
// schedule with its catch-up window, and the public archive and edition
// page the send made.
func TestDeskOperationsInBrowser(t *testing.T) {
	chromium(t)
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken, "NEWSBRIEF_SMTP_HOST", relay.Host,
		"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none",
		"NEWSBRIEF_SEND_CONCURRENCY", "1", "NEWSBRIEF_SEND_RATE", "10") // 60 messages: six seconds of sending
	feed := `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour News</title><link>https://harbour.example/</link>` +
		`<item><title>Ferries run late into the night</title><link>https://harbour.example/1</link><guid>h1</guid>` +
		`<description><![CDATA[<p>The winter timetable keeps the last ferry at midnight.</p><p>Support our newsroom: donate today.</p>]]></description></item></channel></rss>`
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feed)
	}))
	defer site.Close()
	var list strings.Builder
	list.WriteString("email,name\nada@example.com,Ada Lovelace\ngrace@example.com,Grace Hopper\n")
	for i := range 58 {
		fmt.Fprintf(&list, "reader%d@example.com,Reader %d\n", i, i)
	}
	e.write("list.csv", list.String())
	e.must("subscribers", "import", "--consent", "signed up at the harbour fair", "list.csv")
	e.must("sources", "add", site.URL+"/feed.xml")
	// a story without a link of its own: the brief's page of it
	e.write("articles/notice.txt", "Title: Harbour office hours over the holidays\nAuthor: The Harbour Office\n\n"+
		"The harbour office closes at noon on the 24th and opens again on the 27th.\n\nPermits can be renewed online meanwhile.\n")
	e.must("collect")
	web, _ := deskServer(t, e)
	ctx, shot := browser(t)
	var found, erased, preview, note, paused, pausedCounts, done, archive, public, window, story string
	err := chromedp.Run(ctx,
		chromedp.Navigate(web.URL+"/admin/subscribers"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", testAdminToken, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#subscribers", chromedp.ByID),
		shot("10-subscribers"),
		chromedp.SendKeys("#q", "Grace", chromedp.ByID),
		chromedp.Click("#search", chromedp.ByID),
		chromedp.WaitVisible("#clear", chromedp.ByID), // the results page
		chromedp.WaitVisible(`//table[@id="subscribers"]//a[contains(., "grace@example.com")]`, chromedp.BySearch),
		chromedp.Text("#subscribers", &found, chromedp.ByID),
		shot("11-subscriber-search"),
		chromedp.Click(`//table[@id="subscribers"]//a[contains(., "grace@example.com")]`, chromedp.BySearch),
		chromedp.WaitVisible("#consent-record", chromedp.ByID),
		shot("12-subscriber"),
		chromedp.Click("#erase-confirm", chromedp.ByID),
		chromedp.Click("#erase", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Text(".flash", &erased, chromedp.ByQuery),
		shot("13-subscriber-erased"),
		// a source's page: a rule previewed on the feed's latest items
		chromedp.Navigate(web.URL+"/admin/sources/1"),
		chromedp.WaitVisible("#pattern", chromedp.ByID),
		chromedp.SendKeys("#pattern", "(?i)^support our newsroom", chromedp.ByID),
		chromedp.Click("#preview-rule", chromedp.ByID),
		chromedp.WaitVisible("#rule-preview", chromedp.ByID),
		chromedp.Text("#rule-preview", &preview, chromedp.ByID),
		shot("14-source-rule-preview"),
		// the editor's note, then send and pause, resume
		chromedp.Navigate(web.URL+"/admin"),
		chromedp.WaitVisible("#note", chromedp.ByID),
		chromedp.SendKeys("#note", "Good morning from the harbour desk.", chromedp.ByID),
		chromedp.Click("#save-note", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Value("#note", &note, chromedp.ByID),
		shot("15-next-edition-with-note"),
		chromedp.Click("#send-now", chromedp.ByID),
		chromedp.WaitVisible("#confirm-send", chromedp.ByID),
		chromedp.Click("#confirm-send", chromedp.ByID),
		// the send collects first, then makes the edition: the editions
		// page reloads itself until its row is there
		chromedp.WaitVisible(`tr.edition[data-status="sending"]`, chromedp.ByQuery),
		chromedp.Navigate(web.URL+"/admin/editions/1"),
		chromedp.WaitVisible("#pause", chromedp.ByID),
		chromedp.Click("#pause", chromedp.ByID),
		chromedp.WaitVisible("#resume", chromedp.ByID),
		chromedp.Text("strong.status", &paused, chromedp.ByQuery),
		chromedp.Text("table", &pausedCounts, chromedp.ByQuery),
		shot("16-edition-paused"),
		chromedp.Click("#resume", chromedp.ByID),
		// the page reloads itself while the send runs
		chromedp.WaitVisible(`//strong[contains(@class, "status")][. = "sent"]`, chromedp.BySearch),
		chromedp.Text("strong.status", &done, chromedp.ByQuery),
		shot("17-edition-sent"),
		chromedp.Navigate(web.URL+"/admin/schedule"),
		chromedp.WaitVisible("#window", chromedp.ByID),
		chromedp.Text("#window", &window, chromedp.ByID),
		shot("18-schedule"),
		chromedp.Navigate(web.URL+"/archive"),
		chromedp.WaitVisible("#editions", chromedp.ByID),
		chromedp.Text("#editions", &archive, chromedp.ByID),
		shot("19-archive"),
		chromedp.Navigate(web.URL+"/archive/1"),
		chromedp.WaitVisible(".cta", chromedp.ByQuery),
		chromedp.Text("body", &public, chromedp.ByQuery),
		shot("20-public-edition"),
		chromedp.Navigate(web.URL+"/subscribe"),
		chromedp.WaitVisible("#privacy", chromedp.ByID),
		shot("21-subscribe"),
		chromedp.Navigate(web.URL+"/archive/1"),
		chromedp.WaitVisible(`//a[contains(., "Read the whole story")]`, chromedp.BySearch),
		chromedp.Click(`//a[contains(., "Read the whole story")]`, chromedp.BySearch),
		chromedp.WaitVisible("article h1", chromedp.ByQuery),
		chromedp.Text("article", &story, chromedp.ByQuery),
		shot("22-story-page"),
	)
	if err != nil {
		t.Fatalf("browser: %v (screenshots so far in %s)", err, t.ArtifactDir())
	}
	if !strings.Contains(found, "grace@example.com") || strings.Contains(found, "ada@example.com") {
		t.Errorf("search by name: %q", found)
	}
	if !strings.Contains(erased, "grace@example.com is erased") {
		t.Errorf("erase: %q", erased)
	}
	if !strings.Contains(preview, "Support our newsroom: donate today.") {
		t.Errorf("rule preview: %q", preview)
	}
	if note != "Good morning from the harbour desk." {
		t.Errorf("the note after saving: %q", note)
	}
	if paused != "paused" || done != "sent" {
		t.Errorf("pause and resume: %q then %q", paused, done)
	}
	// a rate-limited send claims about two seconds of messages at a time:
	// paused, most of the edition is still waiting
	if !strings.Contains(pausedCounts, "pending") {
		t.Errorf("nothing pending when the send was paused (it claimed everything at once): %q", pausedCounts)
	}
	if !strings.Contains(window, "6h0m0s") {
		t.Errorf("the catch-up window: %q", window)
	}
	if !strings.Contains(archive, "Ferries run late") {
		t.Errorf("the archive: %q", archive)
	}
	if !strings.Contains(public, "Good morning from the harbour desk.") || strings.Contains(public, "You receive") ||
		!strings.Contains(public, "Subscribe") {
		t.Errorf("the public page: %q", public)
	}
	if !strings.Contains(story, "Permits can be renewed online meanwhile.") || !strings.Contains(story, "By The Harbour Office") {
		t.Errorf("the story's own page: %q", story)
	}
	got := relay.ByRecipient()
	if len(got) != 59 || got["grace@example.com"] != 0 {
		t.Errorf("%d recipients (want the 59 left after the erasure), grace got %d", len(got), got["grace@example.com"])
	}
	for addr, n := range got {
		if n != 1 {
			t.Errorf("%s got %d messages across the pause", addr, n)
		}
	}

	// what comes back: a feedback-loop complaint and a delivery report
	// quoting two of the messages sent, applied as an MTA's pipe would
	var sentTo = map[string][]byte{}
	for _, m := range relay.Messages() {
		sentTo[m.To[0]] = m.Data
	}
	e.write("arf.eml", "From: fbl@mail.example\r\nSubject: Abuse report\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSpam report.\r\n"+
		"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n"+
		"--b\r\nContent-Type: message/rfc822\r\n\r\n"+string(sentTo["reader3@example.com"])+"\r\n--b--\r\n")
	e.write("dsn.eml", "From: MAILER-DAEMON@mx.example (Mail Delivery System)\r\nSubject: Undelivered Mail Returned to Sender\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n"+
		"--d\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"+
		"--d\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"+
		"Final-Recipient: rfc822; reader4@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"+
		"Diagnostic-Code: smtp; 550 5.1.1 <reader4@example.com>: Recipient address rejected: User unknown in virtual mailbox table\r\n\r\n"+
		"--d\r\nContent-Type: text/rfc822-headers\r\n\r\n"+strings.SplitN(string(sentTo["reader4@example.com"]), "\r\n\r\n", 2)[0]+"\r\n--d--\r\n")
	for _, f := range []string{"arf.eml", "dsn.eml"} {
		if out := e.must("bounces", "process", f); strings.Contains(out, "nothing done") {
			t.Errorf("bounces process %s:\n%s", f, out)
		}
	}
	var backText string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(web.URL+"/admin/editions/1"),
		chromedp.WaitVisible("#feedback", chromedp.ByID),
		chromedp.Text("main", &backText, chromedp.ByQuery),
		shot("23-edition-feedback"),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	for _, want := range []string{"What came back", "reported as spam", "over the 0.1%"} {
		if !strings.Contains(strings.ToLower(backText), strings.ToLower(want)) {
			t.Errorf("the edition's page lacks %q:\n%s", want, backText)
		}
	}
	t.Logf("screenshots in %s", t.ArtifactDir())
}
