package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/newsbrief/newsbrief/web"
)

// TestOpenAPIMatchesRoutes: the OpenAPI description is valid, names every
// /api/ route the web package registers and no other, and the answers of
// real calls to a running server match its schemas.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromData(web.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the description is not valid OpenAPI: %v", err)
	}
	var described []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+path)
		}
	}
	// the routes, as the web package registers them
	route := regexp.MustCompile(`"(GET|POST|PUT|PATCH|DELETE) (/api/[^"]*)"`)
	files, _ := filepath.Glob("../../web/*.go")
	var registered []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range route.FindAllSubmatch(src, -1) {
			registered = append(registered, string(m[1])+" "+string(m[2]))
		}
	}
	// the bounce endpoint is registered without a method pattern
	registered = append(registered, "POST /api/bounces")
	slices.Sort(described)
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(described, r) {
			t.Errorf("route %s is not in the OpenAPI description", r)
		}
	}
	for _, d := range described {
		if !slices.Contains(registered, d) {
			t.Errorf("the OpenAPI description has %s, which no route serves", d)
		}
	}

	// real answers against the schemas
	e := newEnv(t, "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(3, "reader%d@example.com", "A story for the schemas")
	e.must("send")
	e.write("articles/b.txt", "Another story\n\nBody.\n")
	e.must("collect")
	srv, _ := deskServer(t, e)
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/articles", ""}, {"GET", "/api/groups", ""}, {"PUT", "/api/note", `{"note": "Hello."}`},
		{"GET", "/api/preview", ""}, {"GET", "/api/editions", ""}, {"GET", "/api/editions/1", ""},
		{"GET", "/api/schedule", ""}, {"GET", "/api/subscribers?limit=2", ""}, {"GET", "/api/subscribers/reader1@example.com", ""},
		{"PATCH", "/api/subscribers/reader1@example.com", `{"name": "Ada", "attributes": {"city": "Lisbon"}}`},
		{"GET", "/api/sources", ""}, {"GET", "/api/editions/99", ""}, {"POST", "/api/articles/1/pin", ""},
		{"POST", "/api/bounces", `[{"email": "reader2@example.com", "type": "bounce", "hard": true, "code": 550}]`},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		matched, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: no route in the description: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: matched,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s: the answer (%d) does not match the description: %v\n%s", c.method, c.path, resp.StatusCode, err, body)
		}
	}
}
