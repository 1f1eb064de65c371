package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
	"github.com/newsbrief/newsbrief/web"
)

// cmdServe runs the daemon: the send and collect schedules, and the HTTP
// server (health, readiness, unsubscribe, archive). It returns when ctx is
// cancelled: a running send stops claiming messages at once, the messages
// already handed to the relay finish and are recorded (within
// NEWSBRIEF_SHUTDOWN_GRACE), and the next start resumes the edition.
func cmdServe(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	fs := newFlags("serve", "serve", stderr)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := a.cfg.readyToSend(); err != nil {
		return err
	}
	log := a.log.With("component", "serve")
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return &configError{msg: fmt.Sprintf("NEWSBRIEF_HTTP_ADDR: listen on %s: %v", a.cfg.HTTPAddr, err)}
	}
	slots, err := newScheduler(a, time.Now)
	if err != nil {
		return err
	}

	// jobs run with their own context, cancelled only after the grace period
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	var background sync.WaitGroup
	dmn := &daemon{slots: slots, ctx: jobCtx, start: func(name string, fn func(context.Context) error) {
		background.Add(1)
		go func() {
			defer background.Done()
			a.job(jobCtx, name, fn)
		}()
	}}
	handler, err := a.routes(dmn)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(a.stdout, "listening on http://%s\n", ln.Addr())

	sched := cron.New(cron.WithParser(cronParser()), cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})))
	if _, err := sched.AddFunc(a.cfg.CollectSchedule, func() { a.job(jobCtx, "collect", a.collectJob) }); err != nil {
		return &configError{msg: "NEWSBRIEF_COLLECT_SCHEDULE: " + err.Error()}
	}
	if _, err := sched.AddFunc(a.cfg.Schedule, func() { a.job(jobCtx, "send", slots.Tick) }); err != nil {
		return &configError{msg: "NEWSBRIEF_SCHEDULE: " + err.Error()}
	}
	if a.poller() != nil {
		sched.AddFunc(a.cfg.CollectSchedule, func() { a.job(jobCtx, "mailbox", a.pollJob) })
	}
	inb, err := a.inboundServer()
	if err != nil {
		return err
	}
	var inboundLn net.Listener
	if inb != nil {
		if inboundLn, err = net.Listen("tcp", a.cfg.InboundAddr); err != nil {
			return &configError{msg: fmt.Sprintf("NEWSBRIEF_INBOUND_ADDR: listen on %s: %v", a.cfg.InboundAddr, err)}
		}
		fmt.Fprintf(a.stdout, "taking returned mail on smtp://%s\n", inboundLn.Addr())
	}
	sched.Start()
	dmn.start("catch-up", slots.CatchUp)
	heartbeatDone := make(chan struct{})
	go func() { defer close(heartbeatDone); slots.Heartbeat(jobCtx) }()
	log.Info("serving", "addr", ln.Addr().String(), "schedule", a.cfg.Schedule, "collect_schedule", a.cfg.CollectSchedule)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if inb != nil {
		go func() {
			if err := inb.Serve(inboundLn); err != nil {
				errc <- fmt.Errorf("inbound smtp: %w", err)
			}
		}()
	}
	select {
	case err := <-errc:
		sched.Stop()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// stop taking work: no new ticks, no new requests, and running jobs told
	// to stop (a send stops claiming; its messages in flight finish and are
	// recorded); then wait for them, at most the grace period
	grace := a.cfg.ShutdownGrace
	log.Info("shutting down", "grace", grace)
	stopped := sched.Stop()
	cancelJobs()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", slog.Any("error", err))
	}
	if inb != nil {
		if err := inb.Shutdown(shutCtx); err != nil {
			log.Warn("inbound smtp shutdown", slog.Any("error", err))
		}
	}
	jobsDone := make(chan struct{})
	go func() { <-stopped.Done(); background.Wait(); close(jobsDone) }()
	select {
	case <-jobsDone:
	case <-shutCtx.Done():
		log.Error("running jobs did not finish within the grace period; exiting anyway (messages in flight will be counted unknown)",
			"grace", grace)
		return nil
	}
	cancelJobs()
	<-heartbeatDone
	log.Info("stopped")
	return nil
}

// job runs one scheduled job, logging its outcome.
func (a *app) job(ctx context.Context, name string, fn func(context.Context) error) {
	start := time.Now()
	log := a.log.With("component", "job", "job", name)
	err := fn(ctx)
	outcome := "ok"
	switch {
	case err == nil:
		log.Info("job done", "duration", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, pipeline.ErrBusy):
		outcome = "busy"
		log.Warn("job skipped: another process is sending from this database", slog.Any("error", err))
	default:
		outcome = "error"
		log.Error("job failed", "duration", time.Since(start).Round(time.Millisecond), slog.Any("error", err))
	}
	a.jobs.Observe(name, time.Since(start), outcome)
}

// cronParser accepts the standard five fields, descriptors such as
// @daily, and a CRON_TZ= prefix.
func cronParser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, slog.Any("error", err))...)
}

// daemon is what serve hands the HTTP handlers beyond the app: the
// scheduler (manual sends take the next slot) and a way to start
// background jobs that outlive the request, which shutdown waits for.
type daemon struct {
	slots *pipeline.Slots
	ctx   context.Context // the background jobs' lifetime
	start func(name string, fn func(context.Context) error)
}

// routes wires the HTTP handlers (package web) to the app's services; d
// is nil outside serve (no send from the desk).
func (a *app) routes(d *daemon) (http.Handler, error) {
	svc := web.Services{DB: a.db, Editions: a.editions(), Collector: a.collector(), Store: a.store, Subscribers: a.subs, Tokens: a.tokens,
		Pages: a.tmpl, Mailer: a, Jobs: a.jobs}
	if d != nil {
		svc.Scheduler, svc.Start, svc.Background = d.slots, d.start, d.ctx
	}
	s, err := web.NewServer(web.Config{ListName: a.cfg.ListName, BaseURL: a.cfg.BaseURL, AdminToken: a.cfg.AdminToken,
		SoftBounceLimit: a.cfg.SoftBounceLimit, SubscribePerHour: a.cfg.SubscribePerHour, ConfirmPerMinute: a.cfg.ConfirmPerMinute,
		Schedule: a.cfg.Schedule, Catchup: a.cfg.Catchup,
		Hooks: web.HookConfig{SESTopics: a.cfg.SESTopics, MailgunKey: a.cfg.MailgunKey, PostmarkAuth: a.cfg.PostmarkAuth, SendGridKey: a.cfg.SendGridKey}},
		svc, a.log)
	if err != nil {
		return nil, err
	}
	return s.Handler(), nil
}

// newScheduler is serve's schedule of sends, on the clock now.
func newScheduler(a *app, now func() time.Time) (*pipeline.Slots, error) {
	sched, err := cronParser().Parse(a.cfg.Schedule)
	if err != nil {
		return nil, &configError{msg: "NEWSBRIEF_SCHEDULE: " + err.Error()}
	}
	return &pipeline.Slots{Editions: a.editions(), Collect: a.collectJob, Schedule: sched, Clock: now,
		Catchup: a.cfg.Catchup, Log: a.log.With("component", "schedule")}, nil
}

// collectJob is the daemon's collect job: failing sources are logged once
// each, not printed.
func (a *app) collectJob(ctx context.Context) error {
	log := a.log.With("component", "collect")
	rep, err := a.collector().Collect(ctx)
	for _, r := range rep.Failed() {
		log.Warn("source failed", "source", r.Source, slog.Any("error", r.Err))
	}
	if errors.Is(err, collect.ErrSourcesFailed) {
		err = nil // each is logged above; the healthy ones were stored
	}
	log.Info("collected", "new", rep.New(), "sources", len(rep.Results), "failed", len(rep.Failed()))
	return err
}
