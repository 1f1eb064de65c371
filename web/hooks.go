package web

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/inbound"
	"github.com/newsbrief/newsbrief/subscribers"
)

// HookConfig is what the providers' webhooks need: each is on when its
// secret is set, and answers 503 naming the variable otherwise.
type HookConfig struct {
	// SESTopics are the SNS topic ARNs whose notifications are taken
	// (NEWSBRIEF_SES_TOPIC_ARNS); a message from any other is refused.
	SESTopics []string
	// MailgunKey is Mailgun's HTTP webhook signing key.
	MailgunKey string
	// PostmarkAuth is "user:password" of the basic authentication put in
	// the webhook's URL at Postmark (Postmark signs nothing).
	PostmarkAuth string
	// SendGridKey is the verification key (base64 DER, ECDSA P-256) of
	// SendGrid's signed event webhook.
	SendGridKey string
	// MaxAge is how old a signed timestamp may be (replays of older ones
	// are refused); 0 for 10 minutes.
	MaxAge time.Duration
	// Client fetches SNS signing certificates and confirms subscriptions;
	// nil for one with a 10 s timeout.
	Client *http.Client
	// Now is the clock timestamps are checked against; nil for time.Now.
	Now func() time.Time
}

// hooks serves the providers' webhooks under /hooks/. Every event ends
// in subscribers.Feedback, each once (keyed by the provider's event ID).
type hooks struct {
	cfg   HookConfig
	fb    subscribers.Feedback
	log   *slog.Logger
	certs sync.Map // SNS certificate URL → *x509.Certificate
}

func (h *hooks) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

func (h *hooks) maxAge() time.Duration {
	if h.cfg.MaxAge > 0 {
		return h.cfg.MaxAge
	}
	return 10 * time.Minute
}

func (h *hooks) client() *http.Client {
	if h.cfg.Client != nil {
		return h.cfg.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// maxHookBody is the most a webhook request may carry.
const maxHookBody = 1 << 20

// hookEvent is one provider event, on its way to Feedback.
type hookEvent struct {
	kind, email, detail, key string
	edition                  int64 // the edition it is about, when the event says
}

// serve reads the request body, checks it with verify, turns it into
// events with parse and applies them.
func (h *hooks) serve(provider, offVar string, on bool, verify func(r *http.Request, body []byte) error,
	parse func(r *http.Request, body []byte) ([]hookEvent, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !on {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "this webhook is off: set " + offVar})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		if err := verify(r, body); err != nil {
			h.log.Warn("webhook refused", "provider", provider, slog.Any("error", err))
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not verified: " + err.Error()})
			return
		}
		events, err := parse(r, body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		out := struct {
			Recorded  int      `json:"recorded"`
			Duplicate int      `json:"duplicate"`
			Unknown   []string `json:"unknown"`
		}{Unknown: []string{}}
		for _, ev := range events {
			a, err := h.fb.Apply(r.Context(), brief.Feedback{Kind: ev.kind, Email: ev.email, EditionID: ev.edition, Source: provider,
				Detail: ev.detail, Key: provider + ":" + ev.key})
			switch {
			case errors.Is(err, subscribers.ErrNotFound):
				out.Unknown = append(out.Unknown, ev.email)
			case err != nil:
				h.log.Error("webhook event", "provider", provider, slog.Any("error", err))
				// a 5xx makes the provider send it again later
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not record; try again"})
				return
			case a.Duplicate:
				out.Duplicate++
			default:
				out.Recorded++
			}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (h *hooks) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /hooks/ses", h.serve("ses", "NEWSBRIEF_SES_TOPIC_ARNS", len(h.cfg.SESTopics) > 0, h.verifySNS, h.parseSES))
	mux.HandleFunc("POST /hooks/mailgun", h.serve("mailgun", "NEWSBRIEF_MAILGUN_SIGNING_KEY", h.cfg.MailgunKey != "", h.verifyMailgun, parseMailgun))
	mux.HandleFunc("POST /hooks/postmark", h.serve("postmark", "NEWSBRIEF_POSTMARK_WEBHOOK_AUTH", h.cfg.PostmarkAuth != "", h.verifyPostmark, parsePostmark))
	mux.HandleFunc("POST /hooks/sendgrid", h.serve("sendgrid", "NEWSBRIEF_SENDGRID_WEBHOOK_KEY", h.cfg.SendGridKey != "", h.verifySendGrid, parseSendGrid))
}

// bounceKind is hard or soft for a permanent failure with status, code
// and text, as inbound reads a DSN's.
func bounceKind(status string, code int, text string) string {
	if status == "" {
		status = inbound.FindStatus(text)
	}
	if inbound.HardFailure(status, code, text) {
		return brief.FeedbackHard
	}
	return brief.FeedbackSoft
}

// ---- Amazon SES, through SNS ----

// snsMessage is an SNS HTTP(S) delivery.
type snsMessage struct {
	Type             string
	MessageId        string
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

// snsHost is the host of every SNS certificate and subscription URL.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// verifySNS checks an SNS message as AWS says to: its topic is one of
// ours, its certificate comes over https from an SNS host, and its
// signature (SHA1withRSA for version 1, SHA256withRSA for 2) verifies
// over the fields in their canonical order; and it is fresh.
func (h *hooks) verifySNS(r *http.Request, body []byte) error {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return errors.New("body is not an SNS message")
	}
	if !slices.Contains(h.cfg.SESTopics, m.TopicArn) {
		return fmt.Errorf("topic %q is not in NEWSBRIEF_SES_TOPIC_ARNS", m.TopicArn)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return errors.New("bad Timestamp")
	}
	if d := h.now().Sub(ts); d > h.maxAge() || d < -h.maxAge() {
		return fmt.Errorf("timestamp %s is too far from now", m.Timestamp)
	}
	var fields []string
	switch m.Type {
	case "Notification":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != nil {
			fields = append(fields, "Subject", *m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	default:
		return fmt.Errorf("unknown SNS message type %q", m.Type)
	}
	var signed strings.Builder
	for i := 0; i < len(fields); i += 2 {
		signed.WriteString(fields[i] + "\n" + fields[i+1] + "\n")
	}
	cert, err := h.snsCert(r.Context(), m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("signing certificate has no RSA key")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return errors.New("bad Signature encoding")
	}
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(signed.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(signed.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		return fmt.Errorf("unknown SignatureVersion %q", m.SignatureVersion)
	}
	if err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// snsCert fetches (once) the certificate at u, which must be an https URL
// of an SNS host ending in .pem.
func (h *hooks) snsCert(ctx context.Context, u string) (*x509.Certificate, error) {
	if c, ok := h.certs.Load(u); ok {
		return c.(*x509.Certificate), nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "https" || !snsHost.MatchString(pu.Hostname()) || pu.Port() != "" || !strings.HasSuffix(pu.Path, ".pem") {
		return nil, fmt.Errorf("SigningCertURL %q is not an SNS certificate URL", u)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch signing certificate: %s", resp.Status)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("signing certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	if now := h.now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, errors.New("signing certificate is not valid now")
	}
	h.certs.Store(u, cert)
	return cert, nil
}

// sesEvent is the part of an SES notification (event publishing or
// feedback notification) that says what came back.
type sesEvent struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		FeedbackID        string `json:"feedbackId"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Mail struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
	Complaint *struct {
		FeedbackID            string `json:"feedbackId"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
}

// parseSES confirms a subscription, or reads the bounce or complaint an
// SNS notification carries. A transient bounce (SES has given up after
// retries: mailbox full, too large) is soft; an undetermined one, and
// every other event type, are nothing to do.
func (h *hooks) parseSES(r *http.Request, body []byte) ([]hookEvent, error) {
	var m snsMessage
	json.Unmarshal(body, &m) // verified already
	switch m.Type {
	case "SubscriptionConfirmation":
		pu, err := url.Parse(m.SubscribeURL)
		if err != nil || pu.Scheme != "https" || !snsHost.MatchString(pu.Hostname()) {
			return nil, fmt.Errorf("SubscribeURL %q is not an SNS URL", m.SubscribeURL)
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, m.SubscribeURL, nil)
		resp, err := h.client().Do(req)
		if err != nil {
			return nil, fmt.Errorf("confirm the SNS subscription: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("confirm the SNS subscription: %s", resp.Status)
		}
		h.log.Info("SNS subscription confirmed", "topic", m.TopicArn)
		return nil, nil
	case "UnsubscribeConfirmation":
		h.log.Warn("SNS subscription ended", "topic", m.TopicArn)
		return nil, nil
	}
	var ev sesEvent
	if err := json.Unmarshal([]byte(m.Message), &ev); err != nil {
		return nil, errors.New("notification's Message is not an SES event")
	}
	kind := ev.NotificationType
	if kind == "" {
		kind = ev.EventType
	}
	// SES passes the message's headers on: its unsubscribe link names
	// the edition
	var edition int64
	for _, hd := range ev.Mail.Headers {
		if strings.EqualFold(hd.Name, "List-Unsubscribe") {
			edition = editionOfLink(hd.Value)
		}
	}
	var out []hookEvent
	switch {
	case kind == "Bounce" && ev.Bounce != nil:
		if ev.Bounce.BounceType != "Permanent" && ev.Bounce.BounceType != "Transient" {
			return nil, nil
		}
		for _, rc := range ev.Bounce.BouncedRecipients {
			text := strings.TrimSpace(rc.Status + " " + rc.DiagnosticCode)
			k := brief.FeedbackSoft
			if ev.Bounce.BounceType == "Permanent" {
				k = bounceKind(rc.Status, 0, rc.DiagnosticCode)
			}
			out = append(out, hookEvent{kind: k, email: rc.EmailAddress, detail: "SES " + ev.Bounce.BounceType + ": " + text,
				key: firstNonEmpty(ev.Bounce.FeedbackID, m.MessageId), edition: edition})
		}
	case kind == "Complaint" && ev.Complaint != nil:
		if ev.Complaint.ComplaintFeedbackType == "not-spam" {
			return nil, nil
		}
		for _, rc := range ev.Complaint.ComplainedRecipients {
			out = append(out, hookEvent{kind: brief.FeedbackComplaint, email: rc.EmailAddress,
				detail: "SES complaint: " + firstNonEmpty(ev.Complaint.ComplaintFeedbackType, "unspecified"),
				key:    firstNonEmpty(ev.Complaint.FeedbackID, m.MessageId), edition: edition})
		}
	}
	return out, nil
}

// editionOfLink is the edition an unsubscribe link of a List-Unsubscribe
// value names (its e parameter), or 0.
func editionOfLink(v string) int64 {
	for _, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.Trim(strings.TrimSpace(part), "<>"))
		if err != nil || !strings.HasPrefix(u.Scheme, "http") {
			continue
		}
		if n, err := strconv.ParseInt(u.Query().Get("e"), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ---- Mailgun ----

// verifyMailgun checks Mailgun's signature: HMAC-SHA256 of timestamp and
// token with the webhook signing key, hex, and a fresh timestamp.
func (h *hooks) verifyMailgun(_ *http.Request, body []byte) error {
	var p struct {
		Signature struct {
			Timestamp string `json:"timestamp"`
			Token     string `json:"token"`
			Signature string `json:"signature"`
		} `json:"signature"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Signature.Signature == "" {
		return errors.New("no signature block")
	}
	if err := h.fresh(p.Signature.Timestamp); err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(h.cfg.MailgunKey))
	m.Write([]byte(p.Signature.Timestamp + p.Signature.Token))
	got, err := hex.DecodeString(p.Signature.Signature)
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("signature does not verify")
	}
	return nil
}

// fresh checks a Unix-seconds timestamp against MaxAge.
func (h *hooks) fresh(ts string) error {
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > h.maxAge() || d < -h.maxAge() {
		return fmt.Errorf("timestamp %s is too far from now (a replay?)", ts)
	}
	return nil
}

// parseMailgun reads one Mailgun event: a permanent failure is a bounce
// (hard or soft from the relay's answer), complained a complaint,
// unsubscribed an unsubscribe; temporary failures (Mailgun retries) and
// everything else are nothing to do.
func parseMailgun(_ *http.Request, body []byte) ([]hookEvent, error) {
	var p struct {
		Signature struct {
			Token string `json:"token"`
		} `json:"signature"`
		Data struct {
			Event     string `json:"event"`
			ID        string `json:"id"`
			Severity  string `json:"severity"`
			Reason    string `json:"reason"`
			Recipient string `json:"recipient"`
			Status    struct {
				Code        int    `json:"code"`
				Message     string `json:"message"`
				Description string `json:"description"`
			} `json:"delivery-status"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.New("body is not a Mailgun webhook")
	}
	d := p.Data
	key := firstNonEmpty(d.ID, p.Signature.Token)
	switch d.Event {
	case "failed":
		if d.Severity != "permanent" {
			return nil, nil
		}
		text := strings.TrimSpace(d.Status.Message + " " + d.Status.Description)
		return []hookEvent{{kind: bounceKind("", d.Status.Code, text), email: d.Recipient,
			detail: strings.TrimSpace(fmt.Sprintf("Mailgun %s %d %s", d.Reason, d.Status.Code, text)), key: key}}, nil
	case "complained":
		return []hookEvent{{kind: brief.FeedbackComplaint, email: d.Recipient, detail: "Mailgun complaint", key: key}}, nil
	case "unsubscribed":
		return []hookEvent{{kind: brief.FeedbackUnsubscribe, email: d.Recipient, detail: "Mailgun unsubscribe", key: key}}, nil
	}
	return nil, nil
}

// ---- Postmark ----

// verifyPostmark checks the basic authentication Postmark sends from the
// webhook URL's credentials (Postmark has no signature), in constant time.
func (h *hooks) verifyPostmark(r *http.Request, _ []byte) error {
	user, pass, ok := r.BasicAuth()
	if !ok || !tokenEqual(user+":"+pass, h.cfg.PostmarkAuth) {
		return errors.New("wrong or missing basic authentication")
	}
	return nil
}

// parsePostmark reads a Postmark bounce, spam complaint or subscription
// change.
func parsePostmark(_ *http.Request, body []byte) ([]hookEvent, error) {
	var p struct {
		RecordType        string
		ID                json.Number
		Type              string
		Email             string
		Recipient         string
		Description       string
		Details           string
		SuppressSending   bool
		SuppressionReason string
		ChangedAt         string
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.New("body is not a Postmark webhook")
	}
	detail := strings.TrimSpace("Postmark " + p.Type + ": " + p.Details)
	switch p.RecordType {
	case "Bounce":
		var kind string
		switch p.Type {
		case "HardBounce", "BadEmailAddress", "ManuallyDeactivated":
			kind = brief.FeedbackHard
		case "SoftBounce", "Blocked", "DnsError", "SpamNotification":
			kind = brief.FeedbackSoft
		case "SpamComplaint":
			kind = brief.FeedbackComplaint
		case "Unsubscribe":
			kind = brief.FeedbackUnsubscribe
		default: // Transient, AutoResponder, ChallengeVerification, Subscribe, …: nothing to do
			return nil, nil
		}
		return []hookEvent{{kind: kind, email: p.Email, detail: detail, key: "bounce:" + p.ID.String()}}, nil
	case "SpamComplaint":
		return []hookEvent{{kind: brief.FeedbackComplaint, email: p.Email, detail: "Postmark spam complaint", key: "spam:" + p.ID.String()}}, nil
	case "SubscriptionChange":
		if !p.SuppressSending {
			return nil, nil
		}
		kind := brief.FeedbackUnsubscribe
		switch p.SuppressionReason {
		case "HardBounce":
			kind = brief.FeedbackHard
		case "SpamComplaint":
			kind = brief.FeedbackComplaint
		}
		return []hookEvent{{kind: kind, email: p.Recipient, detail: "Postmark suppression: " + p.SuppressionReason,
			key: "change:" + p.Recipient + ":" + p.ChangedAt}}, nil
	}
	return nil, nil
}

// ---- SendGrid ----

// verifySendGrid checks SendGrid's signed event webhook: an ECDSA P-256
// signature (base64 DER) over the timestamp header and the raw body, and
// a fresh timestamp.
func (h *hooks) verifySendGrid(r *http.Request, body []byte) error {
	der, err := base64.StdEncoding.DecodeString(h.cfg.SendGridKey)
	if err != nil {
		return errors.New("NEWSBRIEF_SENDGRID_WEBHOOK_KEY is not base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("NEWSBRIEF_SENDGRID_WEBHOOK_KEY: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("NEWSBRIEF_SENDGRID_WEBHOOK_KEY is not an ECDSA key")
	}
	ts := r.Header.Get("X-Twilio-Email-Event-Webhook-Timestamp")
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Twilio-Email-Event-Webhook-Signature"))
	if ts == "" || err != nil || len(sig) == 0 {
		return errors.New("no signature headers")
	}
	if err := h.fresh(ts); err != nil {
		return err
	}
	sum := sha256.Sum256(append([]byte(ts), body...))
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// parseSendGrid reads SendGrid's array of events: a bounce (hard or soft
// from its status and reason; "blocked" is soft), a drop for an address
// SendGrid already suppresses (bounced, reported as spam, unsubscribed), a
// spam report, an unsubscribe.
func parseSendGrid(_ *http.Request, body []byte) ([]hookEvent, error) {
	var evs []struct {
		Email   string `json:"email"`
		Event   string `json:"event"`
		Type    string `json:"type"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		EventID string `json:"sg_event_id"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &evs); err != nil {
		return nil, errors.New("body is not an array of SendGrid events")
	}
	var out []hookEvent
	for _, e := range evs {
		ev := hookEvent{email: e.Email, key: e.EventID, detail: strings.TrimSpace("SendGrid " + e.Event + ": " + e.Status + " " + e.Reason)}
		switch e.Event {
		case "bounce":
			ev.kind = brief.FeedbackSoft
			if e.Type != "blocked" {
				ev.kind = bounceKind(e.Status, 0, e.Reason)
			}
		case "dropped":
			switch e.Reason {
			case "Bounced Address":
				ev.kind = brief.FeedbackHard
			case "Spam Reporting Address":
				ev.kind = brief.FeedbackComplaint
			case "Unsubscribed Address":
				ev.kind = brief.FeedbackUnsubscribe
			default:
				continue
			}
		case "spamreport":
			ev.kind = brief.FeedbackComplaint
		case "unsubscribe", "group_unsubscribe":
			ev.kind = brief.FeedbackUnsubscribe
		default:
			continue
		}
		if ev.key == "" {
			return nil, errors.New("an event without sg_event_id")
		}
		out = append(out, ev)
	}
	return out, nil
}
