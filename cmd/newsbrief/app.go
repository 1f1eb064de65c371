package main

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/internal/sqlite"
	"github.com/newsbrief/newsbrief/mailer"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
	"github.com/newsbrief/newsbrief/pipeline/deliver"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
	"github.com/newsbrief/newsbrief/web"
)

// app is everything a command needs, wired once from the Config.
type app struct {
	cfg      Config
	log      *slog.Logger
	db       *sql.DB
	store    *pipeline.Store
	subs     *subscribers.Store
	tokens   *subscribers.Tokens
	tmpl     *templates.Set
	cleaner  *collect.Cleaner
	identity *mailer.Identity
	stdin    io.Reader // for `subscribers import -`
	stdout   io.Writer
	jobs     *web.JobMetrics // serve's job figures for /metrics
}

// newLogger builds the one slog logger, writing to w.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openApp opens the database, applies migrations, loads the templates (a
// broken one fails here) and prepares the mail identity.
func openApp(ctx context.Context, cfg Config, log *slog.Logger, stdin io.Reader, stdout io.Writer) (*app, error) {
	tmpl, err := templates.Load(cfg.TemplatesDir)
	if err != nil {
		return nil, &configError{msg: "NEWSBRIEF_TEMPLATES_DIR: " + err.Error()}
	}
	id := &mailer.Identity{From: cfg.From, ReplyTo: cfg.ReplyTo, ListName: cfg.ListName, ListID: cfg.listID(),
		UnsubscribeMailto: cfg.UnsubscribeMailto, FeedbackID: cfg.FeedbackID}
	if cfg.DKIMDomain != "" {
		if id.DKIM, err = mailer.LoadDKIMKey(cfg.DKIMDomain, cfg.DKIMSelector, cfg.DKIMKeyFile); err != nil {
			return nil, &configError{msg: "NEWSBRIEF_DKIM_KEY_FILE: " + err.Error()}
		}
	}
	db, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("database (NEWSBRIEF_DB=%s): %w", cfg.DB, err)
	}
	cleaner := collect.NewCleaner()
	cleaner.Log = log.With("component", "clean")
	a := &app{cfg: cfg, log: log, db: db, tmpl: tmpl, cleaner: cleaner, identity: id, stdin: stdin, stdout: stdout, jobs: web.NewJobMetrics()}
	if a.store, err = pipeline.OpenStore(ctx, db, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", cfg.DB, err)
	}
	if a.subs, err = subscribers.Open(ctx, db, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", cfg.DB, err)
	}
	secret, err := a.subs.Secret(ctx, cfg.Secret)
	if err != nil {
		db.Close()
		return nil, err
	}
	if a.tokens, err = subscribers.NewTokens(secret, nil); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.store.EnsureSources(ctx, cfg.Feeds); err != nil {
		db.Close()
		return nil, &configError{msg: "NEWSBRIEF_FEEDS: " + err.Error()}
	}
	return a, nil
}

func (a *app) Close() error { return a.db.Close() }

// returns makes and reads the token forms of the bounce and unsubscribe
// addresses.
func (a *app) returns() subscribers.Returns {
	return subscribers.Returns{Tokens: a.tokens, Bounce: a.cfg.BounceAddress, Unsubscribe: a.cfg.UnsubscribeMailto}
}

func (a *app) collector() *collect.Collector {
	return &collect.Collector{
		Store:   a.store,
		Cleaner: a.cleaner,
		Fetch: collect.FetchOptions{Timeout: a.cfg.FetchTimeout, MaxBytes: a.cfg.FetchMaxBytes,
			UserAgent: "newsbrief/" + version() + " (+" + a.cfg.BaseURL + ")"},
		ArticlesDir: a.cfg.ArticlesDir,
		Concurrency: 4,
		Log:         a.log.With("component", "collect"),
	}
}

// editions is the editions service, with its delivery engine.
func (a *app) editions() *pipeline.Editions {
	host, _ := os.Hostname()
	subs := subscribers.Audience{Store: a.subs, Tokens: a.tokens, BaseURL: a.cfg.BaseURL, SoftLimit: a.cfg.SoftBounceLimit,
		Returns: a.returns()}
	return &pipeline.Editions{
		Store:       a.store,
		Subscribers: subs,
		Renderer: templates.Renderer{Set: a.tmpl, ListName: a.cfg.ListName, BaseURL: a.cfg.BaseURL, Log: a.log.With("component", "render"),
			Greeting: a.cfg.greeting(), LogoURL: a.cfg.LogoURL, PostalAddress: a.cfg.PostalAddress, Contact: a.cfg.contact(),
			ArticleURL: func(id int64) string {
				return a.cfg.BaseURL + "/articles/" + url.PathEscape(a.tokens.Sign(subscribers.PurposeArticle, id))
			}},
		Files: a.cleaner,
		Engine: &deliver.Engine{
			Ledger:      a.store,
			Audience:    subs,
			Sender:      a.sender(),
			Concurrency: a.cfg.SendConcurrency,
			Rate:        a.cfg.SendRate,
			RetryFor:    a.cfg.RetryFor,
			RetryBase:   a.cfg.RetryBase,
			HourlyQuota: a.cfg.SendHourlyQuota,
			Holder:      host + ":" + strconv.Itoa(os.Getpid()),
			HolderAlive: holderAlive(host),
			Journal:     a.cfg.DB + "-sends",
			Log:         a.log.With("component", "deliver"),
		},
		MaxArticles:   a.cfg.MaxArticles,
		MaxPerSource:  a.cfg.MaxPerSource,
		MinArticles:   a.cfg.MinArticles,
		FirstLookback: a.cfg.FirstLookback,
		Log:           a.log.With("component", "editions"),
	}
}

// sender is the SMTP relay when NEWSBRIEF_SMTP_HOST is set, else the outbox.
func (a *app) sender() deliver.Sender {
	if a.cfg.SMTPHost == "" {
		return mailer.NewOutbox(a.cfg.OutboxDir, a.identity)
	}
	return mailer.NewSMTP(mailer.SMTPConfig{Host: a.cfg.SMTPHost, Port: a.cfg.smtpPort(), Username: a.cfg.SMTPUsername,
		Password: a.cfg.SMTPPassword, TLS: a.cfg.SMTPTLS, Timeout: a.cfg.SMTPTimeout, MaxPerConn: a.cfg.SMTPMaxPerConn}, a.identity)
}

// confirmURL is the double opt-in link of a subscriber.
func (a *app) confirmURL(id int64) string {
	return a.cfg.BaseURL + "/confirm?token=" + url.QueryEscape(a.tokens.Sign(subscribers.PurposeConfirm, id))
}

// SendConfirmation mails the double opt-in link (subscribers.ConfirmationMailer)
// through the one message builder: an edition of one message.
func (a *app) SendConfirmation(ctx context.Context, to, name, link string) error {
	c, err := a.sender().Open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	text := "Hello,\n\nsomeone, probably you, asked to receive " + a.cfg.ListName + " at this address.\n\n" +
		"To confirm, open this link and press the button:\n" + link + "\n\n" +
		"If it was not you, ignore this message: without confirmation you will get nothing more.\n"
	htmlBody := "<p>Hello,</p><p>someone, probably you, asked to receive " + html.EscapeString(a.cfg.ListName) +
		" at this address.</p><p><a href=\"" + html.EscapeString(link) + "\">Confirm your subscription</a></p>" +
		"<p>If it was not you, ignore this message: without confirmation you will get nothing more.</p>"
	e := &brief.Edition{Subject: "Confirm your subscription to " + a.cfg.ListName, Text: brief.Text(text), HTML: brief.Text(htmlBody)}
	return c.Send(ctx, brief.NewMessage(e, 0, brief.Recipient{Email: to, Name: name}, ""))
}

// buildVersion and buildRevision are stamped at build time (the
// Dockerfile's VERSION and REVISION build arguments, through -ldflags -X);
// empty in a plain build, where the VCS revision is read instead.
var buildVersion, buildRevision string

// version is the version the binary was built as, and its VCS revision
// when known: "1.2.3 (revision 0123456789ab)", or "dev (revision …)".
func version() string {
	v, rev := buildVersion, buildRevision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (revision " + rev + ")"
	}
	return v
}

// holderAlive tells whether a lease holder named "host:pid" still runs: a
// holder on another host is assumed alive (its lease expires on its own);
// one on this host is alive while its process exists.
func holderAlive(host string) func(string) bool {
	return func(holder string) bool {
		i := strings.LastIndexByte(holder, ':')
		if i < 0 || holder[:i] != host {
			return true
		}
		pid, err := strconv.Atoi(holder[i+1:])
		if err != nil || pid <= 0 {
			return true
		}
		return syscall.Kill(pid, 0) != syscall.ESRCH
	}
}
