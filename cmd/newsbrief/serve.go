package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
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
	dmn := &daemon{slots: slots, start: func(name string, fn func(context.Context) error) {
		background.Add(1)
		go func() {
			defer background.Done()
			a.job(jobCtx, name, fn)
		}()
	}}
	srv := &http.Server{Handler: a.routes(dmn), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(a.stdout, "listening on http://%s\n", ln.Addr())

	sched := cron.New(cron.WithParser(cronParser()), cron.WithChain(cron.Recover(cronLogger{log}), cron.SkipIfStillRunning(cronLogger{log})))
	if _, err := sched.AddFunc(a.cfg.CollectSchedule, func() { a.job(jobCtx, "collect", func(ctx context.Context) error { return collect(ctx, a) }) }); err != nil {
		return &configError{msg: "NEWSBRIEF_COLLECT_SCHEDULE: " + err.Error()}
	}
	if _, err := sched.AddFunc(a.cfg.Schedule, func() { a.job(jobCtx, "send", slots.tick) }); err != nil {
		return &configError{msg: "NEWSBRIEF_SCHEDULE: " + err.Error()}
	}
	sched.Start()
	dmn.start("catch-up", slots.catchUp)
	heartbeatDone := make(chan struct{})
	go func() { defer close(heartbeatDone); slots.heartbeat(jobCtx) }()
	log.Info("serving", "addr", ln.Addr().String(), "schedule", a.cfg.Schedule, "collect_schedule", a.cfg.CollectSchedule)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		sched.Stop()
		return fmt.Errorf("http server: %w", err)
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
	a.jobs.observe(name, time.Since(start), outcome)
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

// routes is the HTTP surface of serve.
func (a *app) routes(d *daemon) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", a.metricsHandler())
	unsub := &subscribers.UnsubscribeHandler{Store: a.subs, Tokens: a.tokens, Pages: a.tmpl, ListName: a.cfg.ListName,
		Log: a.log.With("component", "unsubscribe")}
	mux.Handle("/unsubscribe", unsub)
	optin := &subscribers.OptIn{Store: a.subs, Tokens: a.tokens, Pages: a.tmpl, Mailer: a, BaseURL: a.cfg.BaseURL,
		ListName: a.cfg.ListName, ConfirmTTL: 72 * time.Hour, Log: a.log.With("component", "subscribe"),
		Wording: "I want to receive " + a.cfg.ListName + " by e-mail and can unsubscribe at any time."}
	optin.Register(mux)
	mux.Handle("POST /api/bounces", &subscribers.BounceAPI{Store: a.subs, Token: a.cfg.AdminToken,
		SoftLimit: a.cfg.SoftBounceLimit, Log: a.log.With("component", "api")})
	mux.HandleFunc("GET /archive", a.archiveList)
	mux.HandleFunc("GET /archive/feed.atom", a.archiveFeed)
	mux.HandleFunc("GET /archive/{id}", a.archive)
	newDesk(a, d).register(mux)
	return logRequests(a.log.With("component", "http"), mux)
}

// readyz says whether this process can serve: the database answers. It
// also tells who holds the send lease, so an operator running two daemons
// on one volume sees which one sends and which stands by.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.PingContext(ctx); err != nil {
		http.Error(w, "database not reachable", http.StatusServiceUnavailable)
		return
	}
	holder, until, err := a.store.SendLease(ctx)
	if err != nil {
		http.Error(w, "database not readable", http.StatusServiceUnavailable)
		return
	}
	self := a.editions().Deliverer.Holder
	io.WriteString(w, "ready\n")
	switch {
	case holder == "":
		io.WriteString(w, "sender: idle (no send running)\n")
	case holder == self:
		fmt.Fprintf(w, "sender: this process (%s) is sending\n", self)
	default:
		fmt.Fprintf(w, "sender: standby: %s holds the send lease until %s; this process (%s) will not send meanwhile\n",
			holder, until.UTC().Format(time.RFC3339), self)
	}
}

// archive serves a past edition as a reader sees it ("view in browser"),
// with no one's personal parts.
func (a *app) archive(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return
	}
	body, err := a.editions().Page(r.Context(), id)
	if errors.Is(err, pipeline.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		a.log.Error("archive page", "edition", id, slog.Any("error", err))
		http.Error(w, "edition could not be loaded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'")
	io.WriteString(w, body)
}

// logRequests logs one line per request: method, path (never the query,
// which carries tokens), status and duration.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.Info("request", "method", r.Method, "path", html.EscapeString(r.URL.Path), "status", sw.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
