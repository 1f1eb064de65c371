package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// slotLookback bounds how far back PrevSlot looks for a scheduled time.
const slotLookback = 8 * 24 * time.Hour

// Slots decides which scheduled slot a send is for and runs the daemon's
// send job: the cron tick, the catch-up at start-up and an editor's "send
// now". Each slot gets at most one edition (the store enforces it), so the
// three can never make two for the same slot. It logs; it never prints.
type Slots struct {
	Editions *Editions
	Collect  func(context.Context) error // collects before a scheduled send (and logs); nil for none
	Schedule cron.Schedule               // the send schedule
	Clock    func() time.Time
	Catchup  time.Duration // a slot missed while down is sent when at most this old
	Log      *slog.Logger
}

func (s *Slots) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Now is the schedule's clock.
func (s *Slots) Now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock()
}

// PrevSlot is the latest scheduled time at or before t (zero when none in
// the last eight days).
func (s *Slots) PrevSlot(t time.Time) time.Time {
	var last time.Time
	for n := s.Schedule.Next(t.Add(-slotLookback)); !n.IsZero() && !n.After(t); n = s.Schedule.Next(n) {
		last = n
	}
	return last
}

// NextSlot is the first scheduled time after t.
func (s *Slots) NextSlot(t time.Time) time.Time { return s.Schedule.Next(t) }

// Tick is the cron job: collect, then send the edition of the slot that
// just came due.
func (s *Slots) Tick(ctx context.Context) error {
	// cron runs the job at the slot's time, give or take scheduling delay
	slot := s.PrevSlot(s.Now().Add(time.Second))
	return s.sendSlot(ctx, slot, true)
}

// SendNow is an editor's manual send: it makes the edition of the next
// slot now, so the scheduled send for that slot will find it made
// (ErrSlotTaken for a second manual send in the same slot).
func (s *Slots) SendNow(ctx context.Context) (time.Time, error) {
	slot := s.NextSlot(s.Now())
	return slot, s.sendSlot(ctx, slot, false)
}

// CatchUp runs at start-up: a slot that fell due while the daemon was down
// (after its last heartbeat) is sent now if it is at most Catchup old, and
// logged as skipped otherwise. On a database the daemon never ran on there
// is nothing to catch up.
func (s *Slots) CatchUp(ctx context.Context) error {
	now := s.Now()
	store := s.Editions.Store
	last, err := store.LastHeartbeat(ctx)
	if err != nil {
		return err
	}
	defer store.Heartbeat(context.WithoutCancel(ctx), now)
	slot := s.PrevSlot(now)
	if last.IsZero() || slot.IsZero() || !slot.After(last) {
		return nil
	}
	if id, err := store.EditionForSlot(ctx, slot); err != nil || id != 0 {
		return err
	}
	late := now.Sub(slot)
	if s.Catchup <= 0 || late > s.Catchup {
		s.log().Warn("a scheduled send was missed while newsbrief was down; skipped, too late to catch up",
			"slot", slot, "late", late.Round(time.Second), "catchup", s.Catchup)
		return nil
	}
	s.log().Info("catching up a scheduled send missed while newsbrief was down", "slot", slot, "late", late.Round(time.Second))
	return s.sendSlot(ctx, slot, true)
}

// SlotState is one upcoming scheduled time and whether an editor skipped it.
type SlotState struct {
	Slot    time.Time
	Skipped bool
}

// Upcoming lists the next n scheduled slots, in the schedule's zone.
func (s *Slots) Upcoming(ctx context.Context, n int) ([]SlotState, error) {
	var out []SlotState
	t := s.Now()
	for range n {
		t = s.NextSlot(t)
		if t.IsZero() {
			break
		}
		skipped, err := s.Editions.Store.SlotSkipped(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, SlotState{Slot: t, Skipped: skipped})
	}
	return out, nil
}

// upcoming checks that t is one of the schedule's next slots (within the
// next 60 of them); ErrBadInput otherwise, naming the next one.
func (s *Slots) upcoming(t time.Time) error {
	next := s.NextSlot(s.Now())
	for n, i := next, 0; !n.IsZero() && i < 60; n, i = s.NextSlot(n), i+1 {
		if n.Equal(t) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not an upcoming slot of the schedule (the next is %s)", ErrBadInput,
		t.Format(time.RFC3339), next.Format(time.RFC3339))
}

// Skip marks an upcoming slot skipped: its scheduled send makes no edition
// (the articles wait for the next slot). ErrBadInput for a time that is
// not an upcoming slot.
func (s *Slots) Skip(ctx context.Context, slot time.Time) error {
	if err := s.upcoming(slot); err != nil {
		return err
	}
	return s.Editions.Store.SkipSlot(ctx, slot)
}

// Unskip undoes Skip; ErrNotFound when the slot was not skipped.
func (s *Slots) Unskip(ctx context.Context, slot time.Time) error {
	return s.Editions.Store.UnskipSlot(ctx, slot)
}

// sendSlot sends the edition for slot. A scheduled send collects first and
// treats a slot already served as done; a manual one returns ErrSlotTaken.
func (s *Slots) sendSlot(ctx context.Context, slot time.Time, scheduled bool) error {
	log := s.log().With("slot", slot)
	if scheduled {
		if skipped, err := s.Editions.Store.SlotSkipped(ctx, slot); err != nil {
			return err
		} else if skipped {
			log.Info("slot skipped by an editor; no edition")
			return nil
		}
	}
	if scheduled && s.Collect != nil {
		// failing sources do not stop the send: Collect logs them and
		// returns only what stops collection itself
		if err := s.Collect(ctx); err != nil {
			return err
		}
	}
	rep, err := s.Editions.Send(ctx, slot)
	for _, er := range rep.Editions {
		log.Info("edition delivered", "edition", er.ID, "resumed", er.Resumed, "done", er.Done, "stopped", er.Stopped,
			"sent", er.Counts[StateSent], "deferred", er.Counts[StateDeferred], "failed", er.Counts[StateFailed])
	}
	switch {
	case errors.Is(err, ErrNothingNew):
		log.Info("no new edition", "reason", err.Error())
		return nil
	case scheduled && errors.Is(err, ErrSlotTaken):
		log.Info("this slot's edition was already made; nothing to send", slog.Any("reason", err))
		return nil
	}
	return err
}

// Heartbeat records the daemon's sign of life every minute until ctx ends.
func (s *Slots) Heartbeat(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	store := s.Editions.Store
	for {
		select {
		case <-ctx.Done():
			store.Heartbeat(context.WithoutCancel(ctx), s.Now())
			return
		case <-t.C:
			if err := store.Heartbeat(ctx, s.Now()); err != nil {
				s.log().Warn("heartbeat", slog.Any("error", err))
			}
		}
	}
}
