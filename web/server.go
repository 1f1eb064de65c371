// Package web holds every HTTP handler of newsbrief serve: the operators'
// endpoints (/healthz, /readyz, /metrics), the public pages (subscribe,
// confirm, unsubscribe, the archive), the relays' bounce endpoint, the
// editors' desk (/admin) and its JSON twin (/api/).
//
// Requests flow in through one middleware chain (request log, panic
// recovery), are routed by who may call them (public, relay bearer token,
// desk session with CSRF, API bearer token), and call the same services
// the command line calls (pipeline.Editions above all); domain errors are
// mapped to status codes in one place (errors.go) and a 500 never shows
// internal text: it is logged with a request ID.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
)

// OpenAPI is the description of /api/ (web/openapi.yaml), served at
// GET /api/openapi.yaml; a test checks it against the routes.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Config is what the handlers need of the configuration.
type Config struct {
	ListName        string
	BaseURL         string // the public site, for links and same-origin checks
	AdminToken      string // the desk's and the API's token; empty turns both off
	SoftBounceLimit int    // permanent failures before a reported address is bounced
	// SubscribePerHour and ConfirmPerMinute limit the public form: requests
	// per client per hour, confirmation mails per minute in all.
	SubscribePerHour int
	ConfirmPerMinute int
	// Schedule (NEWSBRIEF_SCHEDULE) and Catchup (NEWSBRIEF_CATCHUP) are
	// shown on the schedule page and in GET /api/schedule.
	Schedule string
	Catchup  time.Duration
	// Hooks configures the providers' webhooks under /hooks/.
	Hooks HookConfig
}

// Scheduler is what the desk needs of serve's schedule: the slot "send
// now" takes and a way to send it.
type Scheduler interface {
	Now() time.Time
	NextSlot(after time.Time) time.Time
	// SendNow makes and sends the edition of the next slot.
	SendNow(ctx context.Context) (time.Time, error)
	// Upcoming lists the next n slots; Skip and Unskip mark one skipped
	// (no edition) or not.
	Upcoming(ctx context.Context, n int) ([]pipeline.SlotState, error)
	Skip(ctx context.Context, slot time.Time) error
	Unskip(ctx context.Context, slot time.Time) error
}

// Services are the services and stores the handlers call.
type Services struct {
	DB          *sql.DB // pinged by /readyz
	Editions    *pipeline.Editions
	Collector   *collect.Collector // adds sources after checking them
	Store       *pipeline.Store
	Subscribers *subscribers.Store
	Tokens      *subscribers.Tokens
	Pages       *templates.Set                                    // public pages
	Mailer      ConfirmationMailer                                // double opt-in mails
	Scheduler   Scheduler                                         // nil outside serve: no send from the desk
	Start       func(name string, fn func(context.Context) error) // starts a background job that shutdown waits for
	Jobs        *JobMetrics                                       // this process's job figures; nil for none
	Background  context.Context                                   // lifetime of background senders (confirmations); nil: the process's
}

// Server is the HTTP surface of newsbrief serve.
type Server struct {
	cfg          Config
	svc          Services
	log          *slog.Logger
	desk         *desk
	archiveIndex *template.Template
	articlePage  *template.Template
	pages        pageCache // public edition pages, rendered once
	guard        *attempts // admin token guesses, shared by the desk, the API and the bounce endpoint
}

// NewServer returns the server; it fails when a page template is broken.
func NewServer(cfg Config, svc Services, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, svc: svc, log: log, pages: pageCache{max: 64}, guard: newAttempts()}
	var err error
	if s.archiveIndex, err = templates.ArchivePage(); err != nil {
		return nil, err
	}
	if s.articlePage, err = templates.ArticlePage(); err != nil {
		return nil, err
	}
	d, err := newDesk(s)
	if err != nil {
		return nil, err
	}
	s.desk = d
	return s, nil
}

// Handler returns every route behind the middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// operators
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI)
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	// public
	unsub := &UnsubscribeHandler{Store: s.svc.Subscribers, Tokens: s.svc.Tokens, Pages: s.svc.Pages,
		ListName: s.cfg.ListName, Log: s.log.With("component", "unsubscribe")}
	if s.svc.Editions != nil {
		unsub.Erase = s.svc.Editions.Erase
	}
	mux.Handle("/unsubscribe", unsub)
	optin := &OptIn{Store: s.svc.Subscribers, Tokens: s.svc.Tokens, Pages: s.svc.Pages, Mailer: s.svc.Mailer, BaseURL: s.cfg.BaseURL,
		ListName: s.cfg.ListName, ConfirmTTL: 72 * time.Hour, Log: s.log.With("component", "subscribe"),
		PerClient: s.cfg.SubscribePerHour, PerMinute: s.cfg.ConfirmPerMinute, Background: s.svc.Background,
		Wording: "I want to receive " + s.cfg.ListName + " by e-mail and can unsubscribe at any time."}
	optin.Register(mux)
	mux.HandleFunc("GET /archive", s.archiveList)
	mux.HandleFunc("GET /archive/feed.atom", s.archiveFeed)
	mux.HandleFunc("GET /archive/{id}", s.archive)
	mux.HandleFunc("GET /articles/{token}", s.article)
	// relays
	mux.Handle("POST /api/bounces", &BounceAPI{Store: s.svc.Subscribers, Token: s.cfg.AdminToken,
		SoftLimit: s.cfg.SoftBounceLimit, Log: s.log.With("component", "api"), Guard: s.guard})
	(&hooks{cfg: s.cfg.Hooks, fb: subscribers.Feedback{Store: s.svc.Subscribers, SoftLimit: s.cfg.SoftBounceLimit},
		log: s.log.With("component", "hooks")}).register(mux)
	// editors: the desk (session + CSRF) and the API (bearer)
	s.desk.register(mux)
	return s.logRequests(mux)
}

// readyz says whether this process can serve: the database answers. It
// also tells who holds the send lease, so an operator running two daemons
// on one volume sees which one sends and which stands by.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.DB.PingContext(ctx); err != nil {
		http.Error(w, "database not reachable", http.StatusServiceUnavailable)
		return
	}
	holder, until, err := s.svc.Store.SendLease(ctx)
	if err != nil {
		http.Error(w, "database not readable", http.StatusServiceUnavailable)
		return
	}
	self := s.svc.Editions.Engine.Holder
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
func (s *Server) archive(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return
	}
	body, ok := s.pages.get(id)
	if !ok {
		var final bool
		var err error
		body, final, err = s.svc.Editions.Page(r.Context(), id)
		if errors.Is(err, pipeline.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			s.internal(w, r, "archive page", err)
			return
		}
		if final {
			s.pages.put(id, body)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'")
	io.WriteString(w, body)
}

// pageCache keeps the last max public edition pages, so a flood of
// readers renders each edition once. A cancelled edition's page is never
// cached (Page refuses it); a sent edition's page does not change.
type pageCache struct {
	mu    sync.Mutex
	max   int
	m     map[int64]string
	order []int64 // oldest first
}

func (c *pageCache) get(id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[id]
	return p, ok
}

func (c *pageCache) put(id int64, page string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]string{}
	}
	if _, ok := c.m[id]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[id] = page
	c.order = append(c.order, id)
}

// ctxKey keys the request ID in a request's context.
type ctxKey struct{}

// requestID is the ID logRequests gave r ("" outside it).
func requestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return id
}

// logRequests gives each request an ID (sent back as X-Request-Id), logs
// one line per request (method, path, never the query, which carries
// tokens; status and duration) and turns a panic into a logged 500.
func (s *Server) logRequests(next http.Handler) http.Handler {
	log := s.log.With("component", "http")
	var seq atomic.Uint64
	start := time.Now().UnixNano()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		// the start time keeps IDs apart across restarts
		id := strconv.FormatInt(start%1e9, 36) + "-" + strconv.FormatUint(seq.Add(1), 36)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in handler", "request", id, "path", html.EscapeString(r.URL.Path), "panic", fmt.Sprint(p))
				if !sw.wrote {
					http.Error(sw, "internal error (request "+id+")", http.StatusInternalServerError)
				}
			}
			log.Info("request", "request", id, "method", r.Method, "path", html.EscapeString(r.URL.Path), "status", sw.status,
				"duration", time.Since(t0).Round(time.Microsecond))
		}()
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.status, w.wrote = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// tokenEqual compares a presented token with the configured one in
// constant time (over their hashes, so the length leaks nothing either).
// An empty configured token never matches.
func tokenEqual(presented, token string) bool {
	if token == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bearerOK reports whether r carries "Authorization: Bearer <token>".
func bearerOK(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && tokenEqual(got, token)
}
