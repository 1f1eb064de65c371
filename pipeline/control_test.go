package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPauseResumeMidSend(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 2000)
	ctx := context.Background()
	var once sync.Once
	var mu sync.Mutex
	n := 0
	snd.onSend = func(string) {
		time.Sleep(200 * time.Microsecond) // a relay takes time; the pause must find the send still running
		mu.Lock()
		n++
		hit := n == 300
		mu.Unlock()
		if hit {
			// an operator pauses from another process while the send runs
			once.Do(func() {
				if err := d.Store.Pause(ctx, 1); err != nil {
					t.Error(err)
				}
			})
		}
	}
	rep, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	er := rep.Editions[0]
	if er.Stopped != EditionPaused || er.Done {
		t.Fatalf("report after pause: %+v", er)
	}
	paused := snd.total()
	if paused >= 2000 || er.Counts[StateSending] != 0 {
		t.Fatalf("%d sent, counts %v", paused, er.Counts)
	}
	// a paused edition is not sent by a run, and holds its articles
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, ErrNothingNew) {
		t.Fatalf("run while paused = %v", err)
	}
	if snd.total() != paused {
		t.Fatal("a run sent a paused edition")
	}
	if err := d.Store.Resume(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := d.Store.Resume(ctx, 1); !errors.Is(err, ErrEditionState) {
		t.Errorf("second resume = %v, want ErrEditionState", err)
	}
	snd.onSend = nil
	finishAndCheckEachOnce(t, d, snd, 2000)
}

func TestCancelAndResendUnknown(t *testing.T) {
	d, _, snd, _ := newDeliverer(t, 100)
	ctx := context.Background()
	ed := startedEdition(t, d)
	claimed, _ := d.Store.Claim(ctx, ed.ID, 10) // killed with 10 in flight
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	got, _ := d.Store.Edition(ctx, ed.ID)
	if got.Status != EditionSent || got.Counts[StateUnknown] != 10 || snd.total() != 90 {
		t.Fatalf("edition %+v, %d sent", got.Counts, snd.total())
	}
	n, err := d.Store.ResendUnknown(ctx, ed.ID)
	if err != nil || n != 10 {
		t.Fatalf("ResendUnknown = %d, %v", n, err)
	}
	if _, err := d.Send(ctx, time.Time{}); !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	for _, j := range claimed {
		if snd.count(j.Recipient.Email) != 1 {
			t.Errorf("%s not resent", j.Recipient.Email)
		}
	}
	if got, _ := d.Store.Edition(ctx, ed.ID); got.Status != EditionSent || got.Counts[StateSent] != 100 {
		t.Errorf("after resend: %s %v", got.Status, got.Counts)
	}

	// cancel: pending rows are skipped, nothing more is sent
	d2, _, snd2, _ := newDeliverer(t, 50)
	ed2 := startedEdition(t, d2)
	skipped, err := d2.Store.Cancel(ctx, ed2.ID)
	if err != nil || skipped != 50 {
		t.Fatalf("Cancel = %d, %v", skipped, err)
	}
	if _, err := d2.Send(ctx, time.Time{}); err != nil && !errors.Is(err, ErrNothingNew) {
		t.Fatal(err)
	}
	// the cancelled edition's articles are free for the next one
	if snd2.total() != 50 {
		t.Errorf("after cancel, a new edition went to %d", snd2.total())
	}
	if _, err := d2.Store.Cancel(ctx, ed2.ID); !errors.Is(err, ErrEditionState) {
		t.Errorf("second cancel = %v", err)
	}
	if _, err := d2.Store.ResendUnknown(ctx, ed2.ID); !errors.Is(err, ErrEditionState) {
		t.Errorf("resend on a cancelled edition = %v", err)
	}
	if err := d2.Store.Pause(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("pause unknown = %v", err)
	}
}

func TestHourlyQuota(t *testing.T) {
	d, _, snd, clk := newDeliverer(t, 250)
	d.Engine.HourlyQuota = 100
	ctx := context.Background()
	rep, err := d.Send(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if snd.total() != 100 || rep.Editions[0].Stopped != "hourly quota" || rep.Editions[0].Counts[StatePending] != 150 {
		t.Fatalf("first hour: %d sent, %+v", snd.total(), rep.Editions[0])
	}
	d.Send(ctx, time.Time{})
	if snd.total() != 100 {
		t.Fatalf("quota exceeded within the hour: %d", snd.total())
	}
	clk.Add(61 * 60e9)
	d.Send(ctx, time.Time{})
	clk.Add(61 * 60e9)
	rep, _ = d.Send(ctx, time.Time{})
	if snd.total() != 250 || !rep.Editions[0].Done {
		t.Fatalf("after three hours: %d sent, %+v", snd.total(), rep.Editions[0])
	}
}
