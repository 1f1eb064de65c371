package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"

	"github.com/newsbrief/newsbrief/brief"
)

// Addresses reads the list's return addresses and tokens;
// subscribers.Returns satisfies it.
type Addresses interface {
	// Parse reads an address mail came to. For an address that is not
	// one of the list's, the result's Kind is "" (and an error); for a
	// return address whose token did not verify, Kind is set and
	// SubscriberID is 0 (and an error).
	Parse(addr string) (brief.ReturnAddress, error)
	// VerifyToken checks an address token of kind found elsewhere (an
	// unsubscribe mail's subject).
	VerifyToken(kind, token string) (editionID, subscriberID int64, err error)
	// VerifyLink checks the token of an unsubscribe link.
	VerifyLink(token string) (subscriberID int64, err error)
}

// Recorder applies feedback to the subscribers, each report once;
// subscribers.Feedback satisfies it. Its error wraps one with a NotFound()
// or an errors.Is match for a subscriber not on the list, which the
// processor treats as nothing to do.
type Recorder interface {
	Apply(ctx context.Context, f brief.Feedback) (brief.Applied, error)
}

// Processor turns one returned mail into feedback: it reads the mail
// (Parse), finds whom it is about from the signed tokens of the address it
// came to or of the returned message's own headers, and applies what it
// says. What it does not understand, and unsubscribe requests without a
// valid token, change nothing.
type Processor struct {
	Addresses Addresses
	Recorder  Recorder
	// ListID is the list's List-Id identifier: a report without any token
	// is acted on only when the message it returns carries it.
	ListID string
	// NotFound says whether an error of the recorder means the subscriber
	// is not on the list (nothing to do rather than a failure).
	NotFound func(error) bool
	// Applied, when set, is told of each piece of feedback applied (for
	// metrics and the complaint-rate warning).
	Applied func(ctx context.Context, f brief.Feedback, a brief.Applied)
	Log     *slog.Logger
}

// Result is what processing one mail did.
type Result struct {
	Kind    Kind
	Format  string
	Actions []Action
	// Ignored says why nothing was done, when nothing was.
	Ignored string
}

// Action is one change (or a duplicate that changed nothing).
type Action struct {
	Feedback brief.Feedback
	Applied  brief.Applied
}

// Process reads raw, a mail that came to envelope (the RCPT TO addresses;
// none for a mail read from a mailbox, whose own headers then say where it
// went), and applies it. source names the way it came ("smtp", "imap",
// "file"). An error means the mail could not be applied now and must be
// kept to try again (a temporary failure); a mail that is understood and
// changes nothing is not an error.
func (p *Processor) Process(ctx context.Context, envelope []string, raw []byte, source string) (Result, error) {
	rep, err := Parse(raw)
	if err != nil {
		res := Result{Kind: Unknown, Ignored: "not readable as mail"}
		p.logResult(source, envelope, res)
		return res, nil
	}
	key := messageKey(raw)
	target, ok := p.target(envelope, rep)
	res := Result{Kind: rep.Kind, Format: rep.Format}
	var fbs []brief.Feedback
	if ok && target.Kind == "unsubscribe" {
		fbs, res.Ignored = p.unsubscribeMail(rep, target)
	} else {
		fbs, res.Ignored = p.bounceMail(rep, target)
	}
	for _, f := range fbs {
		f.Source, f.Key = source, key
		a, err := p.Recorder.Apply(ctx, f)
		if err != nil {
			if p.NotFound != nil && p.NotFound(err) {
				res.Ignored = "the subscriber it names is not on the list"
				continue
			}
			return res, fmt.Errorf("apply %s: %w", f.Kind, err)
		}
		res.Actions = append(res.Actions, Action{Feedback: f, Applied: a})
		if p.Applied != nil && !a.Duplicate {
			p.Applied(ctx, f, a)
		}
	}
	p.logResult(source, envelope, res)
	return res, nil
}

func (p *Processor) logResult(source string, envelope []string, res Result) {
	if p.Log == nil {
		return
	}
	attrs := []any{"source", source, "kind", string(res.Kind), "format", res.Format}
	if len(envelope) > 0 {
		attrs = append(attrs, "rcpt", strings.Join(envelope, ","))
	}
	for _, a := range res.Actions {
		attrs = append(attrs, "feedback", a.Feedback.Kind, "subscriber", a.Applied.SubscriberID,
			"edition", a.Feedback.EditionID, "status", a.Applied.Status, "duplicate", a.Applied.Duplicate)
	}
	if res.Ignored != "" {
		attrs = append(attrs, "ignored", res.Ignored)
	}
	p.Log.Info("returned mail", attrs...)
}

// messageKey identifies a mail by its bytes, so that one delivered or
// read twice is applied once.
func messageKey(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// target is the return address the mail came to: from the envelope when
// there is one, else from its own headers. ok is false when none of them
// is the list's (a mailbox that also gets other mail: read as mail to the
// bounce address without a token).
func (p *Processor) target(envelope []string, rep *Report) (brief.ReturnAddress, bool) {
	addrs := envelope
	if len(addrs) == 0 {
		addrs = rep.Envelope
	}
	var best brief.ReturnAddress
	found := false
	for _, a := range addrs {
		ra, _ := p.Addresses.Parse(a)
		if ra.Kind == "" {
			continue
		}
		if !found || best.SubscriberID == 0 && ra.SubscriberID != 0 {
			best, found = ra, true
		}
	}
	return best, found
}

// unsubscribeMail handles mail to the unsubscribe address: with a valid
// token (in the address, or else in the subject) it unsubscribes that
// subscriber whatever it says, as RFC 8058's mailto asks; without one it
// does nothing, since anyone can forge a sender.
func (p *Processor) unsubscribeMail(rep *Report, to brief.ReturnAddress) ([]brief.Feedback, string) {
	switch rep.Kind {
	case Bounce, Delayed, Delivered, Complaint, Challenge:
		return nil, "a " + string(rep.Kind) + " sent to the unsubscribe address"
	}
	ed, sub := to.EditionID, to.SubscriberID
	if sub == 0 {
		for _, w := range strings.FieldsFunc(rep.Subject, func(r rune) bool { return r == ' ' || r == ':' || r == ',' || r == ';' }) {
			if e, s, err := p.Addresses.VerifyToken("unsubscribe", w); err == nil {
				ed, sub = e, s
				break
			}
		}
	}
	if sub == 0 {
		if to.Token != "" {
			return nil, "an unsubscribe request whose token this list did not sign"
		}
		return nil, "an unsubscribe request without a token (the sender's address alone proves nothing)"
	}
	return []brief.Feedback{{Kind: brief.FeedbackUnsubscribe, SubscriberID: sub, EditionID: ed,
		Detail: "unsubscribe by mail from " + rep.From}}, ""
}

// bounceMail handles mail to the bounce address (or a mailbox's other
// mail): delivery reports and complaints, mapped to subscribers by tokens
// or, failing those, by the addresses they name when the returned message
// is this list's.
func (p *Processor) bounceMail(rep *Report, to brief.ReturnAddress) ([]brief.Feedback, string) {
	switch rep.Kind {
	case Bounce:
	case Complaint:
		switch rep.FeedbackType {
		case "abuse", "fraud", "virus", "other", "":
		case "opt-out":
		default:
			return nil, "a " + rep.FeedbackType + " report (not a complaint)"
		}
	case Unsubscribe:
		if to.SubscriberID == 0 {
			return nil, "an unsubscribe request to the bounce address without a token"
		}
		return []brief.Feedback{{Kind: brief.FeedbackUnsubscribe, SubscriberID: to.SubscriberID, EditionID: to.EditionID,
			Detail: "unsubscribe by mail from " + rep.From}}, ""
	case Unknown:
		return nil, "not understood: nothing is done on it"
	default:
		return nil, string(rep.Kind) + ": nothing to do"
	}
	ed, sub := to.EditionID, to.SubscriberID
	if sub == 0 {
		ed, sub = p.originalTokens(rep.Original)
	}
	ours := sub != 0 || p.isOurs(rep.Original)
	if rep.Kind == Complaint {
		kind, detail := brief.FeedbackComplaint, "feedback report: "+rep.FeedbackType
		if rep.FeedbackType == "opt-out" {
			kind, detail = brief.FeedbackUnsubscribe, "feedback report: opt-out"
		}
		if sub != 0 {
			return []brief.Feedback{{Kind: kind, SubscriberID: sub, EditionID: ed, Detail: detail}}, ""
		}
		if !ours {
			return nil, "a complaint about a message that is not this list's (or carries no token)"
		}
		emails := rep.Complainants
		if len(emails) == 0 && rep.Original != nil {
			if a, err := mail.ParseAddress(rep.Original.Get("To")); err == nil {
				emails = []string{a.Address}
			}
		}
		if len(emails) == 0 {
			return nil, "a complaint that names nobody (redacted)"
		}
		var out []brief.Feedback
		for _, e := range emails {
			out = append(out, brief.Feedback{Kind: kind, Email: e, EditionID: ed, Detail: detail})
		}
		return out, ""
	}
	// a bounce: the VERP token says whom, whatever the report's own
	// recipient lines say (a message to a VERP address had one recipient)
	kind := func(f Failure) string {
		if f.Hard {
			return brief.FeedbackHard
		}
		return brief.FeedbackSoft
	}
	detail := func(f Failure) string { return strings.TrimSpace(f.Status + " " + f.Detail) }
	if sub != 0 {
		f := rep.Failures[0]
		for _, g := range rep.Failures[1:] {
			if g.Hard && !f.Hard {
				f = g
			}
		}
		return []brief.Feedback{{Kind: kind(f), SubscriberID: sub, EditionID: ed, Detail: detail(f)}}, ""
	}
	if !ours {
		return nil, "a bounce without a token of this list, of a message that is not this list's"
	}
	var out []brief.Feedback
	for _, f := range rep.Failures {
		if f.Email == "" {
			continue
		}
		out = append(out, brief.Feedback{Kind: kind(f), Email: f.Email, EditionID: ed, Detail: detail(f)})
	}
	if len(out) == 0 {
		return nil, "a bounce that names no recipient"
	}
	return out, ""
}

var linkToken = regexp.MustCompile(`[?&]token=([A-Za-z0-9_%-]+)`)

// originalTokens finds the edition and subscriber of a returned message
// from its own headers: the VERP token of its Return-Path, the token of
// its List-Unsubscribe mailto, or its unsubscribe link's token (which
// names the subscriber only).
func (p *Processor) originalTokens(h textproto.MIMEHeader) (editionID, subscriberID int64) {
	if h == nil {
		return 0, 0
	}
	for _, v := range h.Values("Return-Path") {
		if ra, err := p.Addresses.Parse(strings.Trim(strings.TrimSpace(v), "<>")); err == nil && ra.SubscriberID != 0 {
			return ra.EditionID, ra.SubscriberID
		}
	}
	lu := strings.Join(h.Values("List-Unsubscribe"), ",")
	for _, part := range strings.Split(lu, ",") {
		part = strings.Trim(strings.TrimSpace(part), "<>")
		if m, ok := strings.CutPrefix(part, "mailto:"); ok {
			addr, _, _ := strings.Cut(m, "?")
			if ra, err := p.Addresses.Parse(addr); err == nil && ra.SubscriberID != 0 {
				return ra.EditionID, ra.SubscriberID
			}
		}
	}
	if m := linkToken.FindStringSubmatch(lu); m != nil {
		tok, _ := url.QueryUnescape(m[1])
		if id, err := p.Addresses.VerifyLink(tok); err == nil {
			ed := int64(0)
			if u, err := url.Parse(strings.Trim(strings.TrimSpace(strings.Split(lu, ",")[0]), "<>")); err == nil {
				fmt.Sscan(u.Query().Get("e"), &ed)
			}
			return ed, id
		}
	}
	return 0, 0
}

// isOurs says whether returned headers are those of this list's message.
func (p *Processor) isOurs(h textproto.MIMEHeader) bool {
	if h == nil || p.ListID == "" {
		return false
	}
	return strings.Contains(strings.ToLower(h.Get("List-Id")), "<"+strings.ToLower(p.ListID)+">")
}
