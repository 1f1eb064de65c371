package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestTokenGuessesAreLimited: one client guessing the admin token on the
// API, the bounce endpoint or the desk's sign-in gets a few tries, then
// 429s, while an editor elsewhere with the right token gets in; guesses
// from many clients hit a global ceiling that the right token still passes.
func TestTokenGuessesAreLimited(t *testing.T) {
	h, _ := testServer(t, nil)
	do := func(ip, method, path, token string) int {
		t.Helper()
		var req *http.Request
		if path == "/admin/login" {
			req = httptest.NewRequest(method, path, strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, path, strings.NewReader("[]"))
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: 429 without Retry-After", method, path)
		}
		return rec.Code
	}
	for _, ep := range []struct{ method, path string }{
		{"GET", "/api/editions"}, {"POST", "/api/bounces"}, {"POST", "/admin/login"},
	} {
		t.Run(ep.path, func(t *testing.T) {
			h, _ = testServer(t, nil) // fresh limits
			codes := map[int]int{}
			for i := range 200 {
				codes[do("192.0.2.1", ep.method, ep.path, fmt.Sprintf("guess-%04d-0123456789", i))]++
			}
			if codes[http.StatusUnauthorized] > 5 || codes[http.StatusTooManyRequests] < 195 {
				t.Errorf("200 guesses from one client: %v, want at most 5 answered", codes)
			}
			// the attacker's own right guess is refused too while it waits
			if c := do("192.0.2.1", ep.method, ep.path, testToken); c != http.StatusTooManyRequests {
				t.Errorf("the limited client with the right token: %d, want 429", c)
			}
			// an editor elsewhere is not locked out
			if c := do("198.51.100.7", ep.method, ep.path, testToken); c == http.StatusTooManyRequests || c == http.StatusUnauthorized {
				t.Errorf("an editor with the right token: %d", c)
			}
			// wrong guesses from 60 addresses hit the global ceiling ...
			limited := 0
			for i := range 60 {
				if do(fmt.Sprintf("203.0.113.%d", i), ep.method, ep.path, "wrong-token-0123456789") == http.StatusTooManyRequests {
					limited++
				}
			}
			if limited == 0 {
				t.Errorf("60 clients guessing met no global ceiling")
			}
			// ... which the right token passes
			if c := do("198.51.100.8", ep.method, ep.path, testToken); c == http.StatusTooManyRequests || c == http.StatusUnauthorized {
				t.Errorf("an editor with the right token during the flood: %d", c)
			}
		})
	}
}
