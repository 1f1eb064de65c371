package subscribers

import (
	"context"
	"errors"
	"strconv"

	"github.com/newsbrief/newsbrief/brief"
)

// Audience is the subscriber store as the pipeline's subscriber source:
// the active subscribers of an edition, their unsubscribe links, bounces
// reported during a send, and erasure.
type Audience struct {
	Store     *Store
	Tokens    *Tokens
	BaseURL   string // the public site, for unsubscribe links
	SoftLimit int    // permanent failures before an address is bounced
	Returns   Returns
}

// ActiveAfter returns up to limit active subscribers with an ID greater
// than afterID, in ID order.
func (a Audience) ActiveAfter(ctx context.Context, afterID int64, limit int) ([]brief.Recipient, error) {
	return a.Store.activeRecipients(ctx, afterID, limit)
}

// Inactive returns which of ids are no longer active.
func (a Audience) Inactive(ctx context.Context, ids []int64) (map[int64]bool, error) {
	return a.Store.Inactive(ctx, ids)
}

// CountActive returns how many subscribers are active.
func (a Audience) CountActive(ctx context.Context) (int, error) {
	return a.Store.Count(ctx, Active)
}

// Forget erases a subscriber (see Store.Forget).
func (a Audience) Forget(ctx context.Context, email string) (int64, error) {
	return a.Store.Forget(ctx, email)
}

// UnsubscribeURL is a subscriber's one-click unsubscribe link; for ID 0 (a
// test send or a preview) a link that unsubscribes nobody.
func (a Audience) UnsubscribeURL(id int64) string {
	return a.unsubscribeURL(0, id)
}

// unsubscribeURL is UnsubscribeURL naming editionID (when not 0), built in
// one allocation.
func (a Audience) unsubscribeURL(editionID, id int64) string {
	if id == 0 {
		return a.BaseURL + "/unsubscribe"
	}
	var buf [256]byte
	b := append(buf[:0], a.BaseURL...)
	b = append(b, "/unsubscribe?token="...)
	b = a.Tokens.AppendSign(b, PurposeUnsubscribe, id)
	if editionID > 0 {
		b = append(b, "&e="...)
		b = strconv.AppendInt(b, editionID, 10)
	}
	return string(b)
}

// Links are a subscriber's addresses in their message of an edition: the
// one-click unsubscribe link (naming the edition, so an unsubscribe counts
// against it), the envelope sender and the List-Unsubscribe mailto, both
// token-encoded ("" for either that is not configured).
func (a Audience) Links(editionID, subscriberID int64) (unsubscribeURL, sender, mailto string) {
	return a.unsubscribeURL(editionID, subscriberID), a.Returns.Sender(editionID, subscriberID), a.Returns.Mailto(editionID, subscriberID)
}

// Bounce records a permanent failure of a message to a subscriber; hard
// says the mailbox does not exist. A subscriber removed since the send
// began, or a test send (ID 0), is no error.
func (a Audience) Bounce(ctx context.Context, id int64, detail string, hard bool) error {
	if id == 0 {
		return nil
	}
	_, err := a.Store.RecordBounce(ctx, id, detail, hard, a.SoftLimit)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
