package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSubscribersImportExportAPI imports a CSV through the API (a dry run,
// a run with consent, one without whose subscribers get confirmation
// mails), and exports the list.
func TestSubscribersImportExportAPI(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	web, _ := deskServer(t, e)
	post := func(query, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", web.URL+"/api/subscribers/import"+query, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	list := "email,name,city\nada@example.com,Ada,London\nnot-an-address,Bad,\ngrace@example.com,Grace,\n"
	if code, out := post("?dry_run=1&consent=fair", list); code != 200 || out["added"] != 2.0 || out["dry_run"] != true ||
		len(out["bad"].([]any)) != 1 {
		t.Fatalf("dry run: %d %v", code, out)
	}
	if code, out := apiCall(t, web, "GET", "/api/subscribers", ""); code != 200 || strings.Contains(out, "ada@") {
		t.Fatalf("a dry run stored something: %s", out)
	}
	code, out := post("?consent="+url.QueryEscape("signed up at the fair"), list)
	bad, _ := out["bad"].([]any)
	if code != 200 || out["added"] != 2.0 || len(bad) != 1 || bad[0].(map[string]any)["line"] != 3.0 {
		t.Fatalf("import: %d %v", code, out)
	}
	if code, out := post("", "email\nlin@example.com\n"); code != 200 || out["pending"] != 1.0 {
		t.Fatalf("import without consent: %d %v", code, out)
	}
	// the confirmation mail goes out in the background, to the outbox here
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(e.dir, "outbox", "*.eml"))
		if len(files) == 1 {
			b, _ := os.ReadFile(files[0])
			if !strings.Contains(string(b), "lin@example.com") || !strings.Contains(string(b), "/confirm?token=") {
				t.Errorf("confirmation mail:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no confirmation mail in the outbox (%d files)", len(files))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, out := post("", "name\nAda\n"); code != 400 || !strings.Contains(out["error"].(string), "email") {
		t.Errorf("a header without email: %d %v", code, out)
	}
	req, _ := http.NewRequest("POST", web.URL+"/api/subscribers/import", strings.NewReader(list))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 400 {
		t.Errorf("a JSON body: %d", resp.StatusCode)
	}
	// export: every subscriber, the attributes with them
	code, body := apiCall(t, web, "GET", "/api/subscribers/export", "")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != 4 || !strings.Contains(body, "London") {
		t.Errorf("export: %d %v\n%s", code, err, body)
	}
	code, one := apiCall(t, web, "PATCH", "/api/subscribers/ada@example.com", `{"attributes": {"city": "Paris", "team": "news"}}`)
	if code != 200 || !strings.Contains(one, `"city":"Paris"`) || !strings.Contains(one, `"team":"news"`) {
		t.Errorf("patch attributes: %d %s", code, one)
	}
	if code, _ := apiCall(t, web, "PATCH", "/api/subscribers/ada@example.com", `{"attributes": {"": "x"}}`); code != 400 {
		t.Errorf("a nameless attribute: %d", code)
	}
	if code, _ := apiCall(t, web, "PATCH", "/api/subscribers/ada@example.com", `{"name": "Ada\r\nBcc: x@evil.example"}`); code != 400 {
		t.Errorf("a name with CR/LF: %d", code)
	}
}

// TestSubscribersInDesk: an editor finds a subscriber by name, sees the
// consent record and the editions sent, renames them, uploads a CSV and
// reads its report, unsubscribes one and erases another.
func TestSubscribersInDesk(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(3, "reader%d@example.com", "A story for three")
	e.must("send")
	web, _ := deskServer(t, e)
	c, csrf := signedIn(t, web)
	get := func(path string) string { t.Helper(); return deskGet(t, c, web, path) }
	postForm := func(path string, v url.Values) string { t.Helper(); return deskPost(t, c, web, csrf, path, v) }
	page := postForm("/admin/subscribers/reader1@example.com/save", url.Values{"name": {"Ada Reader"}, "attributes": {"city: Lisbon\n"}})
	if !strings.Contains(page, "Saved.") || !strings.Contains(page, `value="Ada Reader"`) || !strings.Contains(page, "city: Lisbon") {
		t.Errorf("after save:\n%s", page)
	}
	if list := get("/admin/subscribers?q=ada"); !strings.Contains(list, "reader1@example.com") || strings.Contains(list, "reader2@") {
		t.Errorf("search by name:\n%s", list)
	}
	one := get("/admin/subscribers/reader1@example.com")
	for _, want := range []string{"test list", `id="received"`, `<a href="/admin/editions/1">1</a>`, "<td>sent"} {
		if !strings.Contains(one, want) {
			t.Errorf("the subscriber's page lacks %q:\n%s", want, one)
		}
	}
	// upload a CSV through the form: the CSRF token and options first, the file last
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	mw.WriteField("consent", "met at the fair")
	fw, _ := mw.CreateFormFile("file", "fair.csv")
	io.WriteString(fw, "email,name\nnew@example.com,New Reader\nbroken,\n")
	mw.Close()
	req, _ := http.NewRequest("POST", web.URL+"/admin/subscribers/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", web.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(report), "1 added") || !strings.Contains(string(report), `id="bad-rows"`) {
		t.Errorf("import report: %d\n%s", resp.StatusCode, report)
	}
	// the same upload without the CSRF token is refused before anything is read
	body.Reset()
	mw = multipart.NewWriter(&body)
	fw, _ = mw.CreateFormFile("file", "x.csv")
	io.WriteString(fw, "email\nsneaky@example.com\n")
	mw.Close()
	req, _ = http.NewRequest("POST", web.URL+"/admin/subscribers/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", web.URL)
	if resp, _ := c.Do(req); resp.StatusCode != 403 {
		t.Errorf("an upload without the CSRF token: %d", resp.StatusCode)
	}
	if list := get("/admin/subscribers?q=sneaky"); strings.Contains(list, "sneaky@") {
		t.Error("the refused upload was imported")
	}
	if page := postForm("/admin/subscribers/reader2@example.com/unsubscribe", url.Values{}); !strings.Contains(page, `id="sub-status">unsubscribed`) {
		t.Errorf("after unsubscribe:\n%s", page)
	}
	page = postForm("/admin/subscribers/reader0@example.com/erase", url.Values{"confirm": {"yes"}})
	if !strings.Contains(page, "is erased") || strings.Contains(page, `href="/admin/subscribers/reader0@example.com"`) {
		t.Errorf("after erase:\n%s", page)
	}
	list := get("/admin/subscribers")
	for _, want := range []string{"new@example.com", `id="growth"`, `id="export"`} {
		if !strings.Contains(list, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if out := get("/admin/subscribers/export"); !strings.Contains(out, "new@example.com") || strings.Contains(out, "reader0@") {
		t.Errorf("export:\n%s", out)
	}
}

// TestEditorsNote: a note set through the API is in the preview, at the top
// of every message and of the public page, and the next edition starts
// without one. The public page carries nobody's personal parts.
func TestEditorsNote(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(2, "reader%d@example.com", "Harbour reopens")
	web, _ := deskServer(t, e)
	if code, out := apiCall(t, web, "PUT", "/api/note", `{"note": "Good morning.\n\nA short week: the office is closed on Friday."}`); code != 200 ||
		!strings.Contains(out, "Good morning.") {
		t.Fatalf("PUT /api/note: %d %s", code, out)
	}
	if code, _ := apiCall(t, web, "PUT", "/api/note", `{"note": "bell\u0007"}`); code != 400 {
		t.Errorf("a note with a control character: %d", code)
	}
	if code, _ := apiCall(t, web, "PUT", "/api/note", `{}`); code != 400 {
		t.Errorf("no note field: %d", code)
	}
	if _, out := apiCall(t, web, "GET", "/api/preview", ""); !strings.Contains(out, "office is closed on Friday") {
		t.Errorf("the preview lacks the note: %s", out)
	}
	_, text, htmlBody := sendToOutbox(t, e, 2)
	if !strings.Contains(text, "Good morning.") || !strings.Contains(text, "office is closed") || !strings.Contains(htmlBody, "Good morning.") {
		t.Errorf("the message lacks the note:\n%s", text)
	}
	if _, out := apiCall(t, web, "GET", "/api/articles", ""); !strings.Contains(out, `"note":""`) {
		t.Errorf("the next edition keeps the note: %s", out)
	}
	resp, err := http.Get(web.URL + "/archive/1")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`property="og:title"`, `property="og:url" content="` + web.URL + `/archive/1"`, web.URL + "/subscribe", "A short week"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the public page lacks %s", want)
		}
	}
	for _, not := range []string{"You receive", "/unsubscribe", "Hello", "reader0@", "View this edition in your browser"} {
		if strings.Contains(string(page), not) {
			t.Errorf("the public page carries %q", not)
		}
	}
}

// TestSourceRulesFromDeskAndAPI previews a rule on a feed's latest items
// (nothing stored), adds it, sees it remove the boilerplate at the next
// collect, and removes it; the desk's source page pauses the source.
func TestSourceRulesFromDeskAndAPI(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	item := func(i int) string {
		return fmt.Sprintf(`<item><title>Story %d</title><link>https://harbour.example/%d</link><guid>h%d</guid>
<description><![CDATA[<p>The harbour story number %d goes on for a while.</p><p>Support our newsroom: donate today.</p><div class="share-bar">Share on X</div>]]></description></item>`, i, i, i, i)
	}
	feed := `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour News</title><link>https://harbour.example/</link>` + item(1) + item(2) + `</channel></rss>`
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feed)
	}))
	defer site.Close()
	web, _ := deskServer(t, e)
	if code, out := apiCall(t, web, "POST", "/api/sources", `{"url": "`+site.URL+`/feed"}`); code != 201 {
		t.Fatalf("add source: %d %s", code, out)
	}
	code, out := apiCall(t, web, "POST", "/api/sources/1/rules", `{"kind": "regex", "pattern": "(?i)^support our newsroom", "preview": true}`)
	if code != 200 || strings.Count(out, "Support our newsroom: donate today.") != 2 {
		t.Fatalf("preview: %d %s", code, out)
	}
	if _, out := apiCall(t, web, "GET", "/api/sources/1/rules", ""); out != `{"rules":[]}`+"\n" {
		t.Errorf("a preview stored a rule: %s", out)
	}
	if code, out := apiCall(t, web, "POST", "/api/sources/1/rules", `{"kind": "regex", "pattern": "(unclosed"}`); code != 400 || !strings.Contains(out, "regex") {
		t.Errorf("a broken regex: %d %s", code, out)
	}
	if code, out := apiCall(t, web, "POST", "/api/sources/1/rules", `{"kind": "regex", "pattern": "(?i)^support our newsroom"}`); code != 201 || !strings.Contains(out, `"removes"`) {
		t.Fatalf("add rule: %d %s", code, out)
	}
	if code, out := apiCall(t, web, "POST", "/api/sources/1/rules", `{"kind": "selector", "pattern": ".share-bar"}`); code != 201 || strings.Count(out, "Share on X") != 2 {
		t.Fatalf("add selector rule: %d %s", code, out)
	}
	e.must("collect")
	_, arts := apiCall(t, web, "GET", "/api/articles", "")
	if !strings.Contains(arts, "harbour story number 1") || strings.Contains(arts, "Support our newsroom") || strings.Contains(arts, "Share on X") {
		t.Errorf("the rules did not apply at collect: %s", arts)
	}
	if code, _ := apiCall(t, web, "DELETE", "/api/sources/1/rules/2", ""); code != 204 {
		t.Errorf("remove rule: %d", code)
	}
	if code, _ := apiCall(t, web, "DELETE", "/api/sources/1/rules/2", ""); code != 404 {
		t.Errorf("remove a removed rule: %d", code)
	}
	// the desk's page: a preview, then pause
	c, csrf := signedIn(t, web)
	post := func(path string, v url.Values) string { t.Helper(); return deskPost(t, c, web, csrf, path, v) }
	page := post("/admin/sources/1/rule", url.Values{"kind": {"selector"}, "pattern": {".share-bar"}, "preview": {"1"}})
	if !strings.Contains(page, `id="rule-preview"`) || strings.Count(page, "✂ Share on X") != 2 {
		t.Errorf("desk preview:\n%s", page)
	}
	if page := post("/admin/sources/1/pause", url.Values{}); !strings.Contains(page, `id="source-status">paused`) {
		t.Errorf("after pause:\n%s", page)
	}
}

// TestGroupsSplit: the same story from two outlets is one group of the
// next edition; splitting it puts both in the edition on their own, for
// good.
func TestGroupsSplit(t *testing.T) {
	feed := func(host, title string) string {
		return `<?xml version="1.0"?><rss version="2.0"><channel><title>` + host + `</title><link>https://` + host + `.example/</link>` +
			`<item><title>` + title + `</title><link>https://` + host + `.example/1</link><guid>` + host + `-1</guid><description>About it.</description></item></channel></rss>`
	}
	feeds := map[string]string{
		"/a.xml": feed("alpha", "Harbour ferry timetable changes for the winter season"),
		"/b.xml": feed("beta", "Winter season harbour ferry timetable changes announced"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feeds[r.URL.Path])
	}))
	defer srv.Close()
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.must("sources", "add", srv.URL+"/a.xml")
	e.must("sources", "add", srv.URL+"/b.xml")
	e.must("collect")
	web, _ := deskServer(t, e)
	var groups struct {
		Groups []struct {
			ID   int64
			Also []struct{ ID int64 }
		}
	}
	_, out := apiCall(t, web, "GET", "/api/groups", "")
	if err := json.Unmarshal([]byte(out), &groups); err != nil || len(groups.Groups) != 1 || len(groups.Groups[0].Also) != 1 {
		t.Fatalf("groups: %v %s", err, out)
	}
	if out := e.must("articles", "groups"); !strings.Contains(out, "also") {
		t.Errorf("articles groups: %s", out)
	}
	if _, errs, code := e.run("articles", "split", "999"); code != 1 || !strings.Contains(errs, "not found") {
		t.Errorf("articles split of an unknown group: exit %d, %s", code, errs)
	}
	if code, _ := apiCall(t, web, "POST", "/api/groups/999/split", ""); code != 404 {
		t.Errorf("split an unknown group: %d", code)
	}
	code, out := apiCall(t, web, "POST", fmt.Sprintf("/api/groups/%d/split", groups.Groups[0].ID), "")
	if code != 200 || out != `{"groups":[]}`+"\n" {
		t.Errorf("split: %d %s", code, out)
	}
	var next struct {
		Next []struct{ Title string } `json:"next_edition"`
	}
	_, out = apiCall(t, web, "GET", "/api/articles", "")
	json.Unmarshal([]byte(out), &next)
	if len(next.Next) != 2 {
		t.Errorf("after the split the edition has %d articles: %s", len(next.Next), out)
	}
	if out := e.must("articles", "groups"); !strings.Contains(out, "no story") {
		t.Errorf("articles groups after the split: %s", out)
	}
	if dry := e.must("send", "--dry-run"); !strings.Contains(dry, "with 2 articles") {
		t.Errorf("the dry run does not carry both:\n%s", dry)
	}
}

// TestStoriesWithoutLinksGetAPage: an article file with no URL is linked
// from the message to the brief's own page of it, which shows the whole
// cleaned text with its byline; a forged link finds nothing.
func TestStoriesWithoutLinksGetAPage(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("The harbour authority's long report goes on about the ferries. ", 40)
	e.write("articles/report.txt", "Title: The harbour report\nAuthor: Ada Reporter\nDate: 2026-11-20\n\n"+long+"\nThe last paragraph of the report.\n")
	e.write("subs.csv", "email\nreader@example.com\n")
	e.must("subscribers", "import", "--consent", "test", "subs.csv")
	e.must("collect")
	web, _ := deskServer(t, e)
	_, text, _ := sendToOutbox(t, e, 1)
	m := regexp.MustCompile(`https?://\S+/articles/\S+`).FindString(text)
	if m == "" {
		t.Fatalf("no link to the story's page:\n%s", text)
	}
	u, _ := url.Parse(m)
	resp, err := http.Get(web.URL + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "The last paragraph of the report.") ||
		!strings.Contains(string(page), "By Ada Reporter") || !strings.Contains(string(page), "20 November 2026") {
		t.Errorf("the story's page: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := http.Get(web.URL + u.Path + "x"); resp.StatusCode != 404 {
		t.Errorf("a forged story link: %d", resp.StatusCode)
	}
}
