// Package brief holds the leaf types every other package shares: what a
// renderer renders (Issue, Story, Link) and returns (Rendered), a body as
// static pieces with per-recipient slots (Body, Values), one recipient,
// the parts all the messages of an edition share (Edition) and one message
// (Message), and the connection a sender opens (Conn).
//
// pipeline declares its interfaces in these types; templates, mailer and
// subscribers satisfy them directly, so no package needs an adapter to
// talk to another. brief imports nothing of the project.
package brief

import (
	"context"
	"html"
	"strings"
	"sync"
	"time"
)

// Slots of a Body: which per-recipient value stands between two pieces,
// an index into Values.
const (
	SlotName = iota
	SlotEmail
	SlotGreeting
	SlotUnsubscribeURL
	SlotCount
)

// Values are one recipient's slot values, unescaped, indexed by the Slot
// constants.
type Values [SlotCount]string

// NewValues returns r's values with its unsubscribe URL, greeted as the
// default Greeting does.
func NewValues(r Recipient, unsubscribeURL string) Values {
	return Greeting{}.Values(r, unsubscribeURL)
}

// Greeting is how messages greet their reader: Named for a reader whose
// name is known, with {first} (the first word of the name) and {name}
// (all of it) filled in, Unnamed for the others. The zero Greeting is
// "Hello {first}," and "Hello,"; Off greets nobody.
type Greeting struct {
	Named, Unnamed string
	Off            bool
}

// Of is the greeting of a reader named name.
func (g Greeting) Of(name string) string {
	if g.Off {
		return ""
	}
	named, unnamed := g.Named, g.Unnamed
	if named == "" && unnamed == "" {
		named, unnamed = "Hello {first},", "Hello,"
	}
	n := strings.Join(strings.Fields(name), " ")
	if n == "" {
		return unnamed
	}
	first, _, _ := strings.Cut(n, " ")
	if !strings.Contains(named, "{") {
		return named
	}
	return strings.ReplaceAll(strings.ReplaceAll(named, "{first}", first), "{name}", n)
}

// Values returns r's values with its unsubscribe URL, greeted as g says.
func (g Greeting) Values(r Recipient, unsubscribeURL string) Values {
	return Values{SlotName: r.Name, SlotEmail: r.Email, SlotGreeting: g.Of(r.Name), SlotUnsubscribeURL: unsubscribeURL}
}

// Body is a rendered body as static pieces with a per-recipient slot
// between each two: Static[0] Slots[0] Static[1] … Slots[n-1] Static[n].
// In an HTML body the slot values must be HTML-escaped by whoever fills
// them in.
type Body struct {
	Static []string
	Slots  []int
}

// Fill joins b with vals, escaping each value with escape (nil for none).
func (b Body) Fill(vals *Values, escape func(string) string) string {
	n := 0
	for _, st := range b.Static {
		n += len(st)
	}
	var s strings.Builder
	s.Grow(n + 128)
	for i, st := range b.Static {
		s.WriteString(st)
		if i < len(b.Slots) {
			v := vals[b.Slots[i]]
			if escape != nil {
				v = escape(v)
			}
			s.WriteString(v)
		}
	}
	return s.String()
}

// Size is the length of the static pieces in bytes.
func (b Body) Size() int {
	n := 0
	for _, st := range b.Static {
		n += len(st)
	}
	return n
}

// Text returns a body of plain text with no slots.
func Text(s string) Body { return Body{Static: []string{s}} }

// Recipient is one address a message goes to.
type Recipient struct {
	ID    int64 // subscriber ID; 0 for a test send or a one-off message
	Email string
	Name  string
}

// Issue is what a renderer renders: one edition's stories in order.
type Issue struct {
	ID      int64 // 0 for an edition not stored yet (a preview)
	Date    time.Time
	Subject string // the subject it went out with, for its public page; "" while it is rendered to send
	Note    string // the editor's note at its top: plain text, paragraphs split by blank lines; "" for none
	Stories []Story
}

// Story is one article of an issue.
type Story struct {
	ID       int64 // the article's, 0 when unknown
	Title    string
	URL      string
	Source   string // the feed's name; empty for files and editors' articles
	Author   string
	Summary  string
	ImageURL string
	// ImageWidth is the image's declared width in pixels (0 unknown): a
	// narrow one is shown at its own size.
	ImageWidth int
	// Audio is a podcast episode's audio (its URL, MIME type and length
	// in seconds); zero for none.
	Audio     Audio
	Published time.Time
	Tags      []string
	Also      []Link // the same story from other sources
}

// Audio is an episode's audio file.
type Audio struct {
	URL     string
	Type    string
	Seconds int
}

// Link is another source's link to the same story.
type Link struct {
	Source string
	URL    string
}

// Rendered is one edition rendered once: its subject and both bodies as
// pieces; each recipient's parts are filled in per message.
type Rendered struct {
	Subject  string
	HTML     Body
	Text     Body
	HTMLSize int      // the HTML body's size without personal parts, in bytes
	Greeting Greeting // how its messages greet their readers
}

// Personalize returns the HTML and text bodies for one recipient, with
// their values escaped for HTML in the HTML body.
func (r Rendered) Personalize(rcpt Recipient, unsubscribeURL string) (htmlBody, textBody string) {
	v := r.Greeting.Values(rcpt, unsubscribeURL)
	return r.HTML.Fill(&v, html.EscapeString), r.Text.Fill(&v, nil)
}

// Edition is what all the messages of one edition share: the subject and
// the bodies as pieces. A sender keeps its own encoding of them, made
// once through Prepared.
type Edition struct {
	Subject  string
	HTML     Body
	Text     Body
	Greeting Greeting

	once     sync.Once
	prepared any
	err      error
}

// NewEdition returns the shared parts of r's messages.
func NewEdition(r Rendered) *Edition {
	return &Edition{Subject: r.Subject, HTML: r.HTML, Text: r.Text, Greeting: r.Greeting}
}

// Prepared returns the sender's encoding of e, made by prepare on the
// first call only (concurrent callers wait for it). A sender uses one
// prepare function for an edition.
func (e *Edition) Prepared(prepare func(*Edition) (any, error)) (any, error) {
	e.once.Do(func() { e.prepared, e.err = prepare(e) })
	return e.prepared, e.err
}

// Message is one e-mail to one recipient: the edition's shared parts and
// this recipient's values.
type Message struct {
	EditionID      int64 // for the Message-ID; 0 for a one-off message
	Recipient      Recipient
	UnsubscribeURL string
	// UnsubscribeMailto is List-Unsubscribe's mailto address for this
	// message (with its token); "" for the sender's default.
	UnsubscribeMailto string
	// ReturnPath is the envelope sender (VERP form of the bounce
	// address); "" for the From address.
	ReturnPath string
	Edition    *Edition
	Values     Values
	// Journal, when set, is told right before the message's end of data
	// goes to the relay: from then on the message may have arrived.
	Journal Journal
}

// Journal records, where a killed process cannot lose it, which messages
// may have reached the relay and which the relay took, so a restart
// resends exactly the others.
type Journal interface {
	// Record notes (editionID, subscriberID) before its end of data is
	// written; an error abandons the message before it can arrive.
	Record(editionID, subscriberID int64) error
	// Accepted notes that the relay took the message (a 2xx after its end
	// of data).
	Accepted(editionID, subscriberID int64)
}

// NewMessage returns rcpt's message of edition e.
func NewMessage(e *Edition, editionID int64, rcpt Recipient, unsubscribeURL string) *Message {
	return &Message{EditionID: editionID, Recipient: rcpt, UnsubscribeURL: unsubscribeURL, Edition: e,
		Values: e.Greeting.Values(rcpt, unsubscribeURL)}
}

// Subject is the message's subject.
func (m *Message) Subject() string { return m.Edition.Subject }

// TextBody is the message's text body.
func (m *Message) TextBody() string { return m.Edition.Text.Fill(&m.Values, nil) }

// HTMLBody is the message's HTML body, its values escaped.
func (m *Message) HTMLBody() string { return m.Edition.HTML.Fill(&m.Values, html.EscapeString) }

// Conn is one connection to the mail relay (or the outbox), used by one
// worker for many messages in turn.
type Conn interface {
	// Send delivers one message. A returned error with a Permanent() bool
	// method returning true fails the delivery for good; any other error
	// defers it for a retry. An error with a StatusCode() int method gives
	// the SMTP code to record.
	Send(ctx context.Context, m *Message) error
	Close() error
}

// Pipeliner is a Conn that can write the next message's MAIL, RCPT and
// DATA in the same write as the current message's end of data (RFC 2920),
// as Postfix's own client does. mailer's SMTP connections are.
type Pipeliner interface {
	// SendAhead delivers m like Send; when next is not nil it may send
	// next's envelope behind m's end of data, and the next call must then
	// be for next. Close discards an envelope sent ahead and never
	// followed.
	SendAhead(ctx context.Context, m, next *Message) error
}

// Feedback kinds: what a returned mail, a provider's report or a reader
// did about a message.
const (
	FeedbackHard        = "hard"        // the address does not exist: suppressed at once
	FeedbackSoft        = "soft"        // a permanent failure that may pass: counted
	FeedbackComplaint   = "complaint"   // reported as spam: never mailed again
	FeedbackUnsubscribe = "unsubscribe" // asked to stop
)

// Feedback is one thing that came back about a subscriber's message, on
// its way to the subscriber store, which applies it once.
type Feedback struct {
	Kind         string // a Feedback… kind
	SubscriberID int64  // from a verified token; 0: look up Email
	Email        string // the address a report names, when there is no token
	EditionID    int64  // the edition it is about; 0 unknown
	Source       string // how it came: "smtp", "imap", "file", "api", "ses", "mailgun", "postmark", "sendgrid", "link"
	Detail       string // status code and text, one line
	// Key identifies the returned message or provider event, so that the
	// same report read twice (redelivered, re-polled, a webhook retried)
	// changes nothing the second time; "" for none.
	Key string
}

// ReturnAddress is what an address that mail came back to says: which of
// the list's return addresses it is, and the edition and subscriber of the
// token in it, verified.
type ReturnAddress struct {
	Kind         string // "bounce" or "unsubscribe"; "" for an address that is not the list's
	EditionID    int64
	SubscriberID int64
	Token        string // the token as it came ("" none); SubscriberID is 0 unless it verified
}

// Applied is what applying one Feedback did to its subscriber.
type Applied struct {
	SubscriberID int64
	Email        string
	Status       string // the subscriber's status after it
	Changed      bool   // the status changed
	Duplicate    bool   // the same report was applied before: nothing done
}
