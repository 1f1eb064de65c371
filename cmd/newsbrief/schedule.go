package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/newsbrief/newsbrief/pipeline"
)

// slotLookback bounds how far back prevSlot looks for a scheduled time.
const slotLookback = 8 * 24 * time.Hour

// scheduler decides which scheduled slot a send is for. Each slot gets at
// most one edition (the store enforces it), so the cron tick, a catch-up at
// start-up and an editor's "send now" never make two for the same slot.
type scheduler struct {
	a       *app
	sched   cron.Schedule
	now     func() time.Time
	catchup time.Duration
	log     *slog.Logger
}

func newScheduler(a *app, now func() time.Time) (*scheduler, error) {
	s, err := cronParser().Parse(a.cfg.Schedule)
	if err != nil {
		return nil, &configError{msg: "NEWSBRIEF_SCHEDULE: " + err.Error()}
	}
	return &scheduler{a: a, sched: s, now: now, catchup: a.cfg.Catchup, log: a.log.With("component", "schedule")}, nil
}

// prevSlot is the latest scheduled time at or before t (zero when none in
// the last slotLookback).
func (s *scheduler) prevSlot(t time.Time) time.Time {
	var last time.Time
	for n := s.sched.Next(t.Add(-slotLookback)); !n.IsZero() && !n.After(t); n = s.sched.Next(n) {
		last = n
	}
	return last
}

// NextSlot is the first scheduled time after t.
func (s *scheduler) NextSlot(t time.Time) time.Time { return s.sched.Next(t) }

// Now is the scheduler's clock.
func (s *scheduler) Now() time.Time { return s.now() }

// tick is the cron job: collect, then send the edition of the slot that
// just came due.
func (s *scheduler) tick(ctx context.Context) error {
	// cron runs the job at the slot's time, give or take scheduling delay
	slot := s.prevSlot(s.now().Add(time.Second))
	return s.sendSlot(ctx, slot, true)
}

// sendNow is an editor's manual send: it makes the edition of the next
// slot now, so the scheduled send for that slot will find it made.
func (s *scheduler) SendNow(ctx context.Context) (time.Time, error) {
	slot := s.NextSlot(s.now())
	return slot, s.sendSlot(ctx, slot, false)
}

// catchUp runs at start-up: a slot that fell due while the daemon was down
// (after its last heartbeat) is sent now if it is at most catchup old, and
// logged as skipped otherwise. On a database the daemon never ran on there
// is nothing to catch up.
func (s *scheduler) catchUp(ctx context.Context) error {
	now := s.now()
	last, err := s.a.store.LastHeartbeat(ctx)
	if err != nil {
		return err
	}
	defer s.a.store.Heartbeat(context.WithoutCancel(ctx), now)
	slot := s.prevSlot(now)
	if last.IsZero() || slot.IsZero() || !slot.After(last) {
		return nil
	}
	if id, err := s.a.store.EditionForSlot(ctx, slot); err != nil || id != 0 {
		return err
	}
	late := now.Sub(slot)
	if s.catchup <= 0 || late > s.catchup {
		s.log.Warn("a scheduled send was missed while newsbrief was down; skipped, too late to catch up",
			"slot", slot, "late", late.Round(time.Second), "catchup", s.catchup)
		return nil
	}
	s.log.Info("catching up a scheduled send missed while newsbrief was down", "slot", slot, "late", late.Round(time.Second))
	return s.sendSlot(ctx, slot, true)
}

// sendSlot sends the edition for slot. A scheduled send collects first and
// treats a slot already served as done; a manual one returns ErrSlotTaken.
func (s *scheduler) sendSlot(ctx context.Context, slot time.Time, scheduled bool) error {
	if scheduled {
		if err := collect(ctx, s.a); err != nil && !errors.Is(err, pipeline.ErrSourcesFailed) {
			return err
		}
	}
	err := send(ctx, s.a, slot)
	if scheduled && errors.Is(err, pipeline.ErrSlotTaken) {
		s.log.Info("this slot's edition was already made; nothing to send", "slot", slot, slog.Any("reason", err))
		return nil
	}
	return err
}

// heartbeat records the daemon's sign of life every minute until ctx ends.
func (s *scheduler) heartbeat(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.a.store.Heartbeat(context.WithoutCancel(ctx), s.now())
			return
		case <-t.C:
			if err := s.a.store.Heartbeat(ctx, s.now()); err != nil {
				s.log.Warn("heartbeat", slog.Any("error", err))
			}
		}
	}
}
