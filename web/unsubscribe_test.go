package web

import (
	"github.com/newsbrief/newsbrief/subscribers"

	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// textPages renders pages as plain text lines.
type textPages struct{}

var _ PageWriter = textPages{}

func (textPages) WritePage(w io.Writer, list, title, msg, action, button string) error {
	_, err := fmt.Fprintf(w, "%s\n%s\n%s\naction=%s button=%s\n", list, title, msg, action, button)
	return err
}

func (p textPages) WriteForm(w io.Writer, list, title, msg, action, button string) error {
	return p.WritePage(w, list, title, msg+" [form]", action, button)
}

func (p textPages) WritePageWithLink(w io.Writer, list, title, msg, action, button, link, label string) error {
	return p.WritePage(w, list, title, msg+" [link "+label+" "+link+"]", action, button)
}

// TestManageAndErase: the subscription page shows the address and offers
// unsubscribing and erasure; the erasure's POST erases the reader.
func TestManageAndErase(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub, _ := s.Add(ctx, "reader@example.com", "Ada", "", "cli")
	tok, _ := subscribers.NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	var erased string
	srv := httptest.NewServer(&UnsubscribeHandler{Store: s, Tokens: tok, Pages: textPages{}, ListName: "Brief",
		Erase: func(ctx context.Context, email string) error {
			erased = email
			_, err := s.Forget(ctx, email)
			return err
		}})
	defer srv.Close()
	token := url.QueryEscape(tok.Sign(subscribers.PurposeUnsubscribe, sub.ID))
	resp, err := http.Get(srv.URL + "/unsubscribe?token=" + token + "&manage=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "reader@example.com as Ada (active") || !strings.Contains(string(b), "erase=1") ||
		!strings.Contains(string(b), "button=Unsubscribe") {
		t.Fatalf("subscription page:\n%s", b)
	}
	resp, _ = http.Get(srv.URL + "/unsubscribe?token=" + token + "&erase=1")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if erased != "" || !strings.Contains(string(b), "button=Erase my data") {
		t.Fatalf("a GET erased, or no confirmation: %q\n%s", erased, b)
	}
	resp, _ = http.Post(srv.URL+"/unsubscribe?token="+token+"&erase=1", "application/x-www-form-urlencoded", strings.NewReader(""))
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if erased != "reader@example.com" || !strings.Contains(string(b), "Your data is erased") {
		t.Fatalf("erase: %q\n%s", erased, b)
	}
	if _, err := s.Get(ctx, sub.ID); err == nil {
		t.Error("the subscriber is still there")
	}
}

func TestUnsubscribeHandler(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub, _ := s.Add(ctx, "reader@example.com", "", "", "cli")
	tok, _ := subscribers.NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	srv := httptest.NewServer(&UnsubscribeHandler{Store: s, Tokens: tok, Pages: textPages{}, ListName: "Brief"})
	defer srv.Close()
	good := tok.Sign(subscribers.PurposeUnsubscribe, sub.ID)
	status := func() string {
		got, _ := s.Get(ctx, sub.ID)
		return got.Status
	}
	get := func(token string) (int, string) {
		resp, err := http.Get(srv.URL + "/unsubscribe?token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(token, body string) (int, string) {
		resp, err := http.Post(srv.URL+"/unsubscribe?token="+url.QueryEscape(token), "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// a GET shows a button and never unsubscribes
	code, body := get(good)
	if code != 200 || !strings.Contains(body, "button=Unsubscribe") || !strings.Contains(body, "action=/unsubscribe?token=") || status() != subscribers.Active {
		t.Fatalf("GET: %d %q, status %s", code, body, status())
	}
	// forged, altered and wrong-purpose tokens are refused plainly
	altered := []byte(good)
	altered[5] ^= 2
	for _, bad := range []string{"forged", string(altered), tok.Sign(subscribers.PurposeConfirm, sub.ID)} {
		if code, body := post(bad, "List-Unsubscribe=One-Click"); code != 400 || !strings.Contains(body, "not valid") {
			t.Errorf("POST with a bad token: %d %q", code, body)
		}
	}
	if status() != subscribers.Active {
		t.Fatal("a bad token unsubscribed")
	}
	if code, _ := post(good, "List-Unsubscribe=Something-Else"); code != 400 || status() != subscribers.Active {
		t.Errorf("an unexpected List-Unsubscribe value was accepted: %d", code)
	}
	// RFC 8058 one-click POST
	if code, body := post(good, "List-Unsubscribe=One-Click"); code != 200 || !strings.Contains(body, "You are unsubscribed") {
		t.Fatalf("one-click POST: %d %q", code, body)
	}
	if status() != subscribers.Unsubscribed {
		t.Fatalf("status after one-click = %s", status())
	}
	// twice is fine
	if code, _ := post(good, ""); code != 200 {
		t.Errorf("second POST: %d", code)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/unsubscribe?token="+good, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("DELETE: %v %v", resp.StatusCode, err)
	}
}
