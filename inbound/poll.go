package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// processedFlag marks a message the poller has applied, where the server
// takes keywords; where it does not, \Seen does (and the database's
// record of each message's digest keeps a re-read from counting twice).
const processedFlag = imap.Flag("$NewsbriefProcessed")

// Poller reads an IMAP mailbox of returned mail (for operators whose
// bounces land in a mailbox rather than at serve's listener): each message
// not marked yet is applied by the Processor, then moved to the Processed
// folder or flagged, so it is never processed twice. A message that cannot
// be applied now stays as it is for the next poll.
type Poller struct {
	Mailbox   Mailbox
	Processor *Processor
	Log       *slog.Logger
	// TLS is the client's TLS configuration; nil for the system's roots
	// and the mailbox's host name.
	TLS     *tls.Config
	Timeout time.Duration // per command; 0 for a minute
	Batch   int           // messages fetched per round trip; 0 for 50
	// MaxBytes is the most read of one message (a report's parts that
	// matter come first); 0 for 10 MiB.
	MaxBytes int64
}

// PollReport says what one poll did.
type PollReport struct {
	Read    int // messages read
	Applied int // of them, processed (acted on or understood as nothing to do)
	Kept    int // of them, left for the next poll (could not be applied now)
}

// Poll reads the mailbox once.
func (p *Poller) Poll(ctx context.Context) (PollReport, error) {
	var rep PollReport
	c, err := p.dial()
	if err != nil {
		return rep, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	m := p.Mailbox
	if err := c.Login(m.User, m.Password).Wait(); err != nil {
		return rep, fmt.Errorf("imap login as %s: %w", m.User, err)
	}
	defer c.Logout()
	sel, err := c.Select(m.Folder, nil).Wait()
	if err != nil {
		return rep, fmt.Errorf("imap select %s: %w", m.Folder, err)
	}
	keywords := slices.Contains(sel.PermanentFlags, imap.FlagWildcard) || slices.Contains(sel.PermanentFlags, processedFlag)
	mark := imap.FlagSeen
	if keywords {
		mark = processedFlag
	}
	if m.Processed != "" {
		if err := c.Create(m.Processed, nil).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
				// most servers answer a plain NO for a folder that exists
				p.log().Debug("imap create", "folder", m.Processed, slog.Any("error", err))
			}
		}
	}
	search, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{mark, imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return rep, fmt.Errorf("imap search: %w", err)
	}
	uids := search.AllUIDs()
	batch := p.Batch
	if batch <= 0 {
		batch = 50
	}
	maxBytes := p.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 10 << 20
	}
	section := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: maxBytes}}
	for len(uids) > 0 {
		n := min(batch, len(uids))
		set := imap.UIDSetNum(uids[:n]...)
		uids = uids[n:]
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return rep, fmt.Errorf("imap fetch: %w", err)
		}
		var done imap.UIDSet
		for _, msg := range msgs {
			rep.Read++
			raw := msg.FindBodySection(section)
			if _, err := p.Processor.Process(ctx, nil, raw, "imap"); err != nil {
				rep.Kept++
				p.log().Error("returned mail not applied; kept for the next poll", "uid", msg.UID, slog.Any("error", err))
				continue
			}
			rep.Applied++
			done.AddNum(msg.UID)
		}
		if len(done) == 0 {
			continue
		}
		if m.Processed != "" {
			if _, err := c.Move(done, m.Processed).Wait(); err != nil {
				return rep, fmt.Errorf("imap move to %s: %w", m.Processed, err)
			}
			continue
		}
		if err := c.Store(done, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.FlagSeen, mark}}, nil).Close(); err != nil {
			return rep, fmt.Errorf("imap store flags: %w", err)
		}
	}
	return rep, nil
}

func (p *Poller) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Poller) dial() (*imapclient.Client, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	m := p.Mailbox
	cfg := p.TLS
	if cfg == nil {
		host, _, _ := net.SplitHostPort(m.Addr)
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	opts := &imapclient.Options{TLSConfig: cfg, Dialer: &net.Dialer{Timeout: timeout}}
	var c *imapclient.Client
	var err error
	switch {
	case m.TLS:
		c, err = imapclient.DialTLS(m.Addr, opts)
	case m.Insecure:
		c, err = imapclient.DialInsecure(m.Addr, opts)
	default:
		c, err = imapclient.DialStartTLS(m.Addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", m.Addr, err)
	}
	return c, nil
}
