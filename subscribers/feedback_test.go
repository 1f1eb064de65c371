package subscribers

import (
	"context"
	"errors"
	"testing"

	"github.com/newsbrief/newsbrief/brief"
)

func TestFeedbackApply(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	fb := Feedback{Store: s, SoftLimit: 2}
	add := func(email string) Subscriber {
		t.Helper()
		sub, err := s.Add(ctx, email, "", "test", "cli")
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	hard, soft, comp, unsub := add("hard@example.com"), add("soft@example.com"), add("comp@example.com"), add("unsub@example.com")
	apply := func(f brief.Feedback) brief.Applied {
		t.Helper()
		a, err := fb.Apply(ctx, f)
		if err != nil {
			t.Fatalf("apply %+v: %v", f, err)
		}
		return a
	}
	if a := apply(brief.Feedback{Kind: brief.FeedbackHard, SubscriberID: hard.ID, EditionID: 3, Source: "smtp", Detail: "5.1.1 user unknown", Key: "m1"}); a.Status != Bounced || !a.Changed {
		t.Errorf("hard bounce: %+v", a)
	}
	// the same returned message again: nothing happens, nothing counts
	if a := apply(brief.Feedback{Kind: brief.FeedbackHard, SubscriberID: hard.ID, EditionID: 3, Source: "imap", Key: "m1"}); !a.Duplicate || a.Changed {
		t.Errorf("duplicate: %+v", a)
	}
	// soft bounces count up to the limit, each report once
	if a := apply(brief.Feedback{Kind: brief.FeedbackSoft, Email: "SOFT@example.com", EditionID: 3, Source: "smtp", Key: "m2"}); a.Status != Active {
		t.Errorf("first soft bounce: %+v", a)
	}
	if a := apply(brief.Feedback{Kind: brief.FeedbackSoft, Email: "soft@example.com", EditionID: 3, Source: "smtp", Key: "m2"}); !a.Duplicate || a.Status != Active {
		t.Errorf("the same soft bounce again: %+v", a)
	}
	if a := apply(brief.Feedback{Kind: brief.FeedbackSoft, SubscriberID: soft.ID, EditionID: 4, Source: "smtp", Key: "m3"}); a.Status != Bounced {
		t.Errorf("second soft bounce: %+v", a)
	}
	// a complaint wins over anything, even an unsubscribe
	if err := s.Unsubscribe(ctx, comp.ID); err != nil {
		t.Fatal(err)
	}
	if a := apply(brief.Feedback{Kind: brief.FeedbackComplaint, SubscriberID: comp.ID, EditionID: 3, Source: "smtp", Key: "m4"}); a.Status != Complained {
		t.Errorf("complaint: %+v", a)
	}
	if a := apply(brief.Feedback{Kind: brief.FeedbackUnsubscribe, SubscriberID: unsub.ID, EditionID: 3, Source: "mailto"}); a.Status != Unsubscribed {
		t.Errorf("unsubscribe: %+v", a)
	}
	// an unsubscribe does not undo a complaint or a bounce
	if a := apply(brief.Feedback{Kind: brief.FeedbackUnsubscribe, SubscriberID: comp.ID, EditionID: 3, Source: "link"}); a.Status != Complained || a.Changed {
		t.Errorf("unsubscribe after complaint: %+v", a)
	}
	if _, err := fb.Apply(ctx, brief.Feedback{Kind: brief.FeedbackHard, Email: "nobody@example.com", Source: "smtp"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown address: %v", err)
	}
	if _, err := fb.Apply(ctx, brief.Feedback{Kind: "spam", SubscriberID: hard.ID}); err == nil {
		t.Error("an unknown kind was applied")
	}
	c, err := s.EditionFeedback(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c != (FeedbackCounts{Hard: 1, Soft: 1, Complaints: 1, Unsubscribes: 2}) {
		t.Errorf("edition 3 counts: %+v", c)
	}
	// erasure deletes a subscriber's rows, not the counts
	if _, err := s.Forget(ctx, "comp@example.com"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM feedback WHERE subscriber_id = ?`, comp.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("after erasure %d feedback rows (%v)", n, err)
	}
	if c2, _ := s.EditionFeedback(ctx, 3); c2 != c {
		t.Errorf("counts changed by erasure: %+v", c2)
	}
}

// complain applies a complaint about email's message.
func complain(ctx context.Context, s *Store, email string) error {
	_, err := Feedback{Store: s}.Apply(ctx, brief.Feedback{Kind: brief.FeedbackComplaint, Email: email, Source: "test", Detail: "abuse report"})
	return err
}
