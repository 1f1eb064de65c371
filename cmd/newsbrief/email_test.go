package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// pngOf is a w×h PNG of one colour.
func pngOf(w, h int, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// editionEnv makes a realistic edition: three outlets' feeds (a story two
// of them carry, tags, a wide and a narrow image served over https), an
// article file without a link, a podcast episode, a logo and a note; it
// returns the env, the TLS server of the images and the feeds' server.
func editionEnv(t *testing.T) (*env, *httptest.Server) {
	t.Helper()
	images := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		switch r.URL.Path {
		case "/logo.png":
			w.Write(pngOf(240, 48, color.RGBA{0x1f, 0x23, 0x28, 0xff}))
		case "/wide.png":
			w.Write(pngOf(1200, 675, color.RGBA{0x3a, 0x7b, 0xb5, 0xff}))
		default:
			w.Write(pngOf(140, 100, color.RGBA{0xc9, 0x8b, 0x2b, 0xff}))
		}
	}))
	t.Cleanup(images.Close)
	item := func(host string, i int, title, cat, img, extra string) string {
		media := ""
		if img != "" {
			media = fmt.Sprintf(`<media:content url="%s%s" medium="image" width="%s"/>`, images.URL, img, map[string]string{"/wide.png": "1200", "/small.png": "140"}[img])
		}
		return fmt.Sprintf(`<item><title>%s</title><link>https://%s.example/%d</link><guid>%s-%d</guid><category>%s</category>`+
			`<pubDate>%s</pubDate><dc:creator>%s Writer</dc:creator>%s%s<description><![CDATA[<p>%s: the reporting of the day, in a paragraph long enough to make a lead that reads well in the brief.</p>]]></description></item>`,
			title, host, i, host, i, cat, time.Now().Add(-time.Duration(i)*time.Hour).UTC().Format(time.RFC1123Z), strings.ToUpper(host[:1])+host[1:], media, extra, title)
	}
	feed := func(host string, items ...string) string {
		return `<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>` +
			strings.ToUpper(host[:1]) + host[1:] + ` News</title><link>https://` + host + `.example/</link>` + strings.Join(items, "") + `</channel></rss>`
	}
	feeds := map[string]string{
		"/harbour.xml": feed("harbour",
			item("harbour", 1, "Harbour ferry timetable changes for the winter season", "city", "/wide.png", ""),
			item("harbour", 2, "Council approves new cycling lanes on Main Street", "city", "/small.png", ""),
			item("harbour", 3, "Museum reopens its Roman gallery after two years of repairs", "culture", "", "")),
		"/coast.xml": feed("coast",
			item("coast", 4, "Winter season harbour ferry timetable changes announced", "city", "", ""),
			item("coast", 5, "Storm brings gusts of 100 km/h to the coast overnight", "weather", "", "")),
		"/pod.xml": feed("pod",
			item("pod", 6, "The week in the harbour: a conversation with the pilots", "culture", "",
				`<enclosure url="https://pod.example/e6.mp3" length="123" type="audio/mpeg"/><itunes:duration>32:10</itunes:duration>`)),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feeds[r.URL.Path])
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, "NEWSBRIEF_LOGO_URL", images.URL+"/logo.png", "NEWSBRIEF_LIST_NAME", "The Harbour Brief",
		"NEWSBRIEF_CONTACT", "editors@harbour.example", "NEWSBRIEF_BASE_URL", "https://brief.harbour.example")
	for _, f := range []string{"/harbour.xml", "/coast.xml", "/pod.xml"} {
		e.must("sources", "add", srv.URL+f)
	}
	e.write("articles/report.txt", "Title: The port authority's annual report, in full\nAuthor: Ada Reporter\n\n"+
		strings.Repeat("The port authority's report goes through the year's traffic, berth by berth. ", 12)+"\n")
	e.write("subs.csv", "email,name\nmaria@example.com,Maria Schneider\n")
	e.must("subscribers", "import", "--consent", "test", "subs.csv")
	e.must("collect")
	return e, images
}

// sendToOutbox sends the next edition to the outbox and returns the
// first message's subject, text and HTML parts, failing unless want
// messages were written.
func sendToOutbox(t *testing.T, e *env, want int) (subject, text, htmlBody string) {
	t.Helper()
	e.must("send")
	files, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
	if len(files) != want {
		t.Fatalf("%d messages, want %d", len(files), want)
	}
	raw, _ := os.ReadFile(files[0])
	h, text, htmlBody := parts(t, raw)
	return h.Get("Subject"), text, htmlBody
}

// sentMessage sends the edition to its one reader through the outbox and
// returns the message's subject, HTML and text parts.
func sentMessage(t *testing.T, e *env) (string, string, string) {
	t.Helper()
	subject, text, htmlBody := sendToOutbox(t, e, 1)
	return subject, htmlBody, text
}

// TestEmailDesign checks the message a reader opens: the subject leads
// with the top story within 60 characters, a preheader with the next
// headlines, the story two outlets carry first, sections by tag, every
// story linked (the file to the brief's own page), the episode's Listen
// link, the footer's reason, postal address, contact and buttons, and the
// text part wrapped at 72 columns with links on lines of their own.
func TestEmailDesign(t *testing.T) {
	e, _ := editionEnv(t)
	subject, htmlBody, text := sentMessage(t, e)
	if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = dec
	}
	if !strings.HasPrefix(subject, "Harbour ferry timetable changes") || len([]rune(subject)) > 60 {
		t.Errorf("subject %q: want the top story first, at most 60 characters", subject)
	}
	for _, want := range []string{
		`<html lang="en">`, `name="color-scheme" content="light dark"`, "prefers-color-scheme: dark", `role="presentation"`,
		`class="preheader"`, "Council approves new cycling lanes", // the preheader names the next headlines
		"Top story · reported by 2 sources", "Hello Maria,", "Read at Harbour News →", "Listen (32 min)",
		"/articles/", "The Daily Brief, 1 Harbour Street", "editors@harbour.example", ">Unsubscribe<", ">Manage your subscription<",
		"because you subscribed at https://brief.harbour.example", `width="140"`, "logo.png",
	} {
		if !strings.Contains(htmlBody, want) {
			t.Errorf("the HTML lacks %q", want)
		}
	}
	top := strings.Index(htmlBody, "Harbour ferry timetable changes for the winter season")
	if top < 0 || top > strings.Index(htmlBody, "Council approves") || top > strings.Index(htmlBody, "Storm brings") {
		t.Error("the story two outlets carry is not first")
	}
	for _, sec := range []string{">city<", ">culture<", ">weather<"} {
		if !strings.Contains(htmlBody, sec) {
			t.Errorf("no section %s", sec)
		}
	}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if n := len([]rune(line)); n > 72 && !strings.Contains(line, "://") {
			t.Errorf("text line %d is %d columns: %q", i+1, n, line)
		}
		if strings.Contains(line, "://") && strings.Contains(strings.TrimSpace(line), " ") && !strings.HasPrefix(strings.TrimSpace(line), "Questions") &&
			!strings.HasPrefix(strings.TrimSpace(line), "You receive") {
			t.Errorf("a link shares its line in the text part: %q", line)
		}
	}
	if strings.Contains(text, " ,") || strings.Contains(text, " .") {
		t.Error("a stray space before punctuation in the text part")
	}
}

// TestEmailInBrowser renders the message's HTML in headless Chromium at a
// phone's 375 px and a laptop's 1024 px, light and dark, with a
// screenshot of each in the artifacts; in dark mode the page is dark, the
// top headline is larger than the others, and the buttons are 44 px tall
// at least.
func TestEmailInBrowser(t *testing.T) {
	exe := chromium(t)
	e, _ := editionEnv(t)
	_, htmlBody, _ := sentMessage(t, e)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, htmlBody)
	}))
	defer page.Close()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("ignore-certificate-errors", true))...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	dir := t.ArtifactDir()
	for _, width := range []int64{375, 1024} {
		for _, scheme := range []string{"light", "dark"} {
			var buf []byte
			var bg string
			var topSize, otherSize, minButton float64
			err := chromedp.Run(ctx,
				chromedp.EmulateViewport(width, 900),
				emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
				chromedp.Navigate(page.URL),
				chromedp.WaitVisible(".top h2", chromedp.ByQuery),
				chromedp.Sleep(200*time.Millisecond), // the images
				chromedp.Evaluate(`getComputedStyle(document.querySelector(".page")).backgroundColor`, &bg),
				chromedp.Evaluate(`parseFloat(getComputedStyle(document.querySelector(".top h2")).fontSize)`, &topSize),
				chromedp.Evaluate(`parseFloat(getComputedStyle(document.querySelector(".story h3")).fontSize)`, &otherSize),
				chromedp.Evaluate(`Math.min(...Array.from(document.querySelectorAll("a.button")).map(a => a.getBoundingClientRect().height))`, &minButton),
				chromedp.FullScreenshot(&buf, 100),
			)
			if err != nil {
				t.Fatalf("%d %s: %v", width, scheme, err)
			}
			name := fmt.Sprintf("email-%d-%s.png", width, scheme)
			if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
				t.Fatal(err)
			}
			dark := bg == "rgb(27, 29, 32)"
			if (scheme == "dark") != dark {
				t.Errorf("%d %s: the page's background is %s", width, scheme, bg)
			}
			if topSize <= otherSize {
				t.Errorf("%d %s: the top headline is %.0f px, the others %.0f px", width, scheme, topSize, otherSize)
			}
			if minButton < 44 {
				t.Errorf("%d %s: a footer button is %.0f px tall, under 44", width, scheme, minButton)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}

// TestSpamAssassinScore runs Debian's SpamAssassin, local rules only (no
// network tests, so no DKIM or DNS lookups), over a real edition as the
// outbox writes it; the score must stay at 1.0 or under. Skipped without
// SpamAssassin, unless REQUIRE_SPAMASSASSIN is set (as in CI).
func TestSpamAssassinScore(t *testing.T) {
	sa, err := exec.LookPath("spamassassin")
	if err != nil {
		if os.Getenv("REQUIRE_SPAMASSASSIN") != "" {
			t.Fatal("spamassassin not found (apt-get install spamassassin), and REQUIRE_SPAMASSASSIN is set")
		}
		t.Skip("spamassassin not found: apt-get install spamassassin (CI installs it)")
	}
	e, _ := editionEnv(t)
	t.Setenv("NEWSBRIEF_FROM", "The Harbour Brief <brief@harbour.example>")
	e.must("send")
	files, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d messages", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	cmd := exec.Command(sa, "-L", "-t")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamassassin: %v", err)
	}
	m := regexp.MustCompile(`X-Spam-Status: (\w+), score=(-?[\d.]+) required=[\d.]+\s+tests=([^\n]*(?:\n\t[^\n]*)*)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no X-Spam-Status in:\n%s", out[:min(len(out), 2000)])
	}
	score, _ := strconv.ParseFloat(string(m[2]), 64)
	t.Logf("SpamAssassin (local rules): %s, score %.1f, tests %s", m[1], score, strings.Join(strings.Fields(string(m[3])), " "))
	if score > 1.0 {
		t.Errorf("SpamAssassin scores a real edition %.1f, over 1.0: %s", score, m[3])
	}
}
