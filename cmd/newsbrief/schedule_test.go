package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
)

// fakeClock is the scheduler's injected time.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testScheduler(t *testing.T, a *app, c *fakeClock) (*pipeline.Slots, *bytes.Buffer) {
	t.Helper()
	s, err := newScheduler(a, c.now)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s.Log = slog.New(slog.NewTextHandler(&logs, nil))
	return s, &logs
}

func outboxCount(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	return len(m)
}

func editionSlots(t *testing.T, a *app) []time.Time {
	t.Helper()
	eds, err := a.store.Editions(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, e := range eds {
		out = append(out, e.Slot)
	}
	return out
}

func day(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

// TestScheduleCatchUpAndOneEditionPerSlot drives the scheduler with an
// injected clock: a slot missed while the daemon was down is sent once at
// start-up; a manual send and the scheduled one of the same slot make one
// edition.
func TestScheduleCatchUpAndOneEditionPerSlot(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_SCHEDULE", "0 7 * * *", "NEWSBRIEF_CATCHUP", "6h")
	e.seed(3, "reader%d@example.com", "Story one")
	a := openTestApp(t)
	defer a.Close()
	ctx := context.Background()
	clk := &fakeClock{t: day(22, 23, 0)}
	s, logs := testScheduler(t, a, clk)
	// the daemon ran until 23:00 and came back at 09:00: the 07:00 send was missed
	if err := a.store.Heartbeat(ctx, clk.t); err != nil {
		t.Fatal(err)
	}
	clk.t = day(23, 9, 0)
	if err := s.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 1 || !got[0].Equal(day(23, 7, 0)) || outboxCount(t, e.dir) != 3 {
		t.Fatalf("after catch-up: editions for slots %v, %d messages; want one for 07:00 and 3", got, outboxCount(t, e.dir))
	}
	if !strings.Contains(logs.String(), "catching up") {
		t.Errorf("catch-up not logged:\n%s", logs.String())
	}
	// a second start (after another crash) does not send it again, even with new articles waiting
	e.write("articles/b.txt", "Story two\n\nBody.\n")
	e.must("collect")
	clk.t = day(23, 9, 30)
	if err := s.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 1 {
		t.Fatalf("a second catch-up made another edition: %v", got)
	}
	// the scheduled tick for 07:00 the same day finds the slot served
	clk.t = day(23, 7, 0)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 1 {
		t.Fatalf("the tick of a served slot made an edition: %v", got)
	}

	// an editor sends at 06:50 the next day: that is the 07:00 edition...
	clk.t = day(24, 6, 50)
	slot, err := s.SendNow(ctx)
	if err != nil || !slot.Equal(day(24, 7, 0)) {
		t.Fatalf("send now: slot %v, %v", slot, err)
	}
	// ...so the 07:00 tick makes none, though a new story waits
	e.write("articles/c.txt", "Story three\n\nBody.\n")
	e.must("collect")
	clk.t = day(24, 7, 0)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 2 || outboxCount(t, e.dir) != 6 {
		t.Fatalf("manual + scheduled in one slot: editions %v, %d messages; want 2 editions, 6 messages", got, outboxCount(t, e.dir))
	}
	// and a second manual send for the same slot is refused, naming it
	clk.t = day(24, 6, 55)
	if _, err := s.SendNow(ctx); !errors.Is(err, pipeline.ErrSlotTaken) {
		t.Errorf("second manual send in a served slot: %v, want ErrSlotTaken", err)
	}
}

// TestScheduleSkipsSlotPastCatchUp: started after the catch-up window, the
// missed slot is logged as skipped and nothing is sent; a database the
// daemon never ran on catches nothing up.
func TestScheduleSkipsSlotPastCatchUp(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_SCHEDULE", "CRON_TZ=UTC 0 7 * * *", "NEWSBRIEF_CATCHUP", "6h")
	e.seed(2, "reader%d@example.com", "Story one")
	a := openTestApp(t)
	defer a.Close()
	ctx := context.Background()
	clk := &fakeClock{t: day(23, 14, 0)}
	s, logs := testScheduler(t, a, clk)
	if err := s.CatchUp(ctx); err != nil { // first start ever: no heartbeat
		t.Fatal(err)
	}
	if n := len(editionSlots(t, a)); n != 0 {
		t.Fatalf("first start sent %d editions", n)
	}
	a.store.Heartbeat(ctx, day(22, 23, 0))
	if err := s.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(editionSlots(t, a)); n != 0 || outboxCount(t, e.dir) != 0 {
		t.Fatalf("a slot 7h late with a 6h window was sent: %d editions", n)
	}
	if !strings.Contains(logs.String(), "skipped, too late to catch up") || !strings.Contains(logs.String(), "slot=2026-11-23T07:00:00") {
		t.Errorf("skip not logged with its slot:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(e.dir, "outbox")); err == nil && outboxCount(t, e.dir) != 0 {
		t.Error("messages written")
	}
}

// TestSkipASlot: a skipped slot makes no edition at its tick (its
// articles wait for the next one, which sends); the API lists the next
// slots, skips one and undoes it, and refuses a time that is no slot.
func TestSkipASlot(t *testing.T) {
	e := newEnv(t, "NEWSBRIEF_SCHEDULE", "0 7 * * *", "NEWSBRIEF_ADMIN_TOKEN", testAdminToken)
	e.seed(2, "reader%d@example.com", "A story for Thursday")
	a := openTestApp(t)
	defer a.Close()
	ctx := context.Background()
	clk := &fakeClock{t: day(23, 6, 0)}
	s, logs := testScheduler(t, a, clk)
	if err := s.Skip(ctx, day(23, 7, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Skip(ctx, day(23, 7, 30)); !errors.Is(err, pipeline.ErrBadInput) {
		t.Errorf("skipping a time that is no slot: %v", err)
	}
	clk.t = day(23, 7, 0)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 0 || !strings.Contains(logs.String(), "skipped by an editor") {
		t.Fatalf("a skipped slot made editions %v\n%s", got, logs.String())
	}
	clk.t = day(24, 7, 0)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := editionSlots(t, a); len(got) != 1 || !got[0].Equal(day(24, 7, 0)) {
		t.Fatalf("the next slot: editions %v", got)
	}

	// the API, on serve's real schedule
	web, _ := deskServer(t, e)
	api := func(method, path, in string) (int, string) { return apiCall(t, web, method, path, in) }
	var sched struct {
		Slots []struct {
			Slot    time.Time `json:"slot"`
			Skipped bool      `json:"skipped"`
		} `json:"slots"`
	}
	code, out := api("GET", "/api/schedule", "")
	if err := json.Unmarshal([]byte(out), &sched); code != 200 || err != nil || len(sched.Slots) != 7 {
		t.Fatalf("GET /api/schedule: %d %s", code, out)
	}
	if !strings.Contains(out, `"catchup_seconds":21600`) || !strings.Contains(out, `"schedule":"`) {
		t.Errorf("the schedule and its catch-up window: %s", out)
	}
	second := sched.Slots[1].Slot.Format(time.RFC3339)
	if code, out := api("POST", "/api/schedule/skip", `{"slot": "`+second+`"}`); code != 200 || !strings.Contains(out, `"skipped":true`) {
		t.Errorf("skip: %d %s", code, out)
	}
	if code, _ := api("POST", "/api/schedule/skip", `{"slot": "tomorrow"}`); code != 400 {
		t.Errorf("skip of a non-time: %d", code)
	}
	if code, out := api("DELETE", "/api/schedule/skip/"+url.PathEscape(second), ""); code != 200 || strings.Contains(out, `"skipped":true`) {
		t.Errorf("undo: %d %s", code, out)
	}
	if code, _ := api("DELETE", "/api/schedule/skip/"+url.PathEscape(second), ""); code != 404 {
		t.Errorf("undo of a slot not skipped: %d", code)
	}
}
