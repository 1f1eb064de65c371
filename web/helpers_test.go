package web

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/deliver"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
)

// newStore opens a subscriber store on a database file in t.TempDir(),
// with now as its clock (nil for the real one).
func newStore(t testing.TB, now ...func() time.Time) *subscribers.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "subs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var clock func() time.Time
	if len(now) > 0 {
		clock = now[0]
	}
	s, err := subscribers.Open(context.Background(), db, clock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testToken is the admin token of testServer.
const testToken = "web-test-token-0123456789abcdef"

// testServer is the whole HTTP surface over a database file in
// t.TempDir(), with the desk and the API on (testToken).
func testServer(t *testing.T, log *slog.Logger) (http.Handler, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
	srv, err := NewServer(Config{ListName: "Brief", BaseURL: "http://brief.example", AdminToken: testToken},
		Services{DB: db, Store: store, Subscribers: subs, Tokens: tokens, Pages: set,
			Editions: &pipeline.Editions{Store: store, Subscribers: subscribers.Audience{Store: subs, Tokens: tokens},
				Engine: &deliver.Engine{Ledger: store}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler(), db
}

// postJSON posts body to url with the headers hdr and returns the status
// and the decoded JSON answer.
func postJSON(t *testing.T, url string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
