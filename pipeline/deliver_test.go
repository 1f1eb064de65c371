package pipeline

import (
	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/testclock"
	"github.com/newsbrief/newsbrief/pipeline/deliver"

	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSubs is a SubscriberSource over a slice.
type fakeSubs struct {
	mu       sync.Mutex
	list     []Recipient
	inactive map[int64]bool
	bounces  int
}

var _ SubscriberSource = (*fakeSubs)(nil)

func newSubs(n int) *fakeSubs {
	f := &fakeSubs{inactive: map[int64]bool{}}
	for i := 1; i <= n; i++ {
		f.list = append(f.list, Recipient{ID: int64(i), Email: fmt.Sprintf("r%d@example.com", i), Name: fmt.Sprintf("R%d", i)})
	}
	return f
}

func (f *fakeSubs) ActiveAfter(_ context.Context, after int64, limit int) ([]Recipient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Recipient
	for _, r := range f.list {
		if r.ID > after && !f.inactive[r.ID] && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeSubs) Inactive(_ context.Context, ids []int64) (map[int64]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64]bool{}
	for _, id := range ids {
		if f.inactive[id] {
			out[id] = true
		}
	}
	return out, nil
}

func (f *fakeSubs) CountActive(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.list {
		if !f.inactive[r.ID] {
			n++
		}
	}
	return n, nil
}

func (f *fakeSubs) Forget(_ context.Context, email string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.list {
		if r.Email == email {
			f.list = append(f.list[:i], f.list[i+1:]...)
			return r.ID, nil
		}
	}
	return 0, ErrNotFound
}

func (f *fakeSubs) UnsubscribeURL(id int64) string { return fmt.Sprintf("https://x.example/u?%d", id) }

func (f *fakeSubs) Links(_, id int64) (string, string, string) { return f.UnsubscribeURL(id), "", "" }

func (f *fakeSubs) Bounce(_ context.Context, id int64, _ string, hard bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if hard {
		f.inactive[id] = true
	}
	f.bounces++
	return nil
}

// fakeRenderer renders titles into both bodies.
type fakeRenderer struct{}

func (fakeRenderer) Render(_ context.Context, is brief.Issue) (Rendered, error) {
	var ts []string
	for _, st := range is.Stories {
		ts = append(ts, st.Title)
	}
	body := strings.Join(ts, "\n")
	return Rendered{Subject: "Brief: " + ts[0],
		HTML: brief.Body{Static: []string{"<p>", "</p>" + body}, Slots: []int{brief.SlotName}},
		Text: brief.Body{Static: []string{"", "\n" + body + "\n", ""}, Slots: []int{brief.SlotName, brief.SlotUnsubscribeURL}},
	}, nil
}

func (fakeRenderer) Subject(_ context.Context, is brief.Issue) (string, error) {
	return "Brief: " + is.Stories[0].Title, nil
}

func (fakeRenderer) Page(_ context.Context, is brief.Issue) (string, error) {
	return "<h1>" + is.Subject + "</h1><p>" + is.Note + "</p>", nil
}

// sendErr is an error a Conn may return, with the classification methods.
type sendErr struct {
	code int
	perm bool
}

func (e sendErr) Error() string   { return fmt.Sprintf("%d simulated", e.code) }
func (e sendErr) Permanent() bool { return e.perm }
func (e sendErr) StatusCode() int { return e.code }
func (e sendErr) Temporary() bool { return !e.perm }

// fakeSender records what reached the "relay"; fail decides per address.
type fakeSender struct {
	mu      sync.Mutex
	got     map[string]int
	fail    func(addr string) error
	openErr error
	onSend  func(addr string)
}

var _ deliver.Sender = (*fakeSender)(nil)

func newSender() *fakeSender { return &fakeSender{got: map[string]int{}} }

func (f *fakeSender) Open(context.Context) (Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openErr != nil {
		return nil, f.openErr
	}
	return fakeConn{f}, nil
}

func (f *fakeSender) count(addr string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.got[addr] }
func (f *fakeSender) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.got {
		n += c
	}
	return n
}

type fakeConn struct{ f *fakeSender }

func (c fakeConn) Send(_ context.Context, m *Message) error {
	if c.f.onSend != nil {
		c.f.onSend(m.Recipient.Email)
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if c.f.fail != nil {
		if err := c.f.fail(m.Recipient.Email); err != nil {
			return err
		}
	}
	if !strings.Contains(m.TextBody(), m.UnsubscribeURL) || m.Subject() == "" {
		return errors.New("message without unsubscribe link or subject")
	}
	c.f.got[m.Recipient.Email]++
	return nil
}

func (c fakeConn) Close() error { return nil }

func newDeliverer(t *testing.T, subs int) (*Editions, *fakeSubs, *fakeSender, *testclock.Clock) {
	t.Helper()
	s, clk := newStore(t)
	mustSave(t, s, Article{Origin: "feed", Title: "Story one", Text: "one"})
	mustSave(t, s, Article{Origin: "feed", Title: "Story two", Text: "two"})
	clk.Add(time.Second)
	fs, snd := newSubs(subs), newSender()
	t.Cleanup(func() { checkCounts(t, s) })
	return newEditions(s, fs, snd, &deliver.Engine{Concurrency: 3, RetryFor: 24 * time.Hour, Holder: "test"}), fs, snd, clk
}

// newEditions wires an editions service as cmd does, with d's settings.
func newEditions(s *Store, subs *fakeSubs, snd deliver.Sender, d *deliver.Engine) *Editions {
	d.Ledger, d.Audience, d.Sender = s, subs, snd
	return &Editions{Store: s, Subscribers: subs, Renderer: fakeRenderer{}, Engine: d, MaxArticles: 10}
}

func TestSendEveryoneOnce(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 2500)
	ctx := context.Background()
	rep, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Editions) != 1 || !rep.Editions[0].Done || rep.Editions[0].Counts[StateSent] != 2500 {
		t.Fatalf("report = %+v", rep.Editions)
	}
	if snd.total() != 2500 {
		t.Fatalf("%d messages, want 2500", snd.total())
	}
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, ErrNothingNew) {
		t.Fatalf("second send = %v, want ErrNothingNew", err)
	}
	if snd.total() != 2500 {
		t.Fatalf("second send mailed %d more", snd.total()-2500)
	}
	ed, _ := d.Store.Edition(ctx, 1)
	if ed.Status != EditionSent || len(ed.Articles) != 2 || ed.FinishedAt.IsZero() {
		t.Errorf("edition = %+v", ed)
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	d, _, snd, clk := newDeliverer(t, 5)
	snd.fail = func(addr string) error {
		switch addr {
		case "r2@example.com":
			return sendErr{code: 451}
		case "r4@example.com":
			return sendErr{code: 550, perm: true}
		case "r5@example.com":
			return errors.New("connection reset by peer") // no classification: temporary
		}
		return nil
	}
	ctx := context.Background()
	rep, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Editions[0].Counts
	if c[StateSent] != 2 || c[StateDeferred] != 2 || c[StateFailed] != 1 || rep.Editions[0].Done {
		t.Fatalf("counts = %v", c)
	}
	f, _ := d.Store.DeliveryState(ctx, 1, "r4@example.com")
	if f.State != StateFailed || f.Code != 550 {
		t.Errorf("r4 = %+v", f)
	}
	if subs := d.Subscribers.(*fakeSubs); subs.bounces != 1 {
		t.Errorf("%d bounces reported to the subscriber source, want 1", subs.bounces)
	}
	f, _ = d.Store.DeliveryState(ctx, 1, "r2@example.com")
	if f.State != StateDeferred || f.Code != 451 {
		t.Errorf("r2 = %+v", f)
	}
	// not due yet: nothing is retried
	snd.fail = nil
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	if snd.count("r2@example.com") != 0 {
		t.Fatal("retried before the backoff ran out")
	}
	clk.Add(time.Hour)
	rep, err = d.Send(ctx, time.Time{})
	if !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	if !rep.Editions[0].Done || rep.Editions[0].Counts[StateSent] != 4 || rep.Editions[0].Counts[StateFailed] != 1 {
		t.Fatalf("after retry: %+v", rep.Editions[0])
	}
	for i := 1; i <= 5; i++ {
		want := 1
		if i == 4 {
			want = 0
		}
		if got := snd.count(fmt.Sprintf("r%d@example.com", i)); got != want {
			t.Errorf("r%d got %d messages, want %d", i, got, want)
		}
	}
}

func TestDeferredGiveUpAfterRetryFor(t *testing.T) {
	d, _, snd, clk := newDeliverer(t, 2)
	snd.fail = func(addr string) error {
		if addr == "r1@example.com" {
			return sendErr{code: 452}
		}
		return nil
	}
	ctx := context.Background()
	d.Send(ctx, time.Time{})
	clk.Add(25 * time.Hour)
	rep, _ := d.Send(ctx, time.Time{})
	if !rep.Editions[0].Done || rep.Editions[0].Counts[StateFailed] != 1 {
		t.Fatalf("after RetryFor: %+v", rep.Editions[0])
	}
	f, _ := d.Store.DeliveryState(ctx, 1, "r1@example.com")
	if !strings.Contains(f.Detail, "gave up after retrying") {
		t.Errorf("detail = %q", f.Detail)
	}
}

func TestCrashLeavesInFlightUnknownAndResumes(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 1000)
	ctx := context.Background()
	// a previous process made the edition, claimed a batch and died
	ed := startedEdition(t, d)
	claimed, err := d.Store.Claim(ctx, ed.ID, 100)
	if err != nil || len(claimed) != 100 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	rep, err := d.Send(ctx, time.Time{})
	if !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	er := rep.Editions[0]
	if !er.Resumed || !er.Done || er.Counts[StateUnknown] != 100 || er.Counts[StateSent] != 900 {
		t.Fatalf("resumed edition: %+v", er.Counts)
	}
	for _, j := range claimed {
		if snd.count(j.Recipient.Email) != 0 {
			t.Fatalf("%s was in flight at the crash and was mailed again", j.Recipient.Email)
		}
	}
	if snd.total() != 900 {
		t.Fatalf("%d sent, want 900", snd.total())
	}
}

func TestRelayDownKeepsEveryonePending(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 50)
	snd.openErr = errors.New("connection refused")
	ctx := context.Background()
	if _, err := d.Send(ctx, time.Time{}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("send with the relay down = %v", err)
	}
	counts, _ := d.Store.DeliveryCounts(ctx, 1)
	if counts[StatePending] != 50 {
		t.Fatalf("counts after a failed connect = %v, want 50 pending", counts)
	}
	snd.openErr = nil
	rep, err := d.Send(ctx, time.Time{})
	if !errors.Is(err, ErrNothingNew) || !rep.Editions[0].Done || snd.total() != 50 {
		t.Fatalf("resume: %v %+v, %d sent", err, rep.Editions, snd.total())
	}
}

func TestCancelMidSendThenResume(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 3000)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	var sent int
	var mu sync.Mutex
	snd.onSend = func(string) {
		mu.Lock()
		sent++
		n := sent
		mu.Unlock()
		if n == 700 {
			once.Do(cancel)
		}
	}
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send = %v", err)
	}
	counts, _ := d.Store.DeliveryCounts(context.Background(), 1)
	if counts[StateSending] != 0 || counts[StateUnknown] != 0 {
		t.Fatalf("a clean stop left rows in flight: %v", counts)
	}
	first := snd.total()
	if first < 700 || first >= 3000 {
		t.Fatalf("%d sent before the stop", first)
	}
	snd.onSend = nil
	finishAndCheckEachOnce(t, d, snd, 3000)
}

// finishAndCheckEachOnce runs Send to the end of the edition and checks
// that each of the n recipients got exactly one message.
func finishAndCheckEachOnce(t *testing.T, d *Editions, snd *fakeSender, n int) {
	t.Helper()
	rep, err := d.Send(context.Background(), time.Time{})
	if !errors.Is(err, ErrNothingNew) || len(rep.Editions) == 0 || !rep.Editions[0].Done {
		t.Fatalf("resume: %v %+v", err, rep.Editions)
	}
	for i := 1; i <= n; i++ {
		if c := snd.count(fmt.Sprintf("r%d@example.com", i)); c != 1 {
			t.Fatalf("r%d got %d messages", i, c)
		}
	}
}

// startedEdition makes an edition with its audience, as a run that was
// killed right after would have left it.
func startedEdition(t *testing.T, d *Editions) Edition {
	t.Helper()
	ctx := context.Background()
	arts, err := d.Store.NextArticles(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := d.Store.createEdition(ctx, arts, time.Time{}, func(Edition) (string, error) { return "Brief: started", nil })
	if err != nil {
		t.Fatal(err)
	}
	// the audience written whole, as the engine does before any message
	page, err := d.Engine.Audience.ActiveAfter(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Store.AddAudience(ctx, ed.ID, page, true); err != nil {
		t.Fatal(err)
	}
	return ed
}

func TestUnsubscribedMidSendIsSkipped(t *testing.T) {
	// subscriber 900 unsubscribes after the 10th message of a 1,000-message
	// send has reached the relay: the claim-time check must skip it
	d, subs, snd, _ := newDeliverer(t, 1000)
	d.Engine.Concurrency = 1
	ctx := context.Background()
	var sent int
	snd.onSend = func(string) {
		if sent++; sent == 10 {
			subs.mu.Lock()
			subs.inactive[900] = true
			subs.mu.Unlock()
		}
	}
	rep, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Editions[0].Counts
	if c[StateSkipped] != 1 || c[StateSent] != 999 || snd.count("r900@example.com") != 0 || snd.total() != 999 {
		t.Fatalf("counts %v, total %d", c, snd.total())
	}
}

func TestDryRunAndTestSendChangeNothing(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 7)
	ctx := context.Background()
	rep, err := d.DryRun(ctx)
	if err != nil || rep.Recipients != 7 || len(rep.Articles) != 2 || rep.Subject != "Brief: Story two" {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	if err := d.Test(ctx, "editor@example.com"); err != nil {
		t.Fatal(err)
	}
	if snd.total() != 1 || snd.count("editor@example.com") != 1 {
		t.Fatalf("test send: %v", snd.got)
	}
	eds, _ := d.Store.Editions(ctx, 0)
	if len(eds) != 0 {
		t.Fatalf("dry run or test send made editions: %+v", eds)
	}
	// the preview and the dry run agree with what is then sent
	m, n, err := d.Preview(ctx, Recipient{Name: "Reader", Email: "reader@example.com"})
	if err != nil || n != 2 || m.Subject() != rep.Subject {
		t.Fatalf("preview = %v articles, %q, %v", n, m.Subject(), err)
	}
	sent, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sent.Editions[0]; got.Subject != rep.Subject || got.Counts[StateSent] != 7 {
		t.Fatalf("sent %+v, dry run said %q to 7", got, rep.Subject)
	}
}

func TestLeaseKeepsOneSender(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	release, err := s.AcquireLease(ctx, "send", "a", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "send", "b", time.Minute, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("second holder = %v, want ErrBusy", err)
	}
	release()
	r2, err := s.AcquireLease(ctx, "send", "b", time.Minute, nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
	// an expired lease (its holder died) is taken over
	if err := s.takeLease(ctx, "send", "dead", time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	r3, err := s.AcquireLease(ctx, "send", "c", time.Minute, nil)
	if err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	r3()
}
