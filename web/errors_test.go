package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestInternalErrorsShowNoInternals: when the database fails under a
// request, the client gets a 500 naming only the request ID (sent back as
// X-Request-Id too), and the log has the whole error under that ID.
func TestInternalErrorsShowNoInternals(t *testing.T) {
	var logs strings.Builder
	h, db := testServer(t, slog.New(slog.NewTextHandler(&logs, nil)))
	const token = testToken
	db.Close() // every query fails from here on
	for _, path := range []string{"/api/editions", "/api/editions/1", "/archive"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		id := rec.Header().Get("X-Request-Id")
		if rec.Code != http.StatusInternalServerError || id == "" || !strings.Contains(string(body), "internal error (request "+id+")") {
			t.Errorf("%s: %d %q (request %q), want a 500 naming the request", path, rec.Code, body, id)
		}
		if low := strings.ToLower(string(body)); strings.Contains(low, "sql") || strings.Contains(low, "closed") {
			t.Errorf("%s: the answer shows internals: %s", path, body)
		}
		if !strings.Contains(logs.String(), "request="+id) || !strings.Contains(logs.String(), "closed") {
			t.Errorf("%s: the log lacks the error under request %s:\n%s", path, id, logs.String())
		}
	}
}
