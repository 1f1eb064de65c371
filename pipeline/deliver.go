package pipeline

import (
	"context"
	"errors"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/pipeline/deliver"
)

// ErrBusy is returned when another process holds the send lease.
var ErrBusy = deliver.ErrBusy

// The leaf types the pipeline shares with templates, mailer and
// subscribers, named here for its own signatures.
type (
	// Recipient is one address an edition goes to.
	Recipient = brief.Recipient
	// Rendered is one edition rendered once.
	Rendered = brief.Rendered
	// Message is one e-mail of an edition to one recipient.
	Message = brief.Message
	// Conn is one connection to the mail relay (or the outbox).
	Conn = brief.Conn
)

// SubscriberSource is what the editions service needs of the subscribers
// (subscribers.Audience satisfies it, and the engine's deliver.Audience
// too): counting them, their unsubscribe links, and erasure.
type SubscriberSource interface {
	// UnsubscribeURL returns the one-click unsubscribe URL of a subscriber;
	// for ID 0 (a test send, a preview) a URL that unsubscribes nobody.
	UnsubscribeURL(subscriberID int64) string
	// CountActive returns how many subscribers an edition would go to now.
	CountActive(ctx context.Context) (int, error)
	// Forget erases a subscriber (keeping a keyed hash of the address so
	// it stays suppressed) and returns its ID.
	Forget(ctx context.Context, email string) (int64, error)
}

// Renderer renders an issue (an edition's stories); templates.Renderer
// satisfies it.
type Renderer interface {
	// Render renders an issue's subject and bodies, once per edition.
	Render(ctx context.Context, is brief.Issue) (Rendered, error)
	// Subject renders the subject alone (cheap: the desk shows it).
	Subject(ctx context.Context, is brief.Issue) (string, error)
	// Page renders a stored issue as its public web page (is.Subject
	// set): nobody's personal parts, a subscribe call, sharing tags.
	Page(ctx context.Context, is brief.Issue) (string, error)
}

// SendReport tells what one Editions.Send did: the editions it resumed
// and the one it made, in order.
type SendReport struct {
	Editions []EditionReport
}

// ErrSlotTaken is returned when the scheduled slot a send is for already
// has its edition.
var ErrSlotTaken = errors.New("this slot's edition was already made")
