package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/inbound"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
)

// processor applies mail that comes back (inbound SMTP, the mailbox,
// `bounces process`) to the subscribers.
func (a *app) processor() *inbound.Processor {
	log := a.log.With("component", "inbound")
	return &inbound.Processor{
		Addresses: a.returns(),
		Recorder:  subscribers.Feedback{Store: a.subs, SoftLimit: a.cfg.SoftBounceLimit},
		ListID:    a.cfg.listID(),
		NotFound:  func(err error) bool { return errors.Is(err, subscribers.ErrNotFound) },
		Applied:   a.feedbackApplied,
		Log:       log,
	}
}

// feedbackApplied warns, once as it crosses the line, when a complaint
// takes an edition's complaint rate past subscribers.ComplaintWarnRate.
func (a *app) feedbackApplied(ctx context.Context, f brief.Feedback, _ brief.Applied) {
	if f.Kind != brief.FeedbackComplaint || f.EditionID == 0 {
		return
	}
	fb, err := a.subs.EditionFeedback(ctx, f.EditionID)
	if err != nil {
		return
	}
	counts, err := a.store.DeliveryCounts(ctx, f.EditionID)
	if err != nil {
		return
	}
	delivered := counts[pipeline.StateSent]
	before := fb
	before.Complaints--
	if fb.TooManyComplaints(delivered) && !before.TooManyComplaints(delivered) {
		a.log.Warn("complaint rate over the warning line: look at what this edition carried and whom it went to (Gmail and Yahoo block senders over 0.3%)",
			"edition", f.EditionID, "complaints", fb.Complaints, "delivered", delivered,
			"rate", fmt.Sprintf("%.2f%%", 100*fb.ComplaintRate(delivered)), "warn_over", fmt.Sprintf("%.1f%%", 100*subscribers.ComplaintWarnRate))
	}
}

// poller reads NEWSBRIEF_BOUNCE_MAILBOX; nil when it is not set.
func (a *app) poller() *inbound.Poller {
	if a.cfg.BounceMailbox == "" {
		return nil
	}
	m, _ := inbound.ParseMailboxURL(a.cfg.BounceMailbox) // validated at start-up
	return &inbound.Poller{Mailbox: m, Processor: a.processor(), Log: a.log.With("component", "mailbox"), MaxBytes: a.cfg.InboundMaxBytes}
}

// pollJob is the daemon's mailbox job, on the collect schedule.
func (a *app) pollJob(ctx context.Context) error {
	p := a.poller()
	rep, err := p.Poll(ctx)
	a.log.Info("mailbox read", "component", "mailbox", "read", rep.Read, "applied", rep.Applied, "kept", rep.Kept)
	return err
}

// inboundServer is serve's listener for returned mail; nil when
// NEWSBRIEF_INBOUND_ADDR is not set.
func (a *app) inboundServer() (*inbound.Server, error) {
	if a.cfg.InboundAddr == "" {
		return nil, nil
	}
	cfg := inbound.ServerConfig{Addr: a.cfg.InboundAddr, Domain: a.cfg.fromDomain(), MaxBytes: a.cfg.InboundMaxBytes,
		PerHour: a.cfg.InboundPerHour}
	if a.cfg.InboundTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.InboundTLSCert, a.cfg.InboundTLSKey)
		if err != nil {
			return nil, &configError{msg: "NEWSBRIEF_INBOUND_TLS_CERT: " + err.Error()}
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return inbound.NewServer(cfg, a.processor(), a.log.With("component", "inbound")), nil
}

// cmdBounces reads returned mail by hand: one message from a file or
// standard input (an MTA's pipe transport), or the bounce mailbox once.
func cmdBounces(ctx context.Context, a *app, args []string, stderr io.Writer) error {
	const usage = "Usage: newsbrief bounces process FILE|- [--rcpt ADDRESS] | poll"
	if len(args) == 0 {
		return usagef("bounces: want process FILE|- or poll")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(a.stdout, usage+"\n  process: read one returned mail (a DSN, a complaint, a mailto unsubscribe) and apply it;\n"+
			"           --rcpt names the address it came to (the envelope), else its headers say\n  poll:    read NEWSBRIEF_BOUNCE_MAILBOX once")
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "process":
		fs := newFlags("bounces process", "bounces process FILE|- [--rcpt ADDRESS]", stderr)
		rcpt := fs.String("rcpt", "", "the address the mail came to (its envelope recipient)")
		pos, err := parse(fs, rest, 1, 1)
		if err != nil {
			return err
		}
		var raw []byte
		if pos[0] == "-" {
			raw, err = io.ReadAll(io.LimitReader(a.stdin, a.cfg.InboundMaxBytes+1))
		} else {
			raw, err = os.ReadFile(pos[0])
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", pos[0], err)
		}
		if int64(len(raw)) > a.cfg.InboundMaxBytes {
			return fmt.Errorf("message over NEWSBRIEF_INBOUND_MAX_BYTES (%d bytes)", a.cfg.InboundMaxBytes)
		}
		var envelope []string
		if *rcpt != "" {
			envelope = []string{*rcpt}
		}
		res, err := a.processor().Process(ctx, envelope, raw, "file")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s (%s)\n", res.Kind, orDash(res.Format))
		for _, act := range res.Actions {
			note := ""
			if act.Applied.Duplicate {
				note = " (already applied: nothing changed)"
			}
			fmt.Fprintf(a.stdout, "  %s: %s is %s%s\n", act.Feedback.Kind, act.Applied.Email, act.Applied.Status, note)
		}
		if res.Ignored != "" {
			fmt.Fprintf(a.stdout, "  nothing done: %s\n", res.Ignored)
		}
		return nil
	case "poll":
		if _, err := parse(newFlags("bounces poll", "bounces poll", stderr), rest, 0, 0); err != nil {
			return err
		}
		p := a.poller()
		if p == nil {
			return &configError{msg: "NEWSBRIEF_BOUNCE_MAILBOX: not set (imaps://user:password@host/INBOX)"}
		}
		rep, err := p.Poll(ctx)
		fmt.Fprintf(a.stdout, "read %d, applied %d, kept for later %d\n", rep.Read, rep.Applied, rep.Kept)
		if err != nil {
			a.log.Error("mailbox", slog.Any("error", err))
		}
		return err
	}
	return usagef("bounces: unknown subcommand %q (process, poll)", args[0])
}
