package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/inbound"
	"github.com/newsbrief/newsbrief/mailer"
	"github.com/newsbrief/newsbrief/subscribers"
)

// Config is every setting, read from NEWSBRIEF_* environment variables.
// Each field's default works on a laptop with nothing configured.
type Config struct {
	DB           string   `envconfig:"NEWSBRIEF_DB" default:"newsbrief.db" desc:"SQLite database file (created if missing)"`
	ArticlesDir  string   `envconfig:"NEWSBRIEF_ARTICLES_DIR" default:"articles" desc:"folder of article files (.md with front matter, .txt, .html) read at every collect; empty to read none"`
	Feeds        []string `envconfig:"NEWSBRIEF_FEEDS" desc:"comma-separated feed URLs (RSS, Atom, JSON Feed) added to the sources at start-up"`
	TemplatesDir string   `envconfig:"NEWSBRIEF_TEMPLATES_DIR" desc:"folder whose subject.txt, digest.html, digest.txt override the embedded templates"`
	OutboxDir    string   `envconfig:"NEWSBRIEF_OUTBOX_DIR" default:"outbox" desc:"folder that receives one .eml file per message when NEWSBRIEF_SMTP_HOST is empty"`

	SMTPHost       string        `envconfig:"NEWSBRIEF_SMTP_HOST" desc:"SMTP relay host; empty writes .eml files to NEWSBRIEF_OUTBOX_DIR instead"`
	SMTPPort       int           `envconfig:"NEWSBRIEF_SMTP_PORT" desc:"SMTP relay port; 0 means 587 for starttls, 465 for tls, 25 for none"`
	SMTPUsername   string        `envconfig:"NEWSBRIEF_SMTP_USERNAME" desc:"SMTP AUTH user name; empty for no authentication"`
	SMTPPassword   string        `envconfig:"NEWSBRIEF_SMTP_PASSWORD" secret:"true" desc:"SMTP AUTH password"`
	SMTPTLS        string        `envconfig:"NEWSBRIEF_SMTP_TLS" default:"starttls" desc:"starttls (required), tls (implicit, port 465) or none (local relays only)"`
	SMTPTimeout    time.Duration `envconfig:"NEWSBRIEF_SMTP_TIMEOUT" default:"30s" desc:"timeout for each SMTP command"`
	SMTPMaxPerConn int           `envconfig:"NEWSBRIEF_SMTP_MAX_PER_CONN" default:"500" desc:"messages sent over one connection before it is closed and redialed; 0 for no limit"`

	From              string `envconfig:"NEWSBRIEF_FROM" default:"The Daily Brief <brief@localhost.localdomain>" desc:"From: address, optionally with a display name"`
	ReplyTo           string `envconfig:"NEWSBRIEF_REPLY_TO" desc:"Reply-To: address; empty for none"`
	ListName          string `envconfig:"NEWSBRIEF_LIST_NAME" default:"The Daily Brief" desc:"the newsletter's name, in subjects, bodies and List-Id"`
	ListID            string `envconfig:"NEWSBRIEF_LIST_ID" desc:"List-Id identifier; empty derives brief.<domain of NEWSBRIEF_FROM>"`
	BaseURL           string `envconfig:"NEWSBRIEF_BASE_URL" default:"http://localhost:8080" desc:"public URL of newsbrief serve, for unsubscribe and archive links (https for one-click unsubscribe)"`
	Secret            string `envconfig:"NEWSBRIEF_SECRET" secret:"true" desc:"key that signs subscribers' links (16+ bytes); empty generates one kept in the database"`
	AdminToken        string `envconfig:"NEWSBRIEF_ADMIN_TOKEN" secret:"true" desc:"token for the editors' desk and the API"`
	UnsubscribeMailto string `envconfig:"NEWSBRIEF_UNSUBSCRIBE_MAILTO" desc:"address for List-Unsubscribe's mailto, sent as local+TOKEN@domain per message and read by serve's inbound SMTP or the bounce mailbox; empty for the https link only"`
	BounceAddress     string `envconfig:"NEWSBRIEF_BOUNCE_ADDRESS" desc:"envelope sender of every message, VERP-encoded as local+TOKEN@domain so that a bounce maps to its edition and subscriber; empty for the From address"`
	PostalAddress     string `envconfig:"NEWSBRIEF_POSTAL_ADDRESS" desc:"the sender's postal address, in every message's footer (CAN-SPAM); required to send through NEWSBRIEF_SMTP_HOST"`
	Contact           string `envconfig:"NEWSBRIEF_CONTACT" desc:"address readers write to, in every footer; empty for the Reply-To or From address"`
	LogoURL           string `envconfig:"NEWSBRIEF_LOGO_URL" desc:"https URL of the logo at the top of every message; empty shows the list name"`
	Greeting          string `envconfig:"NEWSBRIEF_GREETING" default:"Hello {first}," desc:"how a message greets a reader whose name is known ({first}: first name, {name}: all of it); none for no greeting"`
	GreetingUnnamed   string `envconfig:"NEWSBRIEF_GREETING_UNNAMED" default:"Hello," desc:"how a message greets a reader whose name is not known"`
	FeedbackID        string `envconfig:"NEWSBRIEF_FEEDBACK_ID" desc:"the Feedback-ID header's fields after the edition (Gmail's feedback loop), e.g. brief:example.com; empty for none"`

	Schedule        string        `envconfig:"NEWSBRIEF_SCHEDULE" default:"0 7 * * *" desc:"when serve sends an edition (cron syntax; CRON_TZ=Zone/Name prefix honoured)"`
	CollectSchedule string        `envconfig:"NEWSBRIEF_COLLECT_SCHEDULE" default:"*/30 * * * *" desc:"when serve collects sources (cron syntax)"`
	HTTPAddr        string        `envconfig:"NEWSBRIEF_HTTP_ADDR" default:":8080" desc:"address serve listens on"`
	ShutdownGrace   time.Duration `envconfig:"NEWSBRIEF_SHUTDOWN_GRACE" default:"30s" desc:"on SIGTERM, how long serve waits for messages in flight to finish"`
	Catchup         time.Duration `envconfig:"NEWSBRIEF_CATCHUP" default:"6h" desc:"a scheduled send missed while serve was down is sent at start-up if it is at most this old, else skipped (0 never catches up)"`

	SendConcurrency  int           `envconfig:"NEWSBRIEF_SEND_CONCURRENCY" default:"4" desc:"SMTP connections used at once, one per worker"`
	SendRate         float64       `envconfig:"NEWSBRIEF_SEND_RATE" default:"0" desc:"messages per second across all connections; 0 for no limit"`
	SendHourlyQuota  int           `envconfig:"NEWSBRIEF_SEND_HOURLY_QUOTA" default:"0" desc:"most messages handed to the relay in any hour (for relays with a quota); 0 for none"`
	SubscribePerHour int           `envconfig:"NEWSBRIEF_SUBSCRIBE_PER_HOUR" default:"5" desc:"subscription requests one client (IP address) may make per hour on the public form"`
	ConfirmPerMinute int           `envconfig:"NEWSBRIEF_CONFIRM_PER_MINUTE" default:"30" desc:"confirmation mails sent per minute in all (queued and sent in the background)"`
	SoftBounceLimit  int           `envconfig:"NEWSBRIEF_SOFT_BOUNCE_LIMIT" default:"3" desc:"permanent failures other than an unknown mailbox after which an address is marked bounced; 0 never"`
	RetryBase        time.Duration `envconfig:"NEWSBRIEF_RETRY_BASE" default:"5m" desc:"wait before the first retry of a deferred message, doubled for each further one up to 4h"`
	RetryFor         time.Duration `envconfig:"NEWSBRIEF_RETRY_FOR" default:"24h" desc:"how long temporarily failed (4xx) messages are retried"`
	MaxArticles      int           `envconfig:"NEWSBRIEF_MAX_ARTICLES" default:"20" desc:"most articles in one edition"`
	MaxPerSource     int           `envconfig:"NEWSBRIEF_MAX_PER_SOURCE" default:"0" desc:"most articles one feed contributes to an edition; 0 for no cap"`
	MinArticles      int           `envconfig:"NEWSBRIEF_MIN_ARTICLES" default:"1" desc:"fewest new articles worth sending an edition"`
	FirstLookback    time.Duration `envconfig:"NEWSBRIEF_FIRST_LOOKBACK" default:"24h" desc:"the first edition takes feed articles published this recently only (not a feed's whole backlog)"`

	FetchTimeout  time.Duration `envconfig:"NEWSBRIEF_FETCH_TIMEOUT" default:"20s" desc:"time limit for fetching one feed"`
	FetchMaxBytes int64         `envconfig:"NEWSBRIEF_FETCH_MAX_BYTES" default:"10485760" desc:"largest feed body read, in bytes"`

	DKIMDomain   string `envconfig:"NEWSBRIEF_DKIM_DOMAIN" desc:"DKIM signing domain (d=); set all three DKIM variables to sign"`
	DKIMSelector string `envconfig:"NEWSBRIEF_DKIM_SELECTOR" desc:"DKIM selector (s=)"`
	DKIMKeyFile  string `envconfig:"NEWSBRIEF_DKIM_KEY_FILE" desc:"PEM file with the DKIM private key (RSA or Ed25519)"`

	InboundAddr     string   `envconfig:"NEWSBRIEF_INBOUND_ADDR" desc:"address serve receives mail on (e.g. :2525): bounces, complaints and mailto unsubscribes for NEWSBRIEF_BOUNCE_ADDRESS and NEWSBRIEF_UNSUBSCRIBE_MAILTO only; empty for none"`
	InboundTLSCert  string   `envconfig:"NEWSBRIEF_INBOUND_TLS_CERT" desc:"PEM certificate offered with STARTTLS by the inbound listener (with NEWSBRIEF_INBOUND_TLS_KEY); empty for no STARTTLS"`
	InboundTLSKey   string   `envconfig:"NEWSBRIEF_INBOUND_TLS_KEY" desc:"PEM private key of NEWSBRIEF_INBOUND_TLS_CERT"`
	InboundMaxBytes int64    `envconfig:"NEWSBRIEF_INBOUND_MAX_BYTES" default:"10485760" desc:"largest message the inbound listener accepts, in bytes"`
	InboundPerHour  int      `envconfig:"NEWSBRIEF_INBOUND_PER_HOUR" default:"600" desc:"messages one client (IP address) may deliver to the inbound listener per hour"`
	SESTopics       []string `envconfig:"NEWSBRIEF_SES_TOPIC_ARNS" desc:"SNS topic ARNs whose Amazon SES bounce and complaint notifications POST /hooks/ses takes (signature and certificate checked); empty turns it off"`
	MailgunKey      string   `envconfig:"NEWSBRIEF_MAILGUN_SIGNING_KEY" secret:"true" desc:"Mailgun's HTTP webhook signing key, for POST /hooks/mailgun; empty turns it off"`
	PostmarkAuth    string   `envconfig:"NEWSBRIEF_POSTMARK_WEBHOOK_AUTH" secret:"true" desc:"user:password of the basic authentication in the webhook URL given to Postmark, for POST /hooks/postmark; empty turns it off"`
	SendGridKey     string   `envconfig:"NEWSBRIEF_SENDGRID_WEBHOOK_KEY" desc:"verification key (base64) of SendGrid's signed event webhook, for POST /hooks/sendgrid; empty turns it off"`
	BounceMailbox   string   `envconfig:"NEWSBRIEF_BOUNCE_MAILBOX" secret:"url" desc:"IMAP mailbox read on the collect schedule for the same mail (imaps://user:password@host/INBOX; ?processed=Folder moves what was read there, else it is flagged); empty for none"`

	LogLevel  string `envconfig:"NEWSBRIEF_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"NEWSBRIEF_LOG_FORMAT" default:"text" desc:"text or json"`
	// CPUProfile, when set, names a file that receives a pprof CPU profile
	// of the command, and FILE.allocs its allocations (used by
	// bench/sink.sh to find where the time goes).
	CPUProfile string `envconfig:"NEWSBRIEF_CPU_PROFILE" desc:"write a pprof CPU profile of the command to this file, its allocations to FILE.allocs (for benchmarks)"`
}

// configError is a bad setting: the binary exits 2.
type configError struct{ msg string }

func (e *configError) Error() string { return "configuration: " + e.msg }

func badVar(name, format string, args ...any) error {
	return &configError{msg: name + ": " + fmt.Sprintf(format, args...)}
}

// loadConfig reads the environment into a Config and validates it.
func loadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return cfg, badVar(pe.KeyName, "%q is not a valid %s", pe.Value, typeWord(pe.TypeName))
		}
		return cfg, &configError{msg: err.Error()}
	}
	return cfg, cfg.Validate()
}

func typeWord(t string) string {
	switch t {
	case "int", "int64":
		return "whole number"
	case "float64":
		return "number"
	case "Duration", "time.Duration":
		return `duration (like "30s", "24h")`
	}
	return t
}

// Validate checks every setting and returns the first bad one as an error
// naming the variable and what it accepts.
// minAdminToken is the shortest admin token accepted: the desk and the API
// are guarded by it alone.
const minAdminToken = 16

func (c *Config) Validate() error {
	if strings.TrimSpace(c.DB) == "" {
		return badVar("NEWSBRIEF_DB", "must name a file")
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		return badVar("NEWSBRIEF_SMTP_TLS", "%q is not one of starttls, tls, none", c.SMTPTLS)
	}
	if c.SMTPPort < 0 || c.SMTPPort > 65535 {
		return badVar("NEWSBRIEF_SMTP_PORT", "%d is not a port (0 to 65535)", c.SMTPPort)
	}
	if strings.ContainsAny(c.SMTPHost, " /\r\n") {
		return badVar("NEWSBRIEF_SMTP_HOST", "%q is not a host name", c.SMTPHost)
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		return badVar("NEWSBRIEF_SMTP_USERNAME", "is empty while NEWSBRIEF_SMTP_PASSWORD is set")
	}
	if c.SMTPTimeout <= 0 {
		return badVar("NEWSBRIEF_SMTP_TIMEOUT", "must be positive")
	}
	if t := c.AdminToken; t != "" && (len(t) < minAdminToken || strings.TrimSpace(t) != t) {
		return badVar("NEWSBRIEF_ADMIN_TOKEN", "is %d characters; use at least %d with no spaces around them (for example: openssl rand -hex 24)",
			len(t), minAdminToken)
	}
	if c.SMTPMaxPerConn < 0 {
		return badVar("NEWSBRIEF_SMTP_MAX_PER_CONN", "must be 0 or more")
	}
	if c.ShutdownGrace <= 0 {
		return badVar("NEWSBRIEF_SHUTDOWN_GRACE", "must be positive")
	}
	if c.Catchup < 0 {
		return badVar("NEWSBRIEF_CATCHUP", "must be 0 (never catch up) or more")
	}
	if err := checkAddress(c.From, true); err != nil {
		return badVar("NEWSBRIEF_FROM", "%v (want like \"Brief <brief@example.com>\")", err)
	}
	if c.ReplyTo != "" {
		if err := checkAddress(c.ReplyTo, true); err != nil {
			return badVar("NEWSBRIEF_REPLY_TO", "%v", err)
		}
	}
	if c.UnsubscribeMailto != "" {
		if err := checkAddress(c.UnsubscribeMailto, false); err != nil {
			return badVar("NEWSBRIEF_UNSUBSCRIBE_MAILTO", "%v (want a bare address)", err)
		}
		if err := subscribers.CheckReturnAddress(c.UnsubscribeMailto); err != nil {
			return badVar("NEWSBRIEF_UNSUBSCRIBE_MAILTO", "%v", err)
		}
	}
	if c.BounceAddress != "" {
		if err := checkAddress(c.BounceAddress, false); err != nil {
			return badVar("NEWSBRIEF_BOUNCE_ADDRESS", "%v (want a bare address)", err)
		}
		if err := subscribers.CheckReturnAddress(c.BounceAddress); err != nil {
			return badVar("NEWSBRIEF_BOUNCE_ADDRESS", "%v", err)
		}
		if strings.EqualFold(c.BounceAddress, c.UnsubscribeMailto) {
			return badVar("NEWSBRIEF_BOUNCE_ADDRESS", "must differ from NEWSBRIEF_UNSUBSCRIBE_MAILTO (a bounce is not an unsubscribe)")
		}
	}
	if (c.InboundTLSCert == "") != (c.InboundTLSKey == "") {
		return badVar("NEWSBRIEF_INBOUND_TLS_CERT", "set it and NEWSBRIEF_INBOUND_TLS_KEY together")
	}
	if c.InboundAddr != "" && c.BounceAddress == "" && c.UnsubscribeMailto == "" {
		return badVar("NEWSBRIEF_INBOUND_ADDR", "receives mail for NEWSBRIEF_BOUNCE_ADDRESS and NEWSBRIEF_UNSUBSCRIBE_MAILTO: set one of them")
	}
	if c.InboundMaxBytes < 64<<10 {
		return badVar("NEWSBRIEF_INBOUND_MAX_BYTES", "must be at least 65536 (a bounce carries the original message)")
	}
	if c.InboundPerHour < 1 {
		return badVar("NEWSBRIEF_INBOUND_PER_HOUR", "must be 1 or more")
	}
	for _, arn := range c.SESTopics {
		if !strings.HasPrefix(arn, "arn:aws") || strings.Count(arn, ":") < 5 {
			return badVar("NEWSBRIEF_SES_TOPIC_ARNS", "%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", arn)
		}
	}
	if c.PostmarkAuth != "" {
		if u, p, ok := strings.Cut(c.PostmarkAuth, ":"); !ok || u == "" || len(p) < 12 {
			return badVar("NEWSBRIEF_POSTMARK_WEBHOOK_AUTH", "want user:password with a password of 12 characters or more")
		}
	}
	if c.MailgunKey != "" && len(c.MailgunKey) < 16 {
		return badVar("NEWSBRIEF_MAILGUN_SIGNING_KEY", "too short to be Mailgun's signing key")
	}
	if c.SendGridKey != "" {
		der, err := base64.StdEncoding.DecodeString(c.SendGridKey)
		if err == nil {
			var k any
			if k, err = x509.ParsePKIXPublicKey(der); err == nil {
				if _, ok := k.(*ecdsa.PublicKey); !ok {
					err = errors.New("not an ECDSA key")
				}
			}
		}
		if err != nil {
			return badVar("NEWSBRIEF_SENDGRID_WEBHOOK_KEY", "not SendGrid's verification key (base64 DER of an ECDSA P-256 public key): %v", err)
		}
	}
	if c.BounceMailbox != "" {
		if _, err := inbound.ParseMailboxURL(c.BounceMailbox); err != nil {
			return badVar("NEWSBRIEF_BOUNCE_MAILBOX", "%v", err)
		}
	}
	if strings.ContainsAny(c.PostalAddress, "\r\n") || len(c.PostalAddress) > 300 {
		return badVar("NEWSBRIEF_POSTAL_ADDRESS", "must be one line of at most 300 characters (commas between its parts)")
	}
	if c.Contact != "" {
		if err := checkAddress(c.Contact, false); err != nil {
			return badVar("NEWSBRIEF_CONTACT", "%v (want a bare address)", err)
		}
	}
	if c.LogoURL != "" {
		if u, err := url.Parse(c.LogoURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return badVar("NEWSBRIEF_LOGO_URL", "%q is not an https URL (mail clients block plain http images)", c.LogoURL)
		}
	}
	for name, v := range map[string]string{"NEWSBRIEF_GREETING": c.Greeting, "NEWSBRIEF_GREETING_UNNAMED": c.GreetingUnnamed} {
		if strings.ContainsAny(v, "\r\n") || len(v) > 100 {
			return badVar(name, "must be one line of at most 100 characters")
		}
	}
	if c.FeedbackID != "" && !mailer.ValidFeedbackID(c.FeedbackID) {
		return badVar("NEWSBRIEF_FEEDBACK_ID", "%q is not one to three colon-separated fields of letters, digits, dots and dashes (like brief:example.com)", c.FeedbackID)
	}
	if strings.ContainsAny(c.ListName, "\r\n") || strings.TrimSpace(c.ListName) == "" {
		return badVar("NEWSBRIEF_LIST_NAME", "must be one non-empty line")
	}
	if c.ListID != "" && (strings.ContainsAny(c.ListID, " <>\r\n\t@") || !strings.Contains(c.ListID, ".")) {
		return badVar("NEWSBRIEF_LIST_ID", "%q is not a dotted identifier like brief.example.com", c.ListID)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return badVar("NEWSBRIEF_BASE_URL", "%q is not an absolute http(s) URL without query", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.Secret != "" && len(c.Secret) < 16 {
		return badVar("NEWSBRIEF_SECRET", "is %d bytes; use 16 or more (or leave it empty to have one generated)", len(c.Secret))
	}
	parser := cronParser()
	if _, err := parser.Parse(c.Schedule); err != nil {
		return badVar("NEWSBRIEF_SCHEDULE", "%q: %v (want cron syntax like \"0 7 * * *\", optionally \"CRON_TZ=Europe/Berlin 0 7 * * *\")", c.Schedule, err)
	}
	if _, err := parser.Parse(c.CollectSchedule); err != nil {
		return badVar("NEWSBRIEF_COLLECT_SCHEDULE", "%q: %v (want cron syntax like \"*/30 * * * *\")", c.CollectSchedule, err)
	}
	for _, f := range c.Feeds {
		u, err := url.Parse(strings.TrimSpace(f))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return badVar("NEWSBRIEF_FEEDS", "%q is not an absolute http(s) URL", f)
		}
	}
	if c.SendConcurrency < 1 || c.SendConcurrency > 100 {
		return badVar("NEWSBRIEF_SEND_CONCURRENCY", "%d is not between 1 and 100", c.SendConcurrency)
	}
	if c.SendRate < 0 {
		return badVar("NEWSBRIEF_SEND_RATE", "must be 0 (no limit) or more")
	}
	if c.SendHourlyQuota < 0 {
		return badVar("NEWSBRIEF_SEND_HOURLY_QUOTA", "must be 0 (no quota) or more")
	}
	if c.SubscribePerHour < 1 {
		return badVar("NEWSBRIEF_SUBSCRIBE_PER_HOUR", "must be 1 or more")
	}
	if c.ConfirmPerMinute < 1 {
		return badVar("NEWSBRIEF_CONFIRM_PER_MINUTE", "must be 1 or more")
	}
	if c.SoftBounceLimit < 0 {
		return badVar("NEWSBRIEF_SOFT_BOUNCE_LIMIT", "must be 0 (never) or more")
	}
	if c.RetryBase <= 0 {
		return badVar("NEWSBRIEF_RETRY_BASE", "must be positive")
	}
	if c.RetryFor < 0 {
		return badVar("NEWSBRIEF_RETRY_FOR", "must be 0 or more")
	}
	if c.MaxArticles < 1 {
		return badVar("NEWSBRIEF_MAX_ARTICLES", "must be 1 or more")
	}
	if c.MaxPerSource < 0 {
		return badVar("NEWSBRIEF_MAX_PER_SOURCE", "must be 0 (no cap) or more")
	}
	if c.MinArticles < 1 || c.MinArticles > c.MaxArticles {
		return badVar("NEWSBRIEF_MIN_ARTICLES", "%d is not between 1 and NEWSBRIEF_MAX_ARTICLES (%d)", c.MinArticles, c.MaxArticles)
	}
	if c.FirstLookback < 0 {
		return badVar("NEWSBRIEF_FIRST_LOOKBACK", "must be 0 (no limit) or more")
	}
	if c.FetchTimeout <= 0 {
		return badVar("NEWSBRIEF_FETCH_TIMEOUT", "must be positive")
	}
	if c.FetchMaxBytes < 1024 {
		return badVar("NEWSBRIEF_FETCH_MAX_BYTES", "must be at least 1024")
	}
	dkim := 0
	for _, v := range []string{c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile} {
		if v != "" {
			dkim++
		}
	}
	if dkim != 0 && dkim != 3 {
		return badVar("NEWSBRIEF_DKIM_DOMAIN", "set NEWSBRIEF_DKIM_DOMAIN, NEWSBRIEF_DKIM_SELECTOR and NEWSBRIEF_DKIM_KEY_FILE together, or none of them")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return badVar("NEWSBRIEF_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return badVar("NEWSBRIEF_LOG_FORMAT", "%q is not one of text, json", c.LogFormat)
	}
	return nil
}

func checkAddress(s string, nameAllowed bool) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if !nameAllowed && a.Name != "" {
		return fmt.Errorf("%q has a display name", s)
	}
	return nil
}

// smtpPort is the configured port, or the usual one for the TLS mode.
func (c *Config) smtpPort() int {
	if c.SMTPPort != 0 {
		return c.SMTPPort
	}
	switch c.SMTPTLS {
	case "tls":
		return 465
	case "none":
		return 25
	}
	return 587
}

// listID is NEWSBRIEF_LIST_ID or one derived from the From domain.
// greeting is the configured greeting.
func (c *Config) greeting() brief.Greeting {
	if strings.EqualFold(strings.TrimSpace(c.Greeting), "none") {
		return brief.Greeting{Off: true}
	}
	return brief.Greeting{Named: c.Greeting, Unnamed: c.GreetingUnnamed}
}

// contact is the address readers write to: NEWSBRIEF_CONTACT, else the
// Reply-To or From address.
func (c *Config) contact() string {
	for _, v := range []string{c.Contact, c.ReplyTo, c.From} {
		if a, err := mail.ParseAddress(v); err == nil && v != "" {
			return a.Address
		}
	}
	return ""
}

// readyToSend is the check of every command that sends editions: a send
// through a relay carries the sender's postal address (CAN-SPAM); the
// outbox needs none.
func (c *Config) readyToSend() error {
	if c.SMTPHost != "" && strings.TrimSpace(c.PostalAddress) == "" {
		return badVar("NEWSBRIEF_POSTAL_ADDRESS", "is required to send through NEWSBRIEF_SMTP_HOST: bulk mail must carry the sender's postal address (CAN-SPAM); for example \"The Daily Brief, 1 Harbour Street, Portsmouth PO1 2AB, UK\"")
	}
	return nil
}

func (c *Config) listID() string {
	if c.ListID != "" {
		return c.ListID
	}
	return "brief." + c.fromDomain()
}

// fromDomain is the domain of NEWSBRIEF_FROM ("localhost.localdomain" if
// it has none).
func (c *Config) fromDomain() string {
	if a, err := mail.ParseAddress(c.From); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			return strings.ToLower(a.Address[at+1:])
		}
	}
	return "localhost.localdomain"
}

// printConfig writes every variable with its effective value (secrets
// masked) and its documentation.
func printConfig(w io.Writer, c Config) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("envconfig")
		val := formatValue(v.Field(i))
		if f.Tag.Get("secret") == "url" && val != "" {
			if u, err := url.Parse(val); err == nil {
				val = u.Redacted()
			} else {
				val = "******** (set)"
			}
		} else if f.Tag.Get("secret") == "true" {
			if val != "" {
				val = "******** (set)"
			} else {
				val = "(not set)"
			}
		} else if val == "" {
			val = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t# %s", name, val, f.Tag.Get("desc"))
		if d := f.Tag.Get("default"); d != "" {
			fmt.Fprintf(tw, " (default %q)", d)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func formatValue(v reflect.Value) string {
	if v.Kind() == reflect.Slice {
		var parts []string
		for i := range v.Len() {
			parts = append(parts, fmt.Sprint(v.Index(i).Interface()))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// unknownVars describes each NEWSBRIEF_* variable in the environment that
// is not a setting, with the closest setting's name when one is near (a
// typo): "NEWSBRIEF_SMPT_HOST is not a newsbrief variable (ignored); did
// you mean NEWSBRIEF_SMTP_HOST?".
func unknownVars() []string {
	var names []string
	known := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		if n := t.Field(i).Tag.Get("envconfig"); n != "" {
			known[n] = true
			names = append(names, n)
		}
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "NEWSBRIEF_") || known[k] {
			continue
		}
		msg := k + " is not a newsbrief variable (ignored)"
		best, dist := "", 4 // at most 3 edits away
		for _, n := range names {
			if d := editDistance(k, n); d < dist {
				best, dist = n, d
			}
		}
		if best != "" {
			msg += "; did you mean " + best + "?"
		} else {
			msg += "; 'newsbrief config' lists them all"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
