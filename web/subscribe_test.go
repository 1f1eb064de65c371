package web

import (
	"github.com/newsbrief/newsbrief/subscribers"

	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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

// wait waits until to has n mails (the confirmations are sent in the
// background) and returns how many it has, n or what came in 5 s.
func (m *linkMailer) wait(to string, n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for m.count(to) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return m.count(to)
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
	o := &OptIn{Store: s, Tokens: tok, Pages: textPages{}, Mailer: ml, ListName: "Brief", Wording: "daily brief, unsubscribe any time", ConfirmTTL: 72 * time.Hour,
		PerClient: 100, PerMinute: 6000}
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
	if code != 200 || !strings.Contains(newAnswer, "Check your inbox") || ml.wait("New@example.com", 1) != 1 {
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
	if err != nil || resp.StatusCode != http.StatusAccepted || ml.wait("json@example.com", 1) != 1 {
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
	if got, _ := s.GetByEmail(ctx, "new@example.com"); got.Status != subscribers.Unsubscribed || ml.wait("New@example.com", 2) != 2 {
		t.Fatalf("re-subscribe: status %s, %d mails", got.Status, ml.count("New@example.com"))
	}
	// links expire
	now = now.Add(73 * time.Hour)
	if code, body := do("POST", ml.last("New@example.com")); code != 400 || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d %s", code, body)
	}
}

// blockingMailer holds every confirmation until released, counting them.
type blockingMailer struct {
	release chan struct{}
	sent    atomic.Int32
}

func (m *blockingMailer) SendConfirmation(ctx context.Context, _, _, _ string) error {
	select {
	case <-m.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.sent.Add(1)
	return nil
}

// TestSubscriptionBombing: one client cannot make the server mail 50
// strangers (a few requests an hour), many clients meet a total rate and a
// bounded queue, and no request waits for a mail to be sent.
func TestSubscriptionBombing(t *testing.T) {
	s := newStore(t)
	tok, _ := subscribers.NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	ml := &blockingMailer{release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := &OptIn{Store: s, Tokens: tok, Pages: textPages{}, Mailer: ml, ListName: "Brief", BaseURL: "http://brief.example",
		ConfirmTTL: time.Hour, PerClient: 5, PerMinute: 1, QueueSize: 5, Background: ctx}
	mux := http.NewServeMux()
	o.Register(mux)
	post := func(ip, addr string) int {
		req := httptest.NewRequest("POST", "/subscribe", strings.NewReader(url.Values{"email": {addr}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":5555"
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { mux.ServeHTTP(rec, req); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("a subscription request waited for its mail")
		}
		return rec.Code
	}
	codes := map[int]int{}
	for i := range 50 {
		codes[post("192.0.2.1", fmt.Sprintf("stranger%d@example.com", i))]++
	}
	if codes[http.StatusOK] != 5 || codes[http.StatusTooManyRequests] != 45 {
		t.Errorf("50 requests from one client: %v, want 5 taken and 45 refused", codes)
	}
	// 50 clients: one mail is being sent (held), the queue holds 5, and
	// requests past that are refused before anything is recorded
	codes = map[int]int{}
	for i := range 50 {
		codes[post(fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("other%d@example.com", i))]++
	}
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("50 clients: %v, want the full queue to refuse some", codes)
	}
	n, err := s.Count(context.Background(), subscribers.Pending)
	if err != nil {
		t.Fatal(err)
	}
	if n > 5+codes[http.StatusOK] {
		t.Errorf("%d pending subscribers recorded, more than were taken", n)
	}
	close(ml.release)
	if ml.sent.Load() > 2 { // the rate (1 a minute, burst 1) lets no more out yet
		t.Errorf("%d confirmations sent at once, want the total rate to hold them", ml.sent.Load())
	}
}
