package web

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/subscribers"
)

// hookSite is the web server with the providers' webhooks on, over a
// subscriber store on disk.
type hookSite struct {
	url  string
	subs *subscribers.Store
}

func newHookSite(t *testing.T, cfg HookConfig, emails ...string) *hookSite {
	t.Helper()
	subs := newStore(t)
	for _, e := range emails {
		if _, err := subs.Add(context.Background(), e, "", "test", "cli"); err != nil {
			t.Fatal(err)
		}
	}
	h := &hooks{cfg: cfg, fb: subscribers.Feedback{Store: subs, SoftLimit: 3}, log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &hookSite{url: srv.URL, subs: subs}
}

func (s *hookSite) post(t *testing.T, path string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	return postJSON(t, s.url+path, body, hdr)
}

func (s *hookSite) status(t *testing.T, email string) string {
	t.Helper()
	sub, err := s.subs.GetByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/webhooks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSendGridSignedSample verifies SendGrid's own signed sample with
// SendGrid's key as published, and refuses it altered, replayed late or
// with another key.
func TestSendGridSignedSample(t *testing.T) {
	body := payload(t, "sendgrid-signed.json")
	fields := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(payload(t, "sendgrid-signed.txt"))), "\n") {
		k, v, _ := strings.Cut(l, " ")
		fields[k] = v
	}
	ts, _ := strconv.ParseInt(fields["timestamp"], 10, 64)
	now := time.Unix(ts, 0).Add(time.Minute)
	s := newHookSite(t, HookConfig{SendGridKey: fields["publicKey"], Now: func() time.Time { return now }}, "hello@world.com")
	hdr := map[string]string{"X-Twilio-Email-Event-Webhook-Signature": fields["signature"],
		"X-Twilio-Email-Event-Webhook-Timestamp": fields["timestamp"]}
	if code, out := s.post(t, "/hooks/sendgrid", body, hdr); code != 200 || out["recorded"] != 1.0 {
		t.Fatalf("signed sample: %d %v", code, out)
	}
	// "dropped" for a "Bounced Address": SendGrid suppresses it already
	if st := s.status(t, "hello@world.com"); st != subscribers.Bounced {
		t.Errorf("after the sample hello@world.com is %s", st)
	}
	// the same event again (SendGrid retries): a duplicate
	if code, out := s.post(t, "/hooks/sendgrid", body, hdr); code != 200 || out["duplicate"] != 1.0 {
		t.Errorf("again: %d %v", code, out)
	}
	altered := bytes.Replace(body, []byte("hello@world.com"), []byte("hallo@world.com"), 1)
	if code, _ := s.post(t, "/hooks/sendgrid", altered, hdr); code != 401 {
		t.Errorf("altered payload: %d, want 401", code)
	}
	now = now.Add(time.Hour) // a replay an hour later
	if code, _ := s.post(t, "/hooks/sendgrid", body, hdr); code != 401 {
		t.Errorf("stale timestamp: %d, want 401", code)
	}
	off := newHookSite(t, HookConfig{})
	if code, out := off.post(t, "/hooks/sendgrid", body, hdr); code != 503 || !strings.Contains(out["error"].(string), "NEWSBRIEF_SENDGRID_WEBHOOK_KEY") {
		t.Errorf("off: %d %v", code, out)
	}
}

// mailgunSign signs a Mailgun payload as Mailgun does.
func mailgunSign(t *testing.T, body []byte, key string, ts time.Time) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	tss := strconv.FormatInt(ts.Unix(), 10)
	token := "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(tss + token))
	p["signature"] = map[string]string{"timestamp": tss, "token": token, "signature": hex.EncodeToString(m.Sum(nil))}
	b, _ := json.Marshal(p)
	return b
}

func TestMailgunWebhook(t *testing.T) {
	const key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
	now := time.Unix(1700000000, 0)
	s := newHookSite(t, HookConfig{MailgunKey: key, Now: func() time.Time { return now }},
		"invalid@example.com", "recipient@example.com", "undeliverable@nomx.example.com")
	for _, c := range []struct {
		file, email, want string
	}{
		{"mailgun-failed-temporary.json", "undeliverable@nomx.example.com", subscribers.Active}, // Mailgun retries
		{"mailgun-failed-permanent.json", "invalid@example.com", subscribers.Bounced},           // 5.1.1: hard
		{"mailgun-unsubscribed.json", "recipient@example.com", subscribers.Unsubscribed},
		{"mailgun-complained.json", "recipient@example.com", subscribers.Complained},
	} {
		if code, out := s.post(t, "/hooks/mailgun", mailgunSign(t, payload(t, c.file), key, now), nil); code != 200 {
			t.Fatalf("%s: %d %v", c.file, code, out)
		}
		if st := s.status(t, c.email); st != c.want {
			t.Errorf("after %s %s is %s, want %s", c.file, c.email, st, c.want)
		}
	}
	if code, _ := s.post(t, "/hooks/mailgun", mailgunSign(t, payload(t, "mailgun-complained.json"), "key-wrong", now), nil); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	if code, _ := s.post(t, "/hooks/mailgun", mailgunSign(t, payload(t, "mailgun-complained.json"), key, now.Add(-time.Hour)), nil); code != 401 {
		t.Errorf("old timestamp: %d", code)
	}
	if code, _ := s.post(t, "/hooks/mailgun", payload(t, "mailgun-complained.json"), nil); code != 401 {
		t.Errorf("unsigned: %d", code)
	}
}

func TestPostmarkWebhook(t *testing.T) {
	const auth = "postmark:s3cret-webhook-pass"
	s := newHookSite(t, HookConfig{PostmarkAuth: auth}, "bounce@example.com", "spam@example.com", "john@example.com")
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(auth))}
	for _, c := range []struct{ file, email, want string }{
		{"postmark-bounce.json", "bounce@example.com", subscribers.Bounced},
		{"postmark-spam.json", "spam@example.com", subscribers.Complained},
		{"postmark-subscription-change.json", "john@example.com", subscribers.Unsubscribed},
	} {
		if code, out := s.post(t, "/hooks/postmark", payload(t, c.file), basic); code != 200 || out["recorded"] != 1.0 {
			t.Fatalf("%s: %d %v", c.file, code, out)
		}
		if st := s.status(t, c.email); st != c.want {
			t.Errorf("after %s %s is %s, want %s", c.file, c.email, st, c.want)
		}
	}
	wrong := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("postmark:guess"))}
	if code, _ := s.post(t, "/hooks/postmark", payload(t, "postmark-bounce.json"), wrong); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _ := s.post(t, "/hooks/postmark", payload(t, "postmark-bounce.json"), nil); code != 401 {
		t.Errorf("no authentication: %d", code)
	}
}

// snsFixture is a stand-in for SNS on 127.0.0.1: a certificate for
// sns.us-east-1.amazonaws.com (served over TLS as itself, at a .pem path),
// its key to sign messages with, and a client that reaches it for that host.
type snsFixture struct {
	key       *rsa.PrivateKey
	certURL   string
	client    *http.Client
	confirmed atomic.Int32
}

func newSNSFixture(t *testing.T) *snsFixture {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		DNSNames: []string{"sns.us-east-1.amazonaws.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := &snsFixture{key: key, certURL: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789.pem"}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/SimpleNotificationService-0123456789.pem":
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		case r.URL.Query().Get("Action") == "ConfirmSubscription":
			f.confirmed.Add(1)
			w.Write([]byte("<ConfirmSubscriptionResponse/>"))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	addr := srv.Listener.Addr().String()
	f.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr) // sns.us-east-1.amazonaws.com is here
		}}}
	return f
}

// sign makes an SNS message of typ carrying message, signed as SNS signs.
func (f *snsFixture) sign(t *testing.T, typ, topic, message string, version string, ts time.Time) []byte {
	t.Helper()
	m := map[string]string{"Type": typ, "MessageId": "19ba9823-d7f2-53c1-860e-cb10e0d13dfc", "TopicArn": topic,
		"Message": message, "Timestamp": ts.UTC().Format("2006-01-02T15:04:05.000Z"), "SignatureVersion": version,
		"SigningCertURL": f.certURL}
	var keys []string
	if typ == "Notification" {
		m["Subject"] = "Amazon SES Email Event Notification"
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	} else {
		m["Token"] = "2336412f37fb687f5d51e6e2425c464de"
		m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=2336412f37fb687f5d51e6e2425c464de"
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var s strings.Builder
	for _, k := range keys {
		s.WriteString(k + "\n" + m[k] + "\n")
	}
	var sig []byte
	var err error
	if version == "1" {
		sum := sha1.Sum([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	b, _ := json.Marshal(m)
	return b
}

// TestSESWebhook: SNS's subscription confirmation, then AWS's documented
// bounce and complaint notifications, signed as SNS signs (both
// signature versions), with the certificate fetched from an SNS host; a
// forged signature, another topic, a certificate from elsewhere and a
// stale message are refused.
func TestSESWebhook(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
	f := newSNSFixture(t)
	now := time.Now()
	s := newHookSite(t, HookConfig{SESTopics: []string{topic}, Client: f.client, Now: func() time.Time { return now }},
		"jane@example.com", "richard@example.com")
	if code, out := s.post(t, "/hooks/ses", f.sign(t, "SubscriptionConfirmation", topic, "You have chosen to subscribe", "1", now), nil); code != 200 || f.confirmed.Load() != 1 {
		t.Fatalf("subscription confirmation: %d %v, confirmed %d", code, out, f.confirmed.Load())
	}
	if code, out := s.post(t, "/hooks/ses", f.sign(t, "Notification", topic, string(payload(t, "ses-bounce.json")), "1", now), nil); code != 200 || out["recorded"] != 1.0 {
		t.Fatalf("bounce: %d %v", code, out)
	}
	if st := s.status(t, "jane@example.com"); st != subscribers.Bounced {
		t.Errorf("after the bounce jane is %s", st)
	}
	complaint := f.sign(t, "Notification", topic, string(payload(t, "ses-complaint.json")), "2", now)
	if code, out := s.post(t, "/hooks/ses", complaint, nil); code != 200 || out["recorded"] != 1.0 {
		t.Fatalf("complaint: %d %v", code, out)
	}
	if st := s.status(t, "richard@example.com"); st != subscribers.Complained {
		t.Errorf("after the complaint richard is %s", st)
	}
	// a bounce whose headers (SES passes them on) carry the list's
	// unsubscribe link counts against the edition it names
	var ev map[string]any
	json.Unmarshal(payload(t, "ses-bounce.json"), &ev)
	s.subs.Add(context.Background(), "mary@example.com", "", "test", "cli")
	bounce := ev["bounce"].(map[string]any)
	bounce["feedbackId"] = "another-feedback-id"
	bounce["bouncedRecipients"].([]any)[0].(map[string]any)["emailAddress"] = "mary@example.com"
	mail := ev["mail"].(map[string]any)
	mail["headers"] = append(mail["headers"].([]any), map[string]any{"name": "List-Unsubscribe",
		"value": "<https://brief.example/unsubscribe?token=abc&e=12>, <mailto:unsubscribe+x@brief.example?subject=unsubscribe>"})
	eb2, _ := json.Marshal(ev)
	if code, out := s.post(t, "/hooks/ses", f.sign(t, "Notification", topic, string(eb2), "2", now), nil); code != 200 || out["recorded"] != 1.0 {
		t.Fatalf("bounce with headers: %d %v", code, out)
	}
	if c, _ := s.subs.EditionFeedback(context.Background(), 12); c.Hard != 1 {
		t.Errorf("edition 12's feedback: %+v", c)
	}
	// refused: a flipped signature, another topic, a certificate URL that
	// is not SNS's, a message an hour old
	var m map[string]string
	json.Unmarshal(complaint, &m)
	forged := map[string]string{}
	for k, v := range m {
		forged[k] = v
	}
	forged["Message"] = strings.Replace(forged["Message"], "richard@", "jane@", 1)
	fb, _ := json.Marshal(forged)
	other := f.sign(t, "Notification", "arn:aws:sns:us-east-1:999999999999:other", string(payload(t, "ses-complaint.json")), "2", now)
	stale := f.sign(t, "Notification", topic, string(payload(t, "ses-complaint.json")), "2", now.Add(-time.Hour))
	elsewhere := map[string]string{}
	for k, v := range m {
		elsewhere[k] = v
	}
	elsewhere["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"
	eb, _ := json.Marshal(elsewhere)
	for name, body := range map[string][]byte{"forged": fb, "other topic": other, "stale": stale, "foreign certificate": eb} {
		if code, _ := s.post(t, "/hooks/ses", body, nil); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
}
