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

// TestDeskInBrowser drives the editors' desk in headless Chromium: sign
// in, exclude an article, preview, send now against a local SMTP server
// and watch the progress page reach done. A screenshot of each page is
// saved in the test's artifact folder (go test -artifacts keeps them).
func TestDeskInBrowser(t *testing.T) {
	exe := chromium(t)
	relay := smtptest.Start(t)
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken, "NEWSBRIEF_SMTP_HOST", relay.Host,
		"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none")
	e.write("articles/keep.md", "---\ntitle: The story that stays\n---\nIt stays in the edition.\n")
	e.write("articles/drop.md", "---\ntitle: The story the editor drops\n---\nIt is excluded.\n")
	e.seed(3, "reader%d@example.com", "A third story")
	web, _ := deskServer(t, e)

	shots := t.ArtifactDir()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(412, 915))...) // a phone's viewport
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
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
