package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/newsbrief/newsbrief/mailer"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
)

// The adapters below let subscribers, templates and mailer satisfy the
// interfaces pipeline declares without any of them importing pipeline.

// subscriberSource serves pipeline.SubscriberSource from the subscriber store.
type subscriberSource struct {
	subs      *subscribers.Store
	tokens    *subscribers.Tokens
	baseURL   string
	softLimit int
}

var _ pipeline.SubscriberSource = subscriberSource{}

func (s subscriberSource) ActiveAfter(ctx context.Context, afterID int64, limit int) ([]pipeline.Recipient, error) {
	page, err := s.subs.List(ctx, subscribers.Active, afterID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.Recipient, len(page))
	for i, sub := range page {
		out[i] = pipeline.Recipient{ID: sub.ID, Email: sub.Email, Name: sub.Name}
	}
	return out, nil
}

func (s subscriberSource) Inactive(ctx context.Context, ids []int64) (map[int64]bool, error) {
	return s.subs.Inactive(ctx, ids)
}

func (s subscriberSource) CountActive(ctx context.Context) (int, error) {
	return s.subs.Count(ctx, subscribers.Active)
}

func (s subscriberSource) Forget(ctx context.Context, email string) (int64, error) {
	return s.subs.Forget(ctx, email)
}

func (s subscriberSource) UnsubscribeURL(id int64) string {
	if id == 0 {
		return s.baseURL + "/unsubscribe"
	}
	return s.baseURL + "/unsubscribe?token=" + s.tokens.Sign(subscribers.PurposeUnsubscribe, id)
}

func (s subscriberSource) Bounce(ctx context.Context, id int64, detail string, hard bool) error {
	if id == 0 {
		return nil // a test send
	}
	_, err := s.subs.RecordBounce(ctx, id, detail, hard, s.softLimit)
	if errors.Is(err, subscribers.ErrNotFound) {
		return nil // removed since the send began
	}
	return err
}

// renderer serves pipeline.Renderer from the template set.
type renderer struct {
	set *templates.Set
	cfg Config
	log *slog.Logger // nil for no warnings
}

var _ pipeline.Renderer = renderer{}

func (r renderer) Subject(ctx context.Context, e pipeline.Edition) (string, error) {
	rd, err := r.Render(ctx, e)
	return rd.Subject, err
}

func (r renderer) Render(ctx context.Context, e pipeline.Edition) (pipeline.Rendered, error) {
	te := templates.Edition{ID: e.ID, ListName: r.cfg.ListName, Date: e.CreatedAt}
	if e.ID != 0 {
		te.ArchiveURL = r.cfg.BaseURL + "/archive/" + itoa(e.ID)
	}
	for _, a := range e.Articles {
		ta := templates.Article{Title: a.Title, URL: a.URL, Source: a.SourceName,
			Author: a.Author, Summary: a.Summary, ImageURL: a.ImageURL, Published: a.PublishedAt, Tags: a.Tags}
		if a.Origin != "feed" {
			ta.Source = ""
		}
		for _, o := range a.Also {
			if o.URL != "" {
				ta.Also = append(ta.Also, templates.Link{Source: o.SourceName, URL: o.URL})
			}
		}
		te.Articles = append(te.Articles, ta)
	}
	out, err := r.set.Render(te)
	if err != nil {
		return pipeline.Rendered{}, err
	}
	if out.HTMLSize > templates.GmailClipBytes && r.log != nil {
		r.log.Warn("the HTML body is over Gmail's clipping limit; Gmail will show only its start (lower NEWSBRIEF_MAX_ARTICLES)",
			"bytes", out.HTMLSize, "limit", templates.GmailClipBytes, "articles", len(te.Articles))
	}
	h, t := out.Pieces()
	return pipeline.Rendered{
		Subject: out.Subject,
		Personalize: func(rc pipeline.Recipient, unsub string) (string, string) {
			return out.Personalize(templates.Personal{Name: rc.Name, Email: rc.Email, UnsubscribeURL: unsub})
		},
		HTML: pipeline.Body(h),
		Text: pipeline.Body(t),
		Values: func(rc pipeline.Recipient, unsub string) [4]string {
			return templates.Personal{Name: rc.Name, Email: rc.Email, UnsubscribeURL: unsub}.Values()
		},
	}, nil
}

// mailConn is what both mailer.SMTPConn and mailer.OutboxConn offer.
type mailConn interface {
	Send(ctx context.Context, m *mailer.Message) error
	SendPrepared(ctx context.Context, p *mailer.Prepared, r *mailer.Recipient) error
	Close() error
}

// mailSender serves pipeline.Sender from a mailer opener; id prepares
// editions once for all their messages.
type mailSender struct {
	open func(ctx context.Context) (mailConn, error)
	id   *mailer.Identity
}

var _ pipeline.Sender = mailSender{}

func (s mailSender) Open(ctx context.Context) (pipeline.Conn, error) {
	c, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return conn{c: c, id: s.id}, nil
}

type conn struct {
	c  mailConn
	id *mailer.Identity
}

func (c conn) Send(ctx context.Context, m *pipeline.Message) error {
	if e := m.Edition; e != nil {
		e.Once.Do(func() {
			e.Prepared, e.Err = c.id.Prepare(mailer.Edition{Subject: e.Subject, HTML: mailer.Body(e.HTML), Text: mailer.Body(e.Text)})
		})
		if e.Err != nil {
			return e.Err
		}
		return c.c.SendPrepared(ctx, e.Prepared.(*mailer.Prepared), &mailer.Recipient{
			Email: m.Recipient.Email, Name: m.Recipient.Name, Values: m.Values, UnsubscribeURL: m.UnsubscribeURL,
			EditionID: m.EditionID, SubscriberID: m.Recipient.ID,
		})
	}
	return c.c.Send(ctx, &mailer.Message{
		ToEmail: m.Recipient.Email, ToName: m.Recipient.Name, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		UnsubscribeURL: m.UnsubscribeURL, EditionID: m.EditionID, SubscriberID: m.Recipient.ID,
	})
}

func (c conn) Close() error { return c.c.Close() }
