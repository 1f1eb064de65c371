package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/deliver"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
)

// TestInternalErrorsShowNoInternals: when the database fails under a
// request, the client gets a 500 naming only the request ID (sent back as
// X-Request-Id too), and the log has the whole error under that ID.
func TestInternalErrorsShowNoInternals(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := pipeline.OpenStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := subscribers.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := subscribers.NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	const token = "web-test-token-0123456789abcdef"
	srv, err := NewServer(Config{ListName: "Brief", BaseURL: "http://brief.example", AdminToken: token},
		Services{DB: db, Store: store, Subscribers: subs, Tokens: tokens, Pages: set,
			Editions: &pipeline.Editions{Store: store, Engine: &deliver.Engine{Ledger: store}}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
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
