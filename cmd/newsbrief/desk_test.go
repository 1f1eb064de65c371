package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/newsbrief/newsbrief/internal/smtptest"
	"github.com/newsbrief/newsbrief/pipeline"
)

const testAdminToken = "desk-token-0123456789abcdef"

// testDaemon is serve's daemon for tests: a real scheduler and background
// jobs the test waits for.
func testDaemon(t *testing.T, a *app) *daemon {
	t.Helper()
	s, err := newScheduler(a, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &daemon{slots: s, start: func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() { defer wg.Done(); a.job(context.Background(), name, fn) }()
	}}
}

// deskServer serves the app's routes with the desk on.
func deskServer(t *testing.T, e *env) (*httptest.Server, *app) {
	t.Helper()
	web, setHandler := lateServer(t, false)
	t.Setenv("NEWSBRIEF_BASE_URL", web.URL)
	a := openTestApp(t)
	t.Cleanup(func() { a.Close() })
	setHandler(mustRoutes(t, a, testDaemon(t, a)))
	return web, a
}

// signedIn returns a client with a desk session and the CSRF token of the
// desk's first page.
func signedIn(t *testing.T, web *httptest.Server) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(web.URL+"/admin/login", url.Values{"token": {testAdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("sign in: %d\n%s", resp.StatusCode, body)
	}
	return c, string(m[1])
}

// deskGet GETs a page with the client c (a desk page: a signed-in one),
// failing the test unless it answers 200.
func deskGet(t *testing.T, c *http.Client, web *httptest.Server, path string) string {
	t.Helper()
	resp, err := c.Get(web.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
	}
	return string(b)
}

// deskPost posts a desk form (with the CSRF token, from the desk's origin)
// and returns the page it lands on, failing the test unless that is a 200.
func deskPost(t *testing.T, c *http.Client, web *httptest.Server, csrf, path string, v url.Values) string {
	t.Helper()
	v.Set("csrf", csrf)
	req, _ := http.NewRequest("POST", web.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", web.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d\n%s", path, resp.StatusCode, b)
	}
	return string(b)
}

// TestDeskRefusesIntruders: a wrong or missing token, a tampered session
// cookie, a form post without the CSRF token or from another site, and an
// API call without the bearer token are each refused; sign-in attempts
// are rate-limited.
func TestDeskRefusesIntruders(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(2, "reader%d@example.com", "Desk story")
	web, _ := deskServer(t, e)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// no session: pages send the editor to sign in, forms are refused
	resp, _ := noRedirect.Get(web.URL + "/admin")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Errorf("GET /admin without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = noRedirect.PostForm(web.URL+"/admin/articles/1/exclude", url.Values{})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("form post without a session: %d", resp.StatusCode)
	}
	// a wrong token and a missing one
	for _, tok := range []string{"wrong", ""} {
		resp, _ = noRedirect.PostForm(web.URL+"/admin/login", url.Values{"token": {tok}})
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("sign in with %q: %d, cookies %v", tok, resp.StatusCode, resp.Cookies())
		}
	}

	c, csrf := signedIn(t, web)
	u, _ := url.Parse(web.URL)
	session := c.Jar.Cookies(u)[0]
	// a tampered cookie: one character changed
	tampered := []byte(session.Value)
	tampered[len(tampered)/2] ^= 1
	req, _ := http.NewRequest("GET", web.URL+"/admin", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: string(tampered)})
	if resp, _ := noRedirect.Do(req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("tampered cookie: %d, want a redirect to sign in", resp.StatusCode)
	}
	// a form post with the session but no CSRF token, or another session's
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest("POST", web.URL+"/admin/articles/1/exclude", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{}, ""); code != http.StatusForbidden {
		t.Errorf("form post without CSRF token: %d", code)
	}
	_, otherCSRF := signedIn(t, web)
	if code := post(url.Values{"csrf": {otherCSRF}}, ""); code != http.StatusForbidden {
		t.Errorf("form post with another session's CSRF token: %d", code)
	}
	// a cross-site post, even carrying a valid token
	if code := post(url.Values{"csrf": {csrf}}, "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-site form post: %d", code)
	}
	a := openTestApp(t)
	defer a.Close()
	if arts, _ := a.store.Articles(context.Background(), 0); arts[0].Excluded {
		t.Fatal("a refused post excluded the article")
	}
	if code := post(url.Values{"csrf": {csrf}}, web.URL); code != http.StatusOK {
		t.Errorf("the desk's own post: %d", code)
	}
	// the API wants the bearer token
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testAdminToken} {
		req, _ := http.NewRequest("GET", web.URL+"/api/editions", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("API with %q: %d", auth, resp.StatusCode)
		}
	}
	// sign-in attempts are rate-limited per client
	limited := false
	for range 10 {
		resp, _ := noRedirect.PostForm(web.URL+"/admin/login", url.Values{"token": {"guess"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("10 wrong sign-ins in a row were not rate-limited")
	}
}

// TestDeskOffWithoutToken: with no NEWSBRIEF_ADMIN_TOKEN the desk and API
// answer 404.
func TestDeskOffWithoutToken(t *testing.T) {
	e := newEnv(t)
	web, _ := deskServer(t, e)
	for _, p := range []string{"/admin", "/admin/login", "/api/editions"} {
		if resp, _ := http.Get(web.URL + p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without a token: %d", p, resp.StatusCode)
		}
	}
}

// TestAPIMirrorsTheDesk drives the JSON API: list, add and exclude
// articles, preview, test send, send, edition status.
func TestAPIMirrorsTheDesk(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(3, "reader%d@example.com", "API story")
	web, a := deskServer(t, e)
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, web.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d\n%s", method, path, resp.StatusCode, want, raw)
		}
		var v map[string]any
		json.Unmarshal(raw, &v)
		return v
	}
	call("POST", "/api/articles", `{"title":"Added by API","text":"Posted to the API."}`, http.StatusCreated)
	call("POST", "/api/articles", `{"title":"bad\nsubject","text":"x"}`, http.StatusBadRequest)
	call("POST", "/api/articles", `{"title":"x","nonsense":1}`, http.StatusBadRequest)
	v := call("GET", "/api/articles", "", http.StatusOK)
	next := v["next_edition"].([]any)
	if len(next) != 2 || v["recipients"].(float64) != 3 {
		t.Fatalf("next edition: %v", v)
	}
	first := next[0].(map[string]any)
	call("POST", fmt.Sprintf("/api/articles/%.0f/exclude", first["id"]), "", http.StatusOK)
	call("POST", "/api/articles/999/pin", "", http.StatusNotFound)
	p := call("GET", "/api/preview", "", http.StatusOK)
	if p["articles"].(float64) != 1 || strings.Contains(p["text"].(string), first["title"].(string)) {
		t.Errorf("preview after the exclusion: %v articles, text:\n%s", p["articles"], p["text"])
	}
	call("POST", "/api/test", `{"address":"editor@example.com"}`, http.StatusOK)
	call("POST", "/api/test", `{"address":"not an address"}`, http.StatusBadRequest)
	s := call("POST", "/api/send", "", http.StatusAccepted)
	if s["status"] != "started" {
		t.Fatalf("send: %v", s)
	}
	// wait for the edition to finish
	deadline := time.Now().Add(20 * time.Second)
	for {
		ed, err := a.store.Edition(context.Background(), 1)
		if err == nil && ed.Status == pipeline.EditionSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edition not sent: %+v %v", ed, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := call("GET", "/api/editions/1", "", http.StatusOK)
	if st["status"] != "sent" || st["counts"].(map[string]any)["sent"].(float64) != 3 || st["slot"] == nil {
		t.Errorf("edition status: %v", st)
	}
	// the next slot's edition is made: a second send now is refused
	call("POST", "/api/send", "", http.StatusConflict)
	if n := outboxCount(t, e.dir); n != 4 { // 3 subscribers + the test message
		t.Errorf("%d messages in the outbox, want 4", n)
	}
}

// TestAddSourceFromDeskAndAPI: a site's page is followed to the feed it
// links, from the desk's form and from POST /api/sources; a page with no
// feed is refused with 422 and the reason, and nothing is stored.
func TestAddSourceFromDeskAndAPI(t *testing.T) {
	var siteHits atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		siteHits.Add(1)
		switch r.URL.Path {
		case "/", "/other/":
			io.WriteString(w, `<html><head><link rel="alternate" type="application/atom+xml" href="feed.atom"></head><body>Site</body></html>`)
		case "/feed.atom", "/other/feed.atom":
			io.WriteString(w, `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Site News</title><id>x</id><updated>2026-12-01T00:00:00Z</updated></feed>`)
		default:
			io.WriteString(w, `<html><body>No feed here</body></html>`)
		}
	}))
	defer site.Close()
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	web, a := deskServer(t, e)
	c, csrf := signedIn(t, web)
	resp, err := c.PostForm(web.URL+"/admin/sources", url.Values{"csrf": {csrf}, "url": {site.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Source 1 added: "+site.URL+"/feed.atom") {
		t.Errorf("desk add: %d\n%s", resp.StatusCode, body)
	}
	api := func(method, path, in string) (int, string) { return apiCall(t, web, method, path, in) }
	if code, out := api("POST", "/api/sources", `{"url": "`+site.URL+`/other/"}`); code != 201 || !strings.Contains(out, site.URL+"/other/feed.atom") {
		t.Errorf("API add: %d %s", code, out)
	}
	if code, out := api("POST", "/api/sources", `{"url": "`+site.URL+`/plain"}`); code != 422 || !strings.Contains(out, "no feed found") {
		t.Errorf("API add of a page without a feed: %d %s", code, out)
	}
	if code, out := api("POST", "/api/sources", `{"url": "`+site.URL+`/"}`); code != 409 {
		t.Errorf("API add of a feed already added: %d %s", code, out)
	}
	if code, out := api("GET", "/api/sources", ""); code != 200 || strings.Count(out, `"url"`) != 2 {
		t.Errorf("API sources: %d %s", code, out)
	}
	srcs, _ := a.store.Sources(context.Background())
	if len(srcs) != 2 {
		t.Errorf("%d sources stored, want 2", len(srcs))
	}
	// pause the first and raise its priority; remove the second
	patch := func(path, in string) (int, string) { return apiCall(t, web, "PATCH", path, in) }
	if code, out := patch("/api/sources/1", `{"priority": 5, "paused": true}`); code != 200 || !strings.Contains(out, `"priority":5`) || !strings.Contains(out, `"paused":true`) {
		t.Errorf("PATCH: %d %s", code, out)
	}
	if code, _ := patch("/api/sources/99", `{"paused": true}`); code != 404 {
		t.Errorf("PATCH of an unknown source: %d", code)
	}
	if code, _ := patch("/api/sources/1", `{"muted": true}`); code != 400 {
		t.Errorf("PATCH with an unknown field: %d", code)
	}
	if code, out := api("DELETE", "/api/sources/2", ""); code != 204 {
		t.Errorf("DELETE: %d %s", code, out)
	}
	srcs, _ = a.store.Sources(context.Background())
	if len(srcs) != 1 || !srcs[0].Paused || srcs[0].Priority != 5 {
		t.Fatalf("sources after PATCH and DELETE: %+v", srcs)
	}
	// a paused source is not fetched
	hits := siteHits.Load()
	out := e.must("collect")
	if siteHits.Load() != hits || strings.Contains(out, "feed.atom") {
		t.Errorf("a paused source was fetched:\n%s", out)
	}
	if list := e.must("sources", "list"); !strings.Contains(list, "paused") {
		t.Errorf("sources list does not show the pause:\n%s", list)
	}
}

// TestEditionControlsFromDeskAndAPI: an edition whose messages were
// deferred is paused, resumed and cancelled from the API and the desk,
// through the same service as the command line, with 400, 404 and 409 for
// an unknown action, edition or a state that does not allow it.
func TestEditionControlsFromDeskAndAPI(t *testing.T) {
	relay := smtptest.Start(t)
	relay.Script = func(string) smtptest.Fault {
		return smtptest.Fault{Err: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "try later"}}
	}
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken, "NEWSBRIEF_SMTP_HOST", relay.Host,
		"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port), "NEWSBRIEF_SMTP_TLS", "none")
	e.seed(3, "reader%d@example.com", "A deferred story")
	e.must("send") // every message deferred: the edition stays sending
	web, a := deskServer(t, e)
	api := func(path string) (int, string) { return apiCall(t, web, "POST", path, "") }
	status := func() string {
		ed, err := a.store.Edition(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		return ed.Status
	}
	if code, out := api("/api/editions/1/pause"); code != 200 || status() != "paused" || !strings.Contains(out, `"status":"paused"`) {
		t.Fatalf("API pause: %d %s (status %s)", code, out, status())
	}
	c, csrf := signedIn(t, web)
	resp, err := c.PostForm(web.URL+"/admin/editions/1/resume", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || status() != "sending" || !strings.Contains(string(body), "Resumed") || !strings.Contains(string(body), `id="pause"`) {
		t.Errorf("desk resume: %d, status %s\n%s", resp.StatusCode, status(), body)
	}
	if code, out := api("/api/editions/1/cancel"); code != 200 || status() != "cancelled" || !strings.Contains(out, "3 messages will not be sent") {
		t.Errorf("API cancel: %d %s", code, out)
	}
	for path, want := range map[string]int{"/api/editions/1/pause": 409, "/api/editions/9/pause": 404, "/api/editions/1/explode": 400} {
		if code, out := api(path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, out, want)
		}
	}
}

// TestSubscribersAPI: search by an address's start, filter by status,
// page with the cursor, read one subscriber with the consent record, rename
// and unsubscribe them, and erase one, all through the API.
func TestSubscribersAPI(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(5, "reader%d@example.com", "A story")
	web, _ := deskServer(t, e)
	call := func(method, path, in string) (int, map[string]any) {
		t.Helper()
		code, body := apiCall(t, web, method, path, in)
		var out map[string]any
		json.Unmarshal([]byte(body), &out)
		return code, out
	}
	emails := func(out map[string]any) []string {
		var got []string
		list, _ := out["subscribers"].([]any)
		for _, s := range list {
			got = append(got, s.(map[string]any)["email"].(string))
		}
		return got
	}
	// three pages of 2, 2 and 1
	var all []string
	after := ""
	for page := 0; page < 4; page++ {
		code, out := call("GET", "/api/subscribers?limit=2&after="+url.QueryEscape(after), "")
		if code != 200 {
			t.Fatalf("page %d: %d %v", page, code, out)
		}
		all = append(all, emails(out)...)
		after, _ = out["next"].(string)
		if after == "" {
			break
		}
	}
	if len(all) != 5 || all[0] != "reader0@example.com" || all[4] != "reader4@example.com" {
		t.Errorf("pages: %v", all)
	}
	if _, out := call("GET", "/api/subscribers?q=READER3", ""); !slices.Equal(emails(out), []string{"reader3@example.com"}) {
		t.Errorf("search: %v", out)
	}
	code, one := call("GET", "/api/subscribers/reader2@example.com", "")
	if consent, _ := one["consent"].(map[string]any); code != 200 || one["status"] != "active" || consent["via"] == nil {
		t.Errorf("one subscriber: %d %v", code, one)
	}
	if code, out := call("PATCH", "/api/subscribers/reader2@example.com", `{"name": "Ada Reader", "status": "unsubscribed"}`); code != 200 ||
		out["name"] != "Ada Reader" || out["status"] != "unsubscribed" {
		t.Errorf("patch: %d %v", code, out)
	}
	if _, out := call("GET", "/api/subscribers?status=unsubscribed", ""); !slices.Equal(emails(out), []string{"reader2@example.com"}) {
		t.Errorf("status filter: %v", out)
	}
	if code, _ := call("PATCH", "/api/subscribers/reader3@example.com", `{"status": "active"}`); code != 400 {
		t.Errorf("an editor setting active: %d", code)
	}
	if code, _ := call("DELETE", "/api/subscribers/reader4@example.com", ""); code != 204 {
		t.Errorf("erase: %d", code)
	}
	if code, _ := call("GET", "/api/subscribers/reader4@example.com", ""); code != 404 {
		t.Errorf("an erased subscriber: %d", code)
	}
	for _, bad := range []string{"/api/subscribers?status=bogus", "/api/subscribers?after=abc"} {
		if code, _ := call("GET", bad, ""); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

// apiCall sends one API request with the admin token and returns the
// status and the body.
func apiCall(t *testing.T, web *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, web.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
