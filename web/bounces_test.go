package web

import (
	"github.com/newsbrief/newsbrief/subscribers"

	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBounceAPI(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, a := range []string{"hard@example.com", "soft@example.com", "spam@example.com"} {
		s.Add(ctx, a, "", "", "cli")
	}
	srv := httptest.NewServer(&BounceAPI{Store: s, Token: "admin-token-0123456789", SoftLimit: 2})
	defer srv.Close()
	call := func(token, body string) (int, map[string]any) {
		hdr := map[string]string{}
		if token != "" {
			hdr["Authorization"] = "Bearer " + token
		}
		return postJSON(t, srv.URL, []byte(body), hdr)
	}
	for _, tok := range []string{"", "wrong", "admin-token-012345678"} {
		if code, _ := call(tok, `{"email":"hard@example.com","type":"bounce","hard":true}`); code != 401 {
			t.Errorf("token %q: %d, want 401", tok, code)
		}
	}
	code, out := call("admin-token-0123456789", `[
		{"email":"hard@example.com","type":"bounce","code":550,"detail":"5.1.1 no such user"},
		{"email":"soft@example.com","type":"bounce","code":552,"detail":"mailbox full"},
		{"email":"spam@example.com","type":"complaint","detail":"abuse report"},
		{"email":"nobody@example.com","type":"bounce"},
		{"email":"x@example.com","type":"weird"}]`)
	if code != 200 || out["recorded"].(float64) != 3 || len(out["unknown"].([]any)) != 1 || len(out["invalid"].([]any)) != 1 {
		t.Fatalf("report: %d %v", code, out)
	}
	want := map[string]string{"hard@example.com": subscribers.Bounced, "soft@example.com": subscribers.Active, "spam@example.com": subscribers.Complained}
	for addr, st := range want {
		if got, _ := s.GetByEmail(ctx, addr); got.Status != st {
			t.Errorf("%s: %s, want %s", addr, got.Status, st)
		}
	}
	call("admin-token-0123456789", `{"email":"soft@example.com","type":"bounce","code":552}`)
	if got, _ := s.GetByEmail(ctx, "soft@example.com"); got.Status != subscribers.Bounced {
		t.Errorf("second soft bounce: %s", got.Status)
	}
	if code, _ := call("admin-token-0123456789", `not json`); code != 400 {
		t.Errorf("bad JSON: %d", code)
	}
	off := httptest.NewServer(&BounceAPI{Store: s})
	defer off.Close()
	resp, _ := http.Post(off.URL, "application/json", strings.NewReader(`{}`))
	if resp.StatusCode != 503 {
		t.Errorf("API without a token configured: %d", resp.StatusCode)
	}
}
