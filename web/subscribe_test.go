package web

import (
	"github.com/newsbrief/newsbrief/subscribers"

	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// linkMailer records confirmation links instead of mailing them.
type linkMailer struct {
	mu    sync.Mutex
	links map[string][]string
	fail  error
}

var _ ConfirmationMailer = (*linkMailer)(nil)

func (m *linkMailer) SendConfirmation(_ context.Context, to, _, link string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	to = strings.ToLower(to)
	m.links[to] = append(m.links[to], link)
	return nil
}

func (m *linkMailer) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.links[strings.ToLower(to)])
}
func (m *linkMailer) last(to string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.links[strings.ToLower(to)]
	return l[len(l)-1]
}

func TestDoubleOptIn(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	s := newStore(t, func() time.Time { return now })
	tok, _ := subscribers.NewTokens([]byte("0123456789abcdef0123456789abcdef"), func() time.Time { return now })
	ml := &linkMailer{links: map[string][]string{}}
	mux := http.NewServeMux()
	o := &OptIn{Store: s, Tokens: tok, Pages: textPages{}, Mailer: ml, ListName: "Brief", Wording: "daily brief, unsubscribe any time", ConfirmTTL: 72 * time.Hour}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	o.BaseURL = srv.URL
	o.Register(mux)
	ctx := context.Background()
	post := func(form url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL+"/subscribe", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	do := func(method, link string) (int, string) {
		req, _ := http.NewRequest(method, link, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := do("GET", srv.URL+"/subscribe"); code != 200 || !strings.Contains(body, "[form]") {
		t.Fatalf("form: %d %s", code, body)
	}
	code, newAnswer := post(url.Values{"email": {"New@Example.com"}, "name": {"Nia"}})
	if code != 200 || !strings.Contains(newAnswer, "Check your inbox") || ml.count("New@example.com") != 1 {
		t.Fatalf("subscribe: %d %s, %d mails", code, newAnswer, ml.count("New@example.com"))
	}
	sub, _ := s.GetByEmail(ctx, "new@example.com")
	if sub.Status != subscribers.Pending || sub.Consent != o.Wording || sub.Via != "form" {
		t.Fatalf("pending subscriber: %+v", sub)
	}
	// the same answer for an active address, and no mail to it
	s.Add(ctx, "active@example.com", "", "", "cli")
	if _, body := post(url.Values{"email": {"active@example.com"}}); body != newAnswer || ml.count("active@example.com") != 0 {
		t.Errorf("active address: answer differs or a mail went out: %s", body)
	}
	// a second request within the interval mails nothing more
	post(url.Values{"email": {"new@example.com"}})
	if ml.count("New@example.com") != 1 {
		t.Errorf("confirmation mails are not rate limited: %d", ml.count("New@example.com"))
	}
	// the honeypot
	post(url.Values{"email": {"bot@example.com"}, "website": {"http://spam.example"}})
	if _, err := s.GetByEmail(ctx, "bot@example.com"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Error("a bot's submission was stored")
	}
	// invalid address: a plain error
	if code, body := post(url.Values{"email": {"not an address"}}); code != 400 || !strings.Contains(body, "does not look like") {
		t.Errorf("invalid address: %d %s", code, body)
	}
	// JSON
	resp, err := http.Post(srv.URL+"/subscribe", "application/json", strings.NewReader(`{"email": "json@example.com"}`))
	if err != nil || resp.StatusCode != http.StatusAccepted || ml.count("json@example.com") != 1 {
		t.Fatalf("JSON subscribe: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	link := ml.last("New@example.com")
	// a GET of the link confirms nothing
	if code, body := do("GET", link); code != 200 || !strings.Contains(body, "button=Confirm") {
		t.Fatalf("confirm page: %d %s", code, body)
	}
	if sub, _ := s.GetByEmail(ctx, "new@example.com"); sub.Status != subscribers.Pending {
		t.Fatal("a GET confirmed")
	}
	// an unsubscribe token is not a confirmation token
	bad := srv.URL + "/confirm?token=" + url.QueryEscape(tok.Sign(subscribers.PurposeUnsubscribe, sub.ID))
	if code, _ := do("POST", bad); code != 400 {
		t.Errorf("a wrong-purpose token confirmed: %d", code)
	}
	if code, body := do("POST", link); code != 200 || !strings.Contains(body, "You are subscribed") {
		t.Fatalf("confirm: %d %s", code, body)
	}
	sub, _ = s.GetByEmail(ctx, "new@example.com")
	if sub.Status != subscribers.Active || sub.Name != "Nia" {
		t.Fatalf("after confirm: %+v", sub)
	}
	// re-subscribing after an unsubscribe needs a new confirmation
	s.Unsubscribe(ctx, sub.ID)
	now = now.Add(time.Hour)
	post(url.Values{"email": {"new@example.com"}})
	if got, _ := s.GetByEmail(ctx, "new@example.com"); got.Status != subscribers.Unsubscribed || ml.count("New@example.com") != 2 {
		t.Fatalf("re-subscribe: status %s, %d mails", got.Status, ml.count("New@example.com"))
	}
	// links expire
	now = now.Add(73 * time.Hour)
	if code, body := do("POST", ml.last("New@example.com")); code != 400 || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d %s", code, body)
	}
}
